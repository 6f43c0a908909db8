/*
 * fixture.so: a source served from a JSON file, declaring one option of
 * every type.  Runtime tests load it through the real loader; it counts its
 * slot calls and the times it described a table (describe_table, and
 * read_spec, which describes the table itself), both reported by check, and
 * logs its resolved secret on purpose so tests can prove the broker
 * redacts it.  It declares mask_columns and ignores it (its data file's
 * statistics and sample rows come back as they are), so tests can prove
 * the broker strips masked values itself.
 *
 * data_file: {"databases": {"DB": {"comment": "...", "schemas": {"S":
 *             {"tables": [TABLE, ...]}}}}}   (TABLE as in plugin.h)
 * A TABLE may carry "read": {"format", "path", "options", "secret_options",
 * "spark_submit", "notes"} to shape its read spec (default: csv).
 *
 * gate_file (relative to the configuration directory): every describe
 * waits until that file exists (inotify, at most 30 s, then unavailable),
 * so that a test holds a tool until it has seen what it waits for.
 *
 * A database named "fail-throttled", "fail-upstream", "fail-timeout" or
 * "fail-auth" makes every listing under it fail with that error (code,
 * retryable, upstream, detail and hint set), for the HTTP status tests;
 * fail-auth puts the resolved password in its message, on purpose too.
 *
 * Built three times for the HTTP tests: FX_NAME names the plugin (the file
 * must match), FX_FLAT makes it a source without schemas (like Glue).
 * Built once more, as fixture10.so, against the frozen ABI 1.0 header
 * (tests/plugins/abi10): without the 1.1 slot, read_spec_described, which
 * takes the broker's description instead of describing again.  FX_FOR_MINOR_0
 * declares ABI 1.0 with today's header (DSB_PLUGIN_HEADER_FOR), and
 * FX_BIG_MINOR_0 declares it by hand with today's larger struct size;
 * FX_FOR_MINOR_1 declares ABI 1.1 with today's header, so its
 * check_options (which refuses an empty tag, as open does) goes unread.
 */
#ifndef FX_NAME
#define FX_NAME "fixture"
#endif
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>
#include <strings.h>
#include <unistd.h>

#include "dsbroker/plugin.h"

#ifndef DSB_CALL_INFO /* built against the frozen ABI 1.0 header */
#define DSB_CALL_INFO(h, call, ...)                                            \
    do {                                                                       \
        (void)(call);                                                          \
        DSB_INFO(h, __VA_ARGS__);                                              \
    } while (0)
#endif

static const char *const fx_modes[] = {"fast", "slow", NULL};

static const struct dsb_option fx_endpoint[] = {
    DSB_OPTION_STRING("host", DSB_OPT_REQUIRED, NULL, "host name"),
    DSB_OPTION_INT("port", 0, "80", 1, 65535, "TCP port"), DSB_OPTION_END};

static const struct dsb_option fx_replica[] = {
    DSB_OPTION_STRING("name", DSB_OPT_REQUIRED, NULL, "replica name"),
    DSB_OPTION_INT("weight", 0, "1", 0, 100, "share of reads"), DSB_OPTION_END};

static const struct dsb_option fx_options[] = {
    DSB_OPTION_STRING("data_file", DSB_OPT_REQUIRED, NULL,
                      "JSON file with the catalog (relative: to conf.d)"),
    DSB_OPTION_INT("page_max", 0, "100", 1, 1000, "largest page"),
    DSB_OPTION_DOUBLE("ratio", 0, "0.5", 0, 1, "a fraction"),
    DSB_OPTION_BOOL("strict", "false", "a switch"),
    DSB_OPTION_ENUM("mode", 0, "fast", fx_modes, "how to go"),
    DSB_OPTION_LIST("tags", 0, "[]", "labels"),
    DSB_OPTION_MAP("labels", 0, "free-form pairs"),
    DSB_OPTION_SECRET("password", 0, "a secret reference"),
    DSB_OPTION_OBJECT("endpoint", fx_endpoint, "where it is"),
    DSB_OPTION_OBJECT_LIST("replicas", 0, "[]", fx_replica, "copies"),
    DSB_OPTION_INT("delay_ms", 0, "0", 0, 60000,
                   "sleep this long in every listing and describe"),
    DSB_OPTION_STRING("gate_file", 0, NULL,
                      "every describe waits until this file exists"),
    DSB_OPTION_STRING("open_log", 0, NULL,
                      "append the opening process's pid to this file at "
                      "every open (preflight probes included)"),
    DSB_OPTION_LIST("mask_columns", 0, "[]",
                    "declared but ignored on purpose: the broker's own "
                    "masking is what a test sees"),
    DSB_OPTION_END};

