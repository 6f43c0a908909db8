/* s3csv.so: CSV files in S3 buckets and local directories.
 * Options, the vtable and the JSON outputs; layout, listing, sampling and
 * inference live beside it (s3csv.h). */
#define _GNU_SOURCE /* asprintf, strcasestr, O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "s3csv.h"

static const char *const s3csv_encodings[] = {"utf-8", "latin-1", NULL};

static const struct dsb_option s3csv_options[] = {
    DSB_OPTION_LIST("roots", DSB_OPT_REQUIRED, NULL,
                    "s3://bucket/prefix/ or file:///abs/dir/ (file:rel/dir is "
                    "relative to conf.d); each root is a database"),
    DSB_OPTION_STRING("delimiter", 0, "','", "field delimiter (one byte)"),
    DSB_OPTION_STRING("quote", 0, "'\"'", "quote character (one byte)"),
    DSB_OPTION_STRING("escape", 0, "'\"'",
                      "escape of a quote inside quotes "
                      "(one byte; the quote itself means doubled quotes)"),
    DSB_OPTION_ENUM("encoding", 0, "utf-8", s3csv_encodings, "file encoding"),
    DSB_OPTION_INT("sample_kb", 0, "64", 1, 16384,
                   "KiB read from the start of a file to infer column types"),
    DSB_OPTION_INT("max_parts_checked", 0, "100", 1, 100000,
                   "part files of a folder table whose header is compared "
                   "with the first part's (describe and read spec)"),
    DSB_OPTION_STRING("endpoint_url", 0, NULL,
                      "S3 endpoint override (also "
                      "given to Spark's s3a)"),
    DSB_OPTION_STRING("region", 0, NULL,
                      "bucket region (default: the "
                      "broker's)"),
    DSB_OPTION_INT("sample_rows", 0, "0", 0, 100,
                   "first records of the sample shown to the agent as "
                   "sample rows; 0: none"),
    DSB_OPTION_BOOL("column_stats", "false",
                    "give the agent per-column statistics of the sample "
                    "(null fraction, distinct count, min, max, most common "
                    "values)"),
    DSB_OPTION_LIST("mask_columns", 0, "[]",
                    "columns whose values are never shown: fnmatch globs "
                    "on the column name, case-insensitive, e.g. *email*"),
    DSB_OPTION_END};

/* ------------------------------------------------------------ open */

static int s3csv_char_opt(const json_t *o, const char *key, unsigned char *c,
                          struct dsb_error *err)
{
    const char *v = json_string_value(json_object_get(o, key));

    if (!v || strlen(v) != 1) {
        dsb_error_set(err, DSB_E_CONFIG,
                      "%s must be exactly one character, "
                      "not \"%s\"",
                      key, v ? v : "");
        dsb_error_hint(err, "write a tab as \"\\t\" in double quotes");
        return -1;
    }
    *c = (unsigned char)v[0];
    return 0;
}

static int s3csv_dialect_opts(struct s3csv_inst *g, const json_t *o,
                              struct dsb_error *err)
{
    struct s3csv_dialect *d = &g->dialect;
    const char *enc = json_string_value(json_object_get(o, "encoding"));

    if (s3csv_char_opt(o, "delimiter", &d->delim, err) < 0 ||
        s3csv_char_opt(o, "quote", &d->quote, err) < 0 ||
        s3csv_char_opt(o, "escape", &d->escape, err) < 0)
        return -1;
    if (d->delim == d->quote || d->delim == '\n' || d->delim == '\r')
        return dsb_error_set(err, DSB_E_CONFIG,
                             "the delimiter cannot be the "
                             "quote or a line break");
    d->latin1 = enc && !strcmp(enc, "latin-1");
    return 0;
}

static char *s3csv_opt_dup(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && *v ? strdup(v) : NULL;
}

static void s3csv_close(void *inst)
{
    struct s3csv_inst *g = inst;

    if (!g)
        return;
    s3csv_roots_free(g);
    free(g->endpoint_url);
    free(g->region);
    json_decref(g->mask);
    free(g);
}

/* Contract: see plugin.h (open).  Never touches the network or the disk
 * beyond resolving relative roots. */
