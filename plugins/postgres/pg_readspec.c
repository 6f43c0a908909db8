/*
 * Read specs: how Spark's JDBC reader reads one table.
 *
 * dbtable is the schema-qualified name as the server's quote_ident() writes
 * it: quoted only when needed (upper case, spaces, quotes doubled, non-ASCII,
 * reserved words), so it is exactly what PostgreSQL will parse back.
 *
 * Partitioned reads: all four of partitionColumn, lowerBound, upperBound and
 * numPartitions, or none.  A table qualifies when partition hints are on,
 * its row estimate exceeds partition_min_rows and it has a partition column:
 * the operator's (partition_columns), else a single-column primary key of
 * type smallint, integer, bigint, date, timestamp or timestamptz.  The
 * bounds come from SELECT min(col), max(col) (each answered from the
 * primary key's index) under the statement timeout; Spark parses the bounds
 * of a numeric column as longs, so numeric and float columns get the
 * bigints around their finite values.  numPartitions is
 * ceil(rows / partition_target_rows), capped by max_partitions and, with
 * integral bounds, by upper - lower as Spark caps it.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

char *pg_quote_ident(const char *name)
{
    size_t n = strlen(name), q = 0;
    char *out, *w;

    for (const char *p = name; *p; p++)
        q += *p == '"';
    if (!(out = malloc(n + q + 3)))
        return NULL;
    w = out;
    *w++ = '"';
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            *w++ = '"';
        *w++ = *p;
    }
    *w++ = '"';
    *w = '\0';
    return out;
}

static const char *pg_col_name(const json_t *col)
{
    return json_string_value(json_object_get(col, "name"));
}

static int pg_type_in(const char *t, const char *const *list)
{
    for (; t && *list; list++) {
        if (!strcmp(t, *list))
            return 1;
    }
    return 0;
}

static const char *const pg_auto_types[] = {
    "int2", "int4", "int8", "date", "timestamp", "timestamptz", NULL};
static const char *const pg_conf_types[] = {
    "int2",        "int4",    "int8",   "date",   "timestamp",
    "timestamptz", "numeric", "float4", "float8", NULL};
static const char *const pg_int_types[] = {"int2", "int4", "int8", NULL};
static const char *const pg_frac_types[] = {"numeric", "float4", "float8",
                                            NULL};

static const json_t *pg_find_column(const json_t *table, const char *name)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(table, "columns"), i, c)
    {
        if (name &&
            !strcmp(json_string_value(json_object_get(c, "name")), name))
            return c;
    }
    return NULL;
}

/* The operator's column for db.schema.table, schema.table or table. */
static const char *pg_conf_column(const struct pg_source *s, const char *db,
                                  const char *schema, const char *table)
{
    char key[3 * (PG_NAME_MAX + 1)];
    const json_t *map = s->cfg.partition_columns;
    const char *v;

    snprintf(key, sizeof(key), "%s.%s.%s", db, schema, table);
    if ((v = json_string_value(json_object_get(map, key))))
        return v;
    snprintf(key, sizeof(key), "%s.%s", schema, table);
    if ((v = json_string_value(json_object_get(map, key))))
        return v;
    return json_string_value(json_object_get(map, table));
}

struct pg_hint {
    const json_t *column; /* COLUMN */
    char lower[64], upper[64];
    long long parts;
    char why[256]; /* why there is no hint, for the notes */
};

/* Picks the partition column, or says why none. */
static const json_t *pg_hint_column(const struct pg_source *s, const char *db,
                                    const char *schema, const char *table,
                                    const json_t *t, struct pg_hint *h)
{
    const char *conf = pg_conf_column(s, db, schema, table);
    const json_t *pk = json_object_get(t, "primary_key"), *c;

    if (conf) {
        c = pg_find_column(t, conf);
        if (c && pg_type_in(json_string_value(json_object_get(c, "base_type")),
                            pg_conf_types))
            return c;
        snprintf(h->why, sizeof(h->why),
                 "the configured partition column "
                 "\"%s\" is missing or not numeric, date or timestamp",
                 conf);
        return NULL;
    }
    c = json_array_size(pk) == 1
            ? pg_find_column(t, json_string_value(json_array_get(pk, 0)))
            : NULL;
    if (c && pg_type_in(json_string_value(json_object_get(c, "base_type")),
                        pg_auto_types))
        return c;
    snprintf(h->why, sizeof(h->why),
             "no single-column integer, date or "
             "timestamp primary key; set partition_columns for this table");
    return NULL;
}

