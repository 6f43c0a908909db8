/*
 * postgres.so against a real PostgreSQL 15 loaded with fixtures.sql,
 * through the broker's loader, option validation and slot wrappers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "util.h"
#include "pg_support.h"
#include "read_spec_paths.h"

static struct dsb_broker *B;
static struct dsb_source *S;
static struct dsb_error E;

static char App[64]; /* pg_own's application_name in this process */

static void setup(void)
{
    snprintf(App, sizeof(App), "dsb-own-%d", (int)getpid());
    setenv("DSB_TEST_PG_APP", App, 1);
    B = pg_t_broker();
    S = pg_t_source(B, "pg");
    dsb_error_clear(&E);
}

static void teardown(void)
{
    dsb_broker_stop(B);
}

TestSuite(postgres, .init = setup, .fini = teardown, .timeout = 60);

/* The text list_tables_json (ABI 1.3) writes for r, or NULL with E set. */
static char *list_json(struct dsb_source *src, const struct dsb_list_request *r)
{
    struct dsb_slot_args a = {.slot = DSB_SLOT_LIST_TABLES,
                              .database = r->database,
                              .schema = r->schema,
                              .name_filter = r->name_filter,
                              .page_token = r->page_token,
                              .page_size = r->page_size};
    struct dsb_sb out = {0};
    json_t *doc;
    char *next = NULL, *text;

    cr_assert(dsb_source_lists_json(src));
    if (dsb_source_list_json(src, &a, NULL, 0, &out, &next, &E) < 0) {
        cr_assert_null(next);
        dsb_sb_free(&out);
        return NULL;
    }
    text = dsb_sb_take(&out);
    /* the token told beside the text is the text's own */
    doc = json_loads(text, 0, NULL);
    cr_assert_not_null(doc, "%s", text);
    if (next)
        cr_assert_str_eq(
            next, json_string_value(json_object_get(doc, "next_page_token")));
    else
        cr_assert(json_is_null(json_object_get(doc, "next_page_token")));
    json_decref(doc);
    free(next);
    return text;
}

/* Every listing of these tests is also asked as JSON text: it must be
 * the very bytes of list_tables' answer serialised compactly. */
static json_t *list_tables_of(struct dsb_source *src, const char *db,
                              const char *schema, const char *filter,
                              size_t page, const char *token)
{
    struct dsb_list_request r = {db, schema, filter, page, token};
    json_t *out = NULL;
    char *text, *want;

    cr_assert_eq(dsb_source_list_tables(src, &r, &out, &E), 0,
                 "list_tables %s.%s: %s", db, schema, E.message);
    text = list_json(src, &r);
    cr_assert_not_null(text, "list_tables_json %s.%s: %s", db, schema,
                       E.message);
    want = json_dumps(out, JSON_COMPACT);
    cr_assert_str_eq(text, want);
    free(want);
    free(text);
    return out;
}

/* r fails in list_tables and list_tables_json alike; E is the error. */
static void list_fails(struct dsb_source *src, const struct dsb_list_request *r)
{
    struct dsb_error first;
    json_t *out = NULL;

    cr_assert_eq(dsb_source_list_tables(src, r, &out, &E), -1);
    first = E;
    cr_assert_null(list_json(src, r));
    cr_assert_eq(E.code, first.code);
    cr_assert_str_eq(E.message, first.message);
    cr_assert_str_eq(E.upstream, first.upstream);
}

static json_t *list_tables(const char *db, const char *schema,
                           const char *filter, size_t page, const char *token)
{
    return list_tables_of(S, db, schema, filter, page, token);
}

/* Backends of pg_own (suffix "") or pg_pool (suffix "-pool") of this
 * process in db, or in all databases when db is NULL. */
static long own_backends(PGconn *su, const char *suffix, const char *db)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity "
             "WHERE application_name = '%s%s'%s%s%s",
             App, suffix, db ? " AND datname = '" : "", db ? db : "",
             db ? "'" : "");
    return t_pg_value(su, sql);
}

/* Every read spec below is also checked through the ABI 1.1 slot. */
static json_t *read_spec_of(struct dsb_source *src, const char *db,
                            const char *schema, const char *table)
{
    struct dsb_read_target t = {"local", "local-spark", DSB_EXEC_LOCAL_FILES};
    json_t *out = NULL;

    t_same_read_spec(src, db, schema, table, &t);
    cr_assert_eq(dsb_source_read_spec(src, db, schema, table, &t, &out, &E), 0,
                 "read_spec %s.%s: %s", schema, table, E.message);
    return out;
}

static json_t *read_spec(const char *db, const char *schema, const char *table)
{
    return read_spec_of(S, db, schema, table);
}

/* The read spec's failure, as a read_spec of src must fail. */
static void read_spec_fails(struct dsb_source *src, const char *schema,
                            const char *table)
{
    struct dsb_read_target t = {"local", "local-spark", DSB_EXEC_LOCAL_FILES};
    json_t *out = NULL;

    t_same_read_spec(src, "dsb", schema, table, &t);
    cr_assert_eq(dsb_source_read_spec(src, "dsb", schema, table, &t, &out, &E),
                 -1, "read_spec %s.%s succeeded", schema, table);
    cr_assert_null(out);
}

