/*
 * Catalog listings: one query per call, every caller-supplied name a
 * parameter.  Queries return a single row holding a JSON array built by the
 * server (json_agg), which keeps tables and all their columns one round
 * trip.  Paging is keyset on the name (ordered by the `name` type's byte
 * order); the page token is the hex of the last name of the page.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "pg_sql.h"

/* Params: $1 include regex[], $2 exclude regex[], $3 filter, $4 after,
 * $5 limit. */
static const char pg_sql_databases[] = PG_SQL_DATABASES;

static const char pg_sql_schemas[] = PG_SQL_SCHEMAS;

/*
 * Tables of schema $1 with their columns.  $2 filter, $3 after, $4 exact
 * name, $5 limit.  Row: (state 'ok'|'missing'|'denied', json).  Table:
 * [name, relkind, comment, rows, bytes, pk, qualified, readable, columns];
 * column: [name, position, format_type, base type, base typtype, array
 * element type, typmod, nullable, default, comment].  Domains are resolved
 * to their base type (through domains over domains) with the typmod of the
 * nearest constrained level.
 */
static const char pg_sql_tables[] = PG_SQL_TABLES;

/* ------------------------------------------------------------ paging */

static char *pg_token_encode(const char *name)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(name);
    char *t = malloc(2 * n + 1);

    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        t[2 * i] = hex[(unsigned char)name[i] >> 4];
        t[2 * i + 1] = hex[(unsigned char)name[i] & 15];
    }
    t[2 * n] = '\0';
    return t;
}

static int pg_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes a page token into out (PG_NAME_MAX + 1 bytes).  -1 when the
 * token is not one of ours. */
static int pg_token_decode(const char *tok, char *out)
{
    size_t n = strlen(tok);

    if (n == 0 || n % 2 || n / 2 > PG_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = pg_hexval(tok[2 * i]), lo = pg_hexval(tok[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0)
            return -1;
        out[i] = (char)(hi << 4 | lo);
    }
    out[n / 2] = '\0';
    return 0;
}

struct pg_page {
    char after[PG_NAME_MAX + 1];
    char limit[16];
    size_t size;
};

static int pg_page_init(struct pg_page *pg, const struct dsb_list_request *req,
                        struct dsb_error *err)
{
    pg->size = req->page_size == 0 || req->page_size > PG_MAX_PAGE
                   ? PG_MAX_PAGE
                   : req->page_size;
    snprintf(pg->limit, sizeof(pg->limit), "%zu", pg->size + 1);
    pg->after[0] = '\0';
    if (req->page_token && pg_token_decode(req->page_token, pg->after) < 0)
        return dsb_error_set(err, DSB_E_INVALID, "invalid page token");
    return 0;
}

/* Trims items to the page size and sets next_page_token from the last
 * item kept.  Takes `items`. */
static json_t *pg_page_result(const struct pg_page *pg, json_t *items)
{
    json_t *out, *next = json_null();
    char *tok;

    if (json_array_size(items) > pg->size) {
        json_array_remove(items, pg->size);
        json_t *last = json_array_get(items, pg->size - 1);
        tok = pg_token_encode(
            json_string_value(json_object_get(last, "name")));
        next = tok ? json_string(tok) : json_null();
        free(tok);
    }
    out = json_pack("{s:o, s:o}", "items", items, "next_page_token", next);
    return out;
}

/* --------------------------------------------------------- the queries */

/* Runs sql and parses column `col` of its single row as JSON.  Optionally
 * copies column 0 into state. */
static json_t *pg_query_json(struct pg_source *s, struct dsb_call *call,
                             const char *db, const char *sql,
                             const char *const *params, int n, int col,
                             char *state, size_t state_len,
                             struct dsb_error *err)
{
    PGresult *res = pg_query(s, call, db, sql, n, params, err);
    json_t *j = NULL;
    json_error_t je;

    if (!res)
        return NULL;
    if (PQntuples(res) != 1) {
        dsb_error_set(err, DSB_E_INTERNAL, "unexpected catalog answer");
        goto fail;
    }
    if (state)
        snprintf(state, state_len, "%s", PQgetvalue(res, 0, 0));
    j = json_loadb(PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col),
                   0, &je);
    if (!j)
        dsb_error_set(err, DSB_E_INTERNAL, "unreadable catalog answer: %s",
                      je.text);
fail:
    PQclear(res);
    return j;
}

