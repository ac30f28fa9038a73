-- Agent replies, one-touch and first contact resolution (of the tickets resolved in the period, on
-- the day of their latest resolution), reopen rate (of those first resolved in the period) and next
-- issue avoidance (docs/metrics.md): the rates of GET /reports, per team.
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
)
SELECT
  coalesce(m.team, 'none') AS team,
  count_if(m.metric = 'agent_reply') AS agent_replies,
  count_if(m.metric = 'resolved_ticket') AS resolved_tickets,
  count_if(m.metric = 'one_touch') AS one_touch,
  count_if(m.metric = 'first_contact_resolution') AS first_contact_resolution,
  count_if(m.metric = 'first_resolved') AS first_resolved,
  count_if(m.metric = 'reopened_after_resolution') AS reopened_after_resolution,
  count_if(m.metric = 'next_issue.followed') AS next_issue_followed,
  CAST(count_if(m.metric = 'first_contact_resolution') AS double)
    / nullif(count_if(m.metric = 'resolved_ticket'), 0) AS first_contact_resolution_rate,
  CAST(count_if(m.metric = 'reopened_after_resolution') AS double)
    / nullif(count_if(m.metric = 'first_resolved'), 0) AS reopen_rate,
  1 - CAST(count_if(m.metric = 'next_issue.followed') AS double)
    / nullif(count_if(m.metric = 'resolved_ticket'), 0) AS next_issue_avoidance
FROM measured AS m
CROSS JOIN period
WHERE m.day BETWEEN period.first_day AND period.last_day
GROUP BY coalesce(m.team, 'none')
ORDER BY team
