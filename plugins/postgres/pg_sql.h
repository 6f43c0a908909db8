/*
 * The catalog queries of the postgres plugin, as macros so that the
 * benchmark (tests/bench/pg_list_bench.c) runs exactly the same text with
 * psql.  Parameters are documented in pg_catalog.c.
 */
#ifndef DSB_PG_SQL_H
#define DSB_PG_SQL_H

#define PG_MAX_PAGE 1000 /* items per page when the caller asks for "all" */

#define PG_SQL_DATABASES                                                       \
    "SELECT coalesce(json_agg(json_build_array(d.datname,"                     \
    " shobj_description(d.oid, 'pg_database'),"                                \
    " has_database_privilege(d.oid, 'CONNECT')) ORDER BY d.datname), '[]')"    \
    " FROM (SELECT oid, datname FROM pg_database"                              \
    "  WHERE datallowconn AND NOT datistemplate"                               \
    "  AND ($1::text[] IS NULL OR datname::text ~ ANY ($1::text[]))"           \
    "  AND NOT (datname::text ~ ANY (coalesce($2::text[], '{}')))"             \
    "  AND ($3::text IS NULL OR strpos(lower(datname), lower($3)) > 0)"        \
    "  AND ($4::text IS NULL OR datname > $4::name)"                           \
    "  ORDER BY datname LIMIT $5::int) d"

#define PG_SQL_SCHEMAS                                                         \
    "SELECT coalesce(json_agg(json_build_array(n.nspname,"                     \
    " obj_description(n.oid, 'pg_namespace'),"                                 \
    " has_schema_privilege(n.oid, 'USAGE')) ORDER BY n.nspname), '[]')"        \
    " FROM (SELECT oid, nspname FROM pg_namespace"                             \
    "  WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'"            \
    "  AND ($1::text[] IS NULL OR nspname::text ~ ANY ($1::text[]))"           \
    "  AND NOT (nspname::text ~ ANY (coalesce($2::text[], '{}')))"             \
    "  AND ($3::text IS NULL OR strpos(lower(nspname), lower($3)) > 0)"        \
    "  AND ($4::text IS NULL OR nspname > $4::name)"                           \
    "  ORDER BY nspname LIMIT $5::int) n"

#define PG_SQL_TABLES                                                           \
    "WITH RECURSIVE dom(oid, base, tmod, depth) AS ("                           \
    "  SELECT oid, typbasetype, typtypmod, 1 FROM pg_type WHERE typtype = 'd'"  \
    "  UNION ALL SELECT d.oid, b.typbasetype,"                                  \
    "   CASE WHEN d.tmod = -1 THEN b.typtypmod ELSE d.tmod END, d.depth + 1"    \
    "  FROM dom d JOIN pg_type b ON b.oid = d.base AND b.typtype = 'd'),"       \
    " base AS (SELECT DISTINCT ON (oid) oid, base, tmod FROM dom"               \
    "  ORDER BY oid, depth DESC),"                                              \
    " ns AS (SELECT oid, nspname, has_schema_privilege(oid, 'USAGE') AS ok"     \
    "  FROM pg_namespace WHERE nspname = $1::name),"                            \
    " st AS (SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM ns) THEN 'missing'"     \
    "  WHEN NOT (SELECT ok FROM ns) THEN 'denied' ELSE 'ok' END AS state)"      \
    "SELECT st.state, t.relname::text, t.relkind, t.comment, t.nrows,"          \
    " t.nbytes, t.pk, t.qualified, t.readable,"                                 \
    " a.attname::text, a.attnum, format_type(a.atttypid, a.atttypmod),"         \
    " bt.typname::text, bt.typtype, et.typname::text,"                          \
    " CASE WHEN bs.oid IS NOT NULL AND a.atttypmod = -1"                        \
    "  THEN bs.tmod ELSE a.atttypmod END, NOT a.attnotnull,"                    \
    " pg_get_expr(ad.adbin, ad.adrelid), ds.description"                        \
    " FROM st LEFT JOIN (SELECT c.oid, c.relname, c.relkind,"                   \
    "   obj_description(c.oid, 'pg_class') AS comment,"                         \
    "   CASE WHEN c.relkind = 'p' THEN (SELECT CASE WHEN"                       \
    "     bool_or(k.reltuples >= 0) THEN sum(greatest(k.reltuples, 0))::int8"   \
    "     END FROM pg_partition_tree(c.oid) pt JOIN pg_class k"                 \
    "     ON k.oid = pt.relid WHERE pt.isleaf)"                                 \
    "    WHEN c.relkind IN ('r', 'm') AND c.reltuples >= 0"                     \
    "    THEN c.reltuples::int8 END AS nrows,"                                  \
    "   CASE WHEN c.relkind = 'p' THEN (SELECT sum(pg_total_relation_size("     \
    "     pt.relid))::int8 FROM pg_partition_tree(c.oid) pt WHERE pt.isleaf)"   \
    "    WHEN c.relkind IN ('r', 'm') THEN pg_total_relation_size(c.oid)"       \
    "    END AS nbytes,"                                                        \
    "   (SELECT con.conkey FROM pg_constraint con"                              \
    "     WHERE con.conrelid = c.oid AND con.contype = 'p') AS pk,"             \
    "   quote_ident((SELECT nspname FROM ns)) || '.' || quote_ident(c.relname)" \
    "    AS qualified,"                                                         \
    "   has_table_privilege(c.oid, 'SELECT') AS readable"                       \
    "  FROM pg_class c"                                                         \
    "  WHERE c.relnamespace = (SELECT oid FROM ns) AND (SELECT ok FROM ns)"     \
    "   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"                             \
    "   AND ($4::text[] IS NOT NULL OR NOT c.relispartition)"                   \
    "   AND ($2::text IS NULL OR strpos(lower(c.relname), lower($2)) > 0)"      \
    "   AND ($3::text IS NULL OR c.relname > $3::name)"                         \
    "   AND ($4::text[] IS NULL OR c.relname = ANY ($4::text[]::name[]))"       \
    "  ORDER BY c.relname LIMIT $5::int) t ON true"                             \
    " LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0"          \
    "  AND NOT a.attisdropped"                                                  \
    " LEFT JOIN base bs ON bs.oid = a.atttypid"                                 \
    " LEFT JOIN pg_type bt ON bt.oid = coalesce(bs.base, a.atttypid)"           \
    " LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'"     \
    " LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid"                       \
    "  AND ad.adnum = a.attnum"                                                 \
    " LEFT JOIN pg_description ds ON ds.objoid = a.attrelid"                    \
    "  AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum"       \
    " ORDER BY t.relname, a.attnum"

#endif
