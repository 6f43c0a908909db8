#include "context.h"
#include "context_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "jobs/router.h"
#include "prompt_text.h"
#include "util.h"

/* ---------------------------------------------------- python and spark */

/* A backtick-quoted Spark identifier (backticks doubled). */
static void sb_tick(struct dsb_sb *b, const char *s)
{
    dsb_sb_add(b, "`", 1);
    for (; *s; s++)
        dsb_sb_add(b, *s == '`' ? "``" : s, *s == '`' ? 2 : 1);
    dsb_sb_add(b, "`", 1);
}

/* ------------------------------------------------------------ routing */

static const struct dsb_executor_conf *
find_executor(const struct dsb_config *cfg, const char *name)
{
    for (size_t i = 0; name && i < cfg->n_executors; i++)
        if (strcmp(cfg->executors[i].name, name) == 0)
            return &cfg->executors[i];
    return NULL;
}

int dsb_context_jobs_route(const struct dsb_config *cfg,
                           const char *const *networks, size_t n,
                           const char *explicit_executor,
                           struct dsb_route_choice *out, struct dsb_error *err)
{
    struct dsb_route r;

    memset(out, 0, sizeof(*out));
    memset(&r, 0, sizeof(r));
    if (dsb_route(cfg, networks, n, explicit_executor, &r, err) < 0)
        return -1;
    snprintf(out->executor, sizeof(out->executor), "%s", r.executor);
    snprintf(out->type, sizeof(out->type), "%s", r.type);
    snprintf(out->reason, sizeof(out->reason), "%s", r.reason);
    dsb_route_clear(&r);
    return 0;
}

void dsb_context_target(const struct dsb_config *cfg, const char *executor,
                        struct dsb_read_target *t)
{
    const struct dsb_executor_conf *e = find_executor(cfg, executor);
    size_t n;

    memset(t, 0, sizeof(*t));
    /* not declared (or none is): the built-in type and capabilities */
    dsb_read_target_for(e ? e : dsb_executors(NULL, &n), t);
    if (!e)
        t->executor = "";
}

/* ---------------------------------------------------------- variables */

void dsb_py_ident(const char *name, char *buf, size_t cap)
{
    size_t n = 0;
    int under = 0;

    if (isdigit((unsigned char)name[0]))
        buf[n++] = 't', buf[n++] = '_';
    for (const char *p = name; *p && n + 1 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) && c < 0x80) {
            buf[n++] = (char)tolower(c);
            under = 0;
        } else if (!under && n > 0) {
            buf[n++] = '_';
            under = 1;
        }
    }
    while (n > 0 && buf[n - 1] == '_')
        n--;
    if (n == 0)
        buf[n++] = 't';
    buf[n] = '\0';
}

/* name + "_df", made unique among the variables already in `used`. */
static void unique_var(const char *table, json_t *used, char *out, size_t cap)
{
    char base[96];

    dsb_py_ident(table, base, sizeof(base));
    snprintf(out, cap, "%s_df", base);
    for (int k = 2; json_object_get(used, out); k++)
        snprintf(out, cap, "%s_%d_df", base, k);
    json_object_set_new(used, out, json_true());
}

/* ----------------------------------------------------------- snippets */

static const char *const jdbc_first[] = {"url", "dbtable", "driver",
                                         "fetchsize", NULL};
static const char *const jdbc_parts[] = {"partitionColumn", "lowerBound",
                                         "upperBound", "numPartitions", NULL};

static int in_list(const char *k, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(k, *list) == 0)
            return 1;
    return 0;
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void opt_line(struct dsb_sb *b, const char *k, const char *v, int secret)
{
    dsb_sb_adds(b, "    .option(");
    dsb_py_literal(b, k);
    dsb_sb_adds(b, secret ? ", _dsb_secret(" : ", ");
    dsb_py_literal(b, v);
    dsb_sb_adds(b, secret ? "))\n" : ")\n");
}

static int all_parts(const json_t *opts)
{
    for (const char *const *p = jdbc_parts; *p; p++)
        if (!json_object_get(opts, *p))
            return 0;
    return 1;
}

/* Options in a stable order: the JDBC basics, the partition quartet (only
 * when complete), the rest sorted; then the secret ones. */
