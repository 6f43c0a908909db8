/*
 * Catalog listings: one query per call, every caller-supplied name a
 * parameter.  Databases and schemas come back as one small JSON array
 * (json_agg); tables come back as plain rows, one per column, turned into
 * JSON here with no parser in between (parsing the server's json_agg was
 * most of the plugin's CPU on wide schemas).  Paging is keyset on the name
 * (ordered by the `name` type's byte order); the page token is the hex of
 * the last name of the page.
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
 * names (text[]: a describe, partitions included), $5 limit (in tables).  One
 * row per column, ordered by table name then position; the table's own fields
 * repeat on each of its rows; a table without columns has one row with NULL
 * column fields; no table at all gives one row with only the state.  Fields:
 * enum pg_tcol.  Domains are resolved to their base type (through domains over
 * domains) with the typmod of the nearest constrained level.
 */
static const char pg_sql_tables[] = PG_SQL_TABLES;

enum pg_tcol {
    PG_T_STATE, /* 'ok' | 'missing' | 'denied' */
    PG_T_NAME,  /* NULL: no table */
    PG_T_KIND,  /* relkind */
    PG_T_COMMENT,
    PG_T_ROWS,      /* estimate, int8 or NULL */
    PG_T_BYTES,     /* int8 or NULL */
    PG_T_PK,        /* conkey of the primary key, int2[] or NULL */
    PG_T_QUALIFIED, /* "schema"."table" quoted as needed */
    PG_T_READABLE,  /* SELECT privilege */
    PG_C_NAME,
    PG_C_POSITION, /* attnum; NULL: the table has no column */
    PG_C_SOURCE_TYPE,
    PG_C_BASE, /* base type name (domains resolved) */
    PG_C_TYPTYPE,
    PG_C_ELEM, /* array element type name, or NULL */
    PG_C_TYPMOD,
    PG_C_NULLABLE,
    PG_C_DEFAULT,
    PG_C_COMMENT,
    PG_T_NFIELDS
};

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
        tok = pg_token_encode(json_string_value(json_object_get(last, "name")));
        next = tok ? json_string(tok) : json_null();
        free(tok);
    }
    out = json_pack("{s:o, s:o}", "items", items, "next_page_token", next);
    return out;
}

/* --------------------------------------------------------- the queries */

json_t *pg_query_json(struct pg_source *s, struct dsb_call *call,
                      const char *db, const char *sql,
                      const char *const *params, int n, struct dsb_error *err)
{
    PGresult *res = pg_query(s, call, db, sql, n, params, err);
    json_t *j = NULL;
    json_error_t je;

    if (!res)
        return NULL;
    if (PQntuples(res) != 1 || PQnfields(res) != 1) {
        dsb_error_set(err, DSB_E_INTERNAL, "unexpected catalog answer");
        goto fail;
    }
    j = json_loadb(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), 0,
                   &je);
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

    json_array_foreach(rows, i, r)
    {
        json_array_append_new(
            items, json_pack("{s:O, s:O, s:O}", "name", json_array_get(r, 0),
                             "comment", json_array_get(r, 1), "accessible",
                             json_array_get(r, 2)));
    }
    return items;
}

static int pg_list_names(struct pg_source *s, struct dsb_call *call,
                         const char *db, const char *sql, const json_t *inc,
                         const json_t *exc, const struct dsb_list_request *req,
                         json_t **out, struct dsb_error *err)
{
    struct pg_page pg;
    char *ri = pg_patterns_regex_array(inc), *re = pg_patterns_regex_array(exc);
    json_t *rows = NULL;
    int rc = -1;

    if (pg_page_init(&pg, req, err) < 0)
        goto fail;
    const char *params[5] = {ri, re, req->name_filter,
                             pg.after[0] ? pg.after : NULL, pg.limit};
    rows = pg_query_json(s, call, db, sql, params, 5, err);
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
                         s->cfg.include_schema, s->cfg.exclude_schema, req, out,
                         err);
}

/* ------------------------------------------------------------- tables */

