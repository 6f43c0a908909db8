/*
 * The catalog queries of the postgres plugin, as macros so that the
 * benchmark (tests/bench/pg_list_bench.c) runs exactly the same text with
 * psql.  Parameters are documented in pg_catalog.c.
 */
#ifndef DSB_PG_SQL_H
#define DSB_PG_SQL_H

#define PG_SQL_DATABASES \
    "SELECT coalesce(json_agg(json_build_array(d.datname," \
    " shobj_description(d.oid, 'pg_database')," \
    " has_database_privilege(d.oid, 'CONNECT')) ORDER BY d.datname), '[]')" \
    " FROM (SELECT oid, datname FROM pg_database" \
    "  WHERE datallowconn AND NOT datistemplate" \
    "  AND ($1::text[] IS NULL OR datname::text ~ ANY ($1::text[]))" \
    "  AND NOT (datname::text ~ ANY (coalesce($2::text[], '{}')))" \
    "  AND ($3::text IS NULL OR strpos(lower(datname), lower($3)) > 0)" \
    "  AND ($4::text IS NULL OR datname > $4::name)" \
    "  ORDER BY datname LIMIT $5::int) d"

#define PG_SQL_SCHEMAS \
    "SELECT coalesce(json_agg(json_build_array(n.nspname," \
    " obj_description(n.oid, 'pg_namespace')," \
    " has_schema_privilege(n.oid, 'USAGE')) ORDER BY n.nspname), '[]')" \
    " FROM (SELECT oid, nspname FROM pg_namespace" \
    "  WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'" \
    "  AND ($1::text[] IS NULL OR nspname::text ~ ANY ($1::text[]))" \
    "  AND NOT (nspname::text ~ ANY (coalesce($2::text[], '{}')))" \
    "  AND ($3::text IS NULL OR strpos(lower(nspname), lower($3)) > 0)" \
    "  AND ($4::text IS NULL OR nspname > $4::name)" \
    "  ORDER BY nspname LIMIT $5::int) n"

#define PG_SQL_TABLES \
    "WITH RECURSIVE dom(oid, base, tmod, depth) AS (" \
    "  SELECT oid, typbasetype, typtypmod, 1 FROM pg_type WHERE typtype = 'd'" \
    "  UNION ALL SELECT d.oid, b.typbasetype," \
    "   CASE WHEN d.tmod = -1 THEN b.typtypmod ELSE d.tmod END, d.depth + 1" \
    "  FROM dom d JOIN pg_type b ON b.oid = d.base AND b.typtype = 'd')," \
    " base AS (SELECT DISTINCT ON (oid) oid, base, tmod FROM dom" \
    "  ORDER BY oid, depth DESC)," \
    " ns AS (SELECT oid, nspname, has_schema_privilege(oid, 'USAGE') AS ok" \
    "  FROM pg_namespace WHERE nspname = $1::name)" \
    "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM ns) THEN 'missing'" \
    "  WHEN NOT (SELECT ok FROM ns) THEN 'denied' ELSE 'ok' END," \
    " (SELECT coalesce(json_agg(json_build_array(t.relname, t.relkind," \
    "   obj_description(t.oid, 'pg_class')," \
    "   CASE WHEN t.relkind = 'p' THEN (SELECT CASE WHEN" \
    "     bool_or(k.reltuples >= 0) THEN sum(greatest(k.reltuples, 0))::int8" \
    "     END FROM pg_partition_tree(t.oid) pt JOIN pg_class k" \
    "     ON k.oid = pt.relid WHERE pt.isleaf)" \
    "    WHEN t.relkind IN ('r', 'm') AND t.reltuples >= 0" \
    "    THEN t.reltuples::int8 END," \
    "   CASE WHEN t.relkind = 'p' THEN (SELECT sum(pg_total_relation_size(" \
    "     pt.relid))::int8 FROM pg_partition_tree(t.oid) pt WHERE pt.isleaf)" \
    "    WHEN t.relkind IN ('r', 'm') THEN pg_total_relation_size(t.oid) END," \
    "   (SELECT json_agg(a.attname ORDER BY k.ord) FROM pg_constraint con" \
    "     CROSS JOIN unnest(con.conkey) WITH ORDINALITY k(attnum, ord)" \
    "     JOIN pg_attribute a ON a.attrelid = con.conrelid" \
    "     AND a.attnum = k.attnum" \
    "     WHERE con.conrelid = t.oid AND con.contype = 'p')," \
    "   quote_ident((SELECT nspname FROM ns)) || '.' || quote_ident(t.relname)," \
    "   has_table_privilege(t.oid, 'SELECT')," \
    "   (SELECT json_agg(json_build_array(a.attname, a.attnum," \
    "     format_type(a.atttypid, a.atttypmod), bt.typname, bt.typtype," \
    "     et.typname, CASE WHEN bs.oid IS NOT NULL AND a.atttypmod = -1" \
    "     THEN bs.tmod ELSE a.atttypmod END, NOT a.attnotnull," \
    "     pg_get_expr(ad.adbin, ad.adrelid), ds.description)" \
    "     ORDER BY a.attnum)" \
    "    FROM pg_attribute a" \
    "    LEFT JOIN base bs ON bs.oid = a.atttypid" \
    "    JOIN pg_type bt ON bt.oid = coalesce(bs.base, a.atttypid)" \
    "    LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'" \
    "    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid" \
    "     AND ad.adnum = a.attnum" \
    "    LEFT JOIN pg_description ds ON ds.objoid = a.attrelid" \
    "     AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum" \
    "    WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped)" \
    "  ) ORDER BY t.relname), '[]')" \
    "  FROM (SELECT c.oid, c.relname, c.relkind, c.reltuples FROM pg_class c" \
    "   WHERE c.relnamespace = (SELECT oid FROM ns) AND (SELECT ok FROM ns)" \
    "   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')" \
    "   AND ($4::text IS NOT NULL OR NOT c.relispartition)" \
    "   AND ($2::text IS NULL OR strpos(lower(c.relname), lower($2)) > 0)" \
    "   AND ($3::text IS NULL OR c.relname > $3::name)" \
    "   AND ($4::text IS NULL OR c.relname = $4::name)" \
    "   ORDER BY c.relname LIMIT $5::int) t)"

#endif
