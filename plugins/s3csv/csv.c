/* RFC 4180 records from a byte buffer, over libcsv (Debian's libcsv-dev).
 * libcsv does the quoting state machine; this file adds what it lacks:
 * BOM, an escape character other than the quote, encodings, and dropping a
 * record cut by the end of a sample. */
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "s3csv.h"

struct csv_state {
    struct s3csv_records *out;
    const struct s3csv_dialect *d;
    struct s3csv_record cur;
    size_t cap; /* of cur.fields */
    size_t max;
    int failed;
};

static void csv_record_free(struct s3csv_record *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->fields[i]);
    free(r->fields);
    r->fields = NULL;
    r->n = 0;
}

void s3csv_records_free(struct s3csv_records *r)
{
    for (size_t i = 0; i < r->n; i++)
        csv_record_free(&r->v[i]);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t csv_utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, cp = s[0] & 0x1Fu;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, cp = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* A NUL-terminated UTF-8 copy of a field: Latin-1 converted, invalid UTF-8
 * bytes replaced by U+FFFD, NUL bytes dropped.  NULL on exhaustion. */
static char *csv_field_utf8(const unsigned char *s, size_t n, int latin1)
{
    char *o = malloc(n * 3 + 1), *p = o;
    size_t i = 0, k;

    if (!o)
        return NULL;
    while (i < n) {
        if (s[i] == 0) {
            i++;
        } else if (latin1 && s[i] >= 0x80) {
            *p++ = (char)(0xC0 | (s[i] >> 6));
            *p++ = (char)(0x80 | (s[i++] & 0x3F));
        } else if (!latin1 && (k = csv_utf8_len(s + i, n - i)) > 0) {
            memcpy(p, s + i, k);
            p += k, i += k;
        } else if (latin1) {
            *p++ = (char)s[i++];
        } else {
            memcpy(p, "\xEF\xBF\xBD", 3);
            p += 3, i++;
        }
    }
    *p = '\0';
    return o;
}

static void csv_on_field(void *s, size_t len, void *data)
{
    struct csv_state *st = data;
    char *f, **grown;

    if (st->failed || st->out->n >= st->max)
        return;
    f = csv_field_utf8(s, len, st->d->latin1);
    if (f && st->cur.n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        grown = realloc(st->cur.fields, st->cap * sizeof(*grown));
        if (!grown) {
            free(f);
            f = NULL;
        } else {
            st->cur.fields = grown;
        }
    }
    if (!f) {
        st->failed = 1;
        return;
    }
    if (strpbrk(f, "\r\n"))
        st->out->multiline = 1;
    st->cur.fields[st->cur.n++] = f;
}

static void csv_on_record(int c, void *data)
{
    struct csv_state *st = data;
    struct s3csv_records *o = st->out;
    struct s3csv_record *grown;

    (void)c;
    if (st->failed || o->n >= st->max) {
        csv_record_free(&st->cur);
        st->cap = 0;
        return;
    }
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        grown = realloc(o->v, o->cap * sizeof(*grown));
        if (!grown) {
            st->failed = 1;
            return;
        }
        o->v = grown;
    }
    o->v[o->n++] = st->cur;
    memset(&st->cur, 0, sizeof(st->cur));
    st->cap = 0;
}

/*
 * Rewrites escape+quote inside quoted fields as a doubled quote (and a
 * doubled escape as one escape) so libcsv, which knows only doubled
 * quotes, can parse it.  Returns a malloc'd buffer and its length.
 */
static char *csv_unescape(const char *b, size_t n,
                          const struct s3csv_dialect *d, size_t *out_len)
{
    char *o = malloc(n + 1);
    size_t i, k = 0;
    int inq = 0;

    if (!o)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        int next = i + 1 < n ? (unsigned char)b[i + 1] : -1;
        if (inq && c == d->escape && (next == d->quote || next == d->escape)) {
            if (next == d->quote)
                o[k++] = (char)d->quote;
            o[k++] = (char)next;
            i++;
        } else {
            if (c == d->quote)
                inq = !inq;
            o[k++] = (char)c;
        }
    }
    *out_len = k;
    return o;
}

static enum s3csv_eol csv_eol(const char *b, size_t n, unsigned char quote)
{
    int inq = 0;

    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)b[i] == quote)
            inq = !inq;
        else if (!inq && b[i] == '\n')
            return S3CSV_EOL_LF;
        else if (!inq && b[i] == '\r')
            return i + 1 < n && b[i + 1] == '\n' ? S3CSV_EOL_CRLF
                                                 : S3CSV_EOL_CR;
    }
    return S3CSV_EOL_LF;
}

static int csv_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static int csv_run(struct csv_parser *p, const char *b, size_t n, int truncated,
                   struct csv_state *st)
{
    size_t off = 0, step;

    while (off < n && !st->failed && st->out->n < st->max) {
        step = n - off < 4096 ? n - off : 4096;
        if (csv_parse(p, b + off, step, csv_on_field, csv_on_record, st) !=
            step)
            return -1;
        off += step;
    }
    if (!truncated && off == n && !st->failed && st->out->n < st->max)
        csv_fini(p, csv_on_field, csv_on_record, st);
    csv_record_free(&st->cur);
    return st->failed ? -1 : 0;
}

int s3csv_csv_parse(const char *buf, size_t len, const struct s3csv_dialect *d,
                    int truncated, size_t max_records,
                    struct s3csv_records *out)
{
    struct csv_state st = {out, d, {NULL, 0}, 0, max_records, 0};
    struct csv_parser p;
    char *tmp = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!d->latin1 && len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3, len -= 3;
        out->bom = 1;
    }
    if (d->escape != d->quote) {
        if (!(tmp = csv_unescape(buf, len, d, &len)))
            return -1;
        buf = tmp;
    }
    out->eol = csv_eol(buf, len, d->quote);
    if (csv_init(&p, CSV_APPEND_NULL) != 0)
        goto fail;
    csv_set_delim(&p, d->delim);
    csv_set_quote(&p, d->quote);
    csv_set_space_func(&p, csv_no_space);
    rc = csv_run(&p, buf, len, truncated, &st);
    csv_free(&p);
fail:
    free(tmp);
    return rc;
}