/* Reads a PG_SQL_TABLES answer.  Strings are checked as UTF-8 (a
 * SQL_ASCII database can hold anything); `bad` records a value jansson
 * refused or an allocation that failed. */
struct pg_rows {
    const PGresult *res;
    int bad;
};

static json_t *pg_jstr(struct pg_rows *b, int row, int col)
{
    json_t *v;

    if (PQgetisnull(b->res, row, col))
        return json_null();
    v = json_stringn(PQgetvalue(b->res, row, col),
                     (size_t)PQgetlength(b->res, row, col));
    b->bad |= !v;
    return v;
}

static json_t *pg_jint(const struct pg_rows *b, int row, int col)
{
    if (PQgetisnull(b->res, row, col))
        return json_null();
    return json_integer(strtoll(PQgetvalue(b->res, row, col), NULL, 10));
}

static json_t *pg_jbool(const struct pg_rows *b, int row, int col)
{
    if (PQgetisnull(b->res, row, col))
        return json_null();
    return json_boolean(PQgetvalue(b->res, row, col)[0] == 't');
}

static const char *pg_val(const struct pg_rows *b, int row, int col)
{
    return PQgetisnull(b->res, row, col) ? NULL : PQgetvalue(b->res, row, col);
}

/* Sets key (ours: ASCII, no check) to v, taking it; a NULL v (out of
 * memory, bad UTF-8) marks the answer bad. */
static void pg_put(struct pg_rows *b, json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new_nocheck(o, key, v) < 0)
        b->bad = 1;
}

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

/* The column of a row as COLUMN.  A type Spark cannot read is cast to text
 * by the read spec's dbtable, so it reaches Spark as a string; the column
 * then carries "spark_cast": "text".  Runs for every listed column. */
static json_t *pg_row_column(struct pg_rows *b, int row)
{
    char buf[64];
    const char *spark = pg_spark_type(
        pg_val(b, row, PG_C_BASE), pg_val(b, row, PG_C_TYPTYPE),
        pg_val(b, row, PG_C_ELEM),
        (int)strtol(PQgetvalue(b->res, row, PG_C_TYPMOD), NULL, 10), buf,
        sizeof(buf));
    json_t *c = json_object();

    if (!c)
        return NULL;
    pg_put(b, c, "name", pg_jstr(b, row, PG_C_NAME));
    pg_put(b, c, "position", pg_jint(b, row, PG_C_POSITION));
    pg_put(b, c, "source_type", pg_jstr(b, row, PG_C_SOURCE_TYPE));
    pg_put(b, c, "spark_type", json_string(spark ? spark : "string"));
    pg_put(b, c, "nullable", pg_jbool(b, row, PG_C_NULLABLE));
    pg_put(b, c, "default", pg_jstr(b, row, PG_C_DEFAULT));
    pg_put(b, c, "comment", pg_jstr(b, row, PG_C_COMMENT));
    pg_put(b, c, "base_type", pg_jstr(b, row, PG_C_BASE));
    if (!spark)
        pg_put(b, c, "spark_cast", json_string("text"));
    return c;
}

/* The table fields of a row as TABLE (with "qualified_name" and
 * "readable"), with empty "primary_key" and "columns" to be filled. */
static json_t *pg_row_table(struct pg_rows *b, int row)
{
    json_t *t = json_object();

    if (!t)
        return NULL;
    pg_put(b, t, "name", pg_jstr(b, row, PG_T_NAME));
    pg_put(b, t, "kind", json_string(pg_kind_name(pg_val(b, row, PG_T_KIND))));
    pg_put(b, t, "comment", pg_jstr(b, row, PG_T_COMMENT));
    pg_put(b, t, "row_estimate", pg_jint(b, row, PG_T_ROWS));
    pg_put(b, t, "size_bytes", pg_jint(b, row, PG_T_BYTES));
    pg_put(b, t, "primary_key", json_array());
    pg_put(b, t, "qualified_name", pg_jstr(b, row, PG_T_QUALIFIED));
    pg_put(b, t, "readable", pg_jbool(b, row, PG_T_READABLE));
    pg_put(b, t, "columns", json_array());
    return t;
}

