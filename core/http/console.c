/* The web console's static assets (docs/console.md): read once from the
 * console directory at start into memory, served by exact name only. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define CONSOLE_MAX_FILES 256
#define CONSOLE_MAX_BYTES (32u << 20) /* every asset together */
#define CONSOLE_NAME_MAX 128

/* The policy of every console response: no inline script or style, no
 * other origin, no framing. */
#define CONSOLE_CSP                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; "                \
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "              \
    "manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; "           \
    "form-action 'self'"

struct asset {
    char name[CONSOLE_NAME_MAX];
    const char *ctype;
    char *bytes, *gz; /* gz: its gzip form (name.gz), or NULL */
    size_t len, gz_len;
    char etag[36];
    int immutable; /* a hashed name: cached for a year */
};

struct dsb_console {
    char *dir;     /* NULL: disabled */
    int installed; /* the directory held an index.html */
    struct asset *items;
    size_t n;
};

static const struct {
    const char *ext, *ctype;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
        if (dsb_str_has_suffix(name, types[i].ext))
            return types[i].ctype;
    return NULL;
}

/* Letters, digits, '.', '_', '-', not starting with '.': never a path. */
static int plain_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n < CONSOLE_NAME_MAX && s[0] != '.' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") == n;
}

/* "name-HASH.ext" with HASH eight or more of [A-Z0-9] (esbuild's
 * [name]-[hash]): its content never changes under that name. */
static int hashed_name(const char *s)
{
    const char *dot = strrchr(s, '.'), *dash;
    size_t n;

    if (!dot)
        return 0;
    for (dash = dot; dash > s && dash[-1] != '-'; dash--)
        ;
    n = (size_t)(dot - dash);
    return dash > s && n >= 8 &&
           strspn(dash, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n;
}

/* The regular file dir/name, not through a symbolic link (malloc'd), or
 * NULL. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
    char *path = dsb_path_join(dir, name);
    int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    struct stat st;
    char *buf = NULL;

    if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > CONSOLE_MAX_BYTES)
        goto done;
    buf = malloc((size_t)st.st_size + 1);
    if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        *len = (size_t)st.st_size;
done:
    if (f)
        fclose(f);
    else if (fd >= 0)
        close(fd);
    free(path);
    return buf;
}

static void set_etag(struct asset *a)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    static const char hex[] = "0123456789abcdef";

    SHA256((const unsigned char *)a->bytes, a->len, md);
    a->etag[0] = '"';
    for (size_t i = 0; i < 16; i++) {
        a->etag[1 + 2 * i] = hex[md[i] >> 4];
        a->etag[2 + 2 * i] = hex[md[i] & 15];
    }
    a->etag[33] = '"';
    a->etag[34] = '\0';
}

static struct asset *find(struct dsb_console *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].name, name) == 0)
            return &c->items[i];
    return NULL;
}

/* Adds the directory's file `name` (a servable type); 0, or -1 when a
 * limit or memory ran out. */
static int add_asset(struct dsb_console *c, const char *name, size_t *total)
{
    struct asset *a = &c->items[c->n];
    char gzname[CONSOLE_NAME_MAX + 4];

    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->ctype = type_of(name);
    a->bytes = read_file(c->dir, name, &a->len);
    if (!a->bytes)
        return 0; /* not a regular file, or unreadable: not served */
    snprintf(gzname, sizeof(gzname), "%s.gz", name);
    a->gz = read_file(c->dir, gzname, &a->gz_len);
    *total += a->len + a->gz_len;
    if (*total > CONSOLE_MAX_BYTES) {
        free(a->bytes);
        free(a->gz);
        return -1;
    }
    a->immutable = hashed_name(name);
    set_etag(a);
    c->n++;
    return 0;
}

static int load_dir(struct dsb_console *c)
{
    DIR *d = opendir(c->dir);
    struct dirent *e;
    size_t total = 0;
    int rc = 0;

    if (!d)
        return 0;
    c->items = calloc(CONSOLE_MAX_FILES, sizeof(*c->items));
    while (c->items && rc == 0 && (e = readdir(d)))
        if (plain_name(e->d_name) && type_of(e->d_name)) {
            rc =
                c->n < CONSOLE_MAX_FILES ? add_asset(c, e->d_name, &total) : -1;
        }
    closedir(d);
    if (!c->items || rc < 0) {
        dsb_logf(DSB_LOG_WARN, "console", "the console in %s is not served: %s",
                 c->dir,
                 c->items ? "more than 256 files or 32 MiB" : "out of memory");
        return -1;
    }
    c->installed = find(c, "index.html") != NULL;
    return 0;
}

struct dsb_console *dsb_console_load(const char *dir)
{
    struct dsb_console *c = calloc(1, sizeof(*c));

    if (!c || !dir)
        return c;
    c->dir = strdup(dir);
    if (!c->dir) {
        free(c);
        return NULL;
    }
    if (load_dir(c) < 0) { /* nothing of it is served */
        for (size_t i = 0; i < c->n; i++) {
            free(c->items[i].bytes);
            free(c->items[i].gz);
        }
        c->n = 0;
        c->installed = 0;
        return c;
    }
    if (!c->installed)
        dsb_logf(DSB_LOG_INFO, "console",
                 "no console in %s (no index.html): /ui answers 404", dir);
    return c;
}

void dsb_console_free(struct dsb_console *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].bytes);
        free(c->items[i].gz);
    }
    free(c->items);
    free(c->dir);
    free(c);
}

