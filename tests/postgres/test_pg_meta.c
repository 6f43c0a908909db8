/*
 * Metadata at the catalog's speed (issue 15, section 1), through the
 * service against the real server: a selection or a context of many tables
 * describes each schema in one catalog query (ABI 1.2 describe_tables),
 * and what it builds equals what describing table by table builds.
 * Queries are counted in the server's own log: the database pgmeta
 * (made here, used by no other suite) logs every statement.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "context.h"
#include "describe_batch.h"
#include "pg_support.h"
#include "service_support.h"

#define N_M 40 /* tables of schema m; schema n has 3 */

static struct t_svc T;
static struct dsb_error err;
static char *conf, *state;

/* pgmeta with schemas m (N_M tables) and n (2), logging every statement;
 * made once, under an advisory lock (tests of this suite run at once). */
static void ensure_database(void)
{
    PGconn *su = pg_t_super_conn("postgres");

    PQclear(PQexec(su, "SELECT pg_advisory_lock(1515)"));
    if (t_pg_value(su, "SELECT count(*) FROM pg_database "
                       "WHERE datname = 'pgmeta'") == 0) {
        pg_t_super("postgres", "CREATE DATABASE pgmeta");
        pg_t_super("pgmeta",
                   "CREATE SCHEMA m; CREATE SCHEMA n;"
                   "DO $$ BEGIN FOR i IN 1..40 LOOP EXECUTE format("
                   "'CREATE TABLE m.%I (id bigint PRIMARY KEY, name text, "
                   "at timestamptz, amount numeric(12,2))', "
                   "'t' || lpad(i::text, 2, '0')); END LOOP; END $$;"
                   "CREATE TABLE n.a (id int PRIMARY KEY, \"Odd \"\"x\" text);"
                   "CREATE TABLE n.b (k text, v jsonb);"
                   "CREATE TABLE n.\"we\"\"ird, {x}\\y\" (id int);"
                   "GRANT USAGE ON SCHEMA m, n TO dsb_reader;"
                   "GRANT SELECT ON ALL TABLES IN SCHEMA m, n TO dsb_reader;"
                   "ANALYZE");
        pg_t_super("postgres",
                   "ALTER DATABASE pgmeta SET log_statement = 'all'");
    }
    PQclear(PQexec(su, "SELECT pg_advisory_unlock(1515)"));
    PQfinish(su);
}

static void write_conf(void)
{
    char text[4096];

    conf = t_tmpdir();
    state = t_tmpdir();
    t_broker_yaml_local(conf, state, "[aurora-vpc]");
    snprintf(text, sizeof(text),
             "name: pgm\nplugin: postgres\nnetwork: aurora-vpc\n"
             "host: %s\nport: %s\ndbname: pgmeta\nuser: %s\n"
             "password: file:%s\nsslmode: disable\n",
             getenv("PGHOST"), getenv("PGPORT"), getenv("PGUSER"),
             getenv("DSB_TEST_PG_PASSWORD_FILE"));
    t_write(conf, "pgm.yaml", text);
}

static void setup(void)
{
    pg_t_load_env();
    ensure_database();
    write_conf();
    t_svc_open(&T, conf, getenv("DSB_PLUGIN_DIR"), "test-pg-meta");
}

static void teardown(void)
{
    t_svc_close(&T);
    free(conf);
    free(state);
}

TestSuite(pg_meta, .init = setup, .fini = teardown, .timeout = 60);

/* The server's log (beside its data directory). */
static char *log_path(void)
{
    return dsb_asprintf("%s/../server.log", getenv("DSB_TEST_PG_DATA"));
}

static long log_size(void)
{
    char *p = log_path();
    struct stat st;

    cr_assert_eq(stat(p, &st), 0, "%s", p);
    free(p);
    return (long)st.st_size;
}

/* Tables queries (the plugin's listing and describe query) logged since
 * offset `from`. */