static int s3csv_open(const struct dsb_host *host,
                      const struct dsb_source_info *info, const json_t *options,
                      void **inst, struct dsb_error *err)
{
    struct s3csv_inst *g = calloc(1, sizeof(*g));

    if (!g)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    g->host = host;
    g->info = info;
    g->sample_bytes =
        (size_t)json_integer_value(json_object_get(options, "sample_kb")) *
        1024;
    g->max_parts_checked = (size_t)json_integer_value(
        json_object_get(options, "max_parts_checked"));
    if (!g->sample_bytes)
        g->sample_bytes = 64 * 1024;
    g->endpoint_url = s3csv_opt_dup(options, "endpoint_url");
    g->region = s3csv_opt_dup(options, "region");
    g->sample_rows =
        (int)json_integer_value(json_object_get(options, "sample_rows"));
    g->column_stats = json_is_true(json_object_get(options, "column_stats"));
    g->mask = json_deep_copy(json_object_get(options, "mask_columns"));
    if (s3csv_dialect_opts(g, options, err) < 0 ||
        s3csv_roots_parse(g, json_object_get(options, "roots"), err) < 0)
        goto fail;
    *inst = g;
    return 0;
fail:
    s3csv_close(g);
    return -1;
}

/* Contract: see plugin.h (check_options).  What open refuses, found by
 * open's own code on a scratch instance; relative roots are not resolved. */
static int s3csv_check_options(const json_t *options, const char **key,
                               struct dsb_error *err)
{
    static const char *const chars[] = {"delimiter", "quote", "escape"};
    struct s3csv_inst g = {0};
    unsigned char c;
    int rc;

    for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++)
        if (s3csv_char_opt(options, chars[i], &c, err) < 0) {
            *key = chars[i];
            return -1;
        }
    if (s3csv_dialect_opts(&g, options, err) < 0) {
        *key = "delimiter";
        return -1;
    }
    rc = s3csv_roots_parse(&g, json_object_get(options, "roots"), err);
    if (rc < 0)
        *key = "roots";
    s3csv_roots_free(&g);
    return rc;
}

/* ----------------------------------------------------------- check */

static int s3csv_check(void *inst, struct dsb_call *call, json_t **out,
                       struct dsb_error *err)
{
    struct s3csv_inst in = s3csv_in_call(inst, call), *g = &in;
    int64_t t0 = g->host->monotonic_ms();
    struct s3csv_listing l;
    json_t *roots = json_array();

    for (size_t i = 0; i < g->n_roots; i++) {
        if (s3csv_list(g, &g->roots[i], "", 0, &l, err) < 0) {
            json_decref(roots);
            return -1;
        }
        json_array_append_new(
            roots, json_pack("{s:s, s:s, s:I}", "name", g->roots[i].name, "uri",
                             g->roots[i].uri, "entries",
                             (json_int_t)(l.n_objs + l.n_dirs)));
        s3csv_listing_free(&l);
    }
    *out = json_pack("{s:b, s:s, s:f, s:o}", "ok", 1, "server_version", "s3csv",
                     "latency_ms", (double)(g->host->monotonic_ms() - t0),
                     "roots", roots);
    return 0;
}

/* --------------------------------------------------------- listings */

static int s3csv_match(const struct dsb_list_request *req, const char *name)
{
    return !req->name_filter || !*req->name_filter ||
           strcasestr(name, req->name_filter) != NULL;
}

static int s3csv_list_databases(void *inst, struct dsb_call *call,
                                const struct dsb_list_request *req,
                                json_t **out, struct dsb_error *err)
{
    struct s3csv_inst *g = inst;
    json_t *items = json_array();

    (void)call, (void)err;
    for (size_t i = 0; i < g->n_roots; i++)
        if (s3csv_match(req, g->roots[i].name))
            json_array_append_new(items, json_pack("{s:s, s:s}", "name",
                                                   g->roots[i].name, "comment",
                                                   g->roots[i].uri));
    *out = json_pack("{s:o, s:n}", "items", items, "next_page_token");
    return 0;
}

