/* Objects under a root: S3 ListObjectsV2 (every page, XML read with expat)
 * or a local directory walk.  Both give the same keys, so a local copy of a
 * bucket lists exactly like the bucket. */
#define _GNU_SOURCE /* O_PATH */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <expat.h>

#include "s3csv.h"

#define LISTING_MAX_PAGES 2000 /* 2 million objects */
#define LISTING_MAX_DEPTH 16

void s3csv_listing_free(struct s3csv_listing *l)
{
    for (size_t i = 0; i < l->n_objs; i++)
        free(l->objs[i].key);
    for (size_t i = 0; i < l->n_dirs; i++)
        free(l->dirs[i]);
    free(l->objs);
    free(l->dirs);
    memset(l, 0, sizeof(*l));
}

static int listing_grow(void **v, size_t *cap, size_t n, size_t elem)
{
    void *g;

    if (n < *cap)
        return 0;
    g = realloc(*v, (*cap ? *cap * 2 : 64) * elem);
    if (!g)
        return -1;
    *v = g;
    *cap = *cap ? *cap * 2 : 64;
    return 0;
}

int s3csv_listing_add(struct s3csv_listing *l, const char *key, size_t klen,
                      int64_t size)
{
    char *k;

    if (listing_grow((void **)&l->objs, &l->cap_objs, l->n_objs,
                     sizeof(*l->objs)) < 0 ||
        !(k = strndup(key, klen)))
        return -1;
    l->objs[l->n_objs].key = k;
    l->objs[l->n_objs++].size = size;
    return 0;
}

int s3csv_listing_add_dir(struct s3csv_listing *l, const char *name,
                          size_t nlen)
{
    char *k;

    if (listing_grow((void **)&l->dirs, &l->cap_dirs, l->n_dirs,
                     sizeof(*l->dirs)) < 0 ||
        !(k = strndup(name, nlen)))
        return -1;
    l->dirs[l->n_dirs++] = k;
    return 0;
}

/* 1 when a '/'-separated component of key[0..n) starts with '.' or '_'. */
static int listing_hidden(const char *key, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((i == 0 || key[i - 1] == '/') && (key[i] == '.' || key[i] == '_'))
            return 1;
    return 0;
}

static int listing_cmp_obj(const void *a, const void *b)
{
    return strcmp(((const struct s3csv_obj *)a)->key,
                  ((const struct s3csv_obj *)b)->key);
}

static int listing_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void listing_sort(struct s3csv_listing *l)
{
    if (l->n_objs)
        qsort(l->objs, l->n_objs, sizeof(*l->objs), listing_cmp_obj);
    if (l->n_dirs)
        qsort(l->dirs, l->n_dirs, sizeof(*l->dirs), listing_cmp_str);
}

/* ------------------------------------------------------------ local */

int s3csv_local_top(const struct s3csv_root *root, char *top,
                    struct dsb_error *err)
{
    if (realpath(root->dir, top))
        return 0;
    dsb_error_set(err, DSB_E_NOT_FOUND, "directory %s does not exist",
                  root->dir);
    dsb_error_hint(err, "check the roots of this source");
    return -1;
}

/* 1 when the file open as fd lies inside top: the kernel's path of the
 * opened file, so nothing can be swapped between the check and the use. */
static int local_fd_inside(int fd, const char *top)
{
    char link[64], real[PATH_MAX];
    size_t n = strlen(top);
    ssize_t len;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if ((len = readlink(link, real, sizeof(real) - 1)) < 0)
        return 0;
    real[len] = '\0';
    return strncmp(real, top, n) == 0 &&
           (real[n] == '/' || !real[n] || (n == 1 && top[0] == '/'));
}

int s3csv_local_open(const char *top, int dirfd, const char *name, int flags)
{
    int fd = openat(dirfd, name, flags | O_CLOEXEC);

    if (fd >= 0 && !local_fd_inside(fd, top)) {
        close(fd);
        errno = EXDEV;
        return -1;
    }
    return fd;
}