struct fx {
    const struct dsb_host *host;
    json_t *data;
    char *password_ref;
    long delay_ms;
    char *gate_file, *gate_dir;
    atomic_long calls;
    atomic_long describes;
};

static void fx_delay(const struct fx *f)
{
    struct timespec ts = {f->delay_ms / 1000, (f->delay_ms % 1000) * 1000000};

    if (f->delay_ms > 0)
        nanosleep(&ts, NULL);
}

/* Waits for gate_file to exist: woken by inotify, never polling. */
static int fx_gate(const struct fx *f, struct dsb_error *err)
{
    int fd, rc = -1;
    char ev[4096];
    struct pollfd p = {-1, POLLIN, 0};

    if (!f->gate_file)
        return 0;
    fd = inotify_init1(IN_CLOEXEC);
    if (fd >= 0 &&
        inotify_add_watch(fd, f->gate_dir,
                          IN_CREATE | IN_MOVED_TO | IN_ATTRIB) >= 0) {
        p.fd = fd;
        while (access(f->gate_file, F_OK) != 0 && poll(&p, 1, 30000) > 0 &&
               read(fd, ev, sizeof(ev)) > 0)
            ;
        rc = access(f->gate_file, F_OK);
    }
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        dsb_error_set(err, DSB_E_UNAVAILABLE, "the gate %s was not opened",
                      f->gate_file);
    return rc < 0 ? -1 : 0;
}

static char *fx_path(const char *dir, const char *file)
{
    char path[4096];

    if (file[0] == '/')
        snprintf(path, sizeof(path), "%s", file);
    else
        snprintf(path, sizeof(path), "%s/%s", dir, file);
    return strdup(path);
}

static void fx_log_open(const char *path)
{
    FILE *f = path ? fopen(path, "a") : NULL;

    if (f) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
}

/* open refuses an empty tag, which the option table cannot express:
 * check_options (ABI 1.2) refuses it at check time too. */
static int fx_tags_ok(const json_t *options, struct dsb_error *err)
{
    size_t i;
    const json_t *v;

    json_array_foreach(json_object_get(options, "tags"), i, v)
    {
        if (!*json_string_value(v)) {
            dsb_error_set(err, DSB_E_CONFIG, "tag %zu is empty", i + 1);
            dsb_error_hint(err, "remove it, or give it a name");
            return 0;
        }
    }
    return 1;
}

static int fx_open(const struct dsb_host *host,
                   const struct dsb_source_info *info, const json_t *options,
                   void **inst, struct dsb_error *err)
{
    const char *file = json_string_value(json_object_get(options, "data_file"));
    const char *pw = json_string_value(json_object_get(options, "password"));
    const char *gate = json_string_value(json_object_get(options, "gate_file"));
    char path[4096];
    json_error_t je;
    struct fx *f;

    if (file[0] == '/')
        snprintf(path, sizeof(path), "%s", file);
    else
        snprintf(path, sizeof(path), "%s/%s", info->config_dir, file);
    fx_log_open(json_string_value(json_object_get(options, "open_log")));
    if (!fx_tags_ok(options, err))
        return -1;
    f = calloc(1, sizeof(*f));
    if (!f)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    f->host = host;
    f->data = json_load_file(path, 0, &je);
    if (!f->data) {
        free(f);
        dsb_error_set(err, DSB_E_CONFIG, "cannot load %s: %s", path, je.text);
        return -1;
    }
    f->password_ref = pw ? strdup(pw) : NULL;
    if (gate) {
        f->gate_file = fx_path(info->config_dir, gate);
        f->gate_dir = fx_path(info->config_dir, gate);
        if (f->gate_dir && strrchr(f->gate_dir, '/'))
            *strrchr(f->gate_dir, '/') = '\0';
    }
    f->delay_ms =
        (long)json_integer_value(json_object_get(options, "delay_ms"));
    *inst = f;
    return 0;
}

