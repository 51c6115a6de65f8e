-- Every key of the id dictionary with the customer its id belongs to in the identity snapshot of
-- @as_of_date: `customer_id` is the surviving id (the id itself when no merge maps it), and
-- `group_key` the smallest key among the ids of that customer, so that the profile SQL can group the
-- keyed activity by customer on an integer and turn each group back into its customer_id at the end.
-- Ids no merge maps key their own events.
{%- set customer_keys = customer_keys | default('customer_keys') %}
SELECT
  k.customer_key,
  MIN(k.customer_key) OVER (PARTITION BY COALESCE(m.surviving_id, k.internal_customer_id)) AS group_key,
  COALESCE(m.surviving_id, k.internal_customer_id) AS customer_id
FROM {{ customer_keys }} AS k
LEFT JOIN {{ merged_ids }} AS m
  ON m.as_of_date = @as_of_date AND m.internal_customer_id = k.internal_customer_id
