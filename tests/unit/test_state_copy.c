/* dsbroker copy-state (core/state_copy.c): a SQLite store filled through
 * its operations is copied into an empty PostgreSQL store of the fixture
 * cluster (a database of its own per test) and read back through the
 * PostgreSQL operations: the same sessions, owners, selections with their
 * ids, job records and queue; new ids continue after the copied ones.  A
 * second copy is refused (the store is not empty), a missing SQLite store
 * is named; the command itself refuses a broker.yaml on SQLite and copies
 * with one on PostgreSQL. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "jobs/internal.h"
#include "pg_admin.h"
#include "sessions.h"
#include "store.h"
#include "support.h"
#include "util.h"

static struct t_pg pg;
static char url[1024], db[64], password[256];
static char *dir;

static void setup(void)
{
    FILE *f;

    t_pg_init(&pg);
    f = fopen(pg.password_file, "r");
    cr_assert(f && fgets(password, sizeof(password), f), "%s",
              pg.password_file);
    fclose(f);
    password[strcspn(password, "\n")] = '\0';
    t_pg_create_db(&pg, "state_copy", db);
    t_pg_url(&pg, db, url, sizeof(url));
    dir = t_tmpdir();
}

static void teardown(void)
{
    t_pg_drop_db(&pg, db);
    free(dir);
}

TestSuite(state_copy, .init = setup, .fini = teardown, .timeout = 60);

#define OK(call)                                                               \
    do {                                                                       \
        struct dsb_error e_ = {0};                                             \
        cr_assert_eq((call), 0, "%s: %s", #call, e_.message);                  \
    } while (0)
#define E (&e_)

static const struct dsb_selection orders = {"pg", "shop", "public", "orders"};
static const struct dsb_selection users = {"pg", "shop", "public", "users"};
static const struct dsb_selection events = {"lake", "raw", "", "events"};

static json_t *job(const char *id, const char *session, const char *state)
{
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", id,
                            "session_id", session, "state", state, "executor",
                            "local", "principal", "alice", "created_at",
                            (json_int_t)1000, "updated_at", (json_int_t)1000);

    cr_assert(doc);
    return doc;
}

/* Two sessions (one selection removed, so the ids have a gap), a finished
 * job and a queued one, in the SQLite store of dir; the sessions' ids. */
static void fill_sqlite(char a[DSB_SESSION_ID_MAX + 1],
                        char b[DSB_SESSION_ID_MAX + 1])
{
    struct dsb_sessions *s;
    struct dsb_jobs *j = calloc(1, sizeof(*j));
    char *path = dsb_state_db_path(dir);
    json_t *added = NULL, *doc;
    struct dsb_error err = {0};

    s = dsb_sessions_open(dir, &err);
    cr_assert(s, "%s", err.message);
    OK(dsb_sessions_create(s, "alice", a, E));
    OK(dsb_sessions_create(s, "bob", b, E));
    OK(dsb_sessions_select(s, a, &orders, 1, NULL, 0, &added, E));
    OK(dsb_sessions_unselect(
        s, a,
        json_integer_value(json_object_get(json_array_get(added, 0), "id")),
        E));
    json_decref(added);
    OK(dsb_sessions_select(s, a, &users, 1, NULL, 0, NULL, E));
    OK(dsb_sessions_select(s, b, &events, 1, NULL, 0, NULL, E));
    dsb_sessions_close(s);

    cr_assert(j);
    OK(dsb_jstore_open(j, path, E));
    doc = job("j-done", a, "succeeded");
    OK(dsb_jstore_put(j, doc, E));
    json_decref(doc);
    doc = job("j-queued", b, "pending");
    json_object_set_new(doc, "queued", json_true());
    OK(dsb_jstore_enqueue(j, doc, "print('queued')\n", NULL, E));
    json_decref(doc);
    dsb_jstore_close(j);
    free(j);
    free(path);
}

static struct dsb_store_conf pg_conf(void)
{
    return (struct dsb_store_conf){.url = url, .password = password};
}

static char *copy_output(int *rc, struct dsb_error *err)
{
    struct dsb_store_conf c = pg_conf();
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    cr_assert(out);
    *rc = dsb_state_copy(dir, &c, out, err);
    fclose(out);
    return text;
}

