-- Compact activity of the accepted events of the days [@day_start, @day_end), written by the ingest
-- next to raw_events (same days, same transaction) so that a profile window reads these instead of
-- every event: one table per grain, keyed by event_date and the event's own customer id, stored as
-- its key in the id dictionary (identity is resolved when the profiles read them, as of their date).
--   daily       one row per (day, customer): counts of every event kind the profiles use, and the
--               events per UTC hour of the day (events_h00 .. events_h23)
--   categories  one row per (day, customer, level-1 category) of item views, category views and
--               purchased items
--   devices     one row per (day, customer, device) of sessions
--   purchases   the purchase rows themselves (orders need distinct purchase ids)
-- A profile sums these counts, which gives the same numbers as counting the events.
-- With `customer_keys` (the id dictionary, register_customer_keys.sql) the rows are keyed by the
-- INTEGER customer_key of their id instead of the id itself, as the stored tables are: the join runs
-- on the aggregated rows, so the events' string ids are hashed once, by the aggregate.
{%- set grain = grain | default('daily') %}
{%- set raw_events = raw_events | default('raw_events') %}
{%- set customer_keys = customer_keys | default(none) %}
{%- if customer_keys %}
SELECT a.event_date, k.customer_key, a.* EXCEPT (event_date, internal_customer_id)
FROM (
{%- endif %}
{%- if grain == 'daily' %}
SELECT
  event_date,
  internal_customer_id,
  COUNT(*) AS events,
  COUNTIF(source_table = 'session_start') AS sessions,
  COUNTIF(source_table = 'session_start' AND device = 'mobile') AS mobile_sessions,
  COUNTIF(source_table = 'view_item') AS item_views,
  COUNTIF(source_table = 'view_category') AS category_views,
  COUNTIF(source_table = 'cart_update' AND cart_action = 'add') AS cart_adds,
  COUNTIF(source_table = 'cart_update' AND cart_action = 'remove') AS cart_removes,
  COUNTIF(source_table = 'campaign' AND campaign_action_type = 'email' AND campaign_status = 'delivered') AS emails_delivered,
  COUNTIF(source_table = 'campaign' AND campaign_action_type = 'email' AND campaign_status = 'opened') AS emails_opened,
  COUNTIF(source_table = 'campaign' AND campaign_action_type = 'email' AND campaign_status = 'clicked') AS emails_clicked,
  {%- for hour in range(24) %}
  COUNTIF(utc_hour = {{ hour }}) AS events_h{{ '%02d' % hour }}{{ ',' if not loop.last }}
  {%- endfor %}
FROM (
  -- The UTC hour once per event, by arithmetic on the epoch: a calendar EXTRACT on a time-zoned
  -- timestamp is evaluated per row and per hour column otherwise.
  SELECT *, MOD(DIV(UNIX_MICROS(event_timestamp), 3600000000), 24) AS utc_hour
  FROM {{ raw_events }}
  WHERE event_date >= @day_start AND event_date < @day_end
)
GROUP BY event_date, internal_customer_id
{%- elif grain == 'categories' %}
SELECT
  event_date,
  internal_customer_id,
  category_level_1 AS category,
  COUNT(*) AS events
FROM {{ raw_events }}
WHERE event_date >= @day_start AND event_date < @day_end
  AND category_level_1 IS NOT NULL
  AND source_table IN ('view_item', 'view_category', 'purchase_item')
GROUP BY event_date, internal_customer_id, category
{%- elif grain == 'devices' %}
SELECT
  event_date,
  internal_customer_id,
  device,
  COUNT(*) AS sessions
FROM {{ raw_events }}
WHERE event_date >= @day_start AND event_date < @day_end
  AND source_table = 'session_start' AND device IS NOT NULL
GROUP BY event_date, internal_customer_id, device
{%- elif grain == 'purchases' %}
SELECT
  event_date,
  internal_customer_id,
  purchase_id,
  purchase_status,
  amount_base,
  has_discount
FROM {{ raw_events }}
WHERE event_date >= @day_start AND event_date < @day_end
  AND source_table = 'purchase'
{%- else %}
{{ raise_unknown_grain }}
{%- endif %}
{%- if customer_keys %}
) AS a
JOIN {{ customer_keys }} AS k USING (internal_customer_id)
{%- endif %}