Test(postgres, check_reports_version_and_latency)
{
    json_t *out = NULL;

    cr_assert_eq(dsb_source_check(S, &out, &E), 0, "%s", E.message);
    cr_assert(json_is_true(json_object_get(out, "ok")));
    cr_assert_eq(strncmp(pg_t_str(out, "server_version"), "15.", 3), 0);
    cr_assert_str_eq(pg_t_str(out, "user"), "dsb_reader");
    cr_assert_str_eq(pg_t_str(out, "database"), "dsb");
    cr_assert(json_is_number(json_object_get(out, "latency_ms")));
    cr_assert(json_number_value(json_object_get(out, "latency_ms")) >= 0);
    json_decref(out);
}

Test(postgres, databases_are_connectable_non_templates_in_the_allow_list)
{
    struct dsb_list_request r = {0};
    json_t *out = NULL;

    cr_assert_eq(dsb_source_list_databases(S, &r, &out, &E), 0, "%s",
                 E.message);
    /* not: postgres, other_db (include), dsb_hidden (exclude), dsb_template
     * (template), dsb_noconn (no connections), template0/1 */
    cr_assert_str_eq(pg_t_names(out), "dsb,dsb_second");
    cr_assert_str_eq(pg_t_str(pg_t_find(out, "dsb"), "comment"),
                     "main fixture database");
    cr_assert(json_is_null(json_object_get(out, "next_page_token")));
    json_decref(out);
}

Test(postgres, databases_page_one_at_a_time)
{
    struct dsb_list_request r = {.page_size = 1};
    json_t *p1 = NULL, *p2 = NULL;

    cr_assert_eq(dsb_source_list_databases(S, &r, &p1, &E), 0, "%s", E.message);
    cr_assert_str_eq(pg_t_names(p1), "dsb");
    r.page_token = pg_t_str(p1, "next_page_token");
    cr_assert(r.page_token);
    cr_assert_eq(dsb_source_list_databases(S, &r, &p2, &E), 0, "%s", E.message);
    cr_assert_str_eq(pg_t_names(p2), "dsb_second");
    cr_assert(json_is_null(json_object_get(p2, "next_page_token")));
    json_decref(p1);
    json_decref(p2);
}

Test(postgres, schemas_are_user_schemas_in_the_allow_list)
{
    struct dsb_list_request r = {.database = "dsb"};
    json_t *out = NULL;

    cr_assert_eq(dsb_source_list_schemas(S, &r, &out, &E), 0, "%s", E.message);
    /* no pg_catalog, information_schema, pg_toast; hidden_stuff excluded */
    cr_assert_str_eq(pg_t_names(out), "Sales,many,public,secret,types");
    cr_assert(
        json_is_false(json_object_get(pg_t_find(out, "secret"), "accessible")));
    cr_assert(
        json_is_true(json_object_get(pg_t_find(out, "types"), "accessible")));
    cr_assert_str_eq(pg_t_str(pg_t_find(out, "public"), "comment"),
                     "standard public schema");
    json_decref(out);
    r.name_filter = "aL";
    cr_assert_eq(dsb_source_list_schemas(S, &r, &out, &E), 0, "%s", E.message);
    cr_assert_str_eq(pg_t_names(out), "Sales");
    json_decref(out);
}

/* A pool's connections in check's "pools" report: open, idle. */
static void assert_pool(const json_t *pools, const char *db, int open, int idle)
{
    const json_t *p = json_object_get(pools, db);

    cr_assert(p, "no pool for %s", db);
    cr_assert_eq(json_integer_value(json_object_get(p, "open")), open, "%s",
                 db);
    cr_assert_eq(json_integer_value(json_object_get(p, "idle")), idle, "%s",
                 db);
}

/* A listing in dsb_second goes through a pool of its own: check (on the
 * default database, dsb) reports two pools of one connection each, and
 * the server sees one backend of this source in each database. */
Test(postgres, second_database_has_its_own_pool)
{
    struct dsb_source *p = pg_t_source(B, "pg_pool");
    json_t *out = list_tables_of(p, "dsb_second", "other", NULL, 0, NULL);
    json_t *check = NULL, *pools;
    PGconn *su = pg_t_super_conn("postgres");

    cr_assert_str_eq(pg_t_names(out), "things");
    cr_assert_eq(dsb_source_check(p, &check, &E), 0, "%s", E.message);
    pools = json_object_get(check, "pools");
    cr_assert_eq(json_object_size(pools), 2, "%zu pools",
                 json_object_size(pools));
    assert_pool(pools, "dsb", 1, 1);
    assert_pool(pools, "dsb_second", 1, 1);
    cr_assert_eq(own_backends(su, "-pool", "dsb"), 1);
    cr_assert_eq(own_backends(su, "-pool", "dsb_second"), 1);
    PQfinish(su);
    json_decref(check);
    json_decref(out);
}

/* Rows arrive one per column: a table without columns, a dropped column
 * and a primary key in an order of its own still come out right. */