static void fx_close(void *inst)
{
    struct fx *f = inst;

    json_decref(f->data);
    free(f->password_ref);
    free(f->gate_file);
    free(f->gate_dir);
    free(f);
}

static int fx_check(void *inst, struct dsb_call *call, json_t **out,
                    struct dsb_error *err)
{
    struct fx *f = inst;
    char *pw = NULL;

    (void)call;
    if (f->password_ref) {
        if (f->host->secret_get(f->host, f->password_ref, &pw, err) < 0)
            return -1;
        /* on purpose: the broker must redact this */
        DSB_INFO(f->host, "checking with password %s", pw);
        f->host->secret_free(f->host, pw);
    }
    *out = json_pack("{s:b, s:I, s:I}", "ok", 1, "calls", (json_int_t)f->calls,
                     "describes", (json_int_t)f->describes);
    return 0;
}

static const struct {
    const char *database;
    int code, retryable;
    const char *upstream, *message, *hint;
} fx_failures[] = {
    {"fail-throttled", DSB_E_THROTTLED, 1, "ThrottlingException",
     "the catalog is throttling requests", "slow down and retry"},
    {"fail-upstream", DSB_E_UPSTREAM, 0, "XX000", "the catalog server failed",
     "look at the catalog server's log"},
    {"fail-timeout", DSB_E_TIMEOUT, 1, "57014",
     "the catalog did not answer in time", "retry, or raise the timeout"},
    {"fail-auth", DSB_E_AUTH, 0, "28P01", "the catalog refused the credentials",
     "check the password reference"},
};

/* Appends the resolved password to the message (the broker must redact
 * it from responses and logs). */
static void fx_leak_password(struct fx *f, struct dsb_error *err)
{
    struct dsb_error ignored;
    size_t n = strlen(err->message);
    char *pw = NULL;

    if (!f->password_ref ||
        f->host->secret_get(f->host, f->password_ref, &pw, &ignored) < 0)
        return;
    snprintf(err->message + n, sizeof(err->message) - n, " (password %s)", pw);
    f->host->secret_free(f->host, pw);
}

/* The deliberate failure of a "fail-..." database; 0 for any other. */
static int fx_fail(struct fx *f, const char *database, struct dsb_error *err)
{
    for (size_t i = 0; i < sizeof(fx_failures) / sizeof(*fx_failures); i++) {
        if (strcmp(database, fx_failures[i].database) != 0)
            continue;
        dsb_error_set(err, fx_failures[i].code, "%s", fx_failures[i].message);
        err->retryable = fx_failures[i].retryable;
        snprintf(err->upstream, sizeof(err->upstream), "%s",
                 fx_failures[i].upstream);
        dsb_error_detail(err, "database %s failed on purpose", database);
        dsb_error_hint(err, "%s", fx_failures[i].hint);
        if (fx_failures[i].code == DSB_E_AUTH)
            fx_leak_password(f, err);
        return -1;
    }
    return 0;
}

static const json_t *fx_level(struct fx *f, const struct dsb_list_request *r,
                              struct dsb_error *err)
{
    const json_t *dbs = json_object_get(f->data, "databases"), *db, *sc;

    if (!r->database)
        return dbs;
    if (fx_fail(f, r->database, err) < 0)
        return NULL;
    db = json_object_get(dbs, r->database);
    if (!db) {
        dsb_error_set(err, DSB_E_NOT_FOUND, "database \"%s\" does not exist",
                      r->database);
        return NULL;
    }
    if (!r->schema)
        return json_object_get(db, "schemas");
    sc = json_object_get(json_object_get(db, "schemas"), r->schema);
    if (!sc)
        dsb_error_set(err, DSB_E_NOT_FOUND, "schema \"%s\" does not exist",
                      r->schema);
    return sc ? json_object_get(sc, "tables") : NULL;
}

static int fx_match(const char *name, const char *filter)
{
    size_t n = filter ? strlen(filter) : 0;

    if (!n)
        return 1;
    for (const char *p = name; *p; p++)
        if (strncasecmp(p, filter, n) == 0)
            return 1;
    return 0;
}