static int s3csv_list_schemas(void *inst, struct dsb_call *call,
                              const struct dsb_list_request *req, json_t **out,
                              struct dsb_error *err)
{
    struct s3csv_inst in = s3csv_in_call(inst, call), *g = &in;
    const struct s3csv_root *root = s3csv_root_find(g, req->database, err);
    json_t *names, *items, *v;
    size_t i;

    if (!root || s3csv_schemas(g, root, &names, err) < 0)
        return -1;
    items = json_array();
    json_array_foreach(names, i, v) if (s3csv_match(req, json_string_value(v)))
        json_array_append_new(items,
                              json_pack("{s:O, s:n}", "name", v, "comment"));
    json_decref(names);
    *out = json_pack("{s:o, s:n}", "items", items, "next_page_token");
    return 0;
}

/* ----------------------------------------------------------- tables */

/* What sampling a table found, beyond its columns. */
struct s3csv_found {
    int folder, gz, plain; /* copied from the table */
    int multiline;
    int mismatch; /* a part's header differs from the first part's */
};

static char *s3csv_location(const struct s3csv_root *root, const char *key,
                            const char *scheme)
{
    char *s = NULL;
    int rc;

    if (root->is_s3)
        rc = asprintf(&s, "%s://%s/%s%s", scheme ? scheme : "s3", root->bucket,
                      root->prefix, key);
    else
        rc = asprintf(&s, "file://%s/%s", root->dir, key);
    return rc < 0 ? NULL : s;
}

static int s3csv_same_header(const struct s3csv_record *a,
                             const struct s3csv_record *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->fields[i], b->fields[i]))
            return 0;
    return 1;
}

/* Reads the header record of one part file into r (max 1 record). */
static int s3csv_read_header(const struct s3csv_inst *g,
                             const struct s3csv_root *root,
                             const struct s3csv_obj *o, struct s3csv_records *r,
                             struct dsb_error *err)
{
    char *buf;
    size_t len;
    int trunc, rc;

    if (s3csv_sample(g, root, o->key, o->size, &buf, &len, &trunc, err) < 0)
        return -1;
    rc = s3csv_csv_parse(buf, len, &g->dialect, 0, 1, r);
    free(buf);
    return rc < 0 ? dsb_error_set(err, DSB_E_INTERNAL, "out of memory") : 0;
}

/* Compares the header of every part (up to max_parts_checked) with hdr. */
static int s3csv_check_parts(const struct s3csv_inst *g,
                             const struct s3csv_root *root,
                             const struct s3csv_table *t,
                             const struct s3csv_record *hdr, json_t *notes,
                             struct s3csv_found *f, struct dsb_error *err)
{
    static const struct s3csv_record none = {NULL, 0};
    const struct s3csv_obj *o;
    size_t cur = 0, seen = 0;
    struct s3csv_records r;

    s3csv_table_next_part(t, &cur); /* the first part gave hdr */
    while (!f->mismatch && seen + 1 < g->max_parts_checked &&
           (o = s3csv_table_next_part(t, &cur)) != NULL) {
        seen++;
        if (s3csv_read_header(g, root, o, &r, err) < 0) {
            s3csv_records_free(&r);
            return -1;
        }
        if (!s3csv_same_header(hdr ? hdr : &none, r.n ? &r.v[0] : &none)) {
            f->mismatch = 1;
            json_array_append_new(
                notes, json_sprintf("part %s has a "
                                    "different header than the first part: the "
                                    "folder cannot be read as one table",
                                    o->key));
        }
        s3csv_records_free(&r);
    }
    if (t->n_parts > g->max_parts_checked)
        json_array_append_new(notes,
                              json_sprintf("headers of %zu of %zu parts "
                                           "were compared",
                                           g->max_parts_checked, t->n_parts));
    return 0;
}

static void s3csv_sample_note(const struct s3csv_inst *g,
                              const struct s3csv_obj *o,
                              const struct s3csv_records *r, int trunc,
                              json_t *notes)
{
    if (r->n > 1)
        json_array_append_new(
            notes, json_sprintf("column types inferred "
                                "from %s%zu rows of %s (first %zu KiB)",
                                trunc ? "the first " : "all ", r->n - 1, o->key,
                                g->sample_bytes / 1024));
}

