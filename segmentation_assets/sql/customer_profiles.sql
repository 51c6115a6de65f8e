-- One row per surviving customer active in the window [@window_start, @as_of_date], read from the
-- compact activity tables the ingest writes next to raw_events (customer_activity.sql: the same
-- events counted per day and customer id) and re-keyed through the identity snapshot of
-- @as_of_date. Sums of the counts are the counts of the events, so every column is what counting the
-- events themselves gives (in DuckDB a SUM of counts has the type COUNTIF has, HUGEINT; events is
-- cast back to the INT64 of COUNT(*)). Counts are summed per customer id first and per surviving
-- customer after the identity join, so the join and the groupings see one row per id, not per event.
-- The preferred hour and weekday are the first of the most frequent (the smallest on ties).
-- Recency and tenure count from @as_of_date, never from the wall clock. Weekdays are ISO
-- (1 = Monday), computed from a known Monday so the result is the same in BigQuery and DuckDB.
-- With the optional template table `customers` (one column customer_id of surviving ids) only
-- those customers are profiled: every activity table is semi-joined on the internal ids that map to
-- them at @as_of_date before any aggregation, and each selected customer's row is exactly the row
-- the whole population would give it (every column here is per customer).
-- The query can run in two steps: with `only_activity_totals` it returns only the per-customer
-- activity totals (the `activity` CTE); given such a table as `activity_totals`, it returns the
-- profiles from it. DuckDB runs the two steps in 49 s where the single query took 72-91 s at a
-- million customers: the single query holds the wide per-id aggregate and every other aggregate's
-- hash table at once, and spills (benchmarks/README.md).
{%- set daily_activity = daily_activity | default('customer_activity_daily') %}
{%- set category_activity = category_activity | default('customer_activity_categories') %}
{%- set device_activity = device_activity | default('customer_activity_devices') %}
{%- set purchase_activity = purchase_activity | default('customer_activity_purchases') %}
{%- set customers = customers | default(none) %}
{%- set activity_totals = activity_totals | default(none) %}
{%- set only_activity_totals = only_activity_totals | default(false) %}
{%- set hours = ('events_h00 events_h01 events_h02 events_h03 events_h04 events_h05 events_h06 events_h07 events_h08 events_h09 events_h10 events_h11 '
    'events_h12 events_h13 events_h14 events_h15 events_h16 events_h17 events_h18 events_h19 events_h20 events_h21 events_h22 events_h23').split() %}
{%- macro only_selected(alias) %}
{%- if customers %} AND {{ alias }}.internal_customer_id IN (SELECT internal_customer_id FROM selected_ids){% endif %}
{%- endmacro %}
WITH
{%- if customers %}
selected_ids AS (
  -- Internal ids of the selected customers: those merged into one of them at @as_of_date, and
  -- the selected ids that no merge maps (they key their own events, as COALESCE below does).
  SELECT m.internal_customer_id
  FROM {{ merged_ids }} AS m
  JOIN {{ customers }} AS c ON c.customer_id = m.surviving_id
  WHERE m.as_of_date = @as_of_date
  UNION DISTINCT
  SELECT c.customer_id AS internal_customer_id
  FROM {{ customers }} AS c
  LEFT JOIN {{ merged_ids }} AS m
    ON m.as_of_date = @as_of_date AND m.internal_customer_id = c.customer_id
  WHERE m.internal_customer_id IS NULL
),
{%- endif %}
{%- if activity_totals %}
activity AS (SELECT * FROM {{ activity_totals }}),
{%- else %}
daily AS (
  SELECT
    e.*,
    MOD(DATE_DIFF(e.event_date, DATE '1970-01-05', DAY), 7) + 1 AS iso_weekday
  FROM {{ daily_activity }} AS e
  WHERE e.event_date BETWEEN @window_start AND @as_of_date{{ only_selected('e') }}
),
id_activity AS (
  SELECT
    internal_customer_id,
    MIN(event_date) AS first_event_date,
    MAX(event_date) AS last_event_date,
    SUM(events) AS events,
    SUM(sessions) AS sessions,
    SUM(mobile_sessions) AS mobile_sessions,
    SUM(item_views) AS item_views,
    SUM(category_views) AS category_views,
    SUM(cart_adds) AS cart_adds,
    SUM(cart_removes) AS cart_removes,
    SUM(emails_delivered) AS emails_delivered,
    SUM(emails_opened) AS emails_opened,
    SUM(emails_clicked) AS emails_clicked,
    SUM(IF(iso_weekday >= 6, events, 0)) AS weekend_events,
    {%- for day in range(1, 8) %}
    SUM(IF(iso_weekday = {{ day }}, events, 0)) AS events_wd{{ day }},
    {%- endfor %}
    {%- for hour in hours %}
    SUM({{ hour }}) AS {{ hour }}{{ ',' if not loop.last }}
    {%- endfor %}
  FROM daily
  GROUP BY internal_customer_id
),
activity_sums AS (
  SELECT
    COALESCE(m.surviving_id, a.internal_customer_id) AS customer_id,
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
  FROM id_activity AS a
  LEFT JOIN {{ merged_ids }} AS m
    ON m.as_of_date = @as_of_date AND m.internal_customer_id = a.internal_customer_id
  GROUP BY 1
),
activity AS (
  -- The per-customer activity totals; the weekday and hour counts are reduced to the preferred
  -- weekday and hour here, so what later steps (or a materialized copy) hold is narrow.
  SELECT
    customer_id, first_event_date, last_event_date, events, sessions, mobile_sessions, item_views,
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
  SELECT customer_id, COUNT(DISTINCT event_date) AS cart_add_days
  FROM (
    -- Read from the table, not from `daily`: a second reader of that CTE makes DuckDB materialize
    -- all its columns (24M rows at a million customers, spilled to disk) instead of streaming them.
    SELECT COALESCE(m.surviving_id, e.internal_customer_id) AS customer_id, e.event_date
    FROM {{ daily_activity }} AS e
    LEFT JOIN {{ merged_ids }} AS m
      ON m.as_of_date = @as_of_date AND m.internal_customer_id = e.internal_customer_id
    WHERE e.event_date BETWEEN @window_start AND @as_of_date
      AND e.cart_adds > 0{{ only_selected('e') }}
  )
  GROUP BY customer_id
),
purchase_rows AS (
  SELECT
    COALESCE(m.surviving_id, e.internal_customer_id) AS customer_id,
    e.purchase_id, e.purchase_status, e.event_date, e.amount_base, e.has_discount
  FROM {{ purchase_activity }} AS e
  LEFT JOIN {{ merged_ids }} AS m
    ON m.as_of_date = @as_of_date AND m.internal_customer_id = e.internal_customer_id
  WHERE e.event_date BETWEEN @window_start AND @as_of_date
    AND e.purchase_status IN ('success', 'refund'){{ only_selected('e') }}
),
orders AS (
  SELECT
    customer_id,
    COUNT(DISTINCT purchase_id) AS orders,
    SUM(amount_base) AS gross_revenue,
    COUNT(DISTINCT IF(has_discount, purchase_id, NULL)) AS discounted_orders,
    MIN(event_date) AS first_order_date,
    MAX(event_date) AS last_order_date
  FROM purchase_rows
  WHERE purchase_status = 'success'
  GROUP BY customer_id
),
refunds AS (
  SELECT customer_id, SUM(amount_base) AS refunded_revenue
  FROM purchase_rows
  WHERE purchase_status = 'refund'
  GROUP BY customer_id
),
order_days AS (
  SELECT
    customer_id,
    event_date AS order_date,
    SUM(amount_base) AS day_value,
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY event_date) AS day_number
  FROM purchase_rows
  WHERE purchase_status = 'success'
  GROUP BY customer_id, event_date
),
gaps AS (
  SELECT
    customer_id,
    DATE_DIFF(order_date, LAG(order_date) OVER (PARTITION BY customer_id ORDER BY order_date), DAY) AS gap_days
  FROM order_days
),
gap_stats AS (
  SELECT customer_id, AVG(gap_days) AS gap_mean, STDDEV_SAMP(gap_days) AS gap_sd, COUNT(gap_days) AS n_gaps
  FROM gaps
  WHERE gap_days IS NOT NULL
  GROUP BY customer_id
),
repeat_value AS (
  SELECT customer_id, COUNT(*) - 1 AS repeat_order_days, AVG(IF(day_number > 1, day_value, NULL)) AS repeat_day_value
  FROM order_days
  GROUP BY customer_id
),
category_counts AS (
  SELECT COALESCE(m.surviving_id, c.internal_customer_id) AS customer_id, c.category, CAST(SUM(c.n) AS INT64) AS n
  FROM (SELECT internal_customer_id, category, SUM(events) AS n
        FROM {{ category_activity }} AS ca
        WHERE ca.event_date BETWEEN @window_start AND @as_of_date{{ only_selected('ca') }}
        GROUP BY internal_customer_id, category) AS c
  LEFT JOIN {{ merged_ids }} AS m
    ON m.as_of_date = @as_of_date AND m.internal_customer_id = c.internal_customer_id
  GROUP BY 1, 2
),
category_stats AS (
  SELECT
    customer_id,
    COUNT(*) AS category_breadth,
    SUM(n) AS category_events,
    MAX(n) AS top_category_events
  FROM category_counts
  GROUP BY customer_id
),
top_category AS (
  SELECT customer_id, category AS top_category
  FROM category_counts
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, category) = 1
),
top_device AS (
  SELECT customer_id, device AS primary_device
  FROM (SELECT COALESCE(m.surviving_id, d.internal_customer_id) AS customer_id, d.device, SUM(d.n) AS n
        FROM (SELECT internal_customer_id, device, SUM(sessions) AS n
              FROM {{ device_activity }} AS da
              WHERE da.event_date BETWEEN @window_start AND @as_of_date{{ only_selected('da') }}
              GROUP BY internal_customer_id, device) AS d
        LEFT JOIN {{ merged_ids }} AS m
          ON m.as_of_date = @as_of_date AND m.internal_customer_id = d.internal_customer_id
        GROUP BY 1, 2)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, device) = 1
)
SELECT
  @as_of_date AS as_of_date,
  a.customer_id,
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
  a.sessions,
  a.item_views,
  a.category_views,
  a.cart_adds,
  a.cart_removes,
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
LEFT JOIN cart_add_days AS cd USING (customer_id)
LEFT JOIN orders AS o USING (customer_id)
LEFT JOIN refunds AS r USING (customer_id)
LEFT JOIN gap_stats AS g USING (customer_id)
LEFT JOIN repeat_value AS rv USING (customer_id)
LEFT JOIN category_stats AS cs USING (customer_id)
LEFT JOIN top_category AS tc USING (customer_id)
LEFT JOIN top_device AS td USING (customer_id)
ORDER BY a.customer_id
{%- endif %}
