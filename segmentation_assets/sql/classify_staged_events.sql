-- Number the copies of exact duplicates: rows of the same table with identical original records get
-- copy numbers 1, 2, ... (any one of them is copy 1: they are identical). Quarantine reasons are
-- given in stage_event_table.sql. Only duplicate candidates (rows sharing customer id, timestamp and
-- ingest timestamp with another row) can have copies; every other row is copy 1, so the window only
-- sorts the candidates' records.
SELECT
  *,
  1 AS copy_number
FROM staged_events
WHERE NOT duplicate_candidate
UNION ALL
SELECT
  *,
  ROW_NUMBER() OVER (PARTITION BY source_table, original_record ORDER BY original_record) AS copy_number
FROM staged_events
WHERE duplicate_candidate
