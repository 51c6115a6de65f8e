-- Give every customer id with an event in raw_events' days [@day_start, @day_end) that the id
-- dictionary does not hold yet its INTEGER key: the next keys after the largest given, in the order
-- of the ids. Keys already given never change, so re-ingesting a day keeps its customers' keys.
{%- set raw_events = raw_events | default('raw_events') %}
{%- set customer_keys = customer_keys | default('customer_keys') %}
INSERT INTO {{ customer_keys }} (customer_key, internal_customer_id)
SELECT
  (SELECT COALESCE(MAX(customer_key), 0) FROM {{ customer_keys }})
    + ROW_NUMBER() OVER (ORDER BY new_ids.internal_customer_id) AS customer_key,
  new_ids.internal_customer_id
FROM (
  SELECT DISTINCT internal_customer_id
  FROM {{ raw_events }}
  WHERE event_date >= @day_start AND event_date < @day_end
) AS new_ids
LEFT JOIN {{ customer_keys }} AS known USING (internal_customer_id)
WHERE known.customer_key IS NULL
