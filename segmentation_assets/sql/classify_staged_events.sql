-- The redundant copies of exact duplicates among the staged rows of one chunk: rows of the same table
-- with identical original records are one event; any one of them is kept (they are identical) and
-- the others are listed here, to be dropped and counted. Quarantine reasons are given in
-- stage_event_table.sql; quarantined rows are kept verbatim, copies included. Only duplicate
-- candidates (rows sharing customer id, timestamp and ingest timestamp with another row) can have
-- copies, so the window sorts only the candidates' records, and the ingest drops the listed rows
-- with an anti-join instead of numbering every staged row. `rowid` is DuckDB's identity of a row of
-- the staged_events temporary table.
SELECT
  staged_row,
  event_date,
  source_table
FROM (
  SELECT
    rowid AS staged_row,
    event_date,
    source_table,
    ROW_NUMBER() OVER (PARTITION BY source_table, original_record ORDER BY rowid) AS copy_number
  FROM staged_events
  WHERE duplicate_candidate AND quarantine_reason IS NULL
)
WHERE copy_number > 1
