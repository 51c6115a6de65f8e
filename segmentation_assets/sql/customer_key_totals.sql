-- One row per customer key with daily activity in the window [@window_start, @as_of_date]: the
-- key's first and last active day and the sums of its daily counts (customer_activity.sql), the
-- events per ISO weekday (1 = Monday, computed from a known Monday so BigQuery and DuckDB agree)
-- and per UTC hour. customer_profiles.sql groups these rows by customer.
-- Two forms give the same rows:
--   * from the daily activity of the window (the default);
--   * with `previous_totals`, a table of this query's rows for an earlier window
--     [@previous_window_start, @previous_as_of_date] with @previous_window_start <= @window_start
--     <= @previous_as_of_date + 1 and @previous_as_of_date <= @as_of_date: the days
--     (@previous_as_of_date, @as_of_date] are added to it and [@previous_window_start,
--     @window_start) taken out, so a nightly window moving by one day reads two days of activity
--     instead of a year. A key whose first active day left the window gets it again from the daily
--     activity of the window (only those keys are read); a key left without events has no row.
-- Sums are INT64 in both forms, so a stored copy and the inline query have the same types.
-- With `customers`, the parent template's `selected_keys` CTE limits the keys (default form only).
{%- set daily_activity = daily_activity | default('customer_activity_daily') %}
{%- set previous_totals = previous_totals | default(none) %}
{%- set customers = customers | default(none) %}
{%- set counts = ('events sessions mobile_sessions item_views category_views cart_adds cart_removes '
    'emails_delivered emails_opened emails_clicked').split() %}
{%- set hours = [] %}
{%- for hour in range(24) %}{% set _ = hours.append('events_h%02d' % hour) %}{% endfor %}
{#- Every summed column, in the order of the result. #}
{%- set totals = counts + ['weekend_events'] %}
{%- for day in range(1, 8) %}{% set _ = totals.append('events_wd%d' % day) %}{% endfor %}
{%- set totals = totals + hours %}
{%- set weekday = "MOD(DATE_DIFF(e.event_date, DATE '1970-01-05', DAY), 7) + 1" %}
{%- macro sums(sign) %}
    {%- for column in counts %}
    CAST(SUM({{ sign }}{{ column }}) AS INT64) AS {{ column }},
    {%- endfor %}
    CAST(SUM(IF({{ weekday }} >= 6, {{ sign }}events, 0)) AS INT64) AS weekend_events,
    {%- for day in range(1, 8) %}
    CAST(SUM(IF({{ weekday }} = {{ day }}, {{ sign }}events, 0)) AS INT64) AS events_wd{{ day }},
    {%- endfor %}
    {%- for hour in hours %}
    CAST(SUM({{ sign }}{{ hour }}) AS INT64) AS {{ hour }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
{%- if not previous_totals %}
SELECT
  e.customer_key,
  MIN(e.event_date) AS first_event_date,
  MAX(e.event_date) AS last_event_date,
  {{- sums('e.') }}
FROM {{ daily_activity }} AS e
WHERE e.event_date BETWEEN @window_start AND @as_of_date
{%- if customers %}
  AND e.customer_key IN (SELECT customer_key FROM selected_keys)
{%- endif %}
GROUP BY e.customer_key
{%- else %}
WITH
change AS (
  -- The added days count +1, the days taken out -1.
  SELECT
    e.customer_key,
    MIN(IF(e.event_date > @previous_as_of_date, e.event_date, NULL)) AS first_added_date,
    MAX(IF(e.event_date > @previous_as_of_date, e.event_date, NULL)) AS last_added_date,
    {{- sums('IF(e.event_date > @previous_as_of_date, 1, -1) * e.') }}
  FROM {{ daily_activity }} AS e
  WHERE (e.event_date > @previous_as_of_date AND e.event_date <= @as_of_date)
     OR (e.event_date >= @previous_window_start AND e.event_date < @window_start)
  GROUP BY e.customer_key
),
moved AS (
  SELECT
    COALESCE(p.customer_key, c.customer_key) AS customer_key,
    p.first_event_date AS previous_first_event_date,
    c.first_added_date,
    COALESCE(c.last_added_date, p.last_event_date) AS last_event_date,
    {%- for column in totals %}
    COALESCE(p.{{ column }}, 0) + COALESCE(c.{{ column }}, 0) AS {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
  FROM {{ previous_totals }} AS p
  FULL OUTER JOIN change AS c ON c.customer_key = p.customer_key
),
first_days AS (
  -- Keys still active whose first day was taken out: their first day in the new window.
  SELECT e.customer_key, MIN(e.event_date) AS first_event_date
  FROM {{ daily_activity }} AS e
  WHERE e.event_date BETWEEN @window_start AND @as_of_date
    AND e.customer_key IN (
      SELECT customer_key FROM moved WHERE events > 0 AND previous_first_event_date < @window_start)
  GROUP BY e.customer_key
)
SELECT
  m.customer_key,
  CASE
    WHEN m.previous_first_event_date IS NULL THEN m.first_added_date
    WHEN m.previous_first_event_date >= @window_start THEN m.previous_first_event_date
    ELSE f.first_event_date
  END AS first_event_date,
  m.last_event_date,
  {%- for column in totals %}
  m.{{ column }}{{ ',' if not loop.last }}
  {%- endfor %}
FROM moved AS m
LEFT JOIN first_days AS f ON f.customer_key = m.customer_key
WHERE m.events > 0
{%- endif %}