Test(postgres, tables_without_columns_and_keys_out_of_column_order)
{
    json_t *out = list_tables("dsb_second", "shapes", NULL, 0, NULL);
    json_t *none = pg_t_find(out, "nocols"), *k = pg_t_find(out, "keyorder");
    json_t *cols = json_object_get(k, "columns"), *b, *one = NULL;
    json_t *pk = json_pack("[ss]", "c", "a");

    cr_assert_str_eq(pg_t_names(out), "keyorder,nocols");
    cr_assert_eq(json_array_size(json_object_get(none, "columns")), 0);
    cr_assert_eq(json_array_size(json_object_get(none, "primary_key")), 0);
    cr_assert_eq(json_array_size(cols), 3);
    b = json_array_get(cols, 1);
    cr_assert_str_eq(pg_t_str(b, "name"), "b");
    cr_assert_eq(json_integer_value(json_object_get(b, "position")), 3);
    cr_assert_str_eq(pg_t_str(b, "default"), "'x'::text");
    cr_assert_str_eq(pg_t_str(b, "comment"), "bee");
    cr_assert_eq(json_integer_value(
                     json_object_get(json_array_get(cols, 2), "position")),
                 4);
    cr_assert(json_equal(json_object_get(k, "primary_key"), pk));
    cr_assert_eq(dsb_source_describe_table(S, "dsb_second", "shapes", "nocols",
                                           &one, &E),
                 0, "%s", E.message);
    /* a description is the listing's item and its keys (none here) */
    cr_assert(json_is_array(json_object_get(one, "unique_keys")) &&
              json_array_size(json_object_get(one, "unique_keys")) == 0);
    cr_assert(json_is_array(json_object_get(one, "foreign_keys")) &&
              json_array_size(json_object_get(one, "foreign_keys")) == 0);
    json_object_del(one, "unique_keys");
    json_object_del(one, "foreign_keys");
    cr_assert(json_equal(one, none));
    json_decref(one);
    json_decref(pk);
    json_decref(out);
}

Test(postgres, quoted_names_list_with_every_column)
{
    json_t *out = list_tables("dsb", "Sales", NULL, 0, NULL), *t, *cols;
    static const char *const names[] = {"Id", "select", "quo\"te",
                                        "naïve ünïcödé", "plain_col"};

    cr_assert_str_eq(pg_t_names(out),
                     "Order Items,données,lower_ok,order,we\"ird,"
                     "über_tabelle");
    t = pg_t_find(out, "Order Items");
    cr_assert_str_eq(pg_t_str(t, "kind"), "table");
    cr_assert_str_eq(pg_t_str(t, "comment"), "line items");
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(t, "primary_key"), 0)),
        "Id");
    cols = json_object_get(t, "columns");
    cr_assert_eq(json_array_size(cols), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *c = json_array_get(cols, i);
        cr_assert_str_eq(pg_t_str(c, "name"), names[i]);
        cr_assert_eq(json_integer_value(json_object_get(c, "position")),
                     (json_int_t)i + 1);
    }
    cr_assert(
        json_is_false(json_object_get(json_array_get(cols, 0), "nullable")));
    cr_assert(
        json_is_true(json_object_get(json_array_get(cols, 1), "nullable")));
    json_decref(out);
}

struct type_case {
    const char *column, *source_type, *spark_type; /* NULL: cast to text */
};

static const struct type_case type_cases[] = {
    {"id", "integer", "int"},
    {"c_int2", "smallint", "smallint"},
    {"c_int4", "integer", "int"},
    {"c_int8", "bigint", "bigint"},
    {"c_num_ps", "numeric(10,2)", "decimal(10,2)"},
    {"c_num", "numeric", "decimal(38,18)"},
    {"c_float4", "real", "float"},
    {"c_float8", "double precision", "double"},
    {"c_bool", "boolean", "boolean"},
    {"c_text", "text", "string"},
    {"c_varchar", "character varying(20)", "string"},
    {"c_char", "character(5)", "string"},
    {"c_date", "date", "date"},
    {"c_ts", "timestamp without time zone", "timestamp"},
    {"c_tstz", "timestamp with time zone", "timestamp"},
    {"c_time", "time without time zone", "timestamp"},
    {"c_uuid", "uuid", "string"},
    {"c_json", "json", "string"},
    {"c_jsonb", "jsonb", "string"},
    {"c_bytea", "bytea", "binary"},
    {"c_int_arr", "integer[]", "array<int>"},
    {"c_text_arr", "text[]", "array<string>"},
    {"c_num_arr", "numeric(5,1)[]", "array<decimal(38,18)>"},
    {"c_mood", "types.mood", "string"},
    {"c_mood_arr", "types.mood[]", NULL},
    {"c_posint", "types.posint", "int"},
    {"c_money12", "types.money12", "decimal(12,3)"},
    {"c_posint2", "types.posint2", "int"},
    {"c_money", "money", "string"},
    {"c_interval", "interval", "string"},
    {"c_inet", "inet", "string"},
    {"c_bit1", "bit(1)", "boolean"},
    {"c_bit8", "bit(8)", "binary"},
    {"c_xml", "xml", "string"},
    {"c_pair", "types.pair", NULL},
    {"c_oid", "oid", "bigint"},
};

Test(postgres, every_type_maps_to_the_spark_type_jdbc_gives)
{
    json_t *t = NULL, *cols;
    size_t n = sizeof(type_cases) / sizeof(type_cases[0]);

    cr_assert_eq(
        dsb_source_describe_table(S, "dsb", "types", "all_types", &t, &E), 0,
        "%s", E.message);
    cols = json_object_get(t, "columns");
    cr_assert_eq(json_array_size(cols), n);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        const struct type_case *k = &type_cases[i];
        cr_assert_str_eq(pg_t_str(c, "name"), k->column);
        cr_assert_str_eq(pg_t_str(c, "source_type"), k->source_type, "%s",
                         k->column);
        cr_assert_str_eq(pg_t_str(c, "spark_type"),
                         k->spark_type ? k->spark_type : "string", "%s: %s",
                         k->column, pg_t_str(c, "spark_type"));
        if (k->spark_type)
            cr_assert(!json_object_get(c, "spark_cast"), "%s", k->column);
        else
            cr_assert_str_eq(pg_t_str(c, "spark_cast"), "text", "%s",
                             k->column);
    }
    cr_assert_str_eq(pg_t_str(json_array_get(cols, 0), "default"),
                     "nextval('types.all_types_id_seq'::regclass)");
    cr_assert_str_eq(pg_t_str(json_array_get(cols, 1), "default"), "0");
    cr_assert(
        json_is_null(json_object_get(json_array_get(cols, 2), "default")));
    cr_assert_str_eq(pg_t_str(json_array_get(cols, 18), "comment"), "payload");
    cr_assert_str_eq(pg_t_str(t, "comment"), "one column per type");
    json_decref(t);
}

