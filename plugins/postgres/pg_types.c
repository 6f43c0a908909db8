/*
 * PostgreSQL type -> the Spark SQL type Spark's JDBC reader produces.
 *
 * Spark asks pgjdbc for each result column's java.sql.Types code and type
 * name, then applies PostgresDialect.getCatalystType and, failing that,
 * JdbcUtils.getCatalystType.  For PostgreSQL that gives:
 *   REAL (float4) -> float, SMALLINT (int2) -> smallint, BIT with size > 1
 *   -> binary, money -> string, OTHER (uuid, json, jsonb, inet, interval,
 *   ranges, unknown base types) -> string, ARRAY -> array of the element as
 *   mapped by PostgresDialect.toCatalystType (else unsupported);
 *   then JdbcUtils: int4 -> int, int8/oid -> bigint, float8 -> double,
 *   numeric(p,s) -> decimal(p,s) bounded to 38, numeric -> decimal(38,18),
 *   bool / bit(1) -> boolean, text/varchar/char/enum/xml -> string,
 *   bytea -> binary, date -> date, timestamp, timestamptz, time, timetz ->
 *   timestamp.  Composite types (STRUCT) are unsupported.
 * Domains arrive as their base type (PostgreSQL reports the base type of a
 * domain column), so callers pass the resolved base type.
 */
#include <stdio.h>
#include <string.h>

#include "pg_int.h"

struct pg_type_map {
    const char *pg;
    const char *spark;
};

/* Scalars that are not "string"; everything else of typtype b/e/r/m is. */
static const struct pg_type_map pg_scalars[] = {
    {"int2", "smallint"},
    {"int4", "int"},
    {"int8", "bigint"},
    {"oid", "bigint"},
    {"float4", "float"},
    {"float8", "double"},
    {"bool", "boolean"},
    {"bytea", "binary"},
    {"date", "date"},
    {"timestamp", "timestamp"},
    {"timestamptz", "timestamp"},
    {"time", "timestamp"},
    {"timetz", "timestamp"},
    {NULL, NULL},
};

/* PostgresDialect.toCatalystType: array elements Spark can read. */
static const struct pg_type_map pg_elements[] = {
    {"bool", "boolean"},
    {"bit", "binary"},
    {"int2", "smallint"},
    {"int4", "int"},
    {"int8", "bigint"},
    {"oid", "bigint"},
    {"float4", "float"},
    {"float8", "double"},
    {"bytea", "binary"},
    {"date", "date"},
    {"timestamp", "timestamp"},
    {"timestamptz", "timestamp"},
    {"time", "timestamp"},
    {"timetz", "timestamp"},
    {"text", "string"},
    {"varchar", "string"},
    {"char", "string"},
    {"bpchar", "string"},
    {"cidr", "string"},
    {"inet", "string"},
    {"json", "string"},
    {"jsonb", "string"},
    {"uuid", "string"},
    {"xml", "string"},
    {"tsvector", "string"},
    {"tsquery", "string"},
    {"macaddr", "string"},
    {"macaddr8", "string"},
    {"txid_snapshot", "string"},
    {"point", "string"},
    {"line", "string"},
    {"lseg", "string"},
    {"box", "string"},
    {"path", "string"},
    {"polygon", "string"},
    {"circle", "string"},
    {"pg_lsn", "string"},
    {"varbit", "string"},
    {"interval", "string"},
    {"pg_snapshot", "string"},
    {NULL, NULL},
};

static const char *pg_lookup(const struct pg_type_map *m, const char *name)
{
    for (; m->pg; m++) {
        if (!strcmp(m->pg, name))
            return m->spark;
    }
    return NULL;
}

/* numeric(p,s) as Spark's DecimalType.bounded(p, s); unconstrained (and
 * arrays, whose precision pgjdbc reports as 0) -> decimal(38,18). */
static const char *pg_decimal(int typmod, char *buf, size_t len)
{
    int p, sc;

    if (typmod < 4)
        return "decimal(38,18)";
    p = ((typmod - 4) >> 16) & 0xffff;
    sc = (typmod - 4) & 0x7ff;
    if (sc & 0x400) /* negative scale (PostgreSQL 15+) */
        sc = 0;
    p = p > 38 ? 38 : p;
    sc = sc > p ? p : sc;
    snprintf(buf, len, "decimal(%d,%d)", p, sc);
    return buf;
}

static const char *pg_array_type(const char *elem, char *buf, size_t len)
{
    const char *e = pg_lookup(pg_elements, elem);

    if (!strcmp(elem, "numeric"))
        e = "decimal(38,18)";
    if (!e)
        return NULL;
    snprintf(buf, len, "array<%s>", e);
    return buf;
}

const char *pg_spark_type(const char *base, const char *typtype,
                          const char *elem, int typmod, char *buf, size_t len)
{
    const char *t;

    if (elem)
        return pg_array_type(elem, buf, len);
    if (typtype && !strcmp(typtype, "c"))
        return NULL;
    if (!strcmp(base, "numeric"))
        return pg_decimal(typmod, buf, len);
    if (!strcmp(base, "bit"))
        return typmod == 1 ? "boolean" : "binary";
    t = pg_lookup(pg_scalars, base);
    return t ? t : "string";
}