int s3csv_local_error(const char *top, const char *path, int errnum,
                      struct dsb_error *err)
{
    if (errnum == EXDEV) {
        dsb_error_set(err, DSB_E_PERMISSION,
                      "%s leads outside the root %s "
                      "(a symlink)",
                      path, top);
        dsb_error_hint(err,
                       "a file: root is read only inside its directory: "
                       "copy the files in, or add their directory as a root "
                       "of its own");
        return -1;
    }
    return dsb_error_set(err,
                         errnum == ENOENT || errnum == ENOTDIR
                             ? DSB_E_NOT_FOUND
                             : DSB_E_PERMISSION,
                         "cannot open %s: %s", path, strerror(errnum));
}

struct local_walk {
    const struct s3csv_inst *in;
    const char *top; /* root real path */
    int recursive;
    struct s3csv_listing *out;
};

static int local_walk_dir(struct local_walk *w, int dfd, const char *name,
                          const char *rel, int depth);

/* One entry `name` of the directory open as dfd; rel is its key. */
static int local_entry(struct local_walk *w, int dfd, const char *name,
                       const char *rel, int depth)
{
    struct stat st;
    int fd;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (S_ISLNK(st.st_mode)) {
        fd = s3csv_local_open(w->top, dfd, name, O_PATH);
        if (fd < 0 || fstat(fd, &st) < 0) {
            DSB_WARN(w->in->host,
                     "skipping %s/%s: a symlink leaving the "
                     "root",
                     w->top, rel);
            if (fd >= 0)
                close(fd);
            return 0;
        }
        close(fd);
    }
    if (S_ISDIR(st.st_mode)) {
        if (!w->recursive)
            return s3csv_listing_add_dir(w->out, rel, strlen(rel));
        return depth < LISTING_MAX_DEPTH
                   ? local_walk_dir(w, dfd, name, rel, depth + 1)
                   : 0;
    }
    if (!S_ISREG(st.st_mode))
        return 0;
    return s3csv_listing_add(w->out, rel, strlen(rel), (int64_t)st.st_size);
}

/* Walks the directory `name` of dfd (rel: its key, "" for the root); each
 * directory is opened through the containment check.  -2 with errno when
 * the first one cannot be opened. */
static int local_walk_dir(struct local_walk *w, int dfd, const char *name,
                          const char *rel, int depth)
{
    char child[PATH_MAX];
    struct dirent *e;
    DIR *d = NULL;
    int rc = 0, fd, saved;

    fd = s3csv_local_open(w->top, dfd, name, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || !(d = fdopendir(fd))) {
        saved = errno;
        if (fd >= 0)
            close(fd);
        errno = saved;
        return depth == 0 ? -2 : 0;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_name[0] == '_')
            continue;
        if (snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "",
                     e->d_name) >= (int)sizeof(child))
            continue;
        rc = local_entry(w, dirfd(d), e->d_name, child, depth);
    }
    closedir(d);
    return rc;
}

static int listing_local(const struct s3csv_inst *in,
                         const struct s3csv_root *root, const char *sub,
                         int recursive, struct s3csv_listing *out,
                         struct dsb_error *err)
{
    char rel[PATH_MAX], top[PATH_MAX], path[2 * PATH_MAX];
    struct local_walk w = {in, top, recursive, out};
    int rc;

