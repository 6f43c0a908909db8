/* The first bytes of a file: a ranged S3 GET or a local pread, inflated
 * with zlib for .gz files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <zlib.h>

#include "s3csv.h"

/* Reads up to n bytes of root/key into a new buffer; the file is opened
 * through the containment check. */
static int sample_local(const struct s3csv_root *root, const char *key,
                        size_t n, char **buf, size_t *len,
                        struct dsb_error *err)
{
    char path[2 * PATH_MAX], top[PATH_MAX];
    ssize_t got = 0, r;
    char *b;
    int fd;

    if (s3csv_local_top(root, top, err) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s", top, key);
    if ((fd = s3csv_local_open(top, AT_FDCWD, path, O_RDONLY)) < 0)
        return s3csv_local_error(top, path, errno, err);
    if (!(b = malloc(n + 1))) {
        close(fd);
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    while ((size_t)got < n &&
           (r = pread(fd, b + got, n - (size_t)got, got)) > 0)
        got += r;
    close(fd);
    b[got] = '\0';
    *buf = b;
    *len = (size_t)got;
    return 0;
}

static int sample_s3(const struct s3csv_inst *in, const struct s3csv_root *root,
                     const char *key, size_t n, char **buf, size_t *len,
                     struct dsb_error *err)
{
    char path[2200], range[64];
    struct dsb_kv h[1] = {{"Range", range}};
    struct dsb_aws_request req = {
        "s3", in->region, in->endpoint_url, "GET", path, NULL, 0, h, 1, NULL,
        0,    0};
    struct dsb_aws_response resp = {0};
    int rc = 0;

    snprintf(path, sizeof(path), "/%s/%s%s", root->bucket, root->prefix, key);
    snprintf(range, sizeof(range), "bytes=0-%zu", n - 1);
    if (in->host->call_aws_request(in->host, in->call, &req, &resp, err) < 0)
        return -1;
    if (resp.status == 200 || resp.status == 206 || resp.status == 416) {
        size_t got = resp.status == 416 ? 0 : resp.body_len;
        got = got < n ? got : n;
        if ((*buf = malloc(got + 1)) != NULL) {
            memcpy(*buf, resp.body, got);
            (*buf)[got] = '\0';
            *len = got;
        } else {
            rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        }
    } else {
        rc = in->host->aws_error(in->host, &resp, err);
    }
    in->host->aws_response_free(in->host, &resp);
    return rc;
}

/*
 * Inflates a gzip prefix into at most `cap` bytes.  *cut is set when the
 * output stops before the end of the data (input cut or cap reached).
 */
static int sample_gunzip(const char *in, size_t n, size_t cap, char **out,
                         size_t *len, int *cut, struct dsb_error *err)
{
    z_stream z;
    char *o = malloc(cap + 1);
    int zr;

    memset(&z, 0, sizeof(z));
    if (!o || inflateInit2(&z, 15 + 32) != Z_OK) {
        free(o);
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)o;
    z.avail_out = (uInt)cap;
    zr = inflate(&z, Z_SYNC_FLUSH);
    *len = cap - z.avail_out;
    inflateEnd(&z);
    if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
        free(o);
        return dsb_error_set(err, DSB_E_UPSTREAM, "not a gzip file: %s",
                             z.msg ? z.msg : "bad header");
    }
    o[*len] = '\0';
    *cut = zr != Z_STREAM_END;
    *out = o;
    return 0;
}

static int sample_is_gz(const char *key)
{
    size_t n = strlen(key);

    return n > 3 && !strcasecmp(key + n - 3, ".gz");
}

int s3csv_sample(const struct s3csv_inst *in, const struct s3csv_root *root,
                 const char *key, int64_t size, char **buf, size_t *len,
                 int *truncated, struct dsb_error *err)
{
    size_t n = in->sample_bytes;
    char *raw = NULL;
    size_t rlen = 0;
    int rc;

    if (size == 0) { /* S3 answers 416 to a range of an empty object */
        *buf = calloc(1, 1);
        *len = 0;
        *truncated = 0;
        return *buf ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    }
    rc = root->is_s3 ? sample_s3(in, root, key, n, &raw, &rlen, err)
                     : sample_local(root, key, n, &raw, &rlen, err);
    if (rc < 0)
        return -1;
    *truncated = (int64_t)rlen < size;
    if (!sample_is_gz(key)) {
        *buf = raw;
        *len = rlen;
        return 0;
    }
    rc = sample_gunzip(raw, rlen, n * 4, buf, len, truncated, err);
    free(raw);
    return rc;
}