Test(postgres, kinds_estimates_and_sizes)
{
    json_t *out = list_tables("dsb", "types", NULL, 0, NULL), *t;

    /* events_2023 / events_2024 are hidden under their parent */
    cr_assert_str_eq(pg_t_names(out),
                     "all_types,big,big_date,big_float,big_nopk,big_num,"
                     "big_text_pk,big_ts,events,ft,mv_count,never_analyzed,"
                     "no_pk,probe_log,slow,small,v_all,write_probe");
    t = pg_t_find(out, "events");
    cr_assert_str_eq(pg_t_str(t, "kind"), "partitioned_table");
    cr_assert_eq(json_integer_value(json_object_get(t, "row_estimate")), 4000);
    cr_assert_gt(json_integer_value(json_object_get(t, "size_bytes")), 0);
    cr_assert_eq(json_array_size(json_object_get(t, "primary_key")), 2);
    t = pg_t_find(out, "big");
    cr_assert_eq(json_integer_value(json_object_get(t, "row_estimate")), 50000);
    cr_assert_gt(json_integer_value(json_object_get(t, "size_bytes")), 1000000);
    t = pg_t_find(out, "v_all");
    cr_assert_str_eq(pg_t_str(t, "kind"), "view");
    cr_assert(json_is_null(json_object_get(t, "row_estimate")));
    cr_assert(json_is_null(json_object_get(t, "size_bytes")));
    cr_assert_eq(json_array_size(json_object_get(t, "columns")), 2);
    cr_assert_str_eq(pg_t_str(pg_t_find(out, "mv_count"), "kind"),
                     "materialized_view");
    cr_assert_str_eq(pg_t_str(pg_t_find(out, "ft"), "kind"), "foreign_table");
    cr_assert_eq(json_array_size(
                     json_object_get(pg_t_find(out, "no_pk"), "primary_key")),
                 0);
    json_decref(out);
}

Test(postgres, paging_returns_every_table_exactly_once)
{
    char *seen[1300];
    size_t n = 0, pages = 0;
    char *token = NULL;

    do {
        json_t *out = list_tables("dsb", "many", NULL, 97, token), *x;
        size_t i;
        free(token);
        token = NULL;
        json_array_foreach(json_object_get(out, "items"), i, x)
        {
            cr_assert_lt(n, 1300);
            cr_assert_eq(json_array_size(json_object_get(x, "columns")),
                         strcmp(pg_t_str(x, "name"), "pct%_under") ? 3 : 1);
            seen[n++] = strdup(pg_t_str(x, "name"));
        }
        if (pg_t_str(out, "next_page_token"))
            token = strdup(pg_t_str(out, "next_page_token"));
        pages++;
        json_decref(out);
    } while (token);
    cr_assert_eq(n, 1201);
    cr_assert_eq(pages, 13); /* 12 full pages of 97 and 37 */
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(strcmp(seen[i - 1], seen[i]), 0, "%s then %s", seen[i - 1],
                     seen[i]);
    cr_assert_str_eq(seen[0], "pct%_under");
    cr_assert_str_eq(seen[1], "tab_0001");
    cr_assert_str_eq(seen[n - 1], "tab_1200");
    for (size_t i = 0; i < n; i++)
        free(seen[i]);
}

Test(postgres, name_filter_is_a_case_insensitive_substring)
{
    json_t *out = list_tables("dsb", "many", "B_011", 0, NULL);

    cr_assert_str_eq(pg_t_names(out), "tab_0110,tab_0111,tab_0112,tab_0113,"
                                      "tab_0114,tab_0115,tab_0116,tab_0117,"
                                      "tab_0118,tab_0119");
    json_decref(out);
    out = list_tables("dsb", "many", "%_", 0, NULL); /* not LIKE wildcards */
    cr_assert_str_eq(pg_t_names(out), "pct%_under");
    json_decref(out);
    out = list_tables("dsb", "Sales", "ORDER", 0, NULL);
    cr_assert_str_eq(pg_t_names(out), "Order Items,order");
    json_decref(out);
    out = list_tables("dsb", "Sales", "ÏCÖ", 0, NULL); /* no such table */
    cr_assert_str_eq(pg_t_names(out), "");
    json_decref(out);
}

/* lower() of the fixture database (UTF8, ctype C.UTF-8) maps non-ASCII
 * letters too: "ÜBER" is "über". */
Test(postgres, name_filter_folds_non_ascii_case)
{
    json_t *out = list_tables("dsb", "Sales", "ÜBER_T", 0, NULL);

    cr_assert_str_eq(pg_t_names(out), "über_tabelle");
    json_decref(out);
    out = list_tables("dsb", "Sales", "DONNÉES", 0, NULL);
    cr_assert_str_eq(pg_t_names(out), "données");
    json_decref(out);
}

Test(postgres, bad_page_token_is_invalid)
{
    struct dsb_list_request r = {"dsb", "many", NULL, 10, "not-a-token"};

    list_fails(S, &r);
    cr_assert_eq(E.code, DSB_E_INVALID);
}