/* Columns of t from its first part; checks the other parts when full. */
static json_t *s3csv_columns(const struct s3csv_inst *g,
                             const struct s3csv_root *root,
                             const struct s3csv_table *t, int full,
                             json_t *notes, struct s3csv_found *f,
                             json_t **sample, struct dsb_error *err)
{
    size_t cur = 0, len;
    const struct s3csv_obj *o = s3csv_table_next_part(t, &cur);
    struct s3csv_records r = {0};
    json_t *cols = NULL;
    char *buf = NULL;
    int trunc;

    if (s3csv_sample(g, root, o->key, o->size, &buf, &len, &trunc, err) < 0)
        return NULL;
    if (s3csv_csv_parse(buf, len, &g->dialect, trunc, 1000000, &r) < 0 ||
        !(cols = s3csv_infer_columns(&r, notes))) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    s3csv_sample_note(g, o, &r, trunc, notes);
    if (full)
        *sample = s3csv_values(g, &r, cols);
    f->multiline = r.multiline;
    if (full && t->folder &&
        s3csv_check_parts(g, root, t, r.n ? &r.v[0] : NULL, notes, f, err) <
            0) {
        json_decref(cols);
        cols = NULL;
    }
fail:
    free(buf);
    s3csv_records_free(&r);
    return cols;
}

static void s3csv_table_notes(const struct s3csv_table *t, json_t *notes)
{
    if (t->renamed_from)
        json_array_append_new(notes,
                              json_sprintf("named %s because \"%s\" "
                                           "is taken in this schema (%s)",
                                           t->name, t->renamed_from, t->key));
    if (t->folder)
        json_array_append_new(notes, json_sprintf("a folder of %zu CSV part "
                                                  "files read as one table",
                                                  t->n_parts));
    if (t->ignored)
        json_array_append_new(
            notes, json_sprintf("%zu files in the folder "
                                "are not read (not .csv/.csv.gz, or in "
                                "subfolders)",
                                t->ignored));
    if (t->gz)
        json_array_append_new(
            notes, json_string("gzip files are not "
                               "splittable: Spark reads each with one task"));
}

/* Spark's csv reader options for a table sampled as f. */
static json_t *s3csv_reader_options(const struct s3csv_inst *g,
                                    const struct s3csv_found *f)
{
    char d[2] = {(char)g->dialect.delim, 0}, q[2] = {(char)g->dialect.quote, 0};
    char e[2] = {(char)g->dialect.escape, 0};
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "header", "true",
                          "delimiter", d, "quote", q, "escape", e, "encoding",
                          g->dialect.latin1 ? "ISO-8859-1" : "UTF-8");

    if (f->multiline)
        json_object_set_new(o, "multiLine", json_string("true"));
    if (f->folder)
        json_object_set_new(o, "pathGlobFilter",
                            json_string(f->gz && f->plain
                                            ? "*.{csv,csv.gz,CSV,CSV.GZ}"
                                        : f->gz ? "*.{csv.gz,CSV.GZ}"
                                                : "*.{csv,CSV}"));
    return o;
}

/* TABLE (plugin.h) for t, with extra keys location, format, compression,
 * parts and notes; when full (describe_table, not a listing), also
 * csv_options and header_mismatch: all a read spec needs. */
static json_t *s3csv_table_json(const struct s3csv_inst *g,
                                const struct s3csv_root *root,
                                const struct s3csv_table *t, int full,
                                struct s3csv_found *f, struct dsb_error *err)
{
    json_t *notes = json_array(), *cols, *sample = NULL;
    char *loc = s3csv_location(root, t->key, NULL);

    f->folder = t->folder, f->gz = t->gz, f->plain = t->plain;
    s3csv_table_notes(t, notes);
    cols = loc ? s3csv_columns(g, root, t, full, notes, f, &sample, err) : NULL;
    if (!cols) {
        json_decref(sample);
        if (!loc)
            dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        json_decref(notes);
        free(loc);
        return NULL;
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:n, s:n, s:I, s:[], s:o, s:s, s:s, "
        "s:s?, s:I, s:o}",
        "name", t->name, "kind", t->folder ? "folder" : "file", "comment",
        "row_estimate", "size_bytes", (json_int_t)t->size, "primary_key",
        "columns", cols, "location", loc, "format", "csv", "compression",
        t->gz ? "gzip" : NULL, "parts", (json_int_t)t->n_parts, "notes", notes);
    free(loc);
    if (o && full) {
        json_object_set_new(o, "csv_options", s3csv_reader_options(g, f));
        json_object_set_new(o, "header_mismatch", json_boolean(f->mismatch));
        if (sample)
            json_object_set(o, "sample_rows", sample);
    }
    json_decref(sample);
    return o;
}

