/* Verified reads without Spark (core/verify.h): the type spelling, the
 * differences of a resolved schema against the catalog's columns, a table
 * the job wrote nothing for, and the program the job runs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "verify.h"

static const char *norm(const char *t)
{
    static char buf[256];

    dsb_verify_type_norm(t, buf, sizeof(buf));
    return buf;
}

Test(verify, type_spellings_compare_as_spark_shows_them)
{
    cr_assert_str_eq(norm("INTEGER"), "int");
    cr_assert_str_eq(norm("long"), "bigint");
    cr_assert_str_eq(norm("varchar(20)"), "string");
    cr_assert_str_eq(norm("char(1)"), "string");
    cr_assert_str_eq(norm("decimal"), "decimal(10,0)");
    cr_assert_str_eq(norm("Decimal(10, 2)"), "decimal(10,2)");
    cr_assert_str_eq(norm("array<integer>"), "array<int>");
    /* a struct field named like a type keeps its name */
    cr_assert_str_eq(norm("struct<long: integer, b: string>"),
                     "struct<long:int,b:string>");
    cr_assert_str_eq(norm("timestamp_ntz"), "timestamp_ntz");
}

/* A context of one table with columns cols (JSON text) read as fmt. */
static json_t *ctx_of(const char *cols, const char *fmt, const char *header)
{
    json_error_t e;
    json_t *c = json_loads(cols, 0, &e), *ctx;

    cr_assert(c, "%s", e.text);
    ctx = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:{s:s, s:s, "
                    "s:{s:s}}}]}",
                    "tables", "source", "pg", "database", "d", "schema", "s",
                    "table", "t", "variable", "t_df", "columns", c, "snippet",
                    "t_df = 1\n", "read", "format", fmt, "path", "/x/t.csv",
                    "options", "header", header);
    cr_assert(ctx);
    return ctx;
}

/* The job's output: row 0 holds result (JSON text). */
static json_t *result_of(const char *result)
{
    return json_pack("{s:s, s:[s, s], s:[[i, s]], s:b}", "format", "jsonl",
                     "columns", "index", "result", "rows", 0, result,
                     "truncated", 0);
}

static const json_t *first_table(const json_t *rep)
{
    return json_array_get(json_object_get(rep, "tables"), 0);
}

#define COLS                                                                   \
    "[{\"name\":\"id\",\"spark_type\":\"int\",\"source_type\":\"integer\"},"   \
    "{\"name\":\"amount\",\"spark_type\":\"decimal(10,2)\","                   \
    "\"source_type\":\"numeric(10,2)\"},"                                      \
    "{\"name\":\"gone\",\"spark_type\":\"string\",\"source_type\":\"text\"}]"

Test(verify, jdbc_differences_missing_extra_type)
{
    json_t *ctx = ctx_of(COLS, "jdbc", "false");
    json_t *res =
        result_of("{\"ok\":true,\"resolved_by\":\"read\",\"schema\":["
                  "{\"name\":\"id\",\"type\":\"integer\",\"nullable\":false},"
                  "{\"name\":\"amount\",\"type\":\"string\",\"nullable\":true},"
                  "{\"name\":\"new\",\"type\":\"bigint\",\"nullable\":true}]}");
    json_t *rep = dsb_verify_report(ctx, res);
    const json_t *t = first_table(rep), *d = json_object_get(t, "differences");

    cr_assert(json_is_false(json_object_get(rep, "ok")));
    cr_assert_str_eq(json_string_value(json_object_get(t, "status")),
                     "differs");
    cr_assert_str_eq(json_string_value(json_object_get(t, "schema")), "s");
    cr_assert(json_is_false(json_object_get(t, "ok")));
    cr_assert_eq(json_array_size(d), 3);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(d, 0), "message")),
        "column amount: the catalog says numeric(10,2) -> "
        "expected Spark decimal(10,2), resolved string");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(d, 1), "kind")),
        "missing");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(d, 2), "column")),
        "new");
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(rep, "summary"), "differs")),
                 1);
    json_decref(rep);
    json_decref(res);
    json_decref(ctx);
}

Test(verify, header_compares_names_and_positions_not_types)
{
    json_t *ctx = ctx_of("[{\"name\":\"a\",\"spark_type\":\"int\"},"
                         "{\"name\":\"b\",\"spark_type\":\"date\"}]",
                         "csv", "true");
    json_t *res = result_of("{\"ok\":true,\"resolved_by\":\"header\","
                            "\"schema\":[{\"name\":\"a\",\"type\":\"string\"},"
                            "{\"name\":\"b\",\"type\":\"string\"}]}");
    json_t *rep = dsb_verify_report(ctx, res);

    cr_assert(json_is_true(json_object_get(rep, "ok")));
    cr_assert(json_is_true(json_object_get(first_table(rep), "ok")));
    cr_assert_str_eq(
        json_string_value(json_object_get(first_table(rep), "status")), "ok");
    json_decref(res);
    json_decref(rep);
    res = result_of("{\"ok\":true,\"resolved_by\":\"header\",\"schema\":["
                    "{\"name\":\"b\",\"type\":\"string\"},"
                    "{\"name\":\"a\",\"type\":\"string\"}]}");
    rep = dsb_verify_report(ctx, res);
    cr_assert_eq(
        json_array_size(json_object_get(first_table(rep), "differences")), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(first_table(rep), "differences"), 0),
            "kind")),
        "position");
    json_decref(res);
    json_decref(rep);
    json_decref(ctx);
}