/* SELECT min(col), max(col) as text Spark parses for the column's type:
 * timestamps as yyyy-mm-dd hh:mm:ss.us; numeric and float columns as the
 * bigints around their finite values (Spark parses the bounds of a numeric
 * column as longs), clamped to bigint, NaN and infinities left out. */
static void pg_bounds_write(char *sql, size_t len, const char *base,
                            const char *q, const char *qualified)
{
    if (!strncmp(base, "timestamp", 9))
        snprintf(sql, len,
                 "SELECT to_char(min(%s), 'YYYY-MM-DD HH24:MI:SS.US'),"
                 " to_char(max(%s), 'YYYY-MM-DD HH24:MI:SS.US') FROM %s",
                 q, q, qualified);
    else if (pg_type_in(base, pg_frac_types))
        snprintf(sql, len,
                 "SELECT greatest(floor(min(%s)::numeric),"
                 " -9223372036854775808)::int8::text,"
                 " least(ceil(max(%s)::numeric), 9223372036854775807)"
                 "::int8::text FROM %s WHERE %s > '-Infinity'"
                 " AND %s < 'Infinity'",
                 q, q, qualified, q, q);
    else
        snprintf(sql, len, "SELECT min(%s)::text, max(%s)::text FROM %s", q, q,
                 qualified);
}

static char *pg_bounds_sql(const char *qualified, const json_t *col)
{
    const char *base = json_string_value(json_object_get(col, "base_type"));
    char *q = pg_quote_ident(json_string_value(json_object_get(col, "name")));
    size_t len = q ? 4 * strlen(q) + strlen(qualified) + 256 : 0;
    char *sql = q ? malloc(len) : NULL;

    if (sql)
        pg_bounds_write(sql, len, base, q, qualified);
    free(q);
    return sql;
}

/* Spark's own cap (JDBCRelation.columnPartition): with integral bounds it
 * makes no more partitions than upper - lower, unless that overflows. */
static long long pg_parts_cap(const struct pg_hint *h, long long n)
{
    long long lo = strtoll(h->lower, NULL, 10);
    long long hi = strtoll(h->upper, NULL, 10);

    if (lo < 0 && hi > LLONG_MAX + lo)
        return n;
    return hi - lo < n ? hi - lo : n;
}

static long long pg_parts(const struct pg_source *s, const json_t *t,
                          const struct pg_hint *h)
{
    double rows =
        (double)json_integer_value(json_object_get(t, "row_estimate"));
    long long n = (long long)ceil(rows / (double)s->cfg.partition_target_rows);
    const char *base =
        json_string_value(json_object_get(h->column, "base_type"));

    if (n > s->cfg.max_partitions)
        n = s->cfg.max_partitions;
    if (pg_type_in(base, pg_int_types) || pg_type_in(base, pg_frac_types))
        n = pg_parts_cap(h, n);
    return n;
}

/* Whether the table is worth partitioning (hints on, an estimate above
 * the threshold); otherwise says why not in h->why. */
static int pg_hint_wanted(const struct pg_source *s, const json_t *t,
                          struct pg_hint *h)
{
    const json_t *est = json_object_get(t, "row_estimate");
    long long rows = (long long)json_integer_value(est);

    if (!s->cfg.partition_hints) {
        snprintf(h->why, sizeof(h->why), "partition hints are off");
        return 0;
    }
    if (!json_is_integer(est)) {
        snprintf(h->why, sizeof(h->why),
                 "no row estimate (a view or a "
                 "foreign table, or a table never analyzed)");
        return 0;
    }
    if (rows <= s->cfg.partition_min_rows) {
        snprintf(h->why, sizeof(h->why),
                 "about %lld rows, not above the "
                 "partitioning threshold of %lld",
                 rows, (long long)s->cfg.partition_min_rows);
        return 0;
    }
    return 1;
}

/* Reads min and max of h->column into h (and the partition count), or
 * clears h->column with h->why when the range gives nothing to split. */
static int pg_hint_bounds(struct pg_source *s, struct dsb_call *call,
                          const char *db, const json_t *t, struct pg_hint *h,
                          struct dsb_error *err)
{
    char *sql = pg_bounds_sql(
        json_string_value(json_object_get(t, "qualified_name")), h->column);
    PGresult *res;