/* The name of the column at `position`, borrowed, or NULL. */
static json_t *pg_column_at(const json_t *cols, long position)
{
    size_t i;
    json_t *c;

    json_array_foreach(cols, i, c)
    {
        if (json_integer_value(json_object_get(c, "position")) == position)
            return json_object_get(c, "name");
    }
    return NULL;
}

/* Fills "primary_key" from conkey ("{2,1}": positions in key order). */
static void pg_table_pk(struct pg_rows *b, json_t *table, const char *conkey)
{
    json_t *pk = json_object_get(table, "primary_key");
    json_t *cols = json_object_get(table, "columns");
    char *end;

    if (!table || !conkey || *conkey != '{')
        return;
    for (const char *p = conkey + 1; *p && *p != '}'; p = end) {
        long pos = strtol(p, &end, 10);
        if (end == p || json_array_append(pk, pg_column_at(cols, pos)) < 0) {
            b->bad = 1;
            return;
        }
        end += *end == ',';
    }
}

/* Appends one TABLE per table of the answer to items.  -1 when the answer
 * is bad (see struct pg_rows). */
static int pg_rows_tables(const PGresult *res, json_t *items)
{
    struct pg_rows b = {res, 0};
    json_t *table = NULL, *cols = NULL;
    const char *name = NULL, *pk = NULL;

    for (int i = 0; i < PQntuples(res) && !b.bad; i++) {
        const char *n = pg_val(&b, i, PG_T_NAME);
        if (!n)
            continue;
        if (!name || strcmp(n, name)) {
            pg_table_pk(&b, table, pk);
            table = pg_row_table(&b, i);
            b.bad |= json_array_append_new(items, table) < 0;
            cols = json_object_get(table, "columns");
            name = n;
            pk = pg_val(&b, i, PG_T_PK);
        }
        if (!PQgetisnull(res, i, PG_C_POSITION))
            b.bad |= json_array_append_new(cols, pg_row_column(&b, i)) < 0;
    }
    pg_table_pk(&b, table, pk);
    return b.bad ? -1 : 0;
}

static int pg_schema_state(const char *state, const char *schema,
                           struct dsb_error *err)
{
    if (!strcmp(state, "ok"))
        return 0;
    if (!strcmp(state, "denied")) {
        dsb_error_set(err, DSB_E_PERMISSION, "permission denied for schema %s",
                      schema);
        snprintf(err->upstream, sizeof(err->upstream), "42501");
        dsb_error_hint(err, "GRANT USAGE ON SCHEMA to the source's role");
        return -1;
    }
    dsb_error_set(err, DSB_E_NOT_FOUND, "schema \"%s\" does not exist", schema);
    snprintf(err->upstream, sizeof(err->upstream), "3F000");
    return -1;
}

/* Runs the tables query; on success *items is a new array of TABLEs. */
static int pg_tables_query(struct pg_source *s, struct dsb_call *call,
                           const char *db, const char *schema,
                           const char *const params[5], json_t **items,
                           struct dsb_error *err)
{
    PGresult *res = pg_query(s, call, db, pg_sql_tables, 5, params, err);
    int rc = -1;

    *items = NULL;
    if (!res)
        return -1;
    if (PQntuples(res) < 1 || PQnfields(res) != PG_T_NFIELDS) {
        dsb_error_set(err, DSB_E_INTERNAL, "unexpected catalog answer");
        goto fail;
    }
    if (pg_schema_state(PQgetvalue(res, 0, PG_T_STATE), schema, err) < 0)
        goto fail;
    *items = json_array();
    if (!*items || pg_rows_tables(res, *items) < 0) {
        dsb_error_set(err, DSB_E_UPSTREAM, "unreadable catalog answer");
        dsb_error_detail(err, "a name or comment is not valid UTF-8, or "
                              "memory ran out");
        json_decref(*items);
        *items = NULL;
        goto fail;
    }
    rc = 0;
fail:
    PQclear(res);
    return rc;
}

int pg_list_tables(struct pg_source *s, struct dsb_call *call,
                   const struct dsb_list_request *req, json_t **out,
                   struct dsb_error *err)
{
    struct pg_page pg;
    json_t *items;

