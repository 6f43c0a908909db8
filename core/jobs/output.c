/* Reading a job's output back: CSV (header line) or JSON lines, from a
 * local directory or an s3:// prefix, first N rows. */
#include "jobs/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/aws.h"
#include "util.h"

/* The result being built. */
struct rows {
    const char *format; /* "csv" | "jsonl" */
    json_t *columns;    /* NULL until the first header/object */
    json_t *rows;
    size_t limit;
    int truncated;
};

static int full(struct rows *r)
{
    if (json_array_size(r->rows) < r->limit)
        return 0;
    r->truncated = 1;
    return 1;
}

/* Which files hold data, and in which format ("" when not data). */
static const char *file_format(const char *name)
{
    const char *base = strrchr(name, '/');

    base = base ? base + 1 : name;
    if (base[0] == '_' || base[0] == '.' || dsb_str_has_suffix(base, ".crc"))
        return "";
    if (dsb_str_has_suffix(base, ".csv"))
        return "csv";
    if (dsb_str_has_suffix(base, ".json") || dsb_str_has_suffix(base, ".jsonl"))
        return "jsonl";
    return "";
}

/* ---------------------------------------------------------------- CSV */

/* One field at *p (RFC 4180 quoting); unquoted empty fields are null. */
static json_t *csv_field(const char **p, const char *end)
{
    const char *s = *p;
    char *buf;
    size_t n = 0;
    json_t *v;

    if (s >= end || *s != '"') {
        while (s < end && *s != ',' && *s != '\n' && *s != '\r')
            s++;
        v = s == *p ? json_null() : json_stringn(*p, (size_t)(s - *p));
        *p = s;
        return v ? v : json_null();
    }
    buf = malloc((size_t)(end - s) + 1);
    for (s++; buf && s < end; s++) {
        if (*s == '"' && s + 1 < end && s[1] == '"')
            buf[n++] = *s++;
        else if (*s == '"')
            break;
        else
            buf[n++] = *s;
    }
    *p = s < end ? s + 1 : end;
    v = buf ? json_stringn(buf, n) : NULL;
    free(buf);
    return v ? v : json_string("");
}

/* One record; *p is left at the start of the next one. */
static json_t *csv_record(const char **p, const char *end)
{
    json_t *rec = json_array();

    for (;;) {
        json_array_append_new(rec, csv_field(p, end));
        if (*p < end && **p == ',') {
            (*p)++;
            continue;
        }
        while (*p < end && (**p == '\r' || **p == '\n'))
            (*p)++;
        return rec;
    }
}

static void add_csv(struct rows *r, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    json_t *header;

    if (len == 0)
        return;
    header = csv_record(&p, end);
    if (!r->columns)
        r->columns = json_incref(header);
    json_decref(header);
    while (p < end && !full(r))
        json_array_append_new(r->rows, csv_record(&p, end));
}

/* -------------------------------------------------------- JSON lines */

static void add_object(struct rows *r, json_t *obj)
{
    json_t *row = json_array(), *v;
    const char *k;
    size_t i;

    if (!r->columns) {
        r->columns = json_array();
        json_object_foreach(obj, k, v)
            json_array_append_new(r->columns, json_string(k));
    }
    json_array_foreach(r->columns, i, v)
        json_array_append(row, json_object_get(obj, json_string_value(v))
                                   ? json_object_get(obj, json_string_value(v))
                                   : json_null());
    json_array_append_new(r->rows, row);
}

static void add_jsonl(struct rows *r, const char *text, size_t len)
{
    const char *p = text, *end = text + len;

    while (p < end && !full(r)) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_t *obj = n ? json_loadb(p, n, 0, NULL) : NULL;
        if (json_is_object(obj))
            add_object(r, obj);
        json_decref(obj);
        p += n + 1;
    }
}

static void add_text(struct rows *r, const char *format, const char *text,
                     size_t len)
{
    if (!r->format)
        r->format = format;
    if (strcmp(r->format, format) != 0)
        return; /* one format per result: the first file's */
    if (strcmp(format, "csv") == 0)
        add_csv(r, text, len);
    else
        add_jsonl(r, text, len);
}

static int finish_rows(struct rows *r, json_t **out, struct dsb_error *err)
{
    if (!r->format) {
        json_decref(r->rows);
        return dsb_error_set(err, DSB_E_NOT_FOUND,
                             "the job wrote no CSV or "
                             "JSON-lines output");
    }
    *out = json_pack("{s:s, s:o, s:o, s:b}", "format", r->format, "columns",
                     r->columns ? r->columns : json_array(), "rows", r->rows,
                     "truncated", r->truncated);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

/* -------------------------------------------------------------- local */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted data file names in directory dfd (malloc'd array of malloc'd
 * names). */
static char **data_files(int dfd, size_t *n)
{
    int copy = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *dh = copy >= 0 ? fdopendir(copy) : NULL;
    struct dirent *e;
    char **names = NULL, **nn;

    *n = 0;
    if (!dh && copy >= 0)
        close(copy);
    while (dh && (e = readdir(dh)) != NULL) {
        if (!*file_format(e->d_name))
            continue;
        nn = realloc(names, (*n + 1) * sizeof(*nn));
        if (!nn)
            break;
        names = nn;
        names[(*n)++] = strdup(e->d_name);
    }
    if (dh)
        closedir(dh);
    if (names)
        qsort(names, *n, sizeof(*names), cmp_name);
    return names;
}

/* A job owns its output directory: a symbolic link in it is not followed
 * (it could lead the broker to any file it can read), and only a regular
 * file is read (a FIFO would block the reader). */
static char *read_data(int dfd, const char *name, size_t *len)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *text = NULL;

    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        text = dsb_read_fd(fd, 1u << 30, len);
    if (fd >= 0)
        close(fd);
    return text;
}

