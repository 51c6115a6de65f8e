-- One row per surviving customer active in the window [@window_start, @as_of_date], events re-keyed
-- through the identity snapshot of @as_of_date. Recency and tenure count from @as_of_date, never
-- from the wall clock. Weekdays are ISO (1 = Monday), computed from a known Monday so the result is
-- the same in BigQuery and DuckDB.
WITH events AS (
  SELECT
    COALESCE(m.surviving_id, e.internal_customer_id) AS customer_id,
    e.*,
    MOD(DATE_DIFF(e.event_date, DATE '1970-01-05', DAY), 7) + 1 AS iso_weekday,
    EXTRACT(HOUR FROM e.event_timestamp) AS event_hour
  FROM {{ raw_events }} AS e
  LEFT JOIN {{ merged_ids }} AS m
    ON m.as_of_date = @as_of_date AND m.internal_customer_id = e.internal_customer_id
  WHERE e.event_date BETWEEN @window_start AND @as_of_date
),
purchase_rows AS (
  SELECT customer_id, purchase_id, purchase_status, event_timestamp, event_date, amount_base, has_discount
  FROM events
  WHERE source_table = 'purchase' AND purchase_status IN ('success', 'refund')
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
activity AS (
  SELECT
    customer_id,
    MIN(event_date) AS first_event_date,
    MAX(event_date) AS last_event_date,
    COUNT(*) AS events,
    COUNTIF(source_table = 'session_start') AS sessions,
    COUNTIF(source_table = 'session_start' AND device = 'mobile') AS mobile_sessions,
    COUNTIF(source_table = 'view_item') AS item_views,
    COUNTIF(source_table = 'view_category') AS category_views,
    COUNTIF(source_table = 'cart_update' AND cart_action = 'add') AS cart_adds,
    COUNTIF(source_table = 'cart_update' AND cart_action = 'remove') AS cart_removes,
    COUNT(DISTINCT IF(source_table = 'cart_update' AND cart_action = 'add', event_date, NULL)) AS cart_add_days,
    COUNTIF(source_table = 'campaign' AND campaign_action_type = 'email' AND campaign_status = 'delivered') AS emails_delivered,
    COUNTIF(source_table = 'campaign' AND campaign_action_type = 'email' AND campaign_status = 'opened') AS emails_opened,
    COUNTIF(source_table = 'campaign' AND campaign_action_type = 'email' AND campaign_status = 'clicked') AS emails_clicked,
    COUNTIF(iso_weekday >= 6) AS weekend_events
  FROM events
  GROUP BY customer_id
),
category_counts AS (
  SELECT customer_id, category_level_1 AS category, COUNT(*) AS n
  FROM events
  WHERE category_level_1 IS NOT NULL AND source_table IN ('view_item', 'view_category', 'purchase_item')
  GROUP BY customer_id, category_level_1
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
  FROM (SELECT customer_id, device, COUNT(*) AS n FROM events
        WHERE source_table = 'session_start' AND device IS NOT NULL GROUP BY customer_id, device)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, device) = 1
),
top_weekday AS (
  SELECT customer_id, iso_weekday AS preferred_weekday
  FROM (SELECT customer_id, iso_weekday, COUNT(*) AS n FROM events GROUP BY customer_id, iso_weekday)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, iso_weekday) = 1
),
top_hour AS (
  SELECT customer_id, event_hour AS preferred_hour
  FROM (SELECT customer_id, event_hour, COUNT(*) AS n FROM events GROUP BY customer_id, event_hour)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, event_hour) = 1
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
  IF(a.cart_add_days > 0, GREATEST(1 - COALESCE(o.orders, 0) / a.cart_add_days, 0), 0) AS cart_abandonment_rate,
  COALESCE(SAFE_DIVIDE(a.emails_opened, a.emails_delivered), 0) AS email_open_rate,
  COALESCE(SAFE_DIVIDE(a.emails_clicked, a.emails_delivered), 0) AS email_click_rate,
  COALESCE(tc.top_category, 'none') AS top_category,
  COALESCE(SAFE_DIVIDE(cs.top_category_events, cs.category_events), 0) AS top_category_share,
  COALESCE(cs.category_breadth, 0) AS category_breadth,
  COALESCE(td.primary_device, 'unknown') AS primary_device,
  COALESCE(SAFE_DIVIDE(a.mobile_sessions, a.sessions), 0) AS mobile_share,
  tw.preferred_weekday,
  th.preferred_hour,
  SAFE_DIVIDE(a.weekend_events, a.events) AS weekend_share,
  COALESCE(rv.repeat_order_days, 0) AS repeat_purchase_days,
  IF(o.first_order_date IS NULL, 0, DATE_DIFF(o.last_order_date, o.first_order_date, DAY)) AS first_to_last_order_days,
  IF(o.first_order_date IS NULL, 0, DATE_DIFF(@as_of_date, o.first_order_date, DAY) + 1) AS first_order_age_days,
  COALESCE(rv.repeat_day_value, 0) AS repeat_order_value
FROM activity AS a
LEFT JOIN orders AS o USING (customer_id)
LEFT JOIN refunds AS r USING (customer_id)
LEFT JOIN gap_stats AS g USING (customer_id)
LEFT JOIN repeat_value AS rv USING (customer_id)
LEFT JOIN category_stats AS cs USING (customer_id)
LEFT JOIN top_category AS tc USING (customer_id)
LEFT JOIN top_device AS td USING (customer_id)
LEFT JOIN top_weekday AS tw USING (customer_id)
LEFT JOIN top_hour AS th USING (customer_id)
ORDER BY a.customer_id
