/*
 * glue.so internals, shared by the plugin's files (hidden from the .so's
 * exports by the build).
 *
 *   catalog.c  Glue API calls: GetDatabases / GetTables (every page),
 *              GetTable, through host->aws_request
 *   types.c    Hive type strings -> Spark DDL types
 *   table.c    a Glue Table -> TABLE JSON, reader format, read specs
 *   stats.c    column statistics and masks of descriptions
 *   glue.c     options, the vtable
 */
#ifndef GLUE_H
#define GLUE_H

#include <stddef.h>

#include "dsbroker/plugin.h"

struct glue_inst {
    const struct dsb_host *host;
    char *region;          /* NULL: the broker's */
    char *catalog_id;      /* NULL: the caller's account */
    char *endpoint_url;    /* NULL: the broker's */
    char *s3_endpoint_url; /* for s3a reads on local Spark; NULL: none */
    json_t *include;       /* array of fnmatch globs; empty: all */
    json_t *exclude;
    int column_stats; /* GetColumnStatisticsForTable in descriptions */
    json_t *mask;     /* mask_columns: fnmatch globs of column names */
};

/* ------------------------------------------------------------ stats.c */

/* Completes a description (TABLE tj of database db, modified): "masked":
 * true on the columns mask_columns names; with column_stats, the other
 * columns' "stats" from GetColumnStatisticsForTable (a refusal leaves
 * "stats_error" and no statistics, not an error). */
void glue_describe_extras(const struct glue_inst *g, struct dsb_call *call,
                          const char *db, json_t *tj);

/* ---------------------------------------------------------- catalog.c */

/*
 * One Glue JSON 1.1 call (AWSGlue.<op>); body is borrowed.  *out is a new
 * reference to the parsed answer.  -1 with err mapped from AWS otherwise.
 */
int glue_call(const struct glue_inst *g, struct dsb_call *call, const char *op,
              json_t *body, json_t **out, struct dsb_error *err);
/* Every Database object of the catalog (all pages), visible ones only. */
int glue_databases(const struct glue_inst *g, struct dsb_call *call,
                   json_t **list, struct dsb_error *err);
/* Every Table object of db (all pages); filter (may be NULL) becomes a Glue
 * Expression when it is a plain name fragment. */
int glue_tables(const struct glue_inst *g, struct dsb_call *call,
                const char *db, const char *filter, json_t **list,
                struct dsb_error *err);
/* The Table objects of db named in names[0..n) that exist, in one
 * GetTables page walk (narrowed by an Expression when the names are
 * plain). */
int glue_tables_named(const struct glue_inst *g, struct dsb_call *call,
                      const char *db, const char *const *names, size_t n,
                      json_t **list, struct dsb_error *err);
/* One Table; DSB_E_NOT_FOUND when missing. */
int glue_table(const struct glue_inst *g, struct dsb_call *call, const char *db,
               const char *name, json_t **table, struct dsb_error *err);
/* 1 when db passes the include/exclude globs (case-insensitive). */
int glue_db_visible(const struct glue_inst *g, const char *db);

/* ------------------------------------------------------------ types.c */

/*
 * The Spark DDL type for a Hive type string ("array<struct<a:int>>"),
 * malloc'd; NULL when it cannot be parsed (the caller says "string").
 */
char *glue_spark_type(const char *hive);

/* ------------------------------------------------------------ table.c */

/* The reader format of a Glue table: "csv", "parquet", "orc", "json",
 * "avro", "iceberg", "delta", "hudi", "view" or "unknown". */
const char *glue_format(const json_t *table);
/* TABLE (plugin.h) for a Glue Table object, a new reference: a listing's
 * item. */
json_t *glue_table_json(const json_t *table);
/* describe_table's TABLE: glue_table_json plus, for a csv table,
 * "csv_options" (Spark's reader options from the SerDe), so that a read
 * spec needs nothing else.  A new reference; NULL when the table has no
 * name or memory ran out. */
json_t *glue_describe_json(const json_t *table);
/* 1 when TABLE tj (borrowed) holds what glue_read_spec_described needs. */
int glue_describes_enough(const json_t *tj);
/* A read spec for table of db on target (see docs/sources/glue.md). */
int glue_read_spec_json(const struct glue_inst *g, const char *db,
                        const json_t *table,
                        const struct dsb_read_target *target, json_t **out,
                        struct dsb_error *err);
/* The same from glue_describe_json's TABLE (borrowed, not modified). */
int glue_read_spec_described(const struct glue_inst *g, const char *db,
                             const json_t *tj,
                             const struct dsb_read_target *target, json_t **out,
                             struct dsb_error *err);

#endif
