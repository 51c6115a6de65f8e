-- Give every staged row exactly one fate: a quarantine reason, a duplicate of an earlier identical
-- record, or accepted. The first matching reason wins, in the order below.
SELECT
  *,
  CASE
    WHEN internal_customer_id IS NULL OR TRIM(internal_customer_id) = '' THEN 'null_customer_id'
    WHEN event_timestamp IS NULL THEN 'unparsable_timestamp'
    WHEN ingest_timestamp IS NOT NULL
      AND event_timestamp > TIMESTAMP_ADD(ingest_timestamp, INTERVAL @future_tolerance_minutes MINUTE)
      THEN 'timestamp_after_ingest'
    WHEN raw_amount_present AND amount_parsed IS NULL THEN 'non_numeric_amount'
    WHEN raw_amount_present AND NOT local_currency_known THEN 'unknown_currency'
    WHEN amount_parsed < 0 OR amount_base < 0 OR price_base < 0 THEN 'negative_amount'
    ELSE NULL
  END AS quarantine_reason,
  ROW_NUMBER() OVER (PARTITION BY source_table, original_record ORDER BY original_record) AS copy_number
FROM staged_events
