-- One EBQ event table, typed into the canonical long shape, for events in [@window_start, @window_end).
-- Rows whose business timestamp cannot be parsed are placed by their ingest time so they are
-- quarantined in exactly one partition instead of vanishing.
WITH typed AS (
  SELECT
    '{{ table }}' AS source_table,
    t.internal_customer_id AS internal_customer_id,
    {{ timestamp_expr }} AS event_timestamp,
    {{ ingest_timestamp_expr }} AS ingest_timestamp,
    {%- for column, expression in fields %}
    {{ expression }} AS {{ column }},
    {%- endfor %}
    TO_JSON_STRING(t) AS original_record
  FROM {{ source_view }} AS t
)
SELECT
  *,
  COALESCE(DATE(event_timestamp), DATE(ingest_timestamp)) AS event_date
FROM typed
WHERE COALESCE(event_timestamp, ingest_timestamp) >= TIMESTAMP(@window_start)
  AND COALESCE(event_timestamp, ingest_timestamp) < TIMESTAMP(@window_end)
