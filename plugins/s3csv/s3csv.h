/*
 * s3csv.so internals, shared by the plugin's files.  Nothing here is
 * exported from the .so (the build hides every symbol but the entry).
 *
 *   csv.c      RFC 4180 records from a byte buffer (over libcsv)
 *   infer.c    column names and Spark types from sampled records
 *   listing.c  objects under a root: S3 ListObjectsV2 (expat) or a directory
 *   layout.c   roots, schemas and tables from object listings
 *   sample.c   the first bytes of a file (ranged GET, pread, zlib)
 *   s3csv.c    options, the vtable and the JSON outputs
 */
#ifndef S3CSV_H
#define S3CSV_H

#include <stddef.h>
#include <stdint.h>

#include "dsbroker/plugin.h"

/* ------------------------------------------------------------- csv.c */

struct s3csv_dialect {
    unsigned char delim;
    unsigned char quote;
    unsigned char escape; /* == quote: doubled quotes (RFC 4180) */
    int latin1;           /* bytes are ISO-8859-1, else UTF-8 */
};

struct s3csv_record {
    char **fields; /* NUL-terminated UTF-8 */
    size_t n;
};

enum s3csv_eol {
    S3CSV_EOL_LF = 0, /* also: no line break at all */
    S3CSV_EOL_CRLF,
    S3CSV_EOL_CR,
};

struct s3csv_records {
    struct s3csv_record *v;
    size_t n, cap;
    int multiline;      /* a quoted field held a line break */
    int bom;            /* a UTF-8 byte order mark was skipped */
    enum s3csv_eol eol; /* how the first record ends */
};

/*
 * Parses up to max_records records of buf[0..len).  A leading UTF-8 BOM is
 * skipped (out->bom); CRLF, CR and LF end records (out->eol: the first
 * line break outside quotes); blank lines are skipped; quoted
 * fields may hold delimiters, quotes (doubled, or escaped with
 * d->escape) and line breaks.  With `truncated` the last record is dropped
 * unless the buffer ends with a line break (the cut may be inside it).
 * Latin-1 input is converted to UTF-8; invalid UTF-8 becomes U+FFFD.
 * Returns 0, or -1 when memory is exhausted.  out is zeroed first and must
 * be released with s3csv_records_free in both cases.
 */
int s3csv_csv_parse(const char *buf, size_t len, const struct s3csv_dialect *d,
                    int truncated, size_t max_records,
                    struct s3csv_records *out);
void s3csv_records_free(struct s3csv_records *r);

/* ----------------------------------------------------------- infer.c */

enum s3csv_type {
    S3CSV_T_NULL = 0, /* only empty values so far */
    S3CSV_T_BOOLEAN,
    S3CSV_T_INTEGER,
    S3CSV_T_LONG,
    S3CSV_T_DECIMAL,
    S3CSV_T_DOUBLE,
    S3CSV_T_DATE,
    S3CSV_T_TIMESTAMP,
    S3CSV_T_STRING,
};

struct s3csv_coltype {
    enum s3csv_type t;
    int idigits; /* integer digits seen (numbers) */
    int scale;   /* fraction digits seen (decimals) */
};

/* Type of one value (empty: S3CSV_T_NULL). */
struct s3csv_coltype s3csv_type_of(const char *v);
/* Widens *acc so it also holds a value of type v (see docs/sources/s3csv.md).
 */
void s3csv_type_merge(struct s3csv_coltype *acc, struct s3csv_coltype v);
/* Our type name ("decimal(10,2)") and the Spark DDL name ("decimal(10,2)",
 * "int", "bigint"...), written into buf; returns buf. */
const char *s3csv_type_name(const struct s3csv_coltype *c, char *buf, size_t n);
const char *s3csv_spark_type(const struct s3csv_coltype *c, char *buf,
                             size_t n);

