-- SLA outcomes per target of the tickets created in the period (docs/metrics.md, "SLA achievement"):
-- met, breached, still open, and achievement = met / (met + breached).
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
outcomes AS (
  SELECT
    split_part(m.metric, '.', 2) AS target,
    split_part(m.metric, '.', 3) AS outcome
  FROM measured AS m
  CROSS JOIN period
  WHERE m.metric LIKE 'sla.%' AND m.day BETWEEN period.first_day AND period.last_day
)
SELECT
  target,
  count_if(outcome = 'met') AS met,
  count_if(outcome = 'breached') AS breached,
  count_if(outcome = 'open') AS still_open,
  CAST(count_if(outcome = 'met') AS double) / nullif(count_if(outcome IN ('met', 'breached')), 0) AS achievement
FROM outcomes
GROUP BY target
ORDER BY target
