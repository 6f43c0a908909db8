/* Helpers of the postgres integration suites (header-only). */
#ifndef DSB_TESTS_PG_SUPPORT_H
#define DSB_TESTS_PG_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "broker.h"
#include "pg_admin.h"

/* Reads DSB_TEST_SERVICES/NAME.env (KEY=VALUE lines) into the
 * environment, so conf.d can interpolate ${PGPORT} and friends. */
static inline void pg_t_load_service_env(const char *name)
{
    const char *dir = getenv("DSB_TEST_SERVICES");
    char path[4096], line[4096];
    FILE *f;

    cr_assert(dir, "DSB_TEST_SERVICES is not set: run through ctest");
    snprintf(path, sizeof(path), "%s/%s.env", dir, name);
    f = fopen(path, "r");
    cr_assert(f, "%s is missing: is the %s fixture running?", path, name);
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        line[strcspn(line, "\n")] = '\0';
        if (!eq)
            continue;
        *eq = '\0';
        setenv(line, eq + 1, 1);
    }
    fclose(f);
}

static inline void pg_t_load_env(void)
{
    pg_t_load_service_env("postgres");
}

/* Starts the broker on tests/postgres/CONF (a conf.d) with the built
 * plugins. */
static inline struct dsb_broker *pg_t_broker_on(const char *conf_name)
{
    struct dsb_broker_opts o = {0};
    struct dsb_diags d;
    char conf[4096];
    struct dsb_broker *b;

    pg_t_load_env();
    snprintf(conf, sizeof(conf), "%s/tests/postgres/%s",
             getenv("DSB_SOURCE_DIR"), conf_name);
    o.conf_dir = conf;
    o.plugin_dir = getenv("DSB_PLUGIN_DIR");
    dsb_diags_init(&d);
    b = dsb_broker_start(&o, &d);
    if (!b || d.errors)
        dsb_diags_print(&d, stderr);
    cr_assert(b && d.errors == 0, "the broker did not start");
    dsb_diags_free(&d);
    return b;
}

static inline struct dsb_broker *pg_t_broker(void)
{
    return pg_t_broker_on("conf.d");
}

static inline struct dsb_source *pg_t_source(struct dsb_broker *b,
                                             const char *name)
{
    struct dsb_source *s = dsb_broker_source(b, name);

    cr_assert(s, "no source %s", name);
    cr_assert_eq(s->state, DSB_SOURCE_OPEN, "source %s is not open: %s", name,
                 s->open_error.message);
    return s;
}

/* A superuser connection over the Unix socket (trust); PQfinish it. */
static inline PGconn *pg_t_super_conn(const char *db)
{
    char conninfo[4096];
    PGconn *c;

    snprintf(conninfo, sizeof(conninfo), "host=%s port=%s user=%s dbname=%s",
             getenv("DSB_TEST_PG_SOCKET"), getenv("PGPORT"),
             getenv("DSB_TEST_PG_SUPERUSER"), db);
    c = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "superuser connect: %s",
                 PQerrorMessage(c));
    return c;
}

/* Runs SQL as the superuser over the Unix socket (fixture changes). */
static inline void pg_t_super(const char *db, const char *sql)
{
    PGconn *c = pg_t_super_conn(db);
    PGresult *r = PQexec(c, sql);

    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK ||
                  PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* Runs tests/scripts/postgres.sh VERB on the shared service directory. */
static inline void pg_t_script(const char *verb)
{
    char cmd[8192];

    snprintf(cmd, sizeof(cmd), "bash '%s' %s '%s' >&2",
             getenv("DSB_TEST_PG_SCRIPT"), verb, getenv("DSB_TEST_SERVICES"));
    cr_assert_eq(system(cmd), 0, "postgres.sh %s failed", verb);
}

/* Reads a whole small file (a password) without its trailing newline. */
static inline char *pg_t_read_file(const char *path)
{
    char buf[512] = "";
    FILE *f = fopen(path, "r");
    size_t n;

    cr_assert(f, "cannot read %s", path);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return strdup(buf);
}

static inline const char *pg_t_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The item of an "items" array (or a plain array) whose name is `name`. */
static inline json_t *pg_t_find(const json_t *arr, const char *name)
{
    size_t i;
    json_t *x;

    if (json_is_object(arr))
        arr = json_object_get(arr, "items");
    json_array_foreach(arr, i, x)
    {
        if (!strcmp(pg_t_str(x, "name"), name))
            return x;
    }
    return NULL;
}

/* "a,b,c" of the names of a listing's items. */
static inline char *pg_t_names(const json_t *listing)
{
    static char buf[8192];
    size_t i, w = 0;
    json_t *x;

    buf[0] = '\0';
    json_array_foreach(json_object_get(listing, "items"), i, x)
    {
        w += (size_t)snprintf(buf + w, sizeof(buf) - w, "%s%s", i ? "," : "",
                              pg_t_str(x, "name"));
        if (w >= sizeof(buf))
            break;
    }
    return buf;
}

/* The conf.d file of a source "pg" on database db of the test cluster
 * (network aurora-vpc; the password from the fixture's file): a string
 * literal, so that a test can append keys of its own. */
#define T_PG_SOURCE_YAML(db)                                                   \
    "name: pg\n"                                                               \
    "plugin: postgres\n"                                                       \
    "network: aurora-vpc\n"                                                    \
    "host: ${PGHOST}\n"                                                        \
    "port: ${PGPORT}\n"                                                        \
    "dbname: " db "\n"                                                         \
    "user: ${PGUSER}\n"                                                        \
    "password: file:${DSB_TEST_PG_PASSWORD_FILE}\n"                            \
    "include_databases: [" db "]\n"                                            \
    "sslmode: disable\n"

#endif