    if (pg_check_schema(s, req->database, req->schema, err) < 0 ||
        pg_page_init(&pg, req, err) < 0)
        return -1;
    const char *params[5] = {req->schema, req->name_filter,
                             pg.after[0] ? pg.after : NULL, NULL, pg.limit};
    if (pg_tables_query(s, call, req->database, req->schema, params, &items,
                        err) < 0)
        return -1;
    *out = pg_page_result(&pg, items);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}

/* --------------------------------------------- tables as JSON text */

/* Writes list_tables' listing object through a json_dump_callback_t, one
 * table's tree at a time: each TABLE is built from its rows, serialised
 * and freed before the next, so no tree of the page is ever held, and the
 * text is the one json_dumps(JSON_COMPACT) gives for pg_list_tables'
 * answer (jansson keeps keys in insertion order).  Every value goes
 * through jansson's encoder; only the object's own punctuation and keys
 * are written here. */
struct pg_text {
    json_dump_callback_t write;
    void *ctx;
    int failed; /* write refused, or memory ran out */
    char *buf;  /* one table's text: written in one piece, not in the
                 * dozens of fragments json_dump_callback would make */
    size_t cap;
};

static void pg_text_put(struct pg_text *w, const char *s)
{
    if (!w->failed && w->write(s, strlen(s), w->ctx) != 0)
        w->failed = 1;
}

/* Serialises v and takes it. */
static void pg_text_value(struct pg_text *w, json_t *v)
{
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    size_t n = v && !w->failed ? json_dumpb(v, w->buf, w->cap, flags) : 0;

    if (n > w->cap) {
        char *buf = realloc(w->buf, n);
        if (buf) {
            w->buf = buf;
            w->cap = n;
            n = json_dumpb(v, w->buf, w->cap, flags);
        } else
            n = 0;
    }
    if (n == 0 || n > w->cap || w->write(w->buf, n, w->ctx) != 0)
        w->failed = 1;
    json_decref(v);
}

/* The page's TABLEs from the rows of a PG_SQL_TABLES answer, at most
 * pg->size of them; a table after those (the query asks for one more)
 * only makes next_page_token.  -1 when the answer is bad (struct
 * pg_rows) or the text could not be written. */
static int pg_rows_text(const PGresult *res, const struct pg_page *pg,
                        struct pg_text *w, char **next)
{
    struct pg_rows b = {res, 0};
    json_t *table = NULL, *cols = NULL;
    const char *name = NULL, *pk = NULL, *last = NULL;
    size_t n = 0;
    int more = 0;

    pg_text_put(w, "{\"items\":[");
    for (int i = 0; i < PQntuples(res) && !b.bad && !w->failed; i++) {
        const char *t = pg_val(&b, i, PG_T_NAME);
        if (!t)
            continue;
        if (!name || strcmp(t, name)) {
            if (table) {
                pg_table_pk(&b, table, pk);
                pg_text_put(w, n++ ? "," : "");
                pg_text_value(w, table);
                last = name;
                table = NULL;
            }
            if (n == pg->size) {
                more = 1;
                break;
            }
            table = pg_row_table(&b, i);
            b.bad |= !table;
            cols = json_object_get(table, "columns");
            name = t;
            pk = pg_val(&b, i, PG_T_PK);
        }
        if (table && !PQgetisnull(res, i, PG_C_POSITION))
            b.bad |= json_array_append_new(cols, pg_row_column(&b, i)) < 0;
    }
    if (table && !b.bad) {
        pg_table_pk(&b, table, pk);
        pg_text_put(w, n++ ? "," : "");
        pg_text_value(w, table);
        last = name;
        table = NULL;
    }
    json_decref(table);
    pg_text_put(w, "],\"next_page_token\":");
    if (more && last) {
        *next = pg_token_encode(last);
        pg_text_value(w, *next ? json_string(*next) : NULL);
    } else {
        pg_text_put(w, "null");
    }
    pg_text_put(w, "}");
    return b.bad || w->failed ? -1 : 0;
}