static long tables_queries_since(long from)
{
    char *p = log_path(), line[8192];
    FILE *f = fopen(p, "r");
    long n = 0;

    cr_assert(f, "%s", p);
    fseek(f, from, SEEK_SET);
    while (fgets(line, sizeof(line), f))
        n += strstr(line, "LEFT JOIN pg_attribute a ON") != NULL;
    fclose(f);
    free(p);
    return n;
}

/* The selections: every table of m, then those of n. */
static struct dsb_selection *selections(size_t *n)
{
    static char names[N_M][8];
    struct dsb_selection *sel = calloc(N_M + 3, sizeof(*sel));

    for (int i = 0; i < N_M; i++) {
        snprintf(names[i], sizeof(names[i]), "t%02d", i + 1);
        sel[i] = (struct dsb_selection){"pgm", "pgmeta", "m", names[i]};
    }
    sel[N_M] = (struct dsb_selection){"pgm", "pgmeta", "n", "a"};
    sel[N_M + 1] = (struct dsb_selection){"pgm", "pgmeta", "n", "b"};
    sel[N_M + 2] =
        (struct dsb_selection){"pgm", "pgmeta", "n", "we\"ird, {x}\\y"};
    *n = N_M + 3;
    return sel;
}

static json_t *context_of(const char *id)
{
    int hit;
    const struct dsb_cached *v = dsb_svc_context(&T.ctx, id, NULL, &hit, &err);
    json_t *cx;

    cr_assert(v && v->doc, "%s", v ? v->err.message : err.message);
    cr_assert_not(hit);
    cx = json_incref(v->doc);
    dsb_svc_release(&T.ctx, v);
    return cx;
}

/* Selecting 43 tables of two schemas and building their context after a
 * refresh: one catalog query per schema each time, and the context is the
 * one describing and reading table by table gives. */
Test(pg_meta, one_catalog_query_per_schema_and_the_same_context)
{
    char id[DSB_SESSION_ID_MAX + 1];
    size_t n;
    struct dsb_selection *sel = selections(&n);
    json_t *batched, *alone = NULL;
    long at;

    cr_assert_eq(dsb_svc_session_create(&T.ctx, id, &err), 0, "%s",
                 err.message);
    at = log_size();
    cr_assert_eq(dsb_svc_select(&T.ctx, id, sel, n, NULL, 0, NULL, &err), 0,
                 "%s", err.message);
    cr_assert_eq(tables_queries_since(at), 2, "%ld", tables_queries_since(at));

    dsb_cache_flush(T.gen->cache, "pgm");
    at = log_size();
    batched = context_of(id);
    cr_assert_eq(tables_queries_since(at), 2, "%ld", tables_queries_since(at));
    cr_assert_eq(json_array_size(json_object_get(batched, "tables")), n);

    at = log_size();
    cr_assert_eq(
        dsb_context_build(T.gen->broker, sel, n, NULL, NULL, &alone, &err), 0,
        "%s", err.message);
    cr_assert_eq(tables_queries_since(at), (long)n, "unbatched: one a table");
    cr_assert(json_equal(batched, alone), "the batched context differs");
    json_decref(batched);
    json_decref(alone);
    free(sel);
}

/* describe_tables gives describe_table's answer for each name that exists
 * and leaves the others out (in the fixture database: pgmeta's log
 * belongs to the test above). */
Test(pg_meta, describe_tables_items_are_describe_table_answers)
{
    struct dsb_source *s = pg_t_source(T.gen->broker, "pgm");
    const char *names[] = {"Order Items", "nope", "we\"ird", "über_tabelle"};
    struct dsb_slot_args a = {.slot = DSB_SLOT_DESCRIBE_TABLES,
                              .database = "dsb",
                              .schema = "absent",
                              .tables = names,
                              .n_tables = 4};
    json_t *out = NULL;

    cr_assert_str_eq(t_describe_batch(s, "dsb", "Sales", names, 4),
                     "Order Items,we\"ird,über_tabelle");
    cr_assert_eq(dsb_source_call(s, &a, "t", 0, &out, &err), -1);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND, "%s", err.message);
}
