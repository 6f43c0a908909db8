/* Reading a job's output back: CSV (header line, libcsv) or JSON lines
 * (jansson per line), from a local directory or an s3:// prefix, first N
 * rows.  Files are read in name order, in fixed-size chunks (ranged GETs
 * on S3), and parsed as a stream that stops once it has the rows asked for
 * and one more (to know "truncated"): memory stays bounded whatever the
 * sizes of the files. */
#include "jobs/internal.h"

#include <csv.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/aws.h"
#include "util.h"

#define LOCAL_CHUNK (64u << 10)
#define S3_CHUNK (1u << 20)
/* libcsv is fed at most this much at a time (its field buffer grows by
 * no more before the row limit below is checked). */
#define PARSE_STEP (64u << 10)
/* Longest CSV record or JSON line read. */
#define ROW_MAX (1u << 20)
/* Most bytes of values in one result: past them the rows stop there and
 * the result is "truncated". */
#define RESULT_MAX (16u << 20)

/* The result being built, and the state of the file being parsed. */
struct rows {
    const char *format; /* "csv" | "jsonl": the first data file's */
    json_t *columns;    /* NULL until the first header/object */
    json_t *rows;
    size_t limit, bytes;
    int truncated, done, failed;
    struct dsb_error *err;
    /* the current file */
    const char *name;
    int header_seen;
    struct csv_parser csv;
    json_t *record;
    size_t record_bytes;
    char *line; /* JSON lines: the line being read (ROW_MAX) */
    size_t line_len;
};

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

static void fail_long_row(struct rows *r)
{
    r->failed = 1;
    dsb_error_set(r->err, DSB_E_UNSUPPORTED,
                  "a row of the job's output file %s is longer than %u KiB",
                  r->name, ROW_MAX >> 10);
    dsb_error_hint(
        r->err,
        "the preview reads rows up to that size; read the output directly");
}

/* Adds a data row (taken), or ends the result when it has enough. */
static void add_row(struct rows *r, json_t *row, size_t bytes)
{
    if (json_array_size(r->rows) >= r->limit ||
        (json_array_size(r->rows) && r->bytes + bytes > RESULT_MAX)) {
        r->truncated = r->done = 1;
        json_decref(row);
        return;
    }
    r->bytes += bytes;
    json_array_append_new(r->rows, row);
}

/* ---------------------------------------------------------------- CSV */

/* A field (NULL: an unquoted empty one, which is null). */
static void csv_on_field(void *s, size_t n, void *ud)
{
    struct rows *r = ud;
    json_t *v;

    if (r->done || r->failed)
        return;
    r->record_bytes += n + 8;
    if (r->record_bytes > ROW_MAX) {
        fail_long_row(r);
        return;
    }
    v = s ? json_stringn(s, n) : NULL;
    json_array_append_new(r->record, v ? v : json_null());
}

/* The end of a record: the file's header, or a row. */
static void csv_on_record(int c, void *ud)
{
    struct rows *r = ud;
    json_t *rec = r->record;

    (void)c;
    if (r->done || r->failed)
        return;
    r->record = json_array();
    if (!r->header_seen) {
        r->header_seen = 1;
        if (!r->columns)
            r->columns = json_incref(rec);
        json_decref(rec);
    } else {
        add_row(r, rec, r->record_bytes);
    }
    r->record_bytes = 0;
}

static int csv_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static void csv_begin(struct rows *r)
{
    csv_init(&r->csv, CSV_EMPTY_IS_NULL);
    csv_set_space_func(&r->csv, csv_no_space);
    r->record = json_array();
    r->record_bytes = 0;
}

static void csv_feed(struct rows *r, const char *buf, size_t n)
{
    for (size_t off = 0; off < n && !r->done && !r->failed;) {
        size_t step = n - off < PARSE_STEP ? n - off : PARSE_STEP;
        if (csv_parse(&r->csv, buf + off, step, csv_on_field, csv_on_record,
                      r) != step) {
            r->failed = 1;
            dsb_error_set(r->err, DSB_E_INTERNAL, "cannot parse %s: %s",
                          r->name, csv_strerror(csv_error(&r->csv)));
        } else if (csv_get_buffer_size(&r->csv) > ROW_MAX) {
            fail_long_row(r);
        }
        off += step;
    }
}

static void csv_end(struct rows *r)
{
    if (!r->done && !r->failed)
        csv_fini(&r->csv, csv_on_field, csv_on_record, r);
    csv_free(&r->csv);
    json_decref(r->record);
    r->record = NULL;
}

/* -------------------------------------------------------- JSON lines */

