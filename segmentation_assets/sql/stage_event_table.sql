-- One EBQ event table, typed into the canonical long shape, for events in [@window_start, @window_end).
-- Rows whose business timestamp cannot be parsed are placed by their ingest time so they are
-- quarantined in exactly one partition instead of vanishing.
--
-- Every row gets exactly one fate: a quarantine reason (the first matching reason wins, in the order
-- below) or accepted; classify_staged_events.sql then numbers the copies of exact duplicates.
-- The original record (the whole source row as JSON) is the expensive part of the row, so it is
-- computed only where it is used: for quarantined rows (kept verbatim) and for duplicate candidates,
-- rows sharing their customer id, timestamp and ingest timestamp with another row. Identical rows
-- always share these, so comparing the records of the candidates finds every exact duplicate.
WITH typed AS (
  SELECT
    '{{ table }}' AS source_table,
    t.internal_customer_id AS internal_customer_id,
    {{ timestamp_expr }} AS event_timestamp,
    {{ ingest_timestamp_expr }} AS ingest_timestamp,
    {%- for column, expression in fields %}
    {{ expression }} AS {{ column }},
    {%- endfor %}
    COUNT(*) OVER (
      PARTITION BY t.internal_customer_id, {{ timestamp_expr }}, {{ ingest_timestamp_expr }}
    ) > 1 AS duplicate_candidate,
    t AS source_record
  FROM {{ source_view }} AS t
  WHERE {{ prefilter | default('TRUE') }}
    AND COALESCE({{ timestamp_expr }}, {{ ingest_timestamp_expr }}) >= TIMESTAMP(@window_start)
    AND COALESCE({{ timestamp_expr }}, {{ ingest_timestamp_expr }}) < TIMESTAMP(@window_end)
),
classified AS (
  SELECT
    * EXCEPT (source_record),
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
    source_record
  FROM typed
)
SELECT
  * EXCEPT (source_record),
  IF(
    quarantine_reason IS NOT NULL OR duplicate_candidate, TO_JSON_STRING(source_record), NULL
  ) AS original_record,
  COALESCE(DATE(event_timestamp), DATE(ingest_timestamp)) AS event_date
FROM classified