    if (!sql)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    res = pg_query(s, call, db, sql, 0, NULL, err);
    free(sql);
    if (!res)
        return -1;
    if (PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1)) {
        h->column = NULL;
        snprintf(h->why, sizeof(h->why), "the table is empty");
    } else {
        snprintf(h->lower, sizeof(h->lower), "%s", PQgetvalue(res, 0, 0));
        snprintf(h->upper, sizeof(h->upper), "%s", PQgetvalue(res, 0, 1));
        h->parts = pg_parts(s, t, h);
    }
    PQclear(res);
    if (h->column && h->parts < 2) {
        h->column = NULL;
        snprintf(h->why, sizeof(h->why), "the key range is too narrow");
    }
    return 0;
}

/* Fills h with all four hints, or h->column = NULL and h->why.  Only a
 * failed bounds query is an error. */
static int pg_hints(struct pg_source *s, struct dsb_call *call, const char *db,
                    const char *schema, const char *table, const json_t *t,
                    struct pg_hint *h, struct dsb_error *err)
{
    memset(h, 0, sizeof(*h));
    if (!pg_hint_wanted(s, t, h))
        return 0;
    if (!(h->column = pg_hint_column(s, db, schema, table, t, h)))
        return 0;
    return pg_hint_bounds(s, call, db, t, h, err);
}

/* Percent-encodes s for a URL path segment or query value into buf. */
static void pg_url_encode(const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;

    for (; *s && w + 4 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-_.~", c)) {
            buf[w++] = (char)c;
        } else {
            buf[w++] = '%';
            buf[w++] = hex[c >> 4];
            buf[w++] = hex[c & 15];
        }
    }
    buf[w] = '\0';
}

/* Percent-encoded copy of s for a URL; malloc'd, NULL s gives NULL. */
static char *pg_url_dup(const char *s)
{
    size_t len = s ? 3 * strlen(s) + 5 : 0;
    char *buf = s ? malloc(len) : NULL;

    if (buf)
        pg_url_encode(s, buf, len);
    return buf;
}

/* jdbc:postgresql://host:port/db?sslmode=..[&sslrootcert=..]
 * &ApplicationName=..; the CA file is the one Spark jobs see. */
static json_t *pg_jdbc_url(const struct pg_source *s, const struct pg_login *l,
                           const char *db)
{
    const struct pg_config *c = &s->cfg;
    char *edb = pg_url_dup(db);
    char *eapp =
        pg_url_dup(c->application_name ? c->application_name : "dsbroker");
    const char *ca = c->jdbc_sslrootcert ? c->jdbc_sslrootcert : c->sslrootcert;
    char *eca = pg_url_dup(ca);
    int v6 = strchr(l->host, ':') != NULL;
    json_t *url = NULL;

    if (edb && eapp && (eca || !ca))
        url = json_sprintf(
            "jdbc:postgresql://%s%s%s:%s/%s?sslmode=%s%s%s&ApplicationName=%s",
            v6 ? "[" : "", l->host, v6 ? "]" : "", l->port, edb,
            c->sslmode ? c->sslmode : "prefer", eca ? "&sslrootcert=" : "",
            eca ? eca : "", eapp);
    free(edb);
    free(eapp);
    free(eca);
    return url;
}

/* user/password: literal user in options, references in secret_options. */
static void pg_spec_login(const struct pg_source *s, json_t *opts,
                          json_t *secrets)
{
    const struct pg_config *c = &s->cfg;
    char ref[1100];

    if (c->user) {
        json_object_set_new(opts, "user", json_string(c->user));
    } else if (c->user_ref) {
        json_object_set_new(secrets, "user", json_string(c->user_ref));
    } else if (c->credentials_ref) {
        snprintf(ref, sizeof(ref), "%s#username", c->credentials_ref);
        json_object_set_new(secrets, "user", json_string(ref));
    }
    if (c->password_ref) {
        json_object_set_new(secrets, "password", json_string(c->password_ref));
    } else if (c->credentials_ref) {
        snprintf(ref, sizeof(ref), "%s#password", c->credentials_ref);
        json_object_set_new(secrets, "password", json_string(ref));
    }
}

static void pg_spec_hints(json_t *opts, const struct pg_hint *h)
{
    char n[32];

    if (!h->column)
        return;
    snprintf(n, sizeof(n), "%lld", h->parts);
    json_object_set(opts, "partitionColumn",
                    json_object_get(h->column, "name"));
    json_object_set_new(opts, "lowerBound", json_string(h->lower));
    json_object_set_new(opts, "upperBound", json_string(h->upper));
    json_object_set_new(opts, "numPartitions", json_string(n));
}

