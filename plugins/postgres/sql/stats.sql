-- Planner statistics (pg_stats: no table scan) of the columns $2 names
-- (jsonb: {"table": ["column", ...]}) of schema $1, as one JSON array of
-- [table, column, null_frac, distinct, most_common_vals, most_common_freqs,
-- min, max, analyzed].  distinct is n_distinct made a count (a negative
-- n_distinct is a fraction of reltuples); min and max are the histogram's
-- first and last bounds; values are text cut at 200 characters, at most 5
-- of them, none for array columns.  pg_stats shows only the columns the
-- role may read; the inherited row (a partitioned table's) wins.
-- analyzed: the table's last ANALYZE (manual or automatic), UTC ISO 8601.
SELECT coalesce(json_agg(json_build_array(
    w.tab, s.attname::text, s.null_frac,
    CASE WHEN s.n_distinct >= 0 THEN s.n_distinct::float8
         ELSE round((-s.n_distinct * greatest(c.reltuples, 0))::numeric)::float8
    END,
    CASE WHEN ty.typcategory <> 'A' THEN
      (SELECT json_agg(left(v, 200) ORDER BY o)
         FROM unnest((s.most_common_vals::text::text[])[1:5])
              WITH ORDINALITY x(v, o)) END,
    CASE WHEN ty.typcategory <> 'A' THEN
      to_json(s.most_common_freqs[1:5]) END,
    CASE WHEN ty.typcategory <> 'A' THEN
      left((s.histogram_bounds::text::text[])[1], 200) END,
    CASE WHEN ty.typcategory <> 'A' THEN
      left((s.histogram_bounds::text::text[])[
        array_length(s.histogram_bounds::text::text[], 1)], 200) END,
    to_char(greatest(st.last_analyze, st.last_autoanalyze) AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    ORDER BY w.tab, a.attnum), '[]')
FROM jsonb_each($2::jsonb) w(tab, cols)
JOIN pg_class c ON c.relname = w.tab::name
  AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1::name)
CROSS JOIN LATERAL (
  SELECT DISTINCT ON (ps.attname) ps.* FROM pg_stats ps
  WHERE ps.schemaname = $1::name AND ps.tablename = w.tab::name
    AND ps.attname::text IN (SELECT jsonb_array_elements_text(w.cols))
  ORDER BY ps.attname, ps.inherited DESC) s
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_stat_all_tables st ON st.relid = c.oid