Test(verify, errors_and_missing_results_are_errors)
{
    json_t *ctx = ctx_of(COLS, "jdbc", "false");
    json_t *res = result_of("{\"ok\":false,\"error\":{\"kind\":\"not_found\","
                            "\"message\":\"relation does not exist\"}}");
    json_t *rep = dsb_verify_report(ctx, res), *none;
    const json_t *e = json_object_get(first_table(rep), "error");

    cr_assert_str_eq(json_string_value(json_object_get(e, "kind")),
                     "not_found");
    json_decref(rep);
    none = json_pack("{s:[s, s], s:[]}", "columns", "index", "result", "rows");
    rep = dsb_verify_report(ctx, none);
    e = json_object_get(first_table(rep), "error");
    cr_assert_str_eq(
        json_string_value(json_object_get(first_table(rep), "status")),
        "error");
    cr_assert(
        strstr(json_string_value(json_object_get(e, "message")), "no result"));
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(rep, "summary"), "error")),
                 1);
    json_decref(none);
    json_decref(rep);
    json_decref(res);
    json_decref(ctx);
}

Test(verify, program_carries_references_and_probes)
{
    json_t *ctx = ctx_of(COLS, "csv", "true");
    json_t *t = json_array_get(json_object_get(ctx, "tables"), 0);
    char *code;

    json_object_set_new(json_object_get(t, "read"), "secret_options",
                        json_pack("{s:s}", "password", "env:PGPASS"));
    code = dsb_verify_code(ctx);
    cr_assert(code);
    cr_assert(strstr(code, "def _dsb_secret(ref):"), "%s", code);
    cr_assert(strstr(code, "def _dsb_verify(tables):"), "%s", code);
    cr_assert(strstr(code, "\\\"probe\\\":\\\"header\\\""), "%s", code);
    cr_assert(strstr(code, "env:PGPASS"), "%s", code);
    cr_assert(strstr(code, "\n_dsb_verify(_dsb_vjson.loads("), "%s", code);
    free(code);
    json_decref(ctx);
}

/* Catalog text in a table's snippet, path and options stays data: the
 * program parses to the broker's statements and one string
 * (tests/jobs/check_verify_program.py). */
Test(verify, hostile_catalog_text_stays_inside_one_string)
{
    static const char hostile[] =
        "x\"\"\"\n__import__('os').system('id')#\\'\r\u2028```~~~\x01";
    const char *src = getenv("DSB_SOURCE_DIR");
    json_t *ctx = ctx_of(COLS, "csv", "true"), *tables;
    json_t *t = json_array_get(json_object_get(ctx, "tables"), 0);
    char dir[] = "/tmp/dsb-verify-XXXXXX", cmd[8192], *code;
    FILE *f;

    cr_assert(src && mkdtemp(dir));
    json_object_set_new(t, "snippet",
                        json_sprintf("t_df = spark.table(%s)\n", "'a'"));
    json_object_set_new(json_object_get(t, "read"), "path",
                        json_string(hostile));
    json_object_set_new(json_object_get(json_object_get(t, "read"), "options"),
                        hostile, json_string(hostile));
    code = dsb_verify_code(ctx);
    snprintf(cmd, sizeof(cmd), "%s/program.py", dir);
    cr_assert((f = fopen(cmd, "w")) != NULL);
    fputs(code, f);
    fclose(f);
    tables = json_pack("[{s:s, s:O, s:s, s:s, s:O, s:n, s:s}]", "variable",
                       "t_df", "snippet", json_object_get(t, "snippet"),
                       "format", "csv", "path", hostile, "options",
                       json_object_get(json_object_get(t, "read"), "options"),
                       "secret_options", "probe", "header");
    snprintf(cmd, sizeof(cmd), "%s/expected.json", dir);
    cr_assert(json_dump_file(tables, cmd, 0) == 0);
    snprintf(cmd, sizeof(cmd),
             "python3 %s/tests/jobs/check_verify_program.py %s/program.py "
             "%s/core/jobs/prelude.py %s/core/verify.py %s/expected.json",
             src, dir, src, src, dir);
    cr_assert_eq(system(cmd), 0, "%s", code);
    snprintf(cmd, sizeof(cmd), "rm -r %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(code);
    json_decref(tables);
    json_decref(ctx);
}