/* Page tokens are decimal offsets into the sorted, filtered table list. */
static int s3csv_page_start(const struct dsb_list_request *req, size_t *start,
                            struct dsb_error *err)
{
    char *end;
    unsigned long long v;

    *start = 0;
    if (!req->page_token)
        return 0;
    v = strtoull(req->page_token, &end, 10);
    if (!*req->page_token || *end || end - req->page_token > 12)
        return dsb_error_set(err, DSB_E_INVALID, "invalid page token \"%s\"",
                             req->page_token);
    *start = (size_t)v;
    return 0;
}

/* Sampling several tables at once (s3csv_parallel). */
struct s3csv_many {
    const struct s3csv_inst *g;
    const struct s3csv_root *root;
    const struct s3csv_table **t;
    int full;
    json_t **out;
    struct dsb_error *errs;
};

static void s3csv_sample_one(void *ctx, size_t i)
{
    struct s3csv_many *m = ctx;
    struct s3csv_found f;

    memset(&f, 0, sizeof(f));
    m->out[i] =
        s3csv_table_json(m->g, m->root, m->t[i], m->full, &f, &m->errs[i]);
}

/* Appends the TABLE of each of t[0..n) to items, in order, sampled
 * S3CSV_SAMPLERS at a time; the first failure (in order) is the error. */
static int s3csv_sample_many(const struct s3csv_inst *g,
                             const struct s3csv_root *root,
                             const struct s3csv_table **t, size_t n, int full,
                             json_t *items, struct dsb_error *err)
{
    struct s3csv_many m = {g,
                           root,
                           t,
                           full,
                           calloc(n + 1, sizeof(json_t *)),
                           calloc(n + 1, sizeof(struct dsb_error))};
    int rc = 0;

    if (!m.out || !m.errs)
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    else
        s3csv_parallel(n, s3csv_sample_one, &m);
    for (size_t i = 0; m.out && i < n; i++) {
        if (rc == 0 && !m.out[i])
            rc = (*err = m.errs[i], -1);
        if (rc == 0)
            json_array_append_new(items, m.out[i]);
        else
            json_decref(m.out[i]);
    }
    free(m.out);
    free(m.errs);
    return rc;
}

/* Appends the tables of ts matching req, from the page's start, to items;
 * sets *next to the offset of the next page (0 when none). */
static int s3csv_fill_page(const struct s3csv_inst *g,
                           const struct s3csv_root *root,
                           const struct s3csv_tables *ts,
                           const struct dsb_list_request *req, size_t start,
                           json_t *items, size_t *next, struct dsb_error *err)
{
    size_t seen = 0, k = 0, max = req->page_size ? req->page_size : (size_t)-1;
    const struct s3csv_table **pick = malloc((ts->n + 1) * sizeof(*pick));
    int rc;

    *next = 0;
    if (!pick)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    for (size_t i = 0; i < ts->n; i++) {
        if (!s3csv_match(req, ts->v[i].name) || seen++ < start)
            continue;
        if (k == max) {
            *next = seen - 1;
            break;
        }
        pick[k++] = &ts->v[i];
    }
    rc = s3csv_sample_many(g, root, pick, k, 0, items, err);
    free(pick);
    return rc;
}

static int s3csv_list_tables(void *inst, struct dsb_call *call,
                             const struct dsb_list_request *req, json_t **out,
                             struct dsb_error *err)
{
    struct s3csv_inst in = s3csv_in_call(inst, call), *g = &in;
    const struct s3csv_root *root = s3csv_root_find(g, req->database, err);
    struct s3csv_tables ts;
    size_t start, next;
    json_t *items = NULL;
    char tok[32];