Test(postgres, schema_without_usage_is_permission_denied)
{
    struct dsb_list_request r = {"dsb", "secret", NULL, 0, NULL};
    json_t *out = NULL;

    list_fails(S, &r);
    cr_assert_eq(E.code, DSB_E_PERMISSION, "%d %s", E.code, E.message);
    cr_assert_str_eq(E.upstream, "42501");
    cr_assert(strstr(E.message, "secret"));
    cr_assert_eq(
        dsb_source_describe_table(S, "dsb", "secret", "plans", &out, &E), -1);
    cr_assert_eq(E.code, DSB_E_PERMISSION);
}

Test(postgres, missing_objects_are_not_found)
{
    struct dsb_list_request r = {"dsb", "nope", NULL, 0, NULL};
    json_t *out = NULL;

    cr_assert_eq(dsb_source_describe_table(S, "dsb", "types", "nope", &out, &E),
                 -1);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND);
    cr_assert_str_eq(E.upstream, "42P01");
    cr_assert_str_eq(E.message, "relation \"types.nope\" does not exist");
    list_fails(S, &r);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND);
    cr_assert_str_eq(E.upstream, "3F000");
    r.schema = "hidden_stuff"; /* exists, but excluded */
    list_fails(S, &r);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND);
    r.database = "dsb_nope"; /* allowed by the pattern, does not exist */
    r.schema = "public";
    list_fails(S, &r);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND);
    cr_assert_str_eq(E.upstream, "3D000");
    r.database = "other_db"; /* exists, outside the allow-list */
    list_fails(S, &r);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND);
    cr_assert_eq(
        dsb_source_read_spec(S, "dsb", "types", "nope", NULL, &out, &E), -1);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND);
}

static void assert_dbtable(const char *table, const char *quoted)
{
    json_t *spec = read_spec("dsb", "Sales", table);

    cr_assert_str_eq(pg_t_str(json_object_get(spec, "options"), "dbtable"),
                     quoted);
    cr_assert_str_eq(pg_t_str(spec, "qualified_name"), quoted);
    json_decref(spec);
}

Test(postgres, dbtable_is_quoted_exactly_when_needed)
{
    assert_dbtable("Order Items", "\"Sales\".\"Order Items\"");
    assert_dbtable("we\"ird", "\"Sales\".\"we\"\"ird\"");
    assert_dbtable("order", "\"Sales\".\"order\"");
    assert_dbtable("lower_ok", "\"Sales\".lower_ok");
    assert_dbtable("données", "\"Sales\".\"données\"");
}

Test(postgres, read_spec_carries_url_driver_secret_reference_and_jar)
{
    json_t *spec = read_spec("dsb", "Sales", "Order Items");
    json_t *o = json_object_get(spec, "options");
    json_t *so = json_object_get(spec, "secret_options");
    char url[256], ref[4096], *pw, *dump;

    snprintf(url, sizeof(url),
             "jdbc:postgresql://127.0.0.1:%s/dsb?sslmode="
             "disable&ApplicationName=dsbroker-tests",
             getenv("PGPORT"));
    snprintf(ref, sizeof(ref), "file:%s", getenv("DSB_TEST_PG_PASSWORD_FILE"));
    cr_assert_str_eq(pg_t_str(o, "url"), url);
    cr_assert_str_eq(pg_t_str(o, "driver"), "org.postgresql.Driver");
    cr_assert_str_eq(pg_t_str(o, "fetchsize"), "5000");
    cr_assert_str_eq(pg_t_str(o, "user"), "dsb_reader");
    cr_assert_str_eq(pg_t_str(so, "password"), ref);
    cr_assert_str_eq(pg_t_str(spec, "format"), "jdbc");
    cr_assert_str_eq(
        json_string_value(json_array_get(
            json_object_get(json_object_get(spec, "spark_submit"), "jars"), 0)),
        "/usr/share/java/postgresql.jar");
    cr_assert_str_eq(pg_t_str(spec, "network"), "aurora-vpc");
    cr_assert_eq(json_array_size(json_object_get(spec, "columns")), 5);
    cr_assert(!json_object_get(o, "partitionColumn"));
    pw = pg_t_read_file(getenv("DSB_TEST_PG_PASSWORD_FILE"));
    dump = json_dumps(spec, 0);
    cr_assert(!strstr(dump, pw), "the password leaked into the read spec");
    free(dump);
    free(pw);
    json_decref(spec);
}

static void assert_hints(const char *table, const char *col, const char *lo,
                         const char *hi, const char *parts)
{
    json_t *spec = read_spec("dsb", "types", table);
    json_t *o = json_object_get(spec, "options");
    const char *note =
        json_string_value(json_array_get(json_object_get(spec, "notes"), 0));

    if (!col) {
        cr_assert(!json_object_get(o, "partitionColumn"), "%s", table);
        cr_assert(!json_object_get(o, "lowerBound"), "%s", table);
        cr_assert(!json_object_get(o, "upperBound"), "%s", table);
        cr_assert(!json_object_get(o, "numPartitions"), "%s", table);
        cr_assert(strstr(note, "single-partition read"), "%s", note);
    } else {
        cr_assert_str_eq(pg_t_str(o, "partitionColumn"), col, "%s", table);
        cr_assert_str_eq(pg_t_str(o, "lowerBound"), lo, "%s", table);
        cr_assert_str_eq(pg_t_str(o, "upperBound"), hi, "%s", table);
        cr_assert_str_eq(pg_t_str(o, "numPartitions"), parts, "%s", table);
        cr_assert(strstr(note, "partitioned read on"), "%s", note);
    }
    json_decref(spec);
}

