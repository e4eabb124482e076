-- A month's calls by day, read by DuckDB straight from the service's live
-- database file (no export, no copy). Once per machine, in DuckDB:
--   INSTALL sqlite;
-- then:  duckdb -c ".read examples/duckdb-month-report.sql"
-- `started_on` is the call's date in the offset its times carry (+08:00 as
-- Udesk sends them), as `callStats` groups by DAY in the service's default
-- offset.
LOAD sqlite;
ATTACH 'udesk-calls.db' AS udesk (TYPE sqlite, READ_ONLY);
SELECT started_on                                AS day,
       count(*)                                  AS calls,
       count(*) FILTER (WHERE answered = 'yes')  AS answered,
       coalesce(sum(total_seconds), 0)           AS talk_seconds
FROM udesk.calls_readable
WHERE started_on >= '2024-05-01' AND started_on < '2024-06-01'
GROUP BY day
ORDER BY day;