    if (!root || s3csv_page_start(req, &start, err) < 0 ||
        s3csv_tables_of(g, root, req->schema ? req->schema : "", &ts, err) < 0)
        return -1;
    items = json_array();
    if (s3csv_fill_page(g, root, &ts, req, start, items, &next, err) < 0)
        goto fail;
    snprintf(tok, sizeof(tok), "%zu", next);
    *out = json_pack("{s:o, s:s?}", "items", items, "next_page_token",
                     next ? tok : NULL);
    s3csv_tables_free(&ts);
    return 0;
fail:
    json_decref(items);
    s3csv_tables_free(&ts);
    return -1;
}

/* The table `name` of db.schema, sampled with the part check; *out TABLE. */
static int s3csv_find(const struct s3csv_inst *g, const char *db,
                      const char *schema, const char *name,
                      const struct s3csv_root **rootp, json_t **out,
                      struct s3csv_found *f, struct dsb_error *err)
{
    const struct s3csv_root *root = s3csv_root_find(g, db, err);
    struct s3csv_tables ts;
    size_t i;
    int found = 0;

    memset(f, 0, sizeof(*f));
    if (!root || s3csv_tables_of(g, root, schema ? schema : "", &ts, err) < 0)
        return -1;
    for (i = 0; i < ts.n && strcmp(ts.v[i].name, name ? name : ""); i++)
        ;
    if (i == ts.n) {
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "table \"%s\" does not exist in "
                      "%s.%s",
                      name ? name : "", db, schema);
        dsb_error_hint(err, "a table is a .csv or .csv.gz file, or a folder "
                            "of them, inside a schema folder");
    } else {
        *out = s3csv_table_json(g, root, &ts.v[i], 1, f, err);
        found = *out != NULL;
    }
    s3csv_tables_free(&ts);
    *rootp = root;
    return found ? 0 : -1;
}

static int s3csv_describe(void *inst, struct dsb_call *call, const char *db,
                          const char *schema, const char *table, json_t **out,
                          struct dsb_error *err)
{
    struct s3csv_inst in = s3csv_in_call(inst, call);
    const struct s3csv_root *root;
    struct s3csv_found f;

    return s3csv_find(&in, db, schema, table, &root, out, &f, err);
}

/* The named tables of db.schema: one listing of the schema, then their
 * samples S3CSV_SAMPLERS at a time (describe_tables). */
static int s3csv_describe_many(void *inst, struct dsb_call *call,
                               const char *db, const char *schema,
                               const char *const *tables, size_t n,
                               json_t **out, struct dsb_error *err)
{
    struct s3csv_inst in = s3csv_in_call(inst, call), *g = &in;
    const struct s3csv_root *root = s3csv_root_find(g, db, err);
    const struct s3csv_table **pick = NULL;
    struct s3csv_tables ts;
    json_t *want, *items;
    size_t k = 0;
    int rc = -1;

    if (!root || s3csv_tables_of(g, root, schema ? schema : "", &ts, err) < 0)
        return -1;
    want = json_object();
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(want, tables[i], json_true());
    if (!(pick = malloc((ts.n + 1) * sizeof(*pick)))) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ts.n; i++)
        if (json_object_get(want, ts.v[i].name))
            pick[k++] = &ts.v[i];
    rc = s3csv_sample_many(g, root, pick, k, 1, items, err);
    if (rc == 0)
        *out = json_pack("{s:O}", "items", items);
fail:
    free(pick);
    json_decref(items);
    json_decref(want);
    s3csv_tables_free(&ts);
    return rc;
}

/* ------------------------------------------------------- read spec */

/* "`a` INT, `b c` STRING": the explicit schema for DataFrameReader.schema. */
static json_t *s3csv_ddl(const json_t *cols)
{
    size_t i, n = 1, k = 0;
    const json_t *c;
    char *s;
    json_t *r;

    json_array_foreach(cols, i, c) n +=
        2 * strlen(json_string_value(json_object_get(c, "name"))) + 48;
    if (!(s = malloc(n)))
        return NULL;
    json_array_foreach(cols, i, c)
    {
        const char *p = json_string_value(json_object_get(c, "name"));
        k += (size_t)sprintf(s + k, "%s`", i ? ", " : "");
        for (; *p; p++)
            k += (size_t)sprintf(s + k, *p == '`' ? "``" : "%c", *p);
        k += (size_t)sprintf(
            s + k, "` %s", json_string_value(json_object_get(c, "spark_type")));
    }
    s[k] = '\0';
    r = json_string(s);
    free(s);
    return r;
}