int dsb_output_read_local(const char *dir, size_t limit, json_t **out,
                          struct dsb_error *err)
{
    struct rows r = {NULL, NULL, json_array(), limit, 0};
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    size_t n = 0;
    char **names = dfd >= 0 ? data_files(dfd, &n) : NULL;

    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        char *text = !full(&r) ? read_data(dfd, names[i], &len) : NULL;
        if (text)
            add_text(&r, file_format(names[i]), text, len);
        free(text);
        free(names[i]);
    }
    free(names);
    if (dfd >= 0)
        close(dfd);
    return finish_rows(&r, out, err);
}

/* ----------------------------------------------------------------- S3 */

/* Splits s3://bucket/prefix into bucket and prefix (malloc'd). */
static int split_uri(const char *uri, char **bucket, char **prefix)
{
    const char *b = uri + 5, *slash = strchr(b, '/');

    *bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
    *prefix = strdup(slash ? slash + 1 : "");
    return *bucket && *prefix && **bucket ? 0 : -1;
}

static char *xml_unescape(const char *s, size_t n)
{
    static const char *const ent[][2] = {{"&amp;", "&"},  {"&lt;", "<"},
                                         {"&gt;", ">"},   {"&quot;", "\""},
                                         {"&apos;", "'"}, {NULL, NULL}};
    char *out = malloc(n + 1), *o = out;

    for (size_t i = 0; out && i < n;) {
        size_t k = 0;
        while (ent[k][0] && strncmp(s + i, ent[k][0], strlen(ent[k][0])))
            k++;
        if (ent[k][0] && s[i] == '&') {
            *o++ = ent[k][1][0];
            i += strlen(ent[k][0]);
        } else {
            *o++ = s[i++];
        }
    }
    if (out)
        *o = '\0';
    return out;
}

/* Keys of a ListObjectsV2 page (malloc'd array of malloc'd keys). */
static char **list_keys(const char *xml, size_t *n)
{
    char **keys = NULL, **nk;
    const char *p = xml, *a, *b;

    *n = 0;
    while ((a = strstr(p, "<Key>")) && (b = strstr(a, "</Key>"))) {
        nk = realloc(keys, (*n + 1) * sizeof(*nk));
        if (!nk)
            break;
        keys = nk;
        keys[(*n)++] = xml_unescape(a + 5, (size_t)(b - a - 5));
        p = b + 6;
    }
    return keys;
}

static int s3_get(struct dsb_aws *aws, const char *path, const struct dsb_kv *q,
                  size_t nq, struct dsb_aws_response *resp,
                  struct dsb_error *err)
{
    struct dsb_aws_request req = {0};

    req.service = "s3";
    req.method = "GET";
    req.path = path;
    req.query = q;
    req.n_query = nq;
    if (dsb_aws_send(aws, &req, resp, err) < 0)
        return -1;
    if (resp->status / 100 == 2)
        return 0;
    dsb_aws_error_from_response(resp, err);
    dsb_aws_response_free(resp);
    return -1;
}

static int read_keys(struct dsb_aws *aws, const char *bucket, char **keys,
                     size_t n, struct rows *r, struct dsb_error *err)
{
    qsort(keys, n, sizeof(*keys), cmp_name);
    for (size_t i = 0; i < n && !full(r); i++) {
        struct dsb_aws_response resp = {0};
        char *path;
        if (!*file_format(keys[i]))
            continue;
        path = dsb_asprintf("/%s/%s", bucket, keys[i]);
        if (!path || s3_get(aws, path, NULL, 0, &resp, err) < 0) {
            free(path);
            return -1;
        }
        add_text(r, file_format(keys[i]), resp.body, resp.body_len);
        dsb_aws_response_free(&resp);
        free(path);
    }
    return 0;
}

int dsb_output_read_s3(struct dsb_jobs *j, const json_t *doc, const char *uri,
                       size_t limit, json_t **out, struct dsb_error *err)
{
    struct rows r = {NULL, NULL, json_array(), limit, 0};
    struct dsb_aws_response resp = {0};
    struct dsb_aws *aws;
    struct dsb_kv q[2] = {{"list-type", "2"}, {"prefix", NULL}};
    char *bucket = NULL, *prefix = NULL, *path = NULL, **keys = NULL;
    size_t n = 0;
    int rc = -1;

    (void)doc;
    dsb_error_clear(err);
    aws = dsb_jobs_aws(j, err);
    if (!aws || split_uri(uri, &bucket, &prefix) < 0 ||
        !(path = dsb_asprintf("/%s", bucket)))
        goto done;
    q[1].value = prefix;
    if (s3_get(aws, path, q, 2, &resp, err) < 0)
        goto done;
    keys = list_keys(resp.body, &n);
    rc = read_keys(aws, bucket, keys, n, &r, err);
done:
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    dsb_aws_response_free(&resp);
    free(bucket);
    free(prefix);
    free(path);
    if (rc == 0)
        return finish_rows(&r, out, err);
    json_decref(r.rows);
    json_decref(r.columns);
    if (!err->message[0])
        dsb_error_set(err, DSB_E_INVALID, "bad output location %s", uri);
    return -1;
}