/*
 * Columns of a sample: names from the header record (empty names become
 * _cN with N the 0-based position, duplicates — case-insensitive, as Spark
 * compares them — get _2, _3...), types from the other records.  Returns a
 * new JSON array of COLUMN objects (plugin.h) and appends human-readable
 * remarks (renames, ragged rows, empty samples, a BOM, CRLF or CR line
 * ends) to `notes`.  NULL when memory is exhausted.
 */
json_t *s3csv_infer_columns(const struct s3csv_records *r, json_t *notes);

/* --------------------------------------------------------- listing.c */

struct s3csv_obj {
    char *key; /* relative to the root: "sales/orders.csv" */
    int64_t size;
};

struct s3csv_listing {
    struct s3csv_obj *objs;
    size_t n_objs, cap_objs;
    char **dirs; /* with shallow listings: "sales" (relative, no '/') */
    size_t n_dirs, cap_dirs;
    unsigned pages;    /* S3 pages fetched */
    size_t n_unlisted; /* S3: keys under sub left out (folder markers, hidden
                          names); with them the folder exists */
};

struct s3csv_root {
    char *name; /* database name */
    char *uri;  /* as configured, with a trailing '/' */
    int is_s3;
    char *bucket; /* S3 */
    char *prefix; /* S3: "" or "raw/2024/" */
    char *dir;    /* local: real path, no trailing '/' */
};

struct s3csv_inst {
    const struct dsb_host *host;
    const struct dsb_source_info *info;
    struct s3csv_dialect dialect;
    size_t sample_bytes;
    size_t max_parts_checked;
    char *endpoint_url; /* NULL: the broker's */
    char *region;       /* NULL: the broker's */
    struct s3csv_root *roots;
    size_t n_roots;
    int sample_rows;  /* records shown as sample rows; 0: none */
    int column_stats; /* statistics of the sample in descriptions */
    json_t *mask;     /* mask_columns: fnmatch globs of column names */
    /* NULL in the instance.  Each slot works on a shallow copy of it that
     * carries its call (s3csv_in_call), so that the AWS requests deep in
     * listing and sampling stay within the call's deadline: the instance
     * itself is shared by concurrent calls. */
    struct dsb_call *call;
};

/* The instance as the call `call` sees it (see s3csv_inst.call). */
static inline struct s3csv_inst s3csv_in_call(const void *inst,
                                              struct dsb_call *call)
{
    struct s3csv_inst g = *(const struct s3csv_inst *)inst;

    g.call = call;
    return g;
}

/*
 * Objects under root/sub (sub "" or "sales/"), keys relative to the root.
 * recursive: every object below; else only direct children, and the child
 * folders in dirs.  Names starting with '.' or '_' are skipped (Spark's
 * hidden files).  Local roots never leave the root through symlinks: an
 * entry leading outside is skipped (and logged), a sub leading outside is
 * DSB_E_PERMISSION (s3csv_local_error).  Results are sorted by key.  0, or
 * -1 with err set (DSB_E_NOT_FOUND for a missing bucket or directory), out
 * then empty.  Release with s3csv_listing_free.
 */
int s3csv_list(const struct s3csv_inst *in, const struct s3csv_root *root,
               const char *sub, int recursive, struct s3csv_listing *out,
               struct dsb_error *err);
void s3csv_listing_free(struct s3csv_listing *l);

/* The real path of a local root into top (PATH_MAX bytes); 0, or -1 with
 * err set (DSB_E_NOT_FOUND). */
int s3csv_local_top(const struct s3csv_root *root, char *top,
                    struct dsb_error *err);
/*
 * The one containment check of local roots, used at every level (schema,
 * table, part file, read spec path): opens name (relative to dirfd, or an
 * absolute path with AT_FDCWD) with flags | O_CLOEXEC, then checks that the
 * file opened, every symlink resolved, lies inside top (s3csv_local_top).
 * The new fd (the caller closes it), or -1 with errno set: EXDEV when it
 * leads outside the root.
 */
int s3csv_local_open(const char *top, int dirfd, const char *name, int flags);
/* Sets err for a failed s3csv_local_open of path: DSB_E_PERMISSION with a
 * hint for EXDEV, DSB_E_NOT_FOUND for a missing file.  Returns -1. */
