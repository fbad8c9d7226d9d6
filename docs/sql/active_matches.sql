-- Currently active matches, for DuckDB dashboards (docs/rescan.md explains the model).
--
--   .read docs/sql/active_matches.sql
--   SELECT category, count(*) FROM active_matches('/data/hashwatch') GROUP BY ALL;
--
-- A match is identified by (image_url, page_url, hash_type, list_hash, source). It is active when its latest
-- report (a matches/ row, from a crawl or a rescan) is later than everything retracted for it: a retractions/
-- row withdraws every report up to its matched_at. One row per active match: its latest report.
-- The globs name the partition depth exactly (dt=*/run_id=*/*.parquet), so files of a run still writing
-- (Beam's beam-temp-* folders, one level deeper) are never read. retractions/ exists once a rescan has run.
CREATE OR REPLACE MACRO active_matches(root) AS TABLE
WITH reports AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY image_url, coalesce(page_url, ''), hash_type, list_hash, coalesce(source, '')
               ORDER BY matched_at DESC, run_id DESC
           ) AS newest
    FROM read_parquet(root || '/matches/*/*/*.parquet', hive_partitioning = false)
),
withdrawn AS (
    SELECT image_url, coalesce(page_url, '') AS page_key, hash_type, list_hash,
           coalesce(source, '') AS source_key, max(matched_at) AS withdrawn_upto
    FROM read_parquet(root || '/retractions/*/*/*.parquet', hive_partitioning = false)
    GROUP BY ALL
)
SELECT r.* EXCLUDE (newest)
FROM reports AS r
LEFT JOIN withdrawn AS w
       ON w.image_url = r.image_url
      AND w.page_key = coalesce(r.page_url, '')
      AND w.hash_type = r.hash_type
      AND w.list_hash = r.list_hash
      AND w.source_key = coalesce(r.source, '')
WHERE r.newest = 1
  AND (w.withdrawn_upto IS NULL OR r.matched_at > w.withdrawn_upto);