/* [name, comment, accessible] rows -> items. */
static json_t *pg_name_items(json_t *rows)
{
    json_t *items = json_array(), *r;
    size_t i;

    json_array_foreach(rows, i, r) {
        json_array_append_new(
            items, json_pack("{s:O, s:O, s:O}", "name", json_array_get(r, 0),
                             "comment", json_array_get(r, 1), "accessible",
                             json_array_get(r, 2)));
    }
    return items;
}

static int pg_list_names(struct pg_source *s, struct dsb_call *call,
                         const char *db, const char *sql, const json_t *inc,
                         const json_t *exc,
                         const struct dsb_list_request *req, json_t **out,
                         struct dsb_error *err)
{
    struct pg_page pg;
    char *ri = pg_patterns_regex_array(inc), *re = pg_patterns_regex_array(exc);
    json_t *rows = NULL;
    int rc = -1;

    if (pg_page_init(&pg, req, err) < 0)
        goto fail;
    const char *params[5] = {ri, re, req->name_filter,
                             pg.after[0] ? pg.after : NULL, pg.limit};
    rows = pg_query_json(s, call, db, sql, params, 5, 0, NULL, 0, err);
    if (!rows)
        goto fail;
    *out = pg_page_result(&pg, pg_name_items(rows));
    rc = *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
fail:
    json_decref(rows);
    free(ri);
    free(re);
    return rc;
}

int pg_list_databases(struct pg_source *s, struct dsb_call *call,
                      const struct dsb_list_request *req, json_t **out,
                      struct dsb_error *err)
{
    return pg_list_names(s, call, NULL, pg_sql_databases, s->cfg.include_db,
                         s->cfg.exclude_db, req, out, err);
}

static int pg_check_database(struct pg_source *s, const char *db,
                             struct dsb_error *err)
{
    if (!db || !*db)
        return dsb_error_set(err, DSB_E_INVALID, "a database is required");
    if (pg_allowed_database(&s->cfg, db))
        return 0;
    dsb_error_set(err, DSB_E_NOT_FOUND, "database \"%s\" does not exist", db);
    dsb_error_detail(err, "the source's include/exclude_databases hide it");
    return -1;
}

static int pg_check_schema(struct pg_source *s, const char *db,
                           const char *schema, struct dsb_error *err)
{
    if (pg_check_database(s, db, err) < 0)
        return -1;
    if (!schema || !*schema)
        return dsb_error_set(err, DSB_E_INVALID, "a schema is required");
    if (pg_allowed_schema(&s->cfg, schema))
        return 0;
    dsb_error_set(err, DSB_E_NOT_FOUND, "schema \"%s\" does not exist", schema);
    dsb_error_detail(err, "the source's include/exclude_schemas hide it");
    return -1;
}

int pg_list_schemas(struct pg_source *s, struct dsb_call *call,
                    const struct dsb_list_request *req, json_t **out,
                    struct dsb_error *err)
{
    if (pg_check_database(s, req->database, err) < 0)
        return -1;
    return pg_list_names(s, call, req->database, pg_sql_schemas,
                         s->cfg.include_schema, s->cfg.exclude_schema, req,
                         out, err);
}

/* ------------------------------------------------------------- tables */

static const char *pg_kind_name(const char *relkind)
{
    switch (relkind ? relkind[0] : 0) {
    case 'p':
        return "partitioned_table";
    case 'v':
        return "view";
    case 'm':
        return "materialized_view";
    case 'f':
        return "foreign_table";
    default:
        return "table";
    }
}

/* Sets key to a new reference to v (keys are ours: ASCII, no check). */
static void pg_set(json_t *o, const char *key, json_t *v)
{
    json_object_set_nocheck(o, key, v ? v : json_null());
}

/* [name, position, format_type, base, typtype, elem, typmod, nullable,
 *  default, comment] -> COLUMN.  A type Spark cannot read is cast to text
 * by the read spec's dbtable, so it reaches Spark as a string; the column
 * then carries "spark_cast": "text".  Built key by key: this runs for every
 * column of every listed table. */
