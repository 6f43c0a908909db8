/*
 * Operations the original backend had and /v1 has no twin of: lenient
 * selection (missing tables skipped and reported), clearing a session's
 * selections, and a CSV upload stored as a table of the uploads source.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/sigv4.h"
#include "internal.h"

/* The lines of a preview (the original answered the first five). */
#define PREVIEW_LINES 5

static json_t *missing_entry(const struct dsb_selection *s,
                             const struct dsb_error *e)
{
    return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s}", "source", s->source,
                     "database", s->database, "schema", s->schema, "table",
                     s->table, "error", e->message);
}

int dsb_svc_select_present(const struct dsb_ctx *c, const char *id,
                           struct dsb_selection *sel, size_t *n,
                           const char *const *replace, size_t n_replace,
                           json_t **missing, struct dsb_error *err)
{
    size_t kept = 0;

    *missing = NULL;
    if (dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err) < 0)
        return -1;
    *missing = json_array();
    for (size_t i = 0; i < *n; i++) {
        json_t *t = dsb_svc_described(c, &sel[i], err);
        if (t)
            sel[kept++] = sel[i];
        else if (err->code == DSB_E_NOT_FOUND)
            json_array_append_new(*missing, missing_entry(&sel[i], err));
        else
            return -1;
        json_decref(t);
    }
    *n = kept;
    return dsb_svc_select(c, id, sel, kept, replace, n_replace, NULL, err);
}

int dsb_svc_session_reset(const struct dsb_ctx *c, const char *id,
                          struct dsb_error *err)
{
    json_t *items = NULL;
    const char **srcs = NULL;
    const json_t *o;
    size_t i, n = 0;
    int rc = -1;

    if (dsb_svc_session_access(c, id, DSB_SCOPE_SESSIONS, err) < 0)
        return err->code == DSB_E_NOT_FOUND ? 0 : -1;
    if (dsb_sessions_selections(c->svc->sessions, id, &items, err) < 0)
        return -1;
    srcs = calloc(json_array_size(items) + 1, sizeof(*srcs));
    if (!srcs) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto done;
    }
    json_array_foreach(items, i, o) srcs[n++] =
        json_string_value(json_object_get(o, "source"));
    rc = n ? dsb_sessions_select(c->svc->sessions, id, NULL, 0, srcs, n, NULL,
                                 err)
           : 0;
done:
    free(srcs);
    json_decref(items);
    return rc;
}

/* ------------------------------------------------------------ uploads */

/* The first lines of the text, as the original's preview. */
static json_t *preview_of(const char *text, size_t len)
{
    size_t end = 0;

    for (int line = 0; end < len; end++)
        if (text[end] == '\n' && ++line == PREVIEW_LINES)
            break;
    return json_stringn(text, end);
}

/* A plain file name ending in .csv: letters, digits, '.', '_', '-', ' ',
 * not starting with '.' (a hidden file is no table). */
static int upload_name_ok(const char *name, struct dsb_error *err)
{
    size_t n = strlen(name);

    if (n < 5 || n > 200 || name[0] == '.' ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._- ") != n ||
        !dsb_str_has_suffix(name, ".csv")) {
        dsb_error_set(err, DSB_E_INVALID,
                      "the file name \"%.200s\" is not a plain .csv name",
                      name);
        dsb_error_hint(err, "use letters, digits, '.', '_', '-' and spaces, "
                            "ending in .csv (at most 200 characters)");
        return -1;
    }
    return 0;
}

/* The folder of a session's uploads: the id itself when it is made of
 * letters, digits, '_' and '-', else "h" and the SHA-256 of it. */
static void upload_folder(const char *id, char out[66])
{
    size_t n = strlen(id);

    if (n <= 64 &&
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_-") == n) {
        memcpy(out, id, n + 1);
        return;
    }
    out[0] = 'h';
    dsb_sha256_hex(id, n, out + 1);
}

/* The uploads source: configured, of plugin s3csv, open, usable. */
static struct dsb_source *uploads_source(const struct dsb_ctx *c,
                                         struct dsb_error *err)
{
    const char *name = c->gen->broker->cfg->settings.compat_uploads_source;
    struct dsb_source *s;

