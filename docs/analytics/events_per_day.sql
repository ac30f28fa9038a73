-- Straight from the ticket history: tickets created, SLA breaches and escalations by level per local
-- day of the reporting time zone ('Europe/Berlin' here: use your reports.timezone). A redelivered
-- batch repeats rows: count distinct event ids. Only the dt partitions (UTC days) of the period are
-- read, with a day's margin on each side for the time zone.
WITH period AS (
  SELECT DATE '2026-03-02' AS first_day, DATE '2026-03-08' AS last_day, '2026-03-01' AS first_dt, '2026-03-09' AS last_dt
),
happened AS (
  SELECT DISTINCT
    e.event_id,
    e.ticket_id,
    e.type,
    json_extract_scalar(e.data, '$.level') AS level,
    CAST(from_iso8601_timestamp(e.at) AT TIME ZONE 'Europe/Berlin' AS date) AS day
  FROM events AS e
  CROSS JOIN period
  WHERE
    e.dt BETWEEN period.first_dt AND period.last_dt
    AND e.type IN ('created', 'sla_breached', 'escalated')
)
SELECT
  h.day,
  count(DISTINCT CASE WHEN h.type = 'created' THEN h.ticket_id END) AS created,
  count_if(h.type = 'sla_breached') AS sla_breaches,
  count_if(h.type = 'escalated' AND h.level = '1') AS escalations_level_1,
  count_if(h.type = 'escalated' AND h.level = '2') AS escalations_level_2
FROM happened AS h
CROSS JOIN period
WHERE h.day BETWEEN period.first_day AND period.last_day
GROUP BY h.day
ORDER BY h.day