/* One object as a row; the first object names the columns. */
static void add_object(struct rows *r, json_t *obj, size_t bytes)
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
    {
        json_t *x = json_object_get(obj, json_string_value(v));
        json_array_append(row, x ? x : json_null());
    }
    add_row(r, row, bytes);
}

static void jsonl_line(struct rows *r)
{
    json_t *obj =
        r->line_len ? json_loadb(r->line, r->line_len, 0, NULL) : NULL;

    if (json_is_object(obj))
        add_object(r, obj, r->line_len);
    json_decref(obj);
    r->line_len = 0;
}

static void jsonl_feed(struct rows *r, const char *buf, size_t n)
{
    const char *p = buf, *end = buf + n;

    while (p < end && !r->done && !r->failed) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (r->line_len + len > ROW_MAX) {
            fail_long_row(r);
            return;
        }
        memcpy(r->line + r->line_len, p, len);
        r->line_len += len;
        if (nl)
            jsonl_line(r);
        p += len + (nl != NULL);
    }
}

/* ------------------------------------------------------------- files */

/* Starts file name; 0 when it is to be read (the first data file's
 * format decides the result's: files of the other one are skipped). */
static int file_begin(struct rows *r, const char *name)
{
    const char *format = file_format(name);

    if (!*format || r->done || r->failed)
        return -1;
    if (!r->format)
        r->format = format;
    if (strcmp(r->format, format) != 0)
        return -1;
    r->name = name;
    r->header_seen = 0;
    r->line_len = 0;
    if (strcmp(format, "csv") == 0) {
        csv_begin(r);
    } else if (!r->line && !(r->line = malloc(ROW_MAX))) {
        r->failed = 1;
        dsb_error_set(r->err, DSB_E_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

static void file_feed(struct rows *r, const char *buf, size_t n)
{
    if (strcmp(r->format, "csv") == 0)
        csv_feed(r, buf, n);
    else
        jsonl_feed(r, buf, n);
}

static void file_end(struct rows *r)
{
    if (strcmp(r->format, "csv") == 0)
        csv_end(r);
    else if (!r->done && !r->failed)
        jsonl_line(r); /* a last line without a newline */
}

static void rows_init(struct rows *r, size_t limit, struct dsb_error *err)
{
    memset(r, 0, sizeof(*r));
    r->rows = json_array();
    r->limit = limit;
    r->err = err;
    if (!r->rows) {
        r->failed = 1;
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
}

/* The result (0), or -1 with err set; r is released either way. */
static int rows_finish(struct rows *r, json_t **out, struct dsb_error *err)
{
    int rc = -1;

    free(r->line);
    if (!r->failed && !r->format)
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "the job wrote no CSV or JSON-lines output");
    else if (!r->failed &&
             (*out = json_pack(
                  "{s:s, s:o, s:O, s:b}", "format", r->format, "columns",
                  r->columns ? json_incref(r->columns) : json_array(), "rows",
                  r->rows, "truncated", r->truncated)))
        rc = 0;
    else if (!r->failed)
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    json_decref(r->columns);
    json_decref(r->rows);
    return rc;
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
        if ((names[*n] = strdup(e->d_name)))
            (*n)++;
    }
    if (dh)
        closedir(dh);
    if (names)
        qsort(names, *n, sizeof(*names), cmp_name);
    return names;
}

/* Reads the regular file name of directory dfd into r, chunk by chunk
 * (symbolic links and other kinds of file are skipped). */
static void read_local_file(struct rows *r, int dfd, const char *name,
                            char *buf)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    ssize_t n;

    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        file_begin(r, name) == 0) {
        while (!r->done && !r->failed && (n = read(fd, buf, LOCAL_CHUNK)) > 0)
            file_feed(r, buf, (size_t)n);
        file_end(r);
    }
    close(fd);
}

int dsb_output_read_local(const char *dir, size_t limit, json_t **out,
                          struct dsb_error *err)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char *buf = malloc(LOCAL_CHUNK), **names = NULL;
    struct rows r;
    size_t n = 0;

    rows_init(&r, limit, err);
    if (dfd >= 0)
        names = data_files(dfd, &n);
    for (size_t i = 0; i < n; i++) {
        if (buf && !r.done && !r.failed)
            read_local_file(&r, dfd, names[i], buf);
        free(names[i]);
    }
    if (dfd >= 0)
        close(dfd);
    free(names);
    free(buf);
    return rows_finish(&r, out, err);
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

/* The text of the first <tag>...</tag> at or after *p (malloc'd, NULL
 * when absent); *p moves past it. */
static char *xml_next(const char **p, const char *tag)
{
    char open[64], close[64];
    const char *a, *b;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (!(a = strstr(*p, open)) || !(b = strstr(a, close)))
        return NULL;
    *p = b + strlen(close);
    return xml_unescape(a + strlen(open), (size_t)(b - a - strlen(open)));
}

