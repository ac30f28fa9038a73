-- Every duration (first and next response, first and full resolution, handle time) per team, in
-- calendar and business time (each ticket's own calendar): count, mean, and the median and 90th
-- percentile as docs/metrics.md defines them (lower nearest rank: the value at index
-- floor(q * (n - 1)) of the sorted durations, counted from 0), exact; and Athena's
-- approx_percentile beside them. GET /reports?group_by=team answers from sketches within 1 %.
WITH period AS (SELECT DATE '2026-03-02' AS first_day, DATE '2026-03-08' AS last_day),
-- each ticket's current ledger: its newest row (a redelivered batch repeats rows; a removed ledger counts nowhere)
current_ledgers AS (
  SELECT *
  FROM (
    SELECT l.*, row_number() OVER (PARTITION BY ticket_id ORDER BY sequence DESC) AS newest
    FROM ledgers AS l
  )
  WHERE newest = 1 AND NOT removed
),
-- one row per contribution: what the per-day aggregates of GET /reports sum
measured AS (
  SELECT
    c.ticket_id, c.team, c.channel, c.inbox, c.tier, c.priority, c.tags,
    coalesce(m.measure_agent, c.agent) AS agent,
    m.day, m.metric, m.calendar_seconds, m.business_seconds
  FROM current_ledgers AS c
  CROSS JOIN UNNEST(c.measures) AS m(day, metric, measure_agent, calendar_seconds, business_seconds)
),
timed AS (
  SELECT
    coalesce(m.team, 'none') AS team,
    m.metric,
    k.clock,
    CASE k.clock WHEN 'calendar' THEN m.calendar_seconds ELSE m.business_seconds END AS seconds
  FROM measured AS m
  CROSS JOIN (VALUES 'calendar', 'business') AS k(clock)
  CROSS JOIN period
  WHERE
    m.metric IN ('first_response', 'next_response', 'first_resolution', 'full_resolution', 'handle')
    AND m.day BETWEEN period.first_day AND period.last_day
)
SELECT
  team,
  metric,
  clock,
  count(*) AS durations,
  avg(seconds) AS mean,
  element_at(array_sort(array_agg(seconds)), CAST(floor(0.5 * (count(*) - 1)) AS integer) + 1) AS median,
  element_at(array_sort(array_agg(seconds)), CAST(floor(0.9 * (count(*) - 1)) AS integer) + 1) AS p90,
  approx_percentile(seconds, 0.5) AS approx_median,
  approx_percentile(seconds, 0.9) AS approx_p90
FROM timed
WHERE seconds IS NOT NULL
GROUP BY team, metric, clock
ORDER BY team, metric, clock