    if (s3csv_local_top(root, top, err) < 0)
        return -1;
    snprintf(rel, sizeof(rel), "%s", sub);
    if (*rel && rel[strlen(rel) - 1] == '/')
        rel[strlen(rel) - 1] = '\0';
    snprintf(path, sizeof(path), "%s%s%s", top, *rel ? "/" : "", rel);
    rc = local_walk_dir(&w, AT_FDCWD, path, rel, 0);
    if (rc == -2 && errno == ENOENT) {
        dsb_error_set(err, DSB_E_NOT_FOUND, "directory %s/%s does not exist",
                      root->dir, rel);
        return -1;
    }
    if (rc == -2 && errno == EXDEV)
        return s3csv_local_error(top, path, errno, err);
    if (rc == -2)
        return dsb_error_set(err, DSB_E_PERMISSION,
                             "cannot read directory "
                             "%s/%s: %s",
                             root->dir, rel, strerror(errno));
    if (rc < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    return 0;
}

/* --------------------------------------------------------------- S3 */

enum xml_field { X_NONE, X_KEY, X_SIZE, X_PREFIX, X_TRUNCATED, X_TOKEN };

struct xml_page {
    const struct s3csv_root *root;
    struct s3csv_listing *out;
    enum xml_field field;
    int in_contents, in_prefixes, depth;
    char text[2048];
    size_t tlen;
    char key[2048];
    int64_t size;
    int truncated, failed;
    char token[2048];
};

static void XMLCALL xml_start(void *ud, const XML_Char *name,
                              const XML_Char **attrs)
{
    struct xml_page *p = ud;

    (void)attrs;
    p->depth++;
    p->tlen = 0;
    p->field = X_NONE;
    if (p->depth == 2 && !strcmp(name, "Contents"))
        p->in_contents = 1, p->key[0] = '\0', p->size = 0;
    else if (p->depth == 2 && !strcmp(name, "CommonPrefixes"))
        p->in_prefixes = 1;
    else if (p->in_contents && !strcmp(name, "Key"))
        p->field = X_KEY;
    else if (p->in_contents && !strcmp(name, "Size"))
        p->field = X_SIZE;
    else if (p->in_prefixes && !strcmp(name, "Prefix"))
        p->field = X_PREFIX;
    else if (p->depth == 2 && !strcmp(name, "IsTruncated"))
        p->field = X_TRUNCATED;
    else if (p->depth == 2 && !strcmp(name, "NextContinuationToken"))
        p->field = X_TOKEN;
}

static void XMLCALL xml_text(void *ud, const XML_Char *s, int len)
{
    struct xml_page *p = ud;

    if (p->field == X_NONE)
        return;
    if (p->tlen + (size_t)len >= sizeof(p->text)) {
        p->failed = 1;
        return;
    }
    memcpy(p->text + p->tlen, s, (size_t)len);
    p->tlen += (size_t)len;
    p->text[p->tlen] = '\0';
}

/* A key or common prefix, relative to the root; NULL when outside it. */
static const char *xml_relative(const struct xml_page *p, const char *k)
{
    size_t n = strlen(p->root->prefix);

    return strncmp(k, p->root->prefix, n) == 0 ? k + n : NULL;
}

static void xml_add_object(struct xml_page *p)
{
    const char *rel = xml_relative(p, p->key);
    size_t n = rel ? strlen(rel) : 0;

    if (!rel)
        return;
    if (!n || rel[n - 1] == '/' || listing_hidden(rel, n)) {
        p->out->n_unlisted++;
        return;
    }
    if (s3csv_listing_add(p->out, rel, n, p->size) < 0)
        p->failed = 1;
}

static void xml_add_prefix(struct xml_page *p)
{
    const char *rel = xml_relative(p, p->text);
    size_t n = rel ? strlen(rel) : 0;

    if (n && rel[n - 1] == '/')
        n--;
    if (!n || listing_hidden(rel, n))
        return;
    if (s3csv_listing_add_dir(p->out, rel, n) < 0)
        p->failed = 1;
}

/* An object's <Size>: what the endpoint says, never below 0. */
static int64_t listing_size(const char *text)
{
    long long n = strtoll(text, NULL, 10);

    return n < 0 ? 0 : (int64_t)n;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    struct xml_page *p = ud;

    if (p->field != X_NONE)
        p->text[p->tlen] = '\0';
    if (p->field == X_KEY)
        snprintf(p->key, sizeof(p->key), "%s", p->text);
    else if (p->field == X_SIZE)
        p->size = listing_size(p->text);
    else if (p->field == X_PREFIX)
        xml_add_prefix(p);
    else if (p->field == X_TRUNCATED)
        p->truncated = !strcmp(p->text, "true");
    else if (p->field == X_TOKEN)
        snprintf(p->token, sizeof(p->token), "%s", p->text);
    if (p->depth == 2 && p->in_contents && !strcmp(name, "Contents"))
        xml_add_object(p), p->in_contents = 0;
    if (p->depth == 2 && !strcmp(name, "CommonPrefixes"))
        p->in_prefixes = 0;
    p->field = X_NONE;
    p->tlen = 0;
    p->depth--;
}

/* Parses one ListObjectsV2 page into p. */
static int xml_parse_page(struct xml_page *p, const char *body, size_t len,
                          struct dsb_error *err)
{
    XML_Parser x = XML_ParserCreate("UTF-8");
    int ok;