int pg_list_tables_json(struct pg_source *s, struct dsb_call *call,
                        const struct dsb_list_request *req,
                        json_dump_callback_t write, void *write_ctx,
                        const char **next_page_token, struct dsb_error *err)
{
    char *next = NULL;
    struct pg_page pg;
    struct pg_text w = {write, write_ctx, 0, NULL, 0};
    PGresult *res;
    int rc = -1;

    if (pg_check_schema(s, req->database, req->schema, err) < 0 ||
        pg_page_init(&pg, req, err) < 0)
        return -1;
    const char *params[5] = {req->schema, req->name_filter,
                             pg.after[0] ? pg.after : NULL, NULL, pg.limit};
    res = pg_query(s, call, req->database, pg_sql_tables, 5, params, err);
    if (!res)
        return -1;
    if (PQntuples(res) < 1 || PQnfields(res) != PG_T_NFIELDS)
        dsb_error_set(err, DSB_E_INTERNAL, "unexpected catalog answer");
    else if (pg_schema_state(PQgetvalue(res, 0, PG_T_STATE), req->schema,
                             err) == 0 &&
             (rc = pg_rows_text(res, &pg, &w, &next)) < 0) {
        if (w.failed)
            dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
        else {
            dsb_error_set(err, DSB_E_UPSTREAM, "unreadable catalog answer");
            dsb_error_detail(err, "a name or comment is not valid UTF-8, or "
                                  "memory ran out");
        }
    }
    if (rc == 0 && next &&
        !(*next_page_token = s->host->arena_strdup(call, next)))
        rc = dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    PQclear(res);
    free(w.buf);
    free(next);
    return rc;
}

/* The text[] literal of names, each quoted ({"a","b\\"c"}), malloc'd. */
static char *pg_names_array(const char *const *names, size_t n)
{
    size_t cap = 3;
    char *out, *w;

    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(names[i]) + 3;
    if (!(out = malloc(cap)))
        return NULL;
    w = out;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        *w++ = '"';
        for (const char *p = names[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                *w++ = '\\';
            *w++ = *p;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

/* The TABLEs of the named tables of a schema that exist, in a new array
 * (*items). */
static int pg_describe_names(struct pg_source *s, struct dsb_call *call,
                             const char *database, const char *schema,
                             const char *const *tables, size_t n,
                             json_t **items, struct dsb_error *err)
{
    char limit[24], *names;
    int rc;

    if (pg_check_schema(s, database, schema, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!tables[i] || !*tables[i])
            return dsb_error_set(err, DSB_E_INVALID, "a table is required");
    if (!(names = pg_names_array(tables, n)))
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    snprintf(limit, sizeof(limit), "%zu", n);
    const char *params[5] = {schema, NULL, NULL, names, limit};
    rc = pg_tables_query(s, call, database, schema, params, items, err);
    if (rc == 0 &&
        pg_describe_extras(s, call, database, schema, names, *items, err) < 0) {
        json_decref(*items);
        *items = NULL;
        rc = -1;
    }
    free(names);
    return rc;
}

int pg_describe(struct pg_source *s, struct dsb_call *call,
                const char *database, const char *schema, const char *table,
                json_t **out, struct dsb_error *err)
{
    json_t *items;

    if (pg_describe_names(s, call, database, schema, &table, 1, &items, err) <
        0)
        return -1;
    if (json_array_size(items) == 0) {
        json_decref(items);
        dsb_error_set(err, DSB_E_NOT_FOUND,
                      "relation \"%s.%s\" does not "
                      "exist",
                      schema, table);
        snprintf(err->upstream, sizeof(err->upstream), "42P01");
        return -1;
    }
    *out = json_incref(json_array_get(items, 0));
    json_decref(items);
    return 0;
}

int pg_describe_tables(struct pg_source *s, struct dsb_call *call,
                       const char *database, const char *schema,
                       const char *const *tables, size_t n, json_t **out,
                       struct dsb_error *err)
{
    json_t *items;

    if (pg_describe_names(s, call, database, schema, tables, n, &items, err) <
        0)
        return -1;
    *out = json_pack("{s:o}", "items", items);
    return *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
}