    if (!name) {
        dsb_error_set(err, DSB_E_UNSUPPORTED, "CSV uploads are off");
        dsb_error_hint(err, "name an s3csv source in broker.yaml's "
                            "compat.uploads_source");
        return NULL;
    }
    s = dsb_svc_use_source(c, name, err);
    if (s && strcmp(s->conf->plugin, "s3csv") != 0) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "the uploads source \"%s\" is not an s3csv source", name);
        return NULL;
    }
    return s;
}

/* Writes path atomically (a hidden temporary file, then rename). */
static int write_local(const char *dir, const char *name, const char *data,
                       size_t len, struct dsb_error *err)
{
    char *path = dsb_path_join(dir, name), *tmp = NULL;
    int fd = -1, rc = -1;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        goto fail;
    tmp = dsb_asprintf("%s/.upload-%d-%s", dir, (int)getpid(), name);
    fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) < 0 ||
        rename(tmp, path) < 0)
        goto fail;
    rc = 0;
fail:
    if (rc < 0) {
        dsb_error_set(err, DSB_E_UNAVAILABLE, "the upload could not be stored");
        dsb_error_detail(err, "%s: %s", path ? path : dir, strerror(errno));
        if (tmp)
            unlink(tmp);
    }
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(path);
    return rc;
}

/* PutObject of the upload under the S3 root (s3://bucket/prefix/). */
static int write_s3(const struct dsb_ctx *c, const struct dsb_source *s,
                    const char *root, const char *key, const char *data,
                    size_t len, struct dsb_error *err)
{
    const json_t *o = s->conf->options;
    struct dsb_kv hdr[] = {{"Content-Type", "text/csv"}};
    struct dsb_aws_request req = {.service = "s3",
                                  .method = "PUT",
                                  .headers = hdr,
                                  .n_headers = 1,
                                  .body = data,
                                  .body_len = len};
    struct dsb_aws_response resp = {0};
    char *path = dsb_asprintf("/%s%s", root + 5, key);
    int rc = -1;

    req.region = json_string_value(json_object_get(o, "region"));
    req.endpoint_url = json_string_value(json_object_get(o, "endpoint_url"));
    req.path = path;
    if (path && dsb_aws_send_by(c->gen->broker->aws, &req, c->deadline_ms,
                                &resp, err) == 0) {
        rc = resp.status / 100 == 2 ? 0
                                    : dsb_aws_error_from_response(&resp, err);
        dsb_aws_response_free(&resp);
    }
    free(path);
    return rc;
}

/* The first root of the source, with a trailing '/'. */
static char *first_root(const struct dsb_source *s)
{
    const char *r = json_string_value(
        json_array_get(json_object_get(s->conf->options, "roots"), 0));

    if (!r)
        return NULL;
    return dsb_asprintf("%s%s", r, dsb_str_has_suffix(r, "/") ? "" : "/");
}

/* The local directory of a file: root (file:///abs or file:rel, relative
 * to conf.d). */
static char *local_dir(const struct dsb_ctx *c, const char *root)
{
    const char *p = root + 5;
    char *dir;
    size_t n;

    if (strncmp(p, "//", 2) == 0)
        p += 2;
    dir = p[0] == '/' ? strdup(p) : dsb_path_join(c->gen->broker->cfg->dir, p);
    for (n = dir ? strlen(dir) : 0; n > 1 && dir[n - 1] == '/';)
        dir[--n] = '\0';
    return dir;
}

/* Stores the bytes as folder/name under the source's first root; *uri is
 * where it is (malloc'd). */
static int store_upload(const struct dsb_ctx *c, const struct dsb_source *s,
                        const char *folder, const char *name, const char *data,
                        size_t len, char **uri, struct dsb_error *err)
{
    char *root = first_root(s), *dir = NULL, *key = NULL;
    int rc = -1;

    *uri = NULL;
    if (!root) {
        dsb_error_set(err, DSB_E_CONFIG, "the uploads source has no root");
    } else if (strncmp(root, "s3://", 5) == 0) {
        key = dsb_asprintf("%s/%s", folder, name);
        rc = key ? write_s3(c, s, root, key, data, len, err) : -1;
    } else if (strncmp(root, "file:", 5) == 0 &&
               (dir = local_dir(c, root)) != NULL) {
        char *sub = dsb_path_join(dir, folder);
        rc = sub ? write_local(sub, name, data, len, err) : -1;
        free(sub);
        free(root);
        root = dsb_asprintf("file://%s/", dir);
    }
    if (rc == 0)
        *uri = dsb_asprintf("%s%s/%s", root, folder, name);
    free(root);
    free(dir);
    free(key);
    return rc;
}