/* The weight an Accept-Encoding element gives its coding: 1 without
 * ";q=", else the number (0: refused). */
static double weight(const char *p, const char *end)
{
    const char *q = memchr(p, ';', (size_t)(end - p));

    if (!q)
        return 1;
    q += 1 + strspn(q + 1, " \t");
    return strncasecmp(q, "q=", 2) == 0 ? strtod(q + 2, NULL) : 1;
}

/* Whether Accept-Encoding accepts gzip: a list of codings, each with an
 * optional ";q=" weight; "gzip" itself decides, else "*" (RFC 9110
 * 12.5.3). */
static int accepts_gzip(const char *ae)
{
    int star = 0;

    while (ae && *ae) {
        size_t len = strcspn(ae, ",");
        const char *p = ae + strspn(ae, " \t");
        size_t tok = strcspn(p, " \t;,");
        if (tok == 4 && strncasecmp(p, "gzip", 4) == 0)
            return weight(p, ae + len) > 0;
        if (tok == 1 && *p == '*')
            star = weight(p, ae + len) > 0;
        ae += len + (ae[len] == ',');
    }
    return star;
}

static void missing(struct dsb_req *r, const struct dsb_console *c,
                    const char *name)
{
    if (!c->dir)
        dsb_reply_problem(r, 404, "not_found", "the console is disabled", NULL,
                          "set console.enabled: true in broker.yaml");
    else if (!c->installed)
        dsb_reply_problem(r, 404, "not_found", "the console is not installed",
                          c->dir,
                          "build dsbroker with node and npm present "
                          "(docs/console.md), or set console.dir");
    else
        dsb_reply_problem(r, 404, "not_found", "no such console asset", name,
                          "open /ui: asset names change with each build");
}

static void send_asset(struct dsb_req *r, const struct asset *a)
{
    const char *inm = dsb_req_header(r, "If-None-Match");
    int gz = a->gz && accepts_gzip(dsb_req_header(r, "Accept-Encoding"));
    const char *body = gz ? a->gz : a->bytes;
    size_t len = gz ? a->gz_len : a->len;
    struct MHD_Response *resp;

    dsb_reply_header(r, "Cache-Control",
                     a->immutable ? "public, max-age=31536000, immutable"
                                  : "no-cache");
    dsb_reply_header(r, "Content-Security-Policy", CONSOLE_CSP);
    dsb_reply_header(r, "X-Content-Type-Options", "nosniff");
    dsb_reply_header(r, "Referrer-Policy", "no-referrer");
    if (a->gz)
        dsb_reply_header(r, "Vary", "Accept-Encoding");
    if (inm && strcmp(inm, a->etag) == 0) {
        dsb_reply_header(r, "ETag", a->etag);
        dsb_reply_empty(r, 304);
        return;
    }
    if (gz)
        dsb_reply_header(r, "Content-Encoding", "gzip");
    if (r->ex) {
        dsb_reply_bytes(r, 200, a->ctype, body, len, a->etag);
        return;
    }
    /* the bytes live as long as the server, beyond every response */
    resp = MHD_create_response_from_buffer(len, (void *)body,
                                           MHD_RESPMEM_PERSISTENT);
    dsb_reply_header(r, "ETag", a->etag);
    r->resp_bytes = len;
    dsb_reply_stream(r, 200, resp, a->ctype);
}

void dsb_h_console(struct dsb_req *r)
{
    struct dsb_console *c = r->srv->console;
    const char *name = r->params[0] ? r->params[0] : "index.html";
    const struct asset *a =
        c && c->installed && plain_name(name) ? find(c, name) : NULL;

    if (!a) {
        missing(r, c, name);
        return;
    }
    send_asset(r, a);
}