Test(postgres, partition_hints_all_four_or_none)
{
    /* threshold 10000 rows, 5000 rows a partition, at most 8 */
    assert_hints("big", "id", "1", "50000", "8");
    assert_hints("big_date", "day", "2000-01-01", "2054-10-03", "4");
    assert_hints("big_ts", "at", "2024-01-01 00:00:00.000000",
                 "2024-01-14 21:19:00.000000", "4");
    assert_hints("big_nopk", "n", "1", "30000", "6");    /* partition_columns */
    assert_hints("big_text_pk", NULL, NULL, NULL, NULL); /* text key */
    assert_hints("small", NULL, NULL, NULL, NULL);       /* 10 rows */
    assert_hints("events", NULL, NULL, NULL, NULL);      /* 4000, 2-col pk */
    assert_hints("v_all", NULL, NULL, NULL, NULL);       /* no estimate */
}

/* Spark parses the bounds of a numeric column as longs: a numeric or float
 * column gets floor(min) and ceil(max) of its finite values, and no more
 * partitions than upper - lower (Spark's own cap). */
Test(postgres, numeric_and_float_partition_columns_get_integral_bounds)
{
    /* 0.75 .. 5000.50 and NaN: 20001 rows, 5 partitions of 5000 */
    assert_hints("big_num", "amount", "0", "5001", "5");
    /* -1.5 .. 0.4999, NaN and both infinities: 20003 rows want 5, the
     * range -2 .. 1 gives 3 */
    assert_hints("big_float", "x", "-2", "1", "3");
}

Test(postgres, partition_hints_off_give_no_partition_options)
{
    json_t *spec =
        read_spec_of(pg_t_source(B, "pg_open"), "dsb", "types", "big");
    json_t *o = json_object_get(spec, "options");

    cr_assert(!json_object_get(o, "partitionColumn"));
    cr_assert(!json_object_get(o, "lowerBound"));
    cr_assert(!json_object_get(o, "upperBound"));
    cr_assert(!json_object_get(o, "numPartitions"));
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(spec, "notes"), 0)),
        "single-partition read: partition hints are off");
    json_decref(spec);
}

Test(postgres, never_analyzed_table_has_no_row_estimate)
{
    json_t *out = list_tables("dsb", "types", "never", 0, NULL), *t, *spec;

    cr_assert_str_eq(pg_t_names(out), "never_analyzed");
    t = pg_t_find(out, "never_analyzed");
    cr_assert(json_is_null(json_object_get(t, "row_estimate")));
    cr_assert_gt(json_integer_value(json_object_get(t, "size_bytes")), 0);
    spec = read_spec("dsb", "types", "never_analyzed");
    cr_assert(json_is_null(json_object_get(spec, "row_estimate")));
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(spec, "notes"), 0)),
        "single-partition read: no row estimate (a view or a "
        "foreign table, or a table never analyzed)");
    json_decref(spec);
    json_decref(out);
}

static void assert_url(const char *source, const char *query)
{
    json_t *spec =
        read_spec_of(pg_t_source(B, source), "dsb", "public", "hello");
    char url[1024];

    snprintf(url, sizeof(url), "jdbc:postgresql://127.0.0.1:%s/dsb?%s",
             getenv("PGPORT"), query);
    cr_assert_str_eq(pg_t_str(json_object_get(spec, "options"), "url"), url);
    json_decref(spec);
}

Test(postgres, sslrootcert_reaches_the_jdbc_url)
{
    assert_url("pg_ssl", "sslmode=disable&sslrootcert=%2Fetc%2Fdsbroker%2F"
                         "certs%2Frds%20global-bundle.pem&ApplicationName="
                         "dsbroker");
    assert_url("pg_ssl_jdbc", "sslmode=disable&sslrootcert=rds-ca.pem&"
                              "ApplicationName=dsbroker");
}

/* types.slow's row check sleeps 10 s; pg_tiny's statement_timeout_ms is
 * 100: the server cancels the bounds query. */
Test(postgres, statement_timeout_is_timeout_and_retryable)
{
    read_spec_fails(pg_t_source(B, "pg_tiny"), "types", "slow");
    cr_assert_eq(E.code, DSB_E_TIMEOUT, "%d %s", E.code, E.message);
    cr_assert_str_eq(E.upstream, "57014");
    cr_assert_str_eq(E.message, "canceling statement due to statement "
                                "timeout");
    cr_assert(E.retryable);
}

/* types.write_probe's row check inserts into types.probe_log, which the
 * reader may: only the session's read-only default refuses it. */
Test(postgres, sessions_are_read_only)
{
    PGconn *su = pg_t_super_conn("dsb");
    const char *count = "SELECT count(*) FROM types.probe_log";
    long before = t_pg_value(su, count);

    read_spec_fails(pg_t_source(B, "pg_own"), "types", "write_probe");
    cr_assert_eq(E.code, DSB_E_UPSTREAM, "%d %s", E.code, E.message);
    cr_assert_str_eq(E.upstream, "25006");
    cr_assert_str_eq(E.message, "cannot execute INSERT in a read-only "
                                "transaction");
    cr_assert_eq(t_pg_value(su, count), before);
    PQfinish(su);
}