static void emit_options(struct dsb_sb *b, const json_t *spec, int jdbc)
{
    const json_t *opts = json_object_get(spec, "options");
    const json_t *sec = json_object_get(spec, "secret_options");
    int parts = jdbc && all_parts(opts);
    const char **keys = calloc(json_object_size(opts) + 1, sizeof(*keys));
    const char *k;
    json_t *v;
    size_t n = 0;

    for (const char *const *p = jdbc_first; jdbc && *p; p++)
        if (json_object_get(opts, *p))
            opt_line(b, *p, json_string_value(json_object_get(opts, *p)), 0);
    for (const char *const *p = jdbc_parts; parts && *p; p++)
        opt_line(b, *p, json_string_value(json_object_get(opts, *p)), 0);
    json_object_foreach((json_t *)opts, k,
                        v) if (keys && !(jdbc && (in_list(k, jdbc_first) ||
                                                  in_list(k, jdbc_parts))))
        keys[n++] = k;
    if (keys)
        qsort(keys, n, sizeof(*keys), strcmp_ptr);
    for (size_t i = 0; i < n; i++)
        opt_line(b, keys[i], json_string_value(json_object_get(opts, keys[i])),
                 0);
    free(keys);
    json_object_foreach((json_t *)sec, k, v)
        opt_line(b, k, json_string_value(v), 1);
}

static void ddl_schema(struct dsb_sb *b, const json_t *cols)
{
    struct dsb_sb d = {0};
    const json_t *c;
    size_t i;

    json_array_foreach(cols, i, c)
    {
        if (i)
            dsb_sb_adds(&d, ", ");
        sb_tick(&d, json_string_value(json_object_get(c, "name")));
        dsb_sb_adds(&d, " ");
        dsb_sb_adds(&d, json_string_value(json_object_get(c, "spark_type")));
    }
    dsb_sb_adds(b, "    .schema(");
    dsb_py_literal(b, dsb_sb_str(&d));
    dsb_sb_adds(b, ")\n");
    dsb_sb_free(&d);
}

static void snippet_table(struct dsb_sb *b, const char *var,
                          const struct dsb_selection *sel)
{
    struct dsb_sb q = {0};

    sb_tick(&q, sel->database);
    dsb_sb_adds(&q, ".");
    sb_tick(&q, sel->table);
    dsb_sb_addf(b, "%s = spark.table(", var);
    dsb_py_literal(b, dsb_sb_str(&q));
    dsb_sb_adds(b, ")\n");
    dsb_sb_free(&q);
}

/* Path formats whose reader honours a user schema; with it Spark neither
 * samples the files nor guesses the types of key=value partition folders. */
static const char *const schema_formats[] = {"csv", "json", "parquet",
                                             "orc", "avro", NULL};

static void snippet(struct dsb_sb *b, const char *var, const json_t *spec,
                    const struct dsb_selection *sel)
{
    const char *fmt = json_string_value(json_object_get(spec, "format"));
    const char *path = json_string_value(json_object_get(spec, "path"));
    int jdbc = strcmp(fmt, "jdbc") == 0;
    int typed = in_list(fmt, schema_formats);

    if (strcmp(fmt, "table") == 0) {
        snippet_table(b, var, sel);
        return;
    }
    dsb_sb_addf(b, "%s = (\n    spark.read.format(", var);
    dsb_py_literal(b, fmt);
    dsb_sb_adds(b, ")\n");
    emit_options(b, spec, jdbc);
    if (typed && json_array_size(json_object_get(spec, "columns")))
        ddl_schema(b, json_object_get(spec, "columns"));
    if (path) {
        dsb_sb_adds(b, "    .load(");
        dsb_py_literal(b, path);
        dsb_sb_adds(b, ")\n)\n");
    } else {
        dsb_sb_adds(b, "    .load()\n)\n");
    }
}

/* ------------------------------------------------------------- build */

static int collect_sources(struct dsb_broker *b, struct dsb_ctx_item *items,
                           const struct dsb_selection *sel, size_t n,
                           json_t *nets, struct dsb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        items[i].sel = &sel[i];
        items[i].src = dsb_broker_source(b, sel[i].source);
        if (!items[i].src)
            return dsb_error_set(err, DSB_E_NOT_FOUND,
                                 "source %s is not "
                                 "configured",
                                 sel[i].source);
        json_object_set_new(nets, items[i].src->network, json_true());
    }
    return 0;
}