/* Items of a level (object keys or table array), filtered and paged. */
static int fx_page(struct fx *f, const json_t *level,
                   const struct dsb_list_request *r, json_t **out)
{
    size_t start = r->page_token ? strtoul(r->page_token, NULL, 10) : 0;
    size_t size = r->page_size ? r->page_size : (size_t)-1, k = 0;
    json_t *items = json_array(), *all = json_array(), *v;
    const char *key;
    size_t i;
    int more = 0;

    (void)f;
    if (json_is_array(level))
        json_array_foreach(level, i, v) json_array_append(all, v);
    else
        json_object_foreach((json_t *)level, key, v) json_array_append_new(
            all, json_pack("{s:s, s:O?}", "name", key, "comment",
                           json_object_get(v, "comment")));
    json_array_foreach(all, i, v)
    {
        if (!fx_match(json_string_value(json_object_get(v, "name")),
                      r->name_filter) ||
            k++ < start)
            continue;
        if (json_array_size(items) == size) {
            more = 1;
            break;
        }
        json_array_append(items, v);
    }
    *out = json_pack("{s:o, s:o}", "items", items, "next_page_token",
                     more ? json_sprintf("%zu", k - 1) : json_null());
    json_decref(all);
    return 0;
}

static int fx_list(void *inst, struct dsb_call *call,
                   const struct dsb_list_request *r, json_t **out,
                   struct dsb_error *err)
{
    struct fx *f = inst;
    const json_t *level;

    (void)call;
    f->calls++;
    fx_delay(f);
    level = fx_level(f, r, err);
    return level ? fx_page(f, level, r, out) : -1;
}

static const json_t *fx_find(struct fx *f, const char *db, const char *schema,
                             const char *table, struct dsb_error *err)
{
    struct dsb_list_request r = {db, schema, NULL, 0, NULL};
    const json_t *tables = fx_level(f, &r, err), *t;
    size_t i;

    json_array_foreach(
        tables, i, t) if (strcmp(json_string_value(json_object_get(t, "name")),
                                 table) == 0) return t;
    if (tables)
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "table \"%s\".\"%s\" does not "
                      "exist in %s",
                      schema, table, db);
    return NULL;
}

static int fx_describe(void *inst, struct dsb_call *call, const char *db,
                       const char *schema, const char *table, json_t **out,
                       struct dsb_error *err)
{
    struct fx *f = inst;
    const json_t *t;

    f->calls++;
    f->describes++;
    DSB_CALL_INFO(f->host, call, "describing %s.%s.%s", db, schema, table);
    fx_delay(f);
    if (fx_gate(f, err) < 0)
        return -1;
    t = fx_find(f, db, schema, table, err);
    if (!t)
        return -1;
    *out = json_deep_copy(t);
    json_object_del(*out, "read");
    return 0;
}

/* A read spec from the table's "read" member (the fixture's own
 * configuration, never part of a description); t is the description. */
static int fx_custom_spec(const json_t *t, const json_t *read,
                          const struct dsb_read_target *target, json_t **out)
{
    json_t *r = json_deep_copy(read);

    if (!json_object_get(r, "options"))
        json_object_set_new(r, "options", json_object());
    json_object_set(r, "columns", json_object_get(t, "columns"));
    json_object_set(r, "primary_key", json_object_get(t, "primary_key"));
    json_object_set(r, "row_estimate", json_object_get(t, "row_estimate"));
    json_object_set_new(r, "executor",
                        json_string(target ? target->executor : ""));
    *out = r;
    return 0;
}