int s3csv_local_error(const char *top, const char *path, int errnum,
                      struct dsb_error *err);
/* Adds one object / folder (copies key); -1 when memory is exhausted. */
int s3csv_listing_add(struct s3csv_listing *l, const char *key, size_t klen,
                      int64_t size);
int s3csv_listing_add_dir(struct s3csv_listing *l, const char *name,
                          size_t nlen);

/* ---------------------------------------------------------- values.c */

/*
 * Values of a description from its parsed sample r (header first) and its
 * columns cols (s3csv_infer_columns', in header order; modified): masked
 * columns get "masked": true; with column_stats the others get "stats" of
 * the sample.  Returns the "sample_rows" object (a new reference) when
 * sample_rows > 0 and the sample has records, else NULL.
 */
json_t *s3csv_values(const struct s3csv_inst *g, const struct s3csv_records *r,
                     json_t *cols);

/* ---------------------------------------------------------- sample.c */

/*
 * The first in->sample_bytes bytes of the object key (relative to root),
 * decompressed when the key ends in .gz.  *buf is malloc'd (NUL-terminated);
 * *truncated is set when the file goes on beyond the sample.  0, or -1
 * with err set.
 */
int s3csv_sample(const struct s3csv_inst *in, const struct s3csv_root *root,
                 const char *key, int64_t size, char **buf, size_t *len,
                 int *truncated, struct dsb_error *err);

/* ---------------------------------------------------------- layout.c */

struct s3csv_table {
    char *name;
    int folder;              /* kind "folder" (part files) rather than "file" */
    char *key;               /* file key, or folder prefix with '/' */
    struct s3csv_obj *parts; /* first object of the table's range */
    size_t n_range; /* objects in the range (parts and ignored files) */
    size_t n_parts;
    int64_t size;
    size_t ignored;     /* files below the folder that are not parts */
    int gz, plain;      /* parts ending in .csv.gz / .csv */
    char *renamed_from; /* set when the name had to be made unique */
};

struct s3csv_tables {
    struct s3csv_table *v;
    size_t n;
    struct s3csv_listing listing; /* owns the objects */
};

/* Validates and parses roots (DSB_E_CONFIG on a bad one); names them. */
int s3csv_roots_parse(struct s3csv_inst *in, const json_t *roots,
                      struct dsb_error *err);
void s3csv_roots_free(struct s3csv_inst *in);
const struct s3csv_root *s3csv_root_find(const struct s3csv_inst *in,
                                         const char *db, struct dsb_error *err);

/* Schema names of a root, sorted; a new JSON array of strings. */
int s3csv_schemas(const struct s3csv_inst *in, const struct s3csv_root *root,
                  json_t **names, struct dsb_error *err);
/* Tables of a schema, sorted by name, names unique.  DSB_E_NOT_FOUND when
 * the schema does not exist.  Release with s3csv_tables_free. */
int s3csv_tables_of(const struct s3csv_inst *in, const struct s3csv_root *root,
                    const char *schema, struct s3csv_tables *out,
                    struct dsb_error *err);
void s3csv_tables_free(struct s3csv_tables *t);

/* The next part file of t from *cursor (0 to start); NULL at the end. */
const struct s3csv_obj *s3csv_table_next_part(const struct s3csv_table *t,
                                              size_t *cursor);

/* ------------------------------------------------------------ pool.c */

#define S3CSV_SAMPLERS 4 /* object reads of one call at once */

/* Runs fn(ctx, i) for every i in [0, n), on at most S3CSV_SAMPLERS
 * threads (the calling one included); returns when all are done.  fn must
 * be safe to run concurrently for different i. */
void s3csv_parallel(size_t n, void (*fn)(void *ctx, size_t i), void *ctx);

/* 1 when name ends in .csv or .csv.gz (case-insensitive). */
int s3csv_is_csv(const char *name);

#endif