static json_t *pg_column(const json_t *r)
{
    char buf[64];
    const char *spark = pg_spark_type(
        json_string_value(json_array_get(r, 3)),
        json_string_value(json_array_get(r, 4)),
        json_string_value(json_array_get(r, 5)),
        (int)json_integer_value(json_array_get(r, 6)), buf, sizeof(buf));
    json_t *c = json_object();

    if (!c)
        return NULL;
    pg_set(c, "name", json_array_get(r, 0));
    pg_set(c, "position", json_array_get(r, 1));
    pg_set(c, "source_type", json_array_get(r, 2));
    json_object_set_new_nocheck(c, "spark_type",
                                json_string(spark ? spark : "string"));
    pg_set(c, "nullable", json_array_get(r, 7));
    pg_set(c, "default", json_array_get(r, 8));
    pg_set(c, "comment", json_array_get(r, 9));
    pg_set(c, "base_type", json_array_get(r, 3));
    if (!spark)
        json_object_set_new_nocheck(c, "spark_cast", json_string("text"));
    return c;
}

static json_t *pg_columns(const json_t *rows)
{
    json_t *cols = json_array(), *r;
    size_t i;

    json_array_foreach(rows, i, r) json_array_append_new(cols, pg_column(r));
    return cols;
}

/* [name, relkind, comment, rows, bytes, pk, qualified, readable, columns]
 * -> TABLE (with "qualified_name" and "readable"). */
static json_t *pg_table(const json_t *r)
{
    json_t *pk = json_array_get(r, 5);

    return json_pack(
        "{s:O, s:s, s:O, s:O, s:O, s:o, s:O, s:O, s:o}", "name",
        json_array_get(r, 0), "kind",
        pg_kind_name(json_string_value(json_array_get(r, 1))), "comment",
        json_array_get(r, 2), "row_estimate", json_array_get(r, 3),
        "size_bytes", json_array_get(r, 4), "primary_key",
        json_is_array(pk) ? json_incref(pk) : json_array(), "qualified_name",
        json_array_get(r, 6), "readable", json_array_get(r, 7), "columns",
        pg_columns(json_array_get(r, 8)));
}

/* Runs the tables query; on success *rows is the array of table rows. */
static int pg_tables_query(struct pg_source *s, struct dsb_call *call,
                           const char *db, const char *schema,
                           const char *const params[5], json_t **rows,
                           struct dsb_error *err)
{
    char state[16] = "";

    *rows = pg_query_json(s, call, db, pg_sql_tables, params, 5, 1, state,
                          sizeof(state), err);
    if (!*rows)
        return -1;
    if (!strcmp(state, "ok"))
        return 0;
    json_decref(*rows);
    *rows = NULL;
    if (!strcmp(state, "denied")) {
        dsb_error_set(err, DSB_E_PERMISSION,
                      "permission denied for schema %s", schema);
        snprintf(err->upstream, sizeof(err->upstream), "42501");
        dsb_error_hint(err, "GRANT USAGE ON SCHEMA to the source's role");
        return -1;
    }
    dsb_error_set(err, DSB_E_NOT_FOUND, "schema \"%s\" does not exist",
                  schema);
    snprintf(err->upstream, sizeof(err->upstream), "3F000");
    return -1;
}

int pg_list_tables(struct pg_source *s, struct dsb_call *call,
                   const struct dsb_list_request *req, json_t **out,
                   struct dsb_error *err)
{
    struct pg_page pg;
    json_t *rows, *items, *r;
    size_t i;

    if (pg_check_schema(s, req->database, req->schema, err) < 0 ||
        pg_page_init(&pg, req, err) < 0)
        return -1;
    const char *params[5] = {req->schema, req->name_filter,
                             pg.after[0] ? pg.after : NULL, NULL, pg.limit};
    if (pg_tables_query(s, call, req->database, req->schema, params, &rows,
                        err) < 0)
        return -1;
    items = json_array();
    json_array_foreach(rows, i, r) json_array_append_new(items, pg_table(r));
    json_decref(rows);
    *out = pg_page_result(&pg, items);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

int pg_describe(struct pg_source *s, struct dsb_call *call,
                const char *database, const char *schema, const char *table,
                json_t **out, struct dsb_error *err)
{
    const char *params[5] = {schema, NULL, NULL, table, "1"};
    json_t *rows;

    if (pg_check_schema(s, database, schema, err) < 0)
        return -1;
    if (!table || !*table)
        return dsb_error_set(err, DSB_E_INVALID, "a table is required");
    if (pg_tables_query(s, call, database, schema, params, &rows, err) < 0)
        return -1;
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        dsb_error_set(err, DSB_E_NOT_FOUND, "relation \"%s.%s\" does not "
                      "exist", schema, table);
        snprintf(err->upstream, sizeof(err->upstream), "42P01");
        return -1;
    }
    *out = pg_table(json_array_get(rows, 0));
    json_decref(rows);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}
