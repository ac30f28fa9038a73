-- Created, resolved, reopened and merged per local day of the period, and the backlog at the end of
-- each day (docs/metrics.md, "Volume"): the volume figures of GET /reports?group_by=day.
-- Scans every ledgers partition: the backlog counts tickets opened at any time before.
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
days AS (
  SELECT CAST(d AS date) AS day
  FROM period
  CROSS JOIN UNNEST(sequence(period.first_day, period.last_day, INTERVAL '1' DAY)) AS s(d)
)
SELECT
  days.day,
  sum(CASE WHEN m.day = days.day AND m.metric = 'created' THEN 1 ELSE 0 END) AS created,
  sum(CASE WHEN m.day = days.day AND m.metric = 'resolved' THEN 1 ELSE 0 END) AS resolved,
  sum(CASE WHEN m.day = days.day AND m.metric = 'reopened' THEN 1 ELSE 0 END) AS reopened,
  sum(CASE WHEN m.day = days.day AND m.metric = 'merged' THEN 1 ELSE 0 END) AS merged,
  sum(
    CASE
      WHEN m.day <= days.day AND m.metric = 'backlog.opened' THEN 1
      WHEN m.day <= days.day AND m.metric = 'backlog.closed' THEN -1
      ELSE 0
    END
  ) AS backlog
FROM days
CROSS JOIN measured AS m
GROUP BY days.day
ORDER BY days.day
