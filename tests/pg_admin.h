/* The fixture PostgreSQL cluster (tests/scripts/postgres.sh) as its
 * superuser over its socket: the suites of the state stores and replicas
 * make a database of their own per test with it, and the broker reaches
 * it as its role over TCP (header-only; needs libpq and support.h). */
#ifndef DSB_TESTS_PG_ADMIN_H
#define DSB_TESTS_PG_ADMIN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>

#include "support.h"
#include "util.h"

struct t_pg {
    char admin[1024];         /* superuser conninfo, without dbname */
    char port[16];            /* TCP port on 127.0.0.1 */
    char password_file[1024]; /* the broker role's password (0600) */
};

static inline void t_pg_init(struct t_pg *p)
{
    char sock[512], super[64];

    t_service("postgres", "DSB_TEST_PG_SOCKET", sock, sizeof(sock));
    t_service("postgres", "PGPORT", p->port, sizeof(p->port));
    t_service("postgres", "DSB_TEST_PG_SUPERUSER", super, sizeof(super));
    t_service("postgres", "DSB_TEST_PG_PASSWORD_FILE", p->password_file,
              sizeof(p->password_file));
    snprintf(p->admin, sizeof(p->admin), "host=%s port=%s user=%s", sock,
             p->port, super);
}

/* A superuser connection to database db. */
static inline PGconn *t_pg_conn(const struct t_pg *p, const char *db)
{
    char info[1200];
    PGconn *c;

    snprintf(info, sizeof(info), "%s dbname=%s", p->admin, db);
    c = PQconnectdb(info);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

/* Runs sql with parameters v[0..n) on database db as the superuser (with
 * none, sql may be several statements); the test fails if it does. */
static inline void t_pg_execp(const struct t_pg *p, const char *db,
                              const char *sql, int n, const char *const *v)
{
    PGconn *c = t_pg_conn(p, db);
    /* without parameters a script of several statements may run */
    PGresult *r =
        n ? PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0) : PQexec(c, sql);

    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK ||
                  PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static inline void t_pg_exec(const struct t_pg *p, const char *db,
                             const char *sql)
{
    t_pg_execp(p, db, sql, 0, NULL);
}

/* The integer in the first column of the one row sql (parameters
 * v[0..n)) answers on c. */
static inline long t_pg_valuep(PGconn *c, const char *sql, int n,
                               const char *const *v)
{
    PGresult *r =
        n ? PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0) : PQexec(c, sql);
    long x;

    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1,
              "%s: %s", sql, PQresultErrorMessage(r));
    x = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return x;
}

static inline long t_pg_value(PGconn *c, const char *sql)
{
    return t_pg_valuep(c, sql, 0, NULL);
}

/* t_pg_valuep of sql on database db, as the superuser. */
static inline long t_pg_countp(const struct t_pg *p, const char *db,
                               const char *sql, int n, const char *const *v)
{
    PGconn *c = t_pg_conn(p, db);
    long x = t_pg_valuep(c, sql, n, v);

    PQfinish(c);
    return x;
}

static inline long t_pg_count(const struct t_pg *p, const char *db,
                              const char *sql)
{
    return t_pg_countp(p, db, sql, 0, NULL);
}

/* A new database PREFIX_<16 hex digits> owned by the broker's role; its
 * name into out[64]. */
static inline void t_pg_create_db(const struct t_pg *p, const char *prefix,
                                  char out[64])
{
    char hex[17], sql[256];

    cr_assert_eq(dsb_random_hex(hex, 8), 0);
    snprintf(out, 64, "%s_%s", prefix, hex);
    snprintf(sql, sizeof(sql),
             "CREATE DATABASE %s OWNER dsb_reader TEMPLATE template0", out);
    t_pg_exec(p, "postgres", sql);
}

static inline void t_pg_drop_db(const struct t_pg *p, const char *db)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", db);
    t_pg_exec(p, "postgres", sql);
}

/* The broker's conninfo for database db: its role over TCP, no password
 * (that is the password file's). */
static inline void t_pg_url(const struct t_pg *p, const char *db, char *out,
                            size_t len)
{
    snprintf(out, len, "host=127.0.0.1 port=%s user=dsb_reader dbname=%s",
             p->port, db);
}

/* A suite's state store: database PREFIX_<hex> (into db) on the fixture
 * cluster, a new temporary directory (returned, malloc'd), and what the
 * suite's broker.yaml interpolates: DSB_TEST_STATE_DIR (that directory),
 * DSB_TEST_STATE_URL (the broker's conninfo) and
 * DSB_TEST_PG_PASSWORD_FILE. */
static inline char *t_pg_state_env(struct t_pg *p, const char *prefix,
                                   char db[64])
{
    char url[512], *dir;

    t_pg_init(p);
    t_pg_create_db(p, prefix, db);
    t_pg_url(p, db, url, sizeof(url));
    dir = t_tmpdir();
    setenv("DSB_TEST_STATE_DIR", dir, 1);
    setenv("DSB_TEST_STATE_URL", url, 1);
    setenv("DSB_TEST_PG_PASSWORD_FILE", p->password_file, 1);
    return dir;
}

#endif