Test(postgres, include_schemas_lists_only_matching_schemas)
{
    struct dsb_source *o = pg_t_source(B, "pg_open");
    struct dsb_list_request r = {.database = "dsb"};
    json_t *out = NULL;

    cr_assert_eq(dsb_source_list_schemas(o, &r, &out, &E), 0, "%s", E.message);
    cr_assert_str_eq(pg_t_names(out), "Sales,types");
    json_decref(out);
    out = NULL;
    r.schema = "public";
    list_fails(o, &r);
    cr_assert_eq(E.code, DSB_E_NOT_FOUND, "%d %s", E.code, E.message);
}

/* The server refuses the login with a DETAIL (CONNECT revoked from
 * PUBLIC on locked_db). */
Test(postgres, server_detail_is_mapped)
{
    struct dsb_list_request r = {.database = "locked_db"};
    json_t *out = NULL;

    cr_assert_eq(
        dsb_source_list_schemas(pg_t_source(B, "pg_open"), &r, &out, &E), -1);
    cr_assert_eq(E.code, DSB_E_PERMISSION, "%d %s", E.code, E.message);
    cr_assert_str_eq(E.upstream, "42501");
    cr_assert_str_eq(E.message, "permission denied for database "
                                "\"locked_db\"");
    cr_assert_str_eq(E.detail, "User does not have CONNECT privilege.");
    cr_assert_str_eq(E.hint, "");
    cr_assert_eq(E.retryable, 0);
}

Test(postgres, unreadable_types_are_cast_to_text_in_dbtable)
{
    json_t *spec = read_spec("dsb", "types", "all_types");
    const char *dbtable = pg_t_str(json_object_get(spec, "options"), "dbtable");
    const char *head = "(SELECT \"id\", \"c_int2\", ";

    cr_assert_eq(strncmp(dbtable, head, strlen(head)), 0, "%s", dbtable);
    cr_assert(strstr(dbtable, ", \"c_mood_arr\"::text AS \"c_mood_arr\", "),
              "%s", dbtable);
    cr_assert(strstr(dbtable, ", \"c_pair\"::text AS \"c_pair\", \"c_oid\""
                              " FROM types.all_types) AS dsb_t"),
              "%s", dbtable);
    cr_assert_str_eq(pg_t_str(spec, "qualified_name"), "types.all_types");
    json_decref(spec);
}

Test(postgres, notes_explain_type_conversions)
{
    json_t *spec = read_spec("dsb", "types", "all_types");
    json_t *notes = json_object_get(spec, "notes");
    char all[8192] = "";
    size_t i;
    json_t *n;

    json_array_foreach(notes, i, n)
    {
        strncat(all, json_string_value(n), sizeof(all) - strlen(all) - 2);
        strcat(all, "\n");
    }
    cr_assert(strstr(all, "read as JSON text (parse with from_json): "
                          "\"c_json\" (json), \"c_jsonb\" (jsonb)"),
              "%s", all);
    cr_assert(strstr(all, "read as string: \"c_uuid\" (uuid)"), "%s", all);
    cr_assert(strstr(all, "cannot read these types, so dbtable selects them "
                          "cast to text (strings): \"c_mood_arr\" "
                          "(types.mood[]), \"c_pair\" (types.pair)"),
              "%s", all);
    json_decref(spec);
}

Test(postgres, wrong_password_is_auth_and_never_shown)
{
    struct dsb_source *w = pg_t_source(B, "pg_wrong");
    char *pw = pg_t_read_file(getenv("DSB_TEST_PG_WRONG_PASSWORD_FILE"));
    char *good = pg_t_read_file(getenv("DSB_TEST_PG_PASSWORD_FILE"));
    json_t *out = NULL;

    cr_assert_eq(dsb_source_check(w, &out, &E), -1);
    cr_assert_eq(E.code, DSB_E_AUTH, "%d %s", E.code, E.message);
    cr_assert_str_eq(E.upstream, "28P01");
    cr_assert_str_eq(E.message,
                     "password authentication failed for user \"dsb_reader\"");
    cr_assert_eq(E.retryable, 0);
    for (const char *const *f =
             (const char *const[]){E.message, E.detail, E.hint, NULL};
         *f; f++) {
        cr_assert(!strstr(*f, pw), "password in error: %s", *f);
        cr_assert(!strstr(*f, good), "password in error: %s", *f);
    }
    free(pw);
    free(good);
}

Test(postgres, unreachable_server_is_unavailable_and_retryable)
{
    struct dsb_source *d = pg_t_source(B, "pg_down");
    json_t *out = NULL;

    cr_assert_eq(dsb_source_check(d, &out, &E), -1);
    cr_assert_eq(E.code, DSB_E_UNAVAILABLE, "%d %s", E.code, E.message);
    cr_assert(E.retryable);
    cr_assert_str_eq(E.message, "cannot connect to 127.0.0.1:1");
}

Test(postgres, defaults_network_private_and_plain_limits)
{
    struct dsb_source *d = pg_t_source(B, "pg_defaults");
    json_t *spec = NULL, *o;
    struct dsb_read_target t = {"local", "local-spark", 0};

    cr_assert_str_eq(d->network, "private");
    /* the default database "postgres" has no fixture tables */
    cr_assert_eq(dsb_source_read_spec(d, "dsb", "types", "big", &t, &spec, &E),
                 0, "%s", E.message);
    o = json_object_get(spec, "options");
    cr_assert_str_eq(pg_t_str(o, "fetchsize"), "10000");
    cr_assert(!json_object_get(o, "partitionColumn")); /* 50000 < 1e6 */
    cr_assert_str_eq(pg_t_str(spec, "network"), "private");
    cr_assert(strstr(pg_t_str(o, "url"), "sslmode=prefer"));
    json_decref(spec);
}