static const char **network_list(json_t *nets, size_t *n)
{
    const char **list = calloc(json_object_size(nets) + 1, sizeof(*list));
    const char *k;
    json_t *v;

    *n = 0;
    json_object_foreach(nets, k, v) if (list) list[(*n)++] = k;
    if (list)
        qsort(list, *n, sizeof(*list), strcmp_ptr);
    return list;
}

static int fetch_specs(const struct dsb_context_opts *o,
                       struct dsb_ctx_item *items, size_t n,
                       const struct dsb_read_target *t, struct dsb_error *err)
{
    json_t *used = json_object();

    for (size_t i = 0; i < n; i++) {
        const struct dsb_selection *s = items[i].sel;
        int rc =
            o && o->spec
                ? o->spec(o->spec_ctx, items[i].src, s, t, &items[i].spec, err)
                : dsb_source_read_spec(items[i].src, s->database, s->schema,
                                       s->table, t, &items[i].spec, err);
        if (rc < 0) {
            json_decref(used);
            return -1;
        }
        unique_var(s->table, used, items[i].var, sizeof(items[i].var));
    }
    json_decref(used);
    return 0;
}

static void merge_submit(json_t *jars, json_t *conf, const json_t *spec)
{
    const json_t *ss = json_object_get(spec, "spark_submit"), *v;
    const char *k;
    size_t i, j;

    json_array_foreach(json_object_get(ss, "jars"), i, v)
    {
        int dup = 0;
        const json_t *w;
        json_array_foreach(jars, j, w) dup |=
            json_equal((json_t *)v, (json_t *)w);
        if (!dup && json_is_string(v))
            json_array_append(jars, (json_t *)v);
    }
    json_object_foreach(json_object_get(ss, "conf"), k,
                        v) if (json_is_string(v))
        json_object_set(conf, k, (json_t *)v);
}

/* The snippet of one table as it runs alone: with the secret helper
 * (core/jobs/prelude.py) before it when it reads a secret. */
static char *alone_snippet(const struct dsb_ctx_item *it)
{
    if (!json_object_size(json_object_get(it->spec, "secret_options")))
        return strdup(it->code);
    return dsb_asprintf("%s\n%s", dsb_jobs_python_prelude(), it->code);
}

static json_t *table_json(const struct dsb_ctx_item *it)
{
    const json_t *sp = it->spec;
    char *alone = alone_snippet(it);
    json_t *read = json_pack(
        "{s:O, s:O?, s:O?, s:O?, s:O?}", "format",
        json_object_get(sp, "format"), "path", json_object_get(sp, "path"),
        "options", json_object_get(sp, "options"), "secret_options",
        json_object_get(sp, "secret_options"), "qualified_name",
        json_object_get(sp, "qualified_name"));
    json_t *t = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O?, s:O?, s:o, s:O?, s:s?}",
        "source", it->sel->source, "database", it->sel->database, "schema",
        it->sel->schema, "table", it->sel->table, "variable", it->var,
        "network", it->src->network, "columns", json_object_get(sp, "columns"),
        "primary_key", json_object_get(sp, "primary_key"), "row_estimate",
        json_object_get(sp, "row_estimate"), "read", read, "notes",
        json_object_get(sp, "notes"), "snippet", alone);
    static const char *const extras[] = {"unique_keys", "foreign_keys",
                                         "sample_rows"};

    for (size_t i = 0; t && i < sizeof(extras) / sizeof(*extras); i++)
        if (json_object_get(sp, extras[i]))
            json_object_set(t, extras[i], json_object_get(sp, extras[i]));
    free(alone);
    return t;
}

static int uses_secrets(const struct dsb_ctx_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (json_object_size(json_object_get(items[i].spec, "secret_options")))
            return 1;
    return 0;
}