static int s3csv_no_path(const struct dsb_read_target *t, const char *what,
                         const char *hint, struct dsb_error *err)
{
    dsb_error_set(err, DSB_E_UNSUPPORTED, "executor %s (%s) cannot read %s",
                  t->executor ? t->executor : "?",
                  t->executor_type ? t->executor_type : "?", what);
    dsb_error_hint(err, "%s", hint);
    return -1;
}

/* The path Spark on target reads, and the confs it needs. */
static int s3csv_target_path(const struct s3csv_inst *g,
                             const struct s3csv_root *root, const char *loc,
                             const struct dsb_read_target *t, json_t *spec,
                             struct dsb_error *err)
{
    unsigned caps = t ? t->caps : DSB_EXEC_S3_NATIVE | DSB_EXEC_LOCAL_FILES;
    char *p = NULL;

    if (!root->is_s3 && !(caps & DSB_EXEC_LOCAL_FILES))
        return s3csv_no_path(t, "this machine's files",
                             "route the job to a "
                             "local-spark executor, or copy the files to S3 "
                             "and add an s3:// root",
                             err);
    if (root->is_s3 && !(caps & (DSB_EXEC_S3_NATIVE | DSB_EXEC_S3A)))
        return s3csv_no_path(t, "s3:// paths",
                             "enable s3a on that executor "
                             "(s3a: true in broker.yaml; the broker adds "
                             "hadoop-aws) or route the job to EMR",
                             err);
    if (root->is_s3 && !(caps & DSB_EXEC_S3_NATIVE)) {
        if (asprintf(&p, "s3a%s", loc + 2) < 0)
            return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        json_object_set_new(
            json_object_get(spec, "spark_submit"), "conf",
            g->host->aws_s3a_conf(g->host, g->endpoint_url, g->region));
    }
    json_object_set_new(spec, "path", json_string(p ? p : loc));
    free(p);
    return 0;
}

static int s3csv_unreadable(const json_t *t, struct dsb_error *err)
{
    if (json_is_true(json_object_get(t, "header_mismatch"))) {
        dsb_error_set(err, DSB_E_CONFLICT,
                      "the part files of \"%s\" do not "
                      "share one header",
                      json_string_value(json_object_get(t, "name")));
        dsb_error_hint(err, "move the odd parts to their own folder");
        return -1;
    }
    if (json_array_size(json_object_get(t, "columns")) == 0) {
        dsb_error_set(err, DSB_E_INVALID,
                      "\"%s\" has no header, so no "
                      "columns to read",
                      json_string_value(json_object_get(t, "name")));
        dsb_error_hint(err, "the file is empty");
        return -1;
    }
    return 0;
}

/* A local table's location must lead inside its root when the spec is made:
 * the description may be older than a symlink swapped since. */
static int s3csv_location_inside(const struct s3csv_root *root, const char *loc,
                                 struct dsb_error *err)
{
    char top[PATH_MAX];
    int fd;

    if (root->is_s3)
        return 0;
    if (!loc || strncmp(loc, "file://", 7))
        return dsb_error_set(err, DSB_E_INVALID,
                             "the description of this "
                             "table has no local location");
    if (s3csv_local_top(root, top, err) < 0)
        return -1;
    if ((fd = s3csv_local_open(top, AT_FDCWD, loc + 7, O_PATH)) < 0)
        return s3csv_local_error(top, loc + 7, errno, err);
    close(fd);
    return 0;
}