/* The read spec of the table described by t; raw is its catalog entry. */
static int fx_spec(struct fx *f, struct dsb_call *call, const char *db,
                   const char *schema, const char *table, const json_t *t,
                   const json_t *raw, const struct dsb_read_target *target,
                   json_t **out)
{
    char *path;

    if (json_object_get(raw, "read"))
        return fx_custom_spec(t, json_object_get(raw, "read"), target, out);
    path = f->host->arena_alloc(call, strlen(db) + strlen(schema) +
                                          strlen(table) + 16);
    sprintf(path, "/data/%s/%s/%s.csv", db, schema, table);
    *out = json_pack("{s:s, s:s, s:s, s:{s:s}, s:{}, s:O, s:s}",
                     "qualified_name", table, "format", "csv", "path", path,
                     "options", "header", "true", "secret_options", "columns",
                     json_object_get(t, "columns"), "executor",
                     target ? target->executor : "");
    if (f->password_ref)
        json_object_set_new(json_object_get(*out, "secret_options"), "password",
                            json_string(f->password_ref));
    return 0;
}

/* Describes the table itself, as a 1.0 plugin must. */
static int fx_read_spec(void *inst, struct dsb_call *call, const char *db,
                        const char *schema, const char *table,
                        const struct dsb_read_target *target, json_t **out,
                        struct dsb_error *err)
{
    struct fx *f = inst;
    const json_t *t;

    f->calls++;
    f->describes++;
    t = fx_find(f, db, schema, table, err);
    if (!t)
        return -1;
    return fx_spec(f, call, db, schema, table, t, t, target, out);
}

#if DSB_ABI_MINOR >= 1
/* Takes the broker's description: no describe.  The catalog entry is
 * looked up for its "read" configuration only. */
static int fx_read_spec_described(void *inst, struct dsb_call *call,
                                  const char *db, const char *schema,
                                  const char *table, const json_t *described,
                                  const struct dsb_read_target *target,
                                  json_t **out, struct dsb_error *err)
{
    struct fx *f = inst;
    const char *name = json_string_value(json_object_get(described, "name"));
    const json_t *raw;

    f->calls++;
    if (!name || strcmp(name, table) != 0)
        return dsb_error_set(err, DSB_E_INTERNAL,
                             "the broker described "
                             "\"%s\" for a read spec of \"%s\"",
                             name ? name : "(nothing)", table);
    raw = fx_find(f, db, schema, table, err);
    if (!raw)
        return -1;
    return fx_spec(f, call, db, schema, table, described, raw, target, out);
}
#endif

#if DSB_ABI_MINOR >= 2
static int fx_check_options(const json_t *options, const char **key,
                            struct dsb_error *err)
{
    if (fx_tags_ok(options, err))
        return 0;
    *key = "tags";
    return -1;
}
#endif

static const struct dsb_source_plugin fx_plugin = {
#if defined(FX_FOR_MINOR_0)
    .abi = DSB_PLUGIN_HEADER_FOR(0), /* its 1.1 slot must go unread */
#elif defined(FX_FOR_MINOR_1)
    .abi = DSB_PLUGIN_HEADER_FOR(1), /* its 1.2 slots must go unread */
#elif defined(FX_BIG_MINOR_0) /* 1.0 by hand, with a 1.1-sized vtable */
    .abi = {DSB_PLUGIN_MAGIC, DSB_ABI_MAJOR, 0,
            (uint32_t)sizeof(struct dsb_source_plugin), 0, DSB_BUILD_TAG},
#else
    .abi = DSB_PLUGIN_HEADER,
#endif
    .name = FX_NAME,
    .version = "1.0.0",
    .description = "test source served from a JSON file",
    .options = fx_options,
    .default_network = "fixture-net",
#ifdef FX_FLAT
    .flags = DSB_SRC_FLAT_SCHEMA,
    .flat_schema = "default",
#endif
    .open = fx_open,
    .close = fx_close,
    .check = fx_check,
    .list_databases = fx_list,
    .list_schemas = fx_list,
    .list_tables = fx_list,
    .describe_table = fx_describe,
    .read_spec = fx_read_spec,
#if DSB_ABI_MINOR >= 1
    .read_spec_described = fx_read_spec_described,
#endif
#if DSB_ABI_MINOR >= 2
    .check_options = fx_check_options,
#endif
};

#ifdef DSB_PLUGIN_DEFINE
DSB_PLUGIN_DEFINE(fx_plugin);
#else /* the frozen 1.0 header has no DSB_PLUGIN_DEFINE */
DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void);
DSB_PLUGIN_EXPORT const struct dsb_source_plugin *dsb_plugin_entry(void)
{
    return &fx_plugin;
}
#endif
