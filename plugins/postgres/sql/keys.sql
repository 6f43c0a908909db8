-- Unique keys and foreign keys of the tables $2 (text[]) of schema $1, as
-- one JSON array of [table, kind, name, columns, ref_schema, ref_table,
-- ref_columns], columns in key order.  kind 'u': a valid unique index on
-- plain columns without a predicate that is not the primary key (unique
-- constraints included; INCLUDE columns left out).  kind 'f': a foreign
-- key, with the schema, table and columns it references.
WITH t AS (
  SELECT c.oid, c.relname::text AS relname FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1::name)
    AND c.relname = ANY ($2::text[]::name[])
), u AS (
  SELECT t.relname, 'u' AS kind, ic.relname::text AS name,
    (SELECT array_agg(a.attname::text ORDER BY k.ord)
       FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.num
      WHERE k.ord <= i.indnkeyatts) AS cols,
    NULL::text AS rschema, NULL::text AS rtable, NULL::text[] AS rcols
  FROM t JOIN pg_index i ON i.indrelid = t.oid
  JOIN pg_class ic ON ic.oid = i.indexrelid
  WHERE i.indisunique AND NOT i.indisprimary AND i.indisvalid
    AND i.indpred IS NULL AND i.indexprs IS NULL
), f AS (
  SELECT t.relname, 'f' AS kind, con.conname::text AS name,
    (SELECT array_agg(a.attname::text ORDER BY k.ord)
       FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num)
      AS cols,
    rn.nspname::text AS rschema, rc.relname::text AS rtable,
    (SELECT array_agg(a.attname::text ORDER BY k.ord)
       FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num)
      AS rcols
  FROM t JOIN pg_constraint con ON con.conrelid = t.oid AND con.contype = 'f'
  JOIN pg_class rc ON rc.oid = con.confrelid
  JOIN pg_namespace rn ON rn.oid = rc.relnamespace
)
SELECT coalesce(json_agg(json_build_array(k.relname, k.kind, k.name, k.cols,
                                          k.rschema, k.rtable, k.rcols)
                         ORDER BY k.relname, k.kind, k.name), '[]')
FROM (SELECT * FROM u UNION ALL SELECT * FROM f) k