/* The read spec's JSON from t (borrowed: its notes are copied). */
static json_t *s3csv_spec_json(const char *db, const char *schema,
                               const json_t *t)
{
    json_t *notes = json_copy(json_object_get(t, "notes"));

    json_array_append_new(
        notes, json_string("read with the explicit schema "
                           "given (no inferSchema pass); the header line is "
                           "skipped, its names are not used"));
    return json_pack(
        "{s:s++, s:s, s:n, s:o, s:{}, s:O, s:[], s:n, s:O, "
        "s:{s:[], s:{}}, s:o, s:o*, s:O}",
        "qualified_name", db, ".", schema, "format", "csv", "path", "options",
        json_deep_copy(json_object_get(t, "csv_options")), "secret_options",
        "columns", json_object_get(t, "columns"), "primary_key", "row_estimate",
        "size_bytes", json_object_get(t, "size_bytes"), "spark_submit", "jars",
        "conf", "notes", notes, "schema_ddl",
        s3csv_ddl(json_object_get(t, "columns")), "kind",
        json_object_get(t, "kind"));
}

/* The read spec of the table described by t (s3csv_find's, borrowed). */
static int s3csv_spec_of(const struct s3csv_inst *g, const char *db,
                         const char *schema, const char *table, const json_t *t,
                         const struct dsb_read_target *target, json_t **out,
                         struct dsb_error *err)
{
    const struct s3csv_root *root = s3csv_root_find(g, db, err);
    json_t *spec = NULL;
    char *qn = NULL;

    if (!root || s3csv_unreadable(t, err) < 0 ||
        s3csv_location_inside(
            root, json_string_value(json_object_get(t, "location")), err) < 0)
        return -1;
    if (!(spec = s3csv_spec_json(db, schema, t)) ||
        asprintf(&qn, "%s.%s.%s", db, schema, table) < 0) {
        dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        goto fail;
    }
    json_object_set_new(spec, "qualified_name", json_string(qn));
    if (json_object_get(t, "sample_rows"))
        json_object_set(spec, "sample_rows", json_object_get(t, "sample_rows"));
    if (s3csv_target_path(g, root,
                          json_string_value(json_object_get(t, "location")),
                          target, spec, err) < 0)
        goto fail;
    free(qn);
    *out = spec;
    return 0;
fail:
    json_decref(spec);
    free(qn);
    return -1;
}

static int s3csv_read_spec(void *inst, struct dsb_call *call, const char *db,
                           const char *schema, const char *table,
                           const struct dsb_read_target *target, json_t **out,
                           struct dsb_error *err)
{
    struct s3csv_inst in = s3csv_in_call(inst, call);
    const struct s3csv_root *root;
    struct s3csv_found f;
    json_t *t = NULL;
    int rc;

    if (s3csv_find(&in, db, schema, table, &root, &t, &f, err) < 0)
        return -1;
    rc = s3csv_spec_of(&in, db, schema, table, t, target, out, err);
    json_decref(t);
    return rc;
}

/* The keys of describe_table's TABLE a read spec needs beyond plugin.h's. */
static int s3csv_described_enough(const json_t *t)
{
    return json_is_object(json_object_get(t, "csv_options")) &&
           json_is_boolean(json_object_get(t, "header_mismatch")) &&
           json_is_string(json_object_get(t, "location")) &&
           json_is_array(json_object_get(t, "notes"));
}

/* No sampling: the broker's description holds what sampling found. */
static int s3csv_read_spec_described(void *inst, struct dsb_call *call,
                                     const char *db, const char *schema,
                                     const char *table, const json_t *described,
                                     const struct dsb_read_target *target,
                                     json_t **out, struct dsb_error *err)
{
    if (!s3csv_described_enough(described))
        return s3csv_read_spec(inst, call, db, schema, table, target, out, err);
    return s3csv_spec_of(inst, db, schema, table, described, target, out, err);
}

static const struct dsb_source_plugin s3csv_plugin = {
    .abi = DSB_PLUGIN_HEADER,
    .name = "s3csv",
    .version = "1.0.0",
    .description = "CSV files in S3 buckets and local directories",
    .options = s3csv_options,
    .default_network = "public",
    .open = s3csv_open,
    .close = s3csv_close,
    .check = s3csv_check,
    .list_databases = s3csv_list_databases,
    .list_schemas = s3csv_list_schemas,
    .list_tables = s3csv_list_tables,
    .describe_table = s3csv_describe,
    .read_spec = s3csv_read_spec,
    .read_spec_described = s3csv_read_spec_described,
    .describe_tables = s3csv_describe_many,
    .check_options = s3csv_check_options,
};

DSB_PLUGIN_DEFINE(s3csv_plugin);