/* The database the source names its first root (its first listed). */
static char *first_database(const struct dsb_ctx *c, const char *source,
                            struct dsb_error *err)
{
    struct dsb_browse b = {.slot = DSB_SLOT_LIST_DATABASES, .source = source};
    json_t *page = dsb_svc_browse_doc(c, &b, err);
    char *db;

    if (!page)
        return NULL;
    db = dsb_strdup0(json_string_value(json_object_get(
        json_array_get(json_object_get(page, "items"), 0), "name")));
    json_decref(page);
    if (!db)
        dsb_error_set(err, DSB_E_CONFIG, "the uploads source lists no root");
    return db;
}

static int too_big(struct dsb_error *err, size_t len, size_t max)
{
    dsb_error_set(err, DSB_E_INVALID, "the CSV holds %zu bytes, more than %zu",
                  len, max);
    dsb_error_hint(err, "upload a smaller file, or raise "
                        "compat.max_upload_bytes in broker.yaml");
    return -1;
}

/* A first line with something in it: the header a table needs. */
static int has_header(const char *data, size_t len, struct dsb_error *err)
{
    for (size_t i = 0; i < len && data[i] != '\n'; i++)
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r')
            return 0;
    dsb_error_set(err, DSB_E_INVALID, "the CSV has no header line");
    dsb_error_hint(err, "the first line names the columns: id,name,...");
    return -1;
}

/* Selects the stored table into the session in place of earlier uploads;
 * a file the source cannot read as a table is the request's fault. */
static int select_upload(const struct dsb_ctx *c, const char *session,
                         struct dsb_selection *sel, struct dsb_error *err)
{
    const char *replace[] = {sel->source};

    dsb_cache_flush(c->gen->cache, sel->source);
    if (dsb_svc_select(c, session, sel, 1, replace, 1, NULL, err) == 0)
        return 0;
    if (err->code == DSB_E_UPSTREAM || err->code == DSB_E_UNSUPPORTED ||
        err->code == DSB_E_NOT_FOUND) {
        char why[sizeof(err->message)];
        snprintf(why, sizeof(why), "%s", err->message);
        dsb_error_set(err, DSB_E_INVALID,
                      "the CSV cannot be read as a table: %s", why);
    }
    return -1;
}

int dsb_svc_upload_csv(const struct dsb_ctx *c, const char *session,
                       const char *filename, const char *data, size_t len,
                       json_t **out, struct dsb_error *err)
{
    size_t max = c->gen->broker->cfg->settings.compat_max_upload_bytes;
    struct dsb_source *s;
    struct dsb_selection sel = {0};
    char folder[66], *uri = NULL, *db = NULL, *table = NULL;
    int rc = -1;

    if (dsb_svc_session_ensure(c, session, err) < 0 ||
        upload_name_ok(filename, err) < 0 || !(s = uploads_source(c, err)))
        return -1;
    if (len > max)
        return too_big(err, len, max);
    if (has_header(data, len, err) < 0)
        return -1;
    upload_folder(session, folder);
    table = strndup(filename, strlen(filename) - 4);
    if (table && (db = first_database(c, s->conf->name, err)) != NULL &&
        store_upload(c, s, folder, filename, data, len, &uri, err) == 0) {
        sel = (struct dsb_selection){.source = s->conf->name,
                                     .database = db,
                                     .schema = folder,
                                     .table = table};
        rc = select_upload(c, session, &sel, err);
    }
    if (rc == 0)
        *out = json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:s}}", "uri", uri,
                         "filename", filename, "preview", preview_of(data, len),
                         "table", "source", sel.source, "database", db,
                         "schema", folder, "table", table);
    free(uri);
    free(db);
    free(table);
    return rc;
}