static json_t *assemble(const struct dsb_route_choice *r, json_t *nets_arr,
                        struct dsb_ctx_item *items, size_t n,
                        const struct dsb_prompt_limits *lim)
{
    json_t *tables = json_array(), *jars = json_array(), *conf = json_object();
    json_t *joins, *left_out = json_array();
    struct dsb_sb code = {0};
    char *prompt;
    int oom = 0;

    for (size_t i = 0; i < n; i++) {
        struct dsb_sb one = {0};
        snippet(&one, items[i].var, items[i].spec, items[i].sel);
        oom |= !(items[i].code = dsb_sb_take(&one));
    }
    if (oom) {
        json_decref(tables);
        json_decref(jars);
        json_decref(conf);
        json_decref(left_out);
        return NULL;
    }
    if (uses_secrets(items, n))
        dsb_sb_addf(&code, "%s\n", dsb_jobs_python_prelude());
    for (size_t i = 0; i < n; i++) {
        dsb_sb_adds(&code, items[i].code);
        json_array_append_new(tables, table_json(&items[i]));
        merge_submit(jars, conf, items[i].spec);
    }
    joins = dsb_context_join_paths(items, n);
    prompt = dsb_context_prompt(r, items, n, joins, lim, left_out);
    {
        json_t *o = json_pack(
            "{s:{s:s?, s:s?, s:O, s:s}, s:o, s:o, s:s, "
            "s:{s:o, s:o}, s:s, s:o}",
            "route", "executor", r->executor[0] ? r->executor : NULL,
            "executor_type", r->type[0] ? r->type : NULL, "networks", nets_arr,
            "reason", r->reason, "tables", tables, "join_paths", joins, "code",
            dsb_sb_str(&code), "spark_submit", "jars", jars, "conf", conf,
            "prompt", prompt ? prompt : "", "prompt_left_out", left_out);
        dsb_sb_free(&code);
        free(prompt);
        return o;
    }
}

static int reads_s3a(const struct dsb_ctx_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p =
            json_string_value(json_object_get(items[i].spec, "path"));
        if (p && strncmp(p, "s3a://", 6) == 0)
            return 1;
    }
    return 0;
}

/* s3a:// reads on local Spark need hadoop-aws: added to spark.jars.packages
 * (after any package a read spec asked for). */
static void add_hadoop_aws(json_t *ctx, const struct dsb_config *cfg,
                           const struct dsb_read_target *t,
                           const struct dsb_ctx_item *items, size_t n)
{
    const struct dsb_executor_conf *e = find_executor(cfg, t->executor);
    json_t *conf =
        json_object_get(json_object_get(ctx, "spark_submit"), "conf");
    const char *had;
    char *pkg;

    if (!(t->caps & DSB_EXEC_S3A) || !reads_s3a(items, n) ||
        !(pkg = dsb_local_hadoop_aws_package(e ? e->options : NULL)))
        return;
    had = json_string_value(json_object_get(conf, "spark.jars.packages"));
    if (had && *had && !strstr(had, pkg))
        json_object_set_new(conf, "spark.jars.packages",
                            json_sprintf("%s,%s", had, pkg));
    else if (!had || !*had)
        json_object_set_new(conf, "spark.jars.packages", json_string(pkg));
    free(pkg);
}

static json_t *string_array(const char *const *list, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

int dsb_context_build(struct dsb_broker *b, const struct dsb_selection *sel,
                      size_t n, const char *executor_override,
                      const struct dsb_context_opts *o, json_t **out,
                      struct dsb_error *err)
{
    struct dsb_ctx_item *items = calloc(n + 1, sizeof(*items));
    json_t *nets = json_object(), *nets_arr = NULL;
    const char **list = NULL;
    struct dsb_route_choice r;
    struct dsb_read_target t;
    struct dsb_prompt_limits lim;
    dsb_context_route_fn route =
        o && o->route ? o->route : dsb_context_jobs_route;
    size_t n_nets = 0;
    int rc = -1;

    *out = NULL;
    if (!items || !nets) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    if (collect_sources(b, items, sel, n, nets, err) < 0)
        goto fail;
    list = network_list(nets, &n_nets);
    if (route(b->cfg, list, n_nets, executor_override, &r, err) < 0)
        goto fail;
    dsb_context_target(b->cfg, r.executor[0] ? r.executor : NULL, &t);
    if (fetch_specs(o, items, n, &t, err) < 0)
        goto fail;
    nets_arr = string_array(list, n_nets);
    lim.max_prompt_chars = b->cfg->settings.context_max_prompt_chars;
    lim.max_table_prompt_chars =
        b->cfg->settings.context_max_table_prompt_chars;
    *out = assemble(&r, nets_arr, items, n, &lim);
    if (*out)
        add_hadoop_aws(*out, b->cfg, &t, items, n);
    rc = *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
fail:
    for (size_t i = 0; items && i < n; i++) {
        json_decref(items[i].spec);
        free(items[i].code);
    }
    json_decref(nets_arr);
    free(list);
    json_decref(nets);
    free(items);
    return rc;
}