/* The SELECT list of dbtable when some column needs a cast; NULL when
 * none does (or memory is exhausted: then the plain table is read). */
static char *pg_cast_list(const json_t *t)
{
    size_t i, cap = 1, w = 0;
    json_t *c;
    char *out, *q;
    int any = 0;

    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        cap += 2 * strlen(pg_col_name(c)) + 24;
        any |= json_object_get(c, "spark_cast") != NULL;
    }
    if (!any || !(out = malloc(cap)))
        return NULL;
    out[0] = '\0';
    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        if (!(q = pg_quote_ident(pg_col_name(c)))) {
            free(out);
            return NULL;
        }
        w += (size_t)snprintf(
            out + w, cap - w,
            json_object_get(c, "spark_cast") ? "%s%s::text AS %s" : "%s%s",
            i ? ", " : "", q, q);
        free(q);
    }
    return out;
}

/* dbtable: the qualified name, or a subquery casting unreadable types. */
static json_t *pg_dbtable(const json_t *t)
{
    const char *qn = json_string_value(json_object_get(t, "qualified_name"));
    char *cols = pg_cast_list(t);
    json_t *v;

    if (!cols)
        return json_string(qn);
    v = json_sprintf("(SELECT %s FROM %s) AS dsb_t", cols, qn);
    free(cols);
    return v;
}

static json_t *pg_spec_options(const struct pg_source *s,
                               const struct pg_login *l, const char *db,
                               const json_t *t, const struct pg_hint *h)
{
    char fetch[32];
    json_t *o;

    snprintf(fetch, sizeof(fetch), "%d", s->cfg.fetchsize);
    o = json_pack("{s:o, s:o, s:s, s:s}", "url", pg_jdbc_url(s, l, db),
                  "dbtable", pg_dbtable(t), "driver", "org.postgresql.Driver",
                  "fetchsize", fetch);
    if (o)
        pg_spec_hints(o, h);
    return o;
}

/* ---------------------------------------------------------------- notes */

enum { PG_N_JSON, PG_N_STRING, PG_N_TS, PG_N_TIME, PG_N_NONE, PG_N_COUNT };

static const char *const pg_note_heads[PG_N_COUNT] = {
    "read as JSON text (parse with from_json): ",
    "read as string: ",
    "timestamp without time zone is read as a timestamp in the Spark "
    "session time zone: ",
    "time of day is read as a timestamp on 1970-01-01: ",
    "Spark's JDBC reader cannot read these types, so dbtable selects them "
    "cast to text (strings): ",
};

static const char *const pg_texts[] = {"text", "varchar", "bpchar",
                                       "char", "name",    NULL};

static int pg_note_kind(const json_t *col)
{
    const char *base = json_string_value(json_object_get(col, "base_type"));
    const char *spark = json_string_value(json_object_get(col, "spark_type"));

    if (json_object_get(col, "spark_cast"))
        return PG_N_NONE;
    if (!strcmp(base, "json") || !strcmp(base, "jsonb"))
        return PG_N_JSON;
    if (!strcmp(spark, "string") && !pg_type_in(base, pg_texts))
        return PG_N_STRING;
    if (!strcmp(base, "timestamp"))
        return PG_N_TS;
    if (!strcmp(base, "time") || !strcmp(base, "timetz"))
        return PG_N_TIME;
    return -1;
}

static void pg_note_add(char *buf, size_t len, const json_t *col)
{
    size_t used = strlen(buf);

    if (used + 8 >= len)
        return;
    snprintf(buf + used, len - used, "%s\"%s\" (%s)", used ? ", " : "",
             json_string_value(json_object_get(col, "name")),
             json_string_value(json_object_get(col, "source_type")));
}

static void pg_notes_columns(json_t *notes, const json_t *t)
{
    char lists[PG_N_COUNT][1024] = {{0}};
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(t, "columns"), i, c)
    {
        int k = pg_note_kind(c);
        if (k >= 0)
            pg_note_add(lists[k], sizeof(lists[k]), c);
    }
    for (int k = 0; k < PG_N_COUNT; k++) {
        if (!lists[k][0])
            continue;
        json_array_append_new(notes,
                              json_sprintf("%s%s", pg_note_heads[k], lists[k]));
    }
}