    if (!x)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    XML_SetUserData(x, p);
    XML_SetElementHandler(x, xml_start, xml_end);
    XML_SetCharacterDataHandler(x, xml_text);
    ok = XML_Parse(x, body, (int)len, 1) == XML_STATUS_OK;
    if (!ok)
        dsb_error_set(err, DSB_E_UPSTREAM,
                      "S3 sent a listing that is not "
                      "XML: %s at line %lu",
                      XML_ErrorString(XML_GetErrorCode(x)),
                      (unsigned long)XML_GetCurrentLineNumber(x));
    XML_ParserFree(x);
    if (ok && p->failed)
        return dsb_error_set(err, DSB_E_INTERNAL,
                             "a listing entry is too "
                             "long or memory is exhausted");
    return ok ? 0 : -1;
}

/* Maps an error answer; a missing bucket gets a clear message. */
static int s3_fail(const struct s3csv_inst *in, const struct s3csv_root *root,
                   const struct dsb_aws_response *resp, struct dsb_error *err)
{
    in->host->aws_error(in->host, resp, err);
    if (err->code == DSB_E_NOT_FOUND ||
        !strcmp(err->upstream, "NoSuchBucket")) {
        char up[64];
        snprintf(up, sizeof(up), "%s", err->upstream);
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "bucket \"%s\" does not exist "
                      "(root %s)",
                      root->bucket, root->uri);
        snprintf(err->upstream, sizeof(err->upstream), "%s", up);
        dsb_error_hint(err, "check the roots of this source and the region "
                            "and endpoint it uses");
    }
    return -1;
}

static int s3_page(const struct s3csv_inst *in, const struct s3csv_root *root,
                   const char *prefix, int recursive, struct xml_page *p,
                   struct dsb_error *err)
{
    char path[1100];
    struct dsb_kv q[4] = {{"list-type", "2"}, {"prefix", prefix}};
    size_t nq = 2;
    struct dsb_aws_request req = {
        "s3", in->region, in->endpoint_url, "GET", path, q, 0, NULL, 0, NULL,
        0,    0};
    struct dsb_aws_response resp = {0};
    int rc;

    snprintf(path, sizeof(path), "/%s", root->bucket);
    if (!recursive)
        q[nq++] = (struct dsb_kv){"delimiter", "/"};
    if (p->token[0])
        q[nq++] = (struct dsb_kv){"continuation-token", p->token};
    req.n_query = nq;
    if (in->host->call_aws_request(in->host, in->call, &req, &resp, err) < 0)
        return -1;
    p->token[0] = '\0';
    p->truncated = 0;
    rc = resp.status == 200 ? xml_parse_page(p, resp.body, resp.body_len, err)
                            : s3_fail(in, root, &resp, err);
    in->host->aws_response_free(in->host, &resp);
    return rc;
}

static int listing_s3(const struct s3csv_inst *in,
                      const struct s3csv_root *root, const char *sub,
                      int recursive, struct s3csv_listing *out,
                      struct dsb_error *err)
{
    struct xml_page *p = calloc(1, sizeof(*p));
    char prefix[1100];
    int rc = -1;

    if (!p)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    p->root = root;
    p->out = out;
    snprintf(prefix, sizeof(prefix), "%s%s", root->prefix, sub);
    do {
        if (out->pages >= LISTING_MAX_PAGES) {
            dsb_error_set(err, DSB_E_UNSUPPORTED,
                          "more than %d pages of "
                          "objects under %s",
                          LISTING_MAX_PAGES, root->uri);
            goto fail;
        }
        if (s3_page(in, root, prefix, recursive, p, err) < 0)
            goto fail;
        out->pages++;
    } while (p->truncated && p->token[0]);
    rc = 0;
fail:
    free(p);
    return rc;
}

int s3csv_list(const struct s3csv_inst *in, const struct s3csv_root *root,
               const char *sub, int recursive, struct s3csv_listing *out,
               struct dsb_error *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (!strncmp(sub, "../", 3) || strstr(sub, "/../") || !strcmp(sub, ".."))
        return dsb_error_set(err, DSB_E_INVALID, "invalid name \"%s\"", sub);
    rc = root->is_s3 ? listing_s3(in, root, sub, recursive, out, err)
                     : listing_local(in, root, sub, recursive, out, err);
    if (rc == 0)
        listing_sort(out);
    else
        s3csv_listing_free(out); /* a page may have added entries */
    return rc;
}
