/* Shared helpers of the s3csv suites: a broker on a generated conf.d and
 * compact views of listings. */
#ifndef S3CSV_TEST_H
#define S3CSV_TEST_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "read_spec_paths.h"
#include "support.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* LeakSanitizer ignores leaks at a Criterion test's exit: check now. */
static inline void s3t_leak_check(void)
{
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
}
#else
static inline void s3t_leak_check(void)
{
}
#endif

static struct dsb_broker *b;
static struct dsb_diags d;
static struct dsb_error err;

/* The tree make_data.py wrote (CTest fixture s3csv_data); malloc'd. */
static inline char *s3t_data(const char *rel)
{
    return t_path("DSB_BUILD_DIR", rel);
}

/* Starts a broker on conf (a directory with *.yaml sources) with executor
 * `local` (the default, no s3a) and `s3a` (s3a: true, more networks, so
 * only chosen explicitly) plus the executor list items in more_executors;
 * extra is appended to broker.yaml. */
static inline void s3t_start_x(const char *conf, const char *more_executors,
                               const char *extra)
{
    char *plugins = t_path("DSB_PLUGIN_DIR", "");
    struct dsb_broker_opts o = {.conf_dir = conf, .plugin_dir = plugins};
    char yaml[8192];

    snprintf(yaml, sizeof(yaml),
             "listen: 127.0.0.1:0\n"
             "state_dir: /tmp/dsb-s3csv-state\nlog_level: warn\n"
             "default_executor: local\n"
             "executors:\n  - name: local\n    type: local-spark\n"
             "    networks: [public, local]\n    master: local[1]\n"
             "  - name: s3a\n    type: local-spark\n"
             "    networks: [public, local, s3a-only]\n    s3a: true\n"
             "    hadoop_aws_package: org.apache.hadoop:hadoop-aws:9.9.9\n"
             "%s",
             more_executors ? more_executors : "");
    t_write(conf, "broker.yaml", yaml);
    if (extra) {
        char path[4200];
        FILE *f;
        snprintf(path, sizeof(path), "%s/broker.yaml", conf);
        f = fopen(path, "a");
        fputs(extra, f);
        fclose(f);
    }
    dsb_diags_init(&d);
    b = dsb_broker_start(&o, &d);
    if (!b)
        dsb_diags_print(&d, stderr);
    cr_assert_not_null(b);
    free(plugins);
}

static inline void s3t_start(const char *conf, const char *extra)
{
    s3t_start_x(conf, NULL, extra);
}

static inline void s3t_stop(void)
{
    if (b)
        dsb_broker_stop(b);
    b = NULL;
    dsb_diags_free(&d);
    s3t_leak_check();
}

/* "a,b,c": the names of out's items. */
static inline char *s3t_names(const json_t *out)
{
    static char buf[65536];
    const json_t *it;
    size_t i;

    buf[0] = '\0';
    json_array_foreach(json_object_get(out, "items"), i, it)
    {
        if (i)
            strcat(buf, ",");
        strcat(buf, json_string_value(json_object_get(it, "name")));
    }
    return buf;
}

/* "name:spark_type,...": the columns of a TABLE or read spec. */
static inline char *s3t_cols(const json_t *t)
{
    static char buf[65536];
    const json_t *c;
    size_t i;

    buf[0] = '\0';
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        if (i)
            strcat(buf, ",");
        strcat(buf, json_string_value(json_object_get(c, "name")));
        strcat(buf, ":");
        strcat(buf, json_string_value(json_object_get(c, "spark_type")));
    }
    return buf;
}

/* 1 when some string of the array contains needle. */
static inline int s3t_has_note(const json_t *arr, const char *needle)
{
    const json_t *n;
    size_t i;

    json_array_foreach(arr, i,
                       n) if (strstr(json_string_value(n), needle)) return 1;
    return 0;
}

static inline json_t *s3t_tables(const char *src, const char *db,
                                 const char *schema)
{
    struct dsb_list_request r = {db, schema, NULL, 0, NULL};
    json_t *out;

    cr_assert_eq(
        dsb_source_list_tables(dsb_broker_source(b, src), &r, &out, &err), 0,
        "%s: %s", err.message, err.hint);
    return out;
}

static inline json_t *s3t_describe(const char *src, const char *db,
                                   const char *schema, const char *t)
{
    json_t *out;

    cr_assert_eq(dsb_source_describe_table(dsb_broker_source(b, src), db,
                                           schema, t, &out, &err),
                 0, "%s: %s", err.message, err.hint);
    return out;
}

static inline const json_t *s3t_item(const json_t *out, const char *name)
{
    const json_t *it;
    size_t i;

    json_array_foreach(
        json_object_get(out, "items"), i,
        it) if (!strcmp(json_string_value(json_object_get(it, "name")),
                        name)) return it;
    cr_assert_fail("no item %s", name);
    return NULL;
}

#endif
