-- One row per surviving customer active in the window [@window_start, @as_of_date], read from the
-- compact activity tables the ingest writes next to raw_events (customer_activity.sql: the same
-- events counted per day and customer key) and grouped by customer through `key_map`
-- (customer_key_map.sql: every key's customer in the identity snapshot of @as_of_date). Every
-- aggregate and join runs on the integer keys; the customer_id strings are joined once, to the
-- result. Sums of the counts are the counts of the events, so every column is what counting the
-- events themselves gives (in DuckDB a SUM of counts has the type COUNTIF has, HUGEINT; events is
-- cast back to the INT64 of COUNT(*)). Counts are summed per customer key first and per surviving
-- customer after the identity join, so the join and the groupings see one row per id, not per event.
-- The preferred hour and weekday are the first of the most frequent (the smallest on ties).
-- Recency and tenure count from @as_of_date, never from the wall clock. Weekdays are ISO
-- (1 = Monday), computed from a known Monday so the result is the same in BigQuery and DuckDB.
-- With the optional template table `customers` (one column customer_id of surviving ids) only
-- those customers are profiled: every activity table is semi-joined on the keys that map to them at
-- @as_of_date before any aggregation, and each selected customer's row is exactly the row
-- the whole population would give it (every column here is per customer).
-- The query can run in two steps: with `only_activity_totals` it returns only the per-customer
-- activity totals (the `activity` CTE, keyed by group_key); given such a table as
-- `activity_totals`, it returns the profiles from it, and DuckDB gets the key map as a table
-- (`key_map`) made once for both steps. Before the integer keys DuckDB ran the two steps in 49 s
-- where the single query took 72-91 s at a million customers: the single query holds the wide
-- per-id aggregate and every other aggregate's hash table at once, and spills
-- (benchmarks/README.md).
{%- set daily_activity = daily_activity | default('customer_activity_daily') %}
{%- set category_activity = category_activity | default('customer_activity_categories') %}
{%- set device_activity = device_activity | default('customer_activity_devices') %}
{%- set purchase_activity = purchase_activity | default('customer_activity_purchases') %}
{%- set customers = customers | default(none) %}
{%- set given_key_map = key_map | default(none) %}
{%- set key_map = given_key_map or 'key_map' %}
{%- set activity_totals = activity_totals | default(none) %}
{%- set key_totals = key_totals | default(none) %}
{%- set only_activity_totals = only_activity_totals | default(false) %}
{%- set hours = ('events_h00 events_h01 events_h02 events_h03 events_h04 events_h05 events_h06 events_h07 events_h08 events_h09 events_h10 events_h11 '
    'events_h12 events_h13 events_h14 events_h15 events_h16 events_h17 events_h18 events_h19 events_h20 events_h21 events_h22 events_h23').split() %}
{%- macro only_selected(alias) %}
{%- if customers %} AND {{ alias }}.customer_key IN (SELECT customer_key FROM selected_keys){% endif %}
{%- endmacro %}
WITH
{%- if not given_key_map %}
key_map AS (
  -- Without a materialized key map (`key_map`), it is computed here from `customer_keys` and
  -- `merged_ids`.
  {% include 'customer_key_map.sql' %}
),
{%- endif %}
{%- if customers %}
selected_keys AS (
  -- Keys of the ids of the selected customers: those merged into one of them at @as_of_date, and
  -- the selected ids that no merge maps (they key their own events).
  SELECT customer_key
  FROM {{ key_map }}
  WHERE customer_id IN (SELECT customer_id FROM {{ customers }})
),
{%- endif %}
{%- if activity_totals %}
activity AS (SELECT * FROM {{ activity_totals }}),
{%- else %}
key_activity AS (
{%- if key_totals %}
  -- Per-key totals of the window that the caller made (customer_key_totals.sql).
  SELECT * FROM {{ key_totals }}
{%- else %}
  {% filter indent(2) %}{% include 'customer_key_totals.sql' %}{% endfilter %}
{%- endif %}
),
activity_sums AS (
  SELECT
    km.group_key,
    MIN(a.first_event_date) AS first_event_date,
    MAX(a.last_event_date) AS last_event_date,
    CAST(SUM(a.events) AS INT64) AS events,
    SUM(a.sessions) AS sessions,
    SUM(a.mobile_sessions) AS mobile_sessions,
    SUM(a.item_views) AS item_views,
    SUM(a.category_views) AS category_views,
    SUM(a.cart_adds) AS cart_adds,
    SUM(a.cart_removes) AS cart_removes,
    SUM(a.emails_delivered) AS emails_delivered,
    SUM(a.emails_opened) AS emails_opened,
    SUM(a.emails_clicked) AS emails_clicked,
    SUM(a.weekend_events) AS weekend_events,
    {%- for day in range(1, 8) %}
    SUM(a.events_wd{{ day }}) AS events_wd{{ day }},
    {%- endfor %}
    {%- for hour in hours %}
    SUM(a.{{ hour }}) AS {{ hour }}{{ ',' if not loop.last }}
    {%- endfor %}
  FROM key_activity AS a
  JOIN {{ key_map }} AS km USING (customer_key)
  GROUP BY 1
),
activity AS (
  -- The per-customer activity totals; the weekday and hour counts are reduced to the preferred
  -- weekday and hour here, so what later steps (or a materialized copy) hold is narrow.
  SELECT
    group_key, first_event_date, last_event_date, events, sessions, mobile_sessions, item_views,
    category_views, cart_adds, cart_removes, emails_delivered, emails_opened, emails_clicked,
    weekend_events,
    CAST(CASE GREATEST({% for day in range(1, 8) %}events_wd{{ day }}{{ ', ' if not loop.last }}{% endfor %})
      {%- for day in range(1, 8) %}
      WHEN events_wd{{ day }} THEN {{ day }}
      {%- endfor %}
    END AS INT64) AS preferred_weekday,
    CAST(CASE GREATEST({{ hours | join(', ') }})
      {%- for hour in hours %}
      WHEN {{ hour }} THEN {{ loop.index0 }}
      {%- endfor %}
    END AS INT64) AS preferred_hour
  FROM activity_sums
){{ ',' if not only_activity_totals }}
{%- endif %}
{%- if only_activity_totals %}
SELECT * FROM activity
{%- else %}
cart_add_days AS (
  SELECT group_key, COUNT(DISTINCT event_date) AS cart_add_days
  FROM (
    -- Read from the table, not from `daily`: a second reader of that CTE makes DuckDB materialize
    -- all its columns (24M rows at a million customers, spilled to disk) instead of streaming them.
    SELECT km.group_key, e.event_date
    FROM {{ daily_activity }} AS e
    JOIN {{ key_map }} AS km USING (customer_key)
    WHERE e.event_date BETWEEN @window_start AND @as_of_date
      AND e.cart_adds > 0{{ only_selected('e') }}
  )
  GROUP BY group_key
),
purchase_rows AS (
  SELECT
    km.group_key,
    e.purchase_id, e.purchase_status, e.event_date, e.amount_base, e.has_discount
  FROM {{ purchase_activity }} AS e
  JOIN {{ key_map }} AS km USING (customer_key)
  WHERE e.event_date BETWEEN @window_start AND @as_of_date
    AND e.purchase_status IN ('success', 'refund'){{ only_selected('e') }}
),
orders AS (
  SELECT
    group_key,
    COUNT(DISTINCT purchase_id) AS orders,
    SUM(amount_base) AS gross_revenue,
    COUNT(DISTINCT IF(has_discount, purchase_id, NULL)) AS discounted_orders,
    MIN(event_date) AS first_order_date,
    MAX(event_date) AS last_order_date
  FROM purchase_rows
  WHERE purchase_status = 'success'
  GROUP BY group_key
),
refunds AS (
  SELECT group_key, SUM(amount_base) AS refunded_revenue
  FROM purchase_rows
  WHERE purchase_status = 'refund'
  GROUP BY group_key
),
order_days AS (
  SELECT
    group_key,
    event_date AS order_date,
    SUM(amount_base) AS day_value,
    ROW_NUMBER() OVER (PARTITION BY group_key ORDER BY event_date) AS day_number
  FROM purchase_rows
  WHERE purchase_status = 'success'
  GROUP BY group_key, event_date
),
gaps AS (
  SELECT
    group_key,
    DATE_DIFF(order_date, LAG(order_date) OVER (PARTITION BY group_key ORDER BY order_date), DAY) AS gap_days
  FROM order_days
),
gap_stats AS (
  SELECT group_key, AVG(gap_days) AS gap_mean, STDDEV_SAMP(gap_days) AS gap_sd, COUNT(gap_days) AS n_gaps
  FROM gaps
  WHERE gap_days IS NOT NULL
  GROUP BY group_key
),
repeat_value AS (
  SELECT group_key, COUNT(*) - 1 AS repeat_order_days, AVG(IF(day_number > 1, day_value, NULL)) AS repeat_day_value
  FROM order_days
  GROUP BY group_key
),
category_counts AS (
  SELECT km.group_key, c.category, CAST(SUM(c.n) AS INT64) AS n
  FROM (SELECT customer_key, category, SUM(events) AS n
        FROM {{ category_activity }} AS ca
        WHERE ca.event_date BETWEEN @window_start AND @as_of_date{{ only_selected('ca') }}
        GROUP BY customer_key, category) AS c
  JOIN {{ key_map }} AS km USING (customer_key)
  GROUP BY 1, 2
),
category_stats AS (
  SELECT
    group_key,
    COUNT(*) AS category_breadth,
    SUM(n) AS category_events,
    MAX(n) AS top_category_events
  FROM category_counts
  GROUP BY group_key
),
top_category AS (
  SELECT group_key, category AS top_category
  FROM category_counts
  QUALIFY ROW_NUMBER() OVER (PARTITION BY group_key ORDER BY n DESC, category) = 1
),
top_device AS (
  SELECT group_key, device AS primary_device
  FROM (SELECT km.group_key, d.device, SUM(d.n) AS n
        FROM (SELECT customer_key, device, SUM(sessions) AS n
              FROM {{ device_activity }} AS da
              WHERE da.event_date BETWEEN @window_start AND @as_of_date{{ only_selected('da') }}
              GROUP BY customer_key, device) AS d
        JOIN {{ key_map }} AS km USING (customer_key)
        GROUP BY 1, 2)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY group_key ORDER BY n DESC, device) = 1
)
SELECT
  @as_of_date AS as_of_date,
  n.customer_id,
  COALESCE(o.orders, 0) AS orders,
  COALESCE(o.gross_revenue, 0) - COALESCE(r.refunded_revenue, 0) AS net_revenue,
  COALESCE(o.gross_revenue, 0) AS gross_revenue,
  COALESCE(r.refunded_revenue, 0) AS refunded_revenue,
  COALESCE(SAFE_DIVIDE(o.gross_revenue, o.orders), 0) AS avg_order_value,
  LEAST(COALESCE(SAFE_DIVIDE(r.refunded_revenue, o.gross_revenue), IF(r.refunded_revenue > 0, 1, 0)), 1) AS refund_rate,
  COALESCE(SAFE_DIVIDE(o.discounted_orders, o.orders), 0) AS discount_share,
  DATE_DIFF(@as_of_date, COALESCE(o.last_order_date, a.last_event_date), DAY) AS recency_days,
  DATE_DIFF(@as_of_date, a.first_event_date, DAY) AS tenure_days,
  IF(o.orders IS NULL, 0,
     o.orders / GREATEST(DATE_DIFF(@as_of_date, o.first_order_date, DAY) / 30.0, 1.0)) AS purchase_frequency_per_month,
  COALESCE(g.gap_mean, 0) AS interpurchase_days_mean,
  IF(g.n_gaps >= 2 AND g.gap_mean > 0, 1 / (1 + g.gap_sd / g.gap_mean), 0) AS interpurchase_regularity,
  -- The summed counts are HUGEINT in DuckDB, which the profile frame holds as float64 anyway;
  -- DOUBLE reaches pandas without a per-value conversion (2.1 -> 0.7 s for the result at a
  -- million customers, benchmarks/README.md).
  CAST(a.sessions AS FLOAT64) AS sessions,
  CAST(a.item_views AS FLOAT64) AS item_views,
  CAST(a.category_views AS FLOAT64) AS category_views,
  CAST(a.cart_adds AS FLOAT64) AS cart_adds,
  CAST(a.cart_removes AS FLOAT64) AS cart_removes,
  IF(cd.cart_add_days > 0, GREATEST(1 - COALESCE(o.orders, 0) / cd.cart_add_days, 0), 0) AS cart_abandonment_rate,
  COALESCE(SAFE_DIVIDE(a.emails_opened, a.emails_delivered), 0) AS email_open_rate,
  COALESCE(SAFE_DIVIDE(a.emails_clicked, a.emails_delivered), 0) AS email_click_rate,
  COALESCE(tc.top_category, 'none') AS top_category,
  COALESCE(SAFE_DIVIDE(cs.top_category_events, cs.category_events), 0) AS top_category_share,
  COALESCE(cs.category_breadth, 0) AS category_breadth,
  COALESCE(td.primary_device, 'unknown') AS primary_device,
  COALESCE(SAFE_DIVIDE(a.mobile_sessions, a.sessions), 0) AS mobile_share,
  a.preferred_weekday,
  a.preferred_hour,
  SAFE_DIVIDE(a.weekend_events, a.events) AS weekend_share,
  COALESCE(rv.repeat_order_days, 0) AS repeat_purchase_days,
  IF(o.first_order_date IS NULL, 0, DATE_DIFF(o.last_order_date, o.first_order_date, DAY)) AS first_to_last_order_days,
  IF(o.first_order_date IS NULL, 0, DATE_DIFF(@as_of_date, o.first_order_date, DAY) + 1) AS first_order_age_days,
  COALESCE(rv.repeat_day_value, 0) AS repeat_order_value
FROM activity AS a
-- Each group back to its customer_id: the group key is the key of one of the customer's ids.
JOIN (SELECT customer_key, customer_id FROM {{ key_map }}) AS n ON n.customer_key = a.group_key
LEFT JOIN cart_add_days AS cd USING (group_key)
LEFT JOIN orders AS o USING (group_key)
LEFT JOIN refunds AS r USING (group_key)
LEFT JOIN gap_stats AS g USING (group_key)
LEFT JOIN repeat_value AS rv USING (group_key)
LEFT JOIN category_stats AS cs USING (group_key)
LEFT JOIN top_category AS tc USING (group_key)
LEFT JOIN top_device AS td USING (group_key)
ORDER BY n.customer_id
{%- endif %}