Test(state_copy, everything_arrives_and_ids_continue)
{
    char a[DSB_SESSION_ID_MAX + 1], b[DSB_SESSION_ID_MAX + 1];
    struct dsb_store_conf c = pg_conf();
    struct dsb_error err = {0};
    struct dsb_sessions *s;
    struct dsb_jobs *j = calloc(1, sizeof(*j));
    json_t *got, *sel, *added = NULL, *doc;
    char owner[DSB_OWNER_MAX + 1], *code = NULL, *entry = NULL, *text;
    json_int_t users_id;
    int rc;

    fill_sqlite(a, b);
    text = copy_output(&rc, &err);
    cr_assert_eq(rc, 0, "%s: %s", err.message, err.detail);
    cr_assert(strstr(text, "copied 2 sessions, 2 selections, 2 jobs (1 "
                           "queued)"),
              "%s", text);
    free(text);

    s = dsb_sessions_open_on(&dsb_store_pg, &c, &err);
    cr_assert(s, "%s", err.message);
    OK(dsb_sessions_owner(s, a, owner, E));
    cr_assert_str_eq(owner, "alice");
    OK(dsb_sessions_owner(s, b, owner, E));
    cr_assert_str_eq(owner, "bob");
    OK(dsb_sessions_selections(s, a, &sel, E));
    cr_assert_eq(json_array_size(sel), 1);
    got = json_array_get(sel, 0);
    cr_assert_str_eq(json_string_value(json_object_get(got, "table")), "users");
    users_id = json_integer_value(json_object_get(got, "id"));
    cr_assert_eq(users_id, 2, "the copied selection keeps its id");
    json_decref(sel);
    /* a new selection's id comes after the copied ones */
    OK(dsb_sessions_select(s, a, &orders, 1, NULL, 0, &added, E));
    cr_assert_gt(
        json_integer_value(json_object_get(json_array_get(added, 0), "id")), 3);
    json_decref(added);
    dsb_sessions_close(s);

    cr_assert(j);
    OK(dsb_jstore_open_on(j, &dsb_store_pg, &c, E));
    got = dsb_jstore_get(j, "j-done");
    cr_assert(got);
    doc = job("j-done", a, "succeeded");
    cr_assert(json_equal(got, doc), "the record must arrive as stored");
    json_decref(doc);
    json_decref(got);
    cr_assert(dsb_jstore_is_queued(j, "j-queued"));
    doc = dsb_jstore_get(j, "j-queued");
    cr_assert(doc);
    OK(dsb_jstore_dequeue(j, doc, &code, &entry, E));
    cr_assert_str_eq(code, "print('queued')\n");
    cr_assert_null(entry);
    free(code);
    json_decref(doc);
    dsb_jstore_close(j);
    free(j);
}

Test(state_copy, a_store_that_holds_rows_is_refused)
{
    char a[DSB_SESSION_ID_MAX + 1], b[DSB_SESSION_ID_MAX + 1];
    struct dsb_error err = {0};
    char *text;
    int rc;

    fill_sqlite(a, b);
    free(copy_output(&rc, &err));
    cr_assert_eq(rc, 0, "%s", err.message);
    text = copy_output(&rc, &err);
    cr_assert_neq(rc, 0);
    cr_assert_eq(err.code, DSB_E_CONFLICT);
    cr_assert(strstr(err.message, "already holds 2 sessions and 2 jobs"), "%s",
              err.message);
    cr_assert_str_eq(text, "");
    free(text);
}

Test(state_copy, a_missing_sqlite_store_is_named)
{
    struct dsb_error err = {0};
    char *text;
    int rc;

    text = copy_output(&rc, &err);
    cr_assert_neq(rc, 0);
    cr_assert_eq(err.code, DSB_E_NOT_FOUND);
    cr_assert(strstr(err.message, "no SQLite store at"), "%s", err.message);
    free(text);
}

/* Runs `dsbroker -c CONF copy-state DIR` with broker.yaml yaml; its exit
 * status, stdout+stderr into out. */
static int run_cli(const char *yaml, char *out, size_t len)
{
    char conf[4200], cmd[9000], *bin = t_path("DSB_BUILD_DIR", "bin/dsbroker");
    FILE *f, *p;
    size_t n;
    int st;

    snprintf(conf, sizeof(conf), "%s/conf.d", dir);
    mkdir(conf, 0700);
    snprintf(cmd, sizeof(cmd), "%s/broker.yaml", conf);
    f = fopen(cmd, "w");
    cr_assert(f);
    fputs(yaml, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' copy-state '%s' 2>&1", bin, conf,
             dir);
    free(bin);
    p = popen(cmd, "r");
    cr_assert(p);
    n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(state_copy, the_command_copies_and_refuses_sqlite)
{
    char a[DSB_SESSION_ID_MAX + 1], b[DSB_SESSION_ID_MAX + 1], yaml[4096],
        out[4096];

    fill_sqlite(a, b);
    snprintf(yaml, sizeof(yaml), "state_dir: %s/other\n", dir);
    cr_assert_eq(run_cli(yaml, out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "set state.store: postgresql"), "%s", out);

    snprintf(yaml, sizeof(yaml),
             "state_dir: %s/other\nstate:\n  store: postgresql\n  url: "
             "\"%s\"\n  password: \"file:%s\"\n",
             dir, url, pg.password_file);
    cr_assert_eq(run_cli(yaml, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "copied 2 sessions"), "%s", out);
    cr_assert_null(strstr(out, password), "no secret in the output");
    cr_assert_eq(run_cli(yaml, out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "already holds"), "%s", out);
}
