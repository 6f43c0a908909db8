/* Glue column statistics (GetColumnStatisticsForTable, which moto_server
 * does not implement) against answers written from the AWS API reference:
 * each statistics type becomes a column's "stats", a masked column is
 * never named in the request and its statistics are dropped even when the
 * endpoint sends them; against moto the description still succeeds and
 * says why it has no statistics. */
#include "context.h"
#include "glue_test.h"

static char *conf, *dir, url[128];
static pid_t srv;

static void setup(void)
{
    char yaml[1024];

    gt_creds();
    gt_moto_url();
    setenv("AWS_REGION", "us-east-1", 1);
    dir = t_tmpdir();
    srv = gt_recorded_start("tests/glue/recorded/stats.json", dir, url,
                            sizeof(url));
    conf = t_tmpdir();
    snprintf(yaml, sizeof(yaml),
             "name: rec\nplugin: glue\nendpoint_url: %s\n"
             "column_stats: true\nmask_columns: [\"*email*\"]\n",
             url);
    t_write(conf, "rec.yaml", yaml);
    snprintf(yaml, sizeof(yaml),
             "name: motostats\nplugin: glue\nendpoint_url: %s\n"
             "column_stats: true\n",
             moto);
    t_write(conf, "motostats.yaml", yaml);
    s3t_start(conf, "aws:\n  region: us-east-1\n  max_attempts: 1\n");
}

static void teardown(void)
{
    s3t_stop();
    gt_recorded_stop(srv);
    free(conf);
    free(dir);
}

TestSuite(glue_stats, .init = setup, .fini = teardown);

static const json_t *col(const json_t *t, const char *name)
{
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(t, "columns"), i,
                       c) if (!strcmp(gt_s(c, "name", NULL), name)) return c;
    cr_assert_fail("no column %s", name);
    return NULL;
}

static const json_t *stats(const json_t *t, const char *name)
{
    const json_t *st = json_object_get(col(t, name), "stats");

    cr_assert_not_null(st, "no stats for %s", name);
    cr_assert_str_eq(gt_s(st, "source", NULL), "glue_column_statistics");
    cr_assert_str_eq(gt_s(st, "as_of", NULL), "2025-12-07T00:00:00Z");
    return st;
}

static double num(const json_t *o, const char *key)
{
    cr_assert(json_is_number(json_object_get(o, key)), "%s", key);
    return json_number_value(json_object_get(o, key));
}

Test(glue_stats, each_type_becomes_column_stats)
{
    json_t *t = s3t_describe("rec", "sales", "default", "orders");
    const json_t *id = stats(t, "id"), *am = stats(t, "amount");
    const json_t *day = stats(t, "day"), *note = stats(t, "note");
    const json_t *paid = stats(t, "paid");

    cr_assert_str_eq(gt_s(id, "min", NULL), "1");
    cr_assert_str_eq(gt_s(id, "max", NULL), "1000");
    cr_assert_float_eq(num(id, "distinct_count"), 1000, 1e-9);
    cr_assert_float_eq(num(id, "null_fraction"), 0, 1e-9);
    cr_assert_str_eq(gt_s(am, "min", NULL), "0.5");
    cr_assert_str_eq(gt_s(am, "max", NULL), "99.25");
    cr_assert_float_eq(num(am, "null_fraction"), 0.1, 1e-9);
    cr_assert_str_eq(gt_s(day, "min", NULL), "2024-01-01");
    cr_assert_str_eq(gt_s(day, "max", NULL), "2024-12-24");
    cr_assert(json_is_null(json_object_get(note, "min")));
    cr_assert_float_eq(num(note, "distinct_count"), 37, 1e-9);
    cr_assert_float_eq(num(note, "null_fraction"), 0.25, 1e-9);
    cr_assert_float_eq(num(paid, "null_count"), 10, 1e-9);
    json_decref(t);
}

/* The request names every column but the masked one; the masked column's
 * statistics, sent anyway, are dropped. */
Test(glue_stats, masked_columns_are_neither_asked_nor_shown)
{
    json_t *t = s3t_describe("rec", "sales", "default", "orders");
    const json_t *em = col(t, "Customer_Email");
    char path[4200], line[65536];
    int asked = 0;
    FILE *f;

    cr_assert(json_is_true(json_object_get(em, "masked")));
    cr_assert_null(json_object_get(em, "stats"));
    snprintf(path, sizeof(path), "%s/requests.jsonl", dir);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f)) {
        json_t *r = json_loads(line, 0, NULL);
        const json_t *names =
            json_object_get(json_object_get(r, "body"), "ColumnNames");
        if (names) {
            char *s = json_dumps(names, JSON_COMPACT);
            cr_assert_str_eq(s, "[\"id\",\"amount\",\"day\",\"note\","
                                "\"paid\"]");
            free(s);
            asked++;
        }
        json_decref(r);
    }
    fclose(f);
    cr_assert_eq(asked, 1);
    json_decref(t);
}

/* moto_server has no GetColumnStatisticsForTable: the description stands,
 * without statistics, and says why. */
Test(glue_stats, an_endpoint_without_statistics_still_describes)
{
    struct dsb_list_request r = {0};
    json_t *dbs, *tables, *t;
    const json_t *db, *tb;

    cr_assert_eq(dsb_source_list_databases(dsb_broker_source(b, "motostats"),
                                           &r, &dbs, &err),
                 0, "%s", err.message);
    db = json_array_get(json_object_get(dbs, "items"), 0);
    cr_assert_not_null(db, "the glue_catalog fixture made no database");
    tables = s3t_tables("motostats", gt_s(db, "name", NULL), "default");
    tb = json_array_get(json_object_get(tables, "items"), 0);
    cr_assert_not_null(tb);
    t = s3t_describe("motostats", gt_s(db, "name", NULL), "default",
                     gt_s(tb, "name", NULL));
    cr_assert(json_is_string(json_object_get(t, "stats_error")));
    json_decref(t);
    json_decref(tables);
    json_decref(dbs);
}