/* One S3 GET; 0 with resp filled (to be released) whatever the status. */
static int s3_get(struct dsb_aws *aws, const char *path, const struct dsb_kv *q,
                  size_t nq, const char *range, struct dsb_aws_response *resp,
                  struct dsb_error *err)
{
    struct dsb_aws_request req = {0};
    struct dsb_kv h[] = {{"Range", range}};

    req.service = "s3";
    req.method = "GET";
    req.path = path;
    req.query = q;
    req.n_query = nq;
    req.headers = h;
    req.n_headers = range ? 1 : 0;
    return dsb_aws_send(aws, &req, resp, err);
}

/* An error response into err; -1. */
static int s3_error(struct dsb_aws_response *resp, struct dsb_error *err)
{
    dsb_aws_error_from_response(resp, err);
    dsb_aws_response_free(resp);
    return -1;
}

/* Feeds object key to r in ranged GETs of S3_CHUNK bytes until r has its
 * rows or the object ends. */
static int read_object(struct dsb_aws *aws, const char *bucket, const char *key,
                       struct rows *r, struct dsb_error *err)
{
    char *path = dsb_asprintf("/%s/%s", bucket, key), range[64];
    int rc = 0, more = 1;

    if (!path)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    for (unsigned long long off = 0; rc == 0 && more && !r->done && !r->failed;
         off += S3_CHUNK) {
        struct dsb_aws_response resp = {0};
        snprintf(range, sizeof(range), "bytes=%llu-%llu", off,
                 off + S3_CHUNK - 1);
        if ((rc = s3_get(aws, path, NULL, 0, range, &resp, err)) < 0)
            break;
        /* 416: nothing at off (an empty object); 200: the whole object */
        more = resp.status == 206 && resp.body_len == S3_CHUNK;
        if (resp.status / 100 == 2)
            file_feed(r, resp.body, resp.body_len);
        else if (resp.status != 416)
            rc = s3_error(&resp, err);
        dsb_aws_response_free(&resp);
    }
    free(path);
    return rc;
}

/* Reads the data keys of one ListObjectsV2 page (in order) into r. */
static int read_page(struct dsb_aws *aws, const char *bucket, const char *xml,
                     struct rows *r, struct dsb_error *err)
{
    const char *p = xml;
    char *key;
    int rc = 0;

    while (rc == 0 && !r->done && !r->failed && (key = xml_next(&p, "Key"))) {
        if (file_begin(r, key) == 0) {
            rc = read_object(aws, bucket, key, r, err);
            file_end(r);
        }
        free(key);
    }
    return rc;
}

/* Lists the prefix page by page (S3 lists keys in name order) and reads
 * each page's data files until r has its rows. */
static int read_prefix(struct dsb_aws *aws, const char *bucket,
                       const char *prefix, struct rows *r,
                       struct dsb_error *err)
{
    char *path = dsb_asprintf("/%s", bucket), *token = NULL;
    struct dsb_kv q[3] = {
        {"list-type", "2"}, {"prefix", prefix}, {"continuation-token", NULL}};
    int rc = path ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");

    while (rc == 0 && !r->done && !r->failed) {
        struct dsb_aws_response resp = {0};
        const char *p;
        q[2].value = token;
        if ((rc = s3_get(aws, path, q, token ? 3 : 2, NULL, &resp, err)) < 0)
            break;
        if (resp.status / 100 != 2) {
            rc = s3_error(&resp, err);
            break;
        }
        rc = read_page(aws, bucket, resp.body, r, err);
        free(token);
        p = resp.body;
        token = strstr(resp.body, "<IsTruncated>true</IsTruncated>")
                    ? xml_next(&p, "NextContinuationToken")
                    : NULL;
        dsb_aws_response_free(&resp);
        if (!token)
            break;
    }
    free(token);
    free(path);
    return rc;
}

int dsb_output_read_s3(struct dsb_jobs *j, const json_t *doc, const char *uri,
                       size_t limit, json_t **out, struct dsb_error *err)
{
    struct dsb_aws *aws;
    struct rows r;
    char *bucket = NULL, *prefix = NULL;
    int rc = -1;

    (void)doc;
    dsb_error_clear(err);
    rows_init(&r, limit, err);
    aws = r.failed ? NULL : dsb_jobs_aws(j, err);
    if (aws && split_uri(uri, &bucket, &prefix) == 0)
        rc = read_prefix(aws, bucket, prefix, &r, err);
    else if (aws)
        dsb_error_set(err, DSB_E_INVALID, "bad output location %s", uri);
    free(bucket);
    free(prefix);
    if (rc < 0)
        r.failed = 1;
    return rows_finish(&r, out, err);
}