/* A listener on 127.0.0.1 that never accepts: the kernel completes the
 * handshake and buffers the startup packet, and nothing ever answers. */
static int silent_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* pg_silent: connect_timeout_ms 700, statement_timeout_ms 30000.  The
 * attempt must end after the connect timeout, not the statement's. */
Test(postgres_net, silent_server_times_out_within_connect_timeout_ms,
     .timeout = 30)
{
    int port, fd = silent_listener(&port);
    char buf[16];
    struct dsb_broker *b;
    json_t *out = NULL;
    int64_t t0, ms;

    snprintf(buf, sizeof(buf), "%d", port);
    setenv("DSB_TEST_PG_SILENT_PORT", buf, 1);
    b = pg_t_broker();
    t0 = dsb_monotonic_ms();
    cr_assert_eq(dsb_source_check(pg_t_source(b, "pg_silent"), &out, &E), -1);
    ms = dsb_monotonic_ms() - t0;
    cr_assert_eq(E.code, DSB_E_TIMEOUT, "%d %s", E.code, E.message);
    cr_assert(E.retryable);
    cr_assert(strstr(E.message, "timed out"), "%s", E.message);
    cr_assert(ms >= 650 && ms < 2500, "took %lld ms", (long long)ms);
    dsb_broker_stop(b);
    close(fd);
}

/* Rotation: the password changes on the server and in the file while the
 * broker still caches the old one; the pooled connection is killed so the
 * next call must log in again, fail once, re-read the secret and succeed. */
Test(postgres, rotated_password_is_read_again_after_one_auth_failure)
{
    struct dsb_source *r = pg_t_source(B, "pg_rotate");
    const char *file = getenv("DSB_TEST_PG_ROTATE_PASSWORD_FILE");
    char sql[512], pw[64];
    json_t *out = NULL;
    FILE *f;

    cr_assert_eq(dsb_source_check(r, &out, &E), 0, "%s", E.message);
    json_decref(out);
    snprintf(pw, sizeof(pw), "rotated-%ld-%d", (long)time(NULL), rand());
    snprintf(sql, sizeof(sql), "ALTER ROLE dsb_rotate PASSWORD '%s'", pw);
    pg_t_super("postgres", sql);
    f = fopen(file, "w");
    cr_assert(f);
    fprintf(f, "%s\n", pw);
    fclose(f);
    pg_t_super("postgres", "SELECT pg_terminate_backend(pid) FROM "
                           "pg_stat_activity WHERE usename = 'dsb_rotate'");
    out = NULL;
    cr_assert_eq(dsb_source_check(r, &out, &E), 0, "after rotation: %s",
                 E.message);
    cr_assert_str_eq(pg_t_str(out, "user"), "dsb_rotate");
    json_decref(out);
}

static void own_list_schemas(struct dsb_source *o, const char *db)
{
    struct dsb_list_request r = {.database = db};
    json_t *out = NULL;

    cr_assert_eq(dsb_source_list_schemas(o, &r, &out, &E), 0, "%s: %s", db,
                 E.message);
    json_decref(out);
}

/* pg_own closes idle connections after 1 s.  A call to one database also
 * closes the idle connection to another database nobody asks about any
 * more.  The backend leaves pg_stat_activity shortly after the client's
 * goodbye, hence the polling (bounded generously). */
Test(postgres, idle_connections_to_every_database_are_closed)
{
    struct dsb_source *o = pg_t_source(B, "pg_own");
    PGconn *su = pg_t_super_conn("postgres");
    long left = -1;

    own_list_schemas(o, "dsb");
    own_list_schemas(o, "dsb_second");
    cr_assert_eq(own_backends(su, "", "dsb_second"), 1);
    usleep(1500 * 1000); /* past pool_idle_timeout_ms */
    own_list_schemas(o, "dsb");
    for (int i = 0; i < 200 && left != 0; i++) {
        if ((left = own_backends(su, "", "dsb_second")) != 0)
            usleep(50 * 1000);
    }
    cr_assert_eq(left, 0, "the idle connection to dsb_second is still open");
    PQfinish(su);
}

struct worker {
    struct dsb_source *src;
    atomic_int *running;
    int ok;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    struct dsb_error err;

    for (int i = 0; i < 10; i++) {
        struct dsb_list_request r = {"dsb", "Sales", NULL, 0, NULL};
        json_t *out = NULL;
        if (dsb_source_list_tables(w->src, &r, &out, &err) == 0 &&
            json_array_size(json_object_get(out, "items")) == 6)
            w->ok++;
        json_decref(out);
    }
    atomic_fetch_sub(w->running, 1);
    return NULL;
}

/* pg_pool's pool_size is 2: while eight threads list, the server never
 * sees more than two of its backends. */
Test(postgres, eight_threads_share_a_pool_of_two)
{
    PGconn *su = pg_t_super_conn("postgres");
    pthread_t th[8];
    struct worker w[8];
    atomic_int running = 8;
    long most = 0, n;

    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){pg_t_source(B, "pg_pool"), &running, 0};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    do {
        n = own_backends(su, "-pool", NULL);
        most = n > most ? n : most;
    } while (atomic_load(&running) > 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].ok, 10, "thread %d: %d of 10", i, w[i].ok);
    }
    cr_assert_leq(most, 2, "%ld backends at once", most);
    cr_assert_geq(own_backends(su, "-pool", NULL), 1);
    PQfinish(su);
}