static json_t *pg_notes(const json_t *t, const struct pg_hint *h)
{
    json_t *notes = json_array();
    char line[512];

    if (h->column)
        snprintf(line, sizeof(line),
                 "partitioned read on \"%s\" (%s): %lld "
                 "partitions between %s and %s; the bounds only set the "
                 "stride, no rows are filtered",
                 json_string_value(json_object_get(h->column, "name")),
                 json_string_value(json_object_get(h->column, "source_type")),
                 h->parts, h->lower, h->upper);
    else
        snprintf(line, sizeof(line), "single-partition read: %s", h->why);
    json_array_append_new(notes, json_string(line));
    pg_notes_columns(notes, t);
    return notes;
}

/* ------------------------------------------------------------ the slot */

/* Keys and samples of the description (pg_extras.c) go into the spec as
 * they are; column statistics ride in "columns". */
static void pg_spec_extras(json_t *spec, const json_t *t)
{
    static const char *const keys[] = {"unique_keys", "foreign_keys",
                                       "sample_rows"};

    for (size_t i = 0; spec && i < sizeof(keys) / sizeof(*keys); i++)
        if (json_object_get(t, keys[i]))
            json_object_set(spec, keys[i], json_object_get(t, keys[i]));
}

static json_t *pg_spec_build(const struct pg_source *s,
                             const struct pg_login *l, const char *db,
                             const json_t *t, const struct pg_hint *h)
{
    json_t *secrets = json_object(), *opts = pg_spec_options(s, l, db, t, h);
    json_t *spec;

    if (opts)
        pg_spec_login(s, opts, secrets);
    spec = json_pack(
        "{s:O, s:s, s:n, s:o?, s:o, s:O, s:O, s:O, s:O, s:{s:[s], s:{}}, "
        "s:o, s:s?}",
        "qualified_name", json_object_get(t, "qualified_name"), "format",
        "jdbc", "path", "options", opts, "secret_options", secrets, "columns",
        json_object_get(t, "columns"), "primary_key",
        json_object_get(t, "primary_key"), "row_estimate",
        json_object_get(t, "row_estimate"), "size_bytes",
        json_object_get(t, "size_bytes"), "spark_submit", "jars",
        s->cfg.jdbc_jar ? s->cfg.jdbc_jar : "/usr/share/java/postgresql.jar",
        "conf", "notes", pg_notes(t, h), "network", s->info->network);
    pg_spec_extras(spec, t);
    return spec;
}

/* The read spec of the table pg_describe described as t.  JDBC reads the
 * same way on every executor, so the target plays no part. */
static int pg_spec_of(struct pg_source *s, struct dsb_call *call,
                      const char *database, const char *schema,
                      const char *table, const json_t *t, json_t **out,
                      struct dsb_error *err)
{
    struct pg_login l = {0};
    struct pg_hint h;
    int rc = -1;

    if (!json_is_true(json_object_get(t, "readable"))) {
        dsb_error_set(err, DSB_E_PERMISSION, "permission denied for table %s",
                      json_string_value(json_object_get(t, "qualified_name")));
        snprintf(err->upstream, sizeof(err->upstream), "42501");
        dsb_error_hint(err, "GRANT SELECT on the table to the source's role");
        return -1;
    }
    if (pg_hints(s, call, database, schema, table, t, &h, err) < 0 ||
        pg_login_get(s, &l, err) < 0)
        goto fail;
    *out = pg_spec_build(s, &l, database, t, &h);
    rc = *out ? 0 : dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
fail:
    pg_login_free(s, &l);
    return rc;
}

int pg_read_spec(struct pg_source *s, struct dsb_call *call,
                 const char *database, const char *schema, const char *table,
                 const struct dsb_read_target *target, json_t **out,
                 struct dsb_error *err)
{
    json_t *t = NULL;
    int rc;

    (void)target;
    if (pg_describe(s, call, database, schema, table, &t, err) < 0)
        return -1;
    rc = pg_spec_of(s, call, database, schema, table, t, out, err);
    json_decref(t);
    return rc;
}

/* The keys of pg_describe's TABLE a read spec needs beyond plugin.h's. */
static int pg_described_enough(const json_t *t)
{
    return json_is_string(json_object_get(t, "qualified_name")) &&
           json_is_boolean(json_object_get(t, "readable"));
}

int pg_read_spec_described(struct pg_source *s, struct dsb_call *call,
                           const char *database, const char *schema,
                           const char *table, const json_t *described,
                           const struct dsb_read_target *target, json_t **out,
                           struct dsb_error *err)
{
    if (!pg_described_enough(described))
        return pg_read_spec(s, call, database, schema, table, target, out, err);
    return pg_spec_of(s, call, database, schema, table, described, out, err);
}
