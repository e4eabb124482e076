-- calls_readable: the calls as a person reads them, in `sqlite3` or
-- Datasette, with no arithmetic and no joins to write:
--
--   * times are wall-clock text, `2024-05-06 09:00:00`, in the offset the
--     call's own times carry (`utc_offset` gives the one of started_at;
--     Udesk writes them all in +08:00, and a time pushed without an offset
--     is in the service's default offset);
--   * durations are `H:MM:SS` (total_time, queue_time, ring_time, ivr_time),
--     and total_seconds keeps the talk time as a number to sum or sort by;
--   * codes keep their column and gain their labels from the reference
--     tables: workflow_zh / workflow_en, category_zh / category_en,
--     last_occasion_zh / last_occasion_en, defeat_cause_en and
--     defeat_cause_description;
--   * a call's ticket numbers are one text, `#3301, #3302`.
--
-- Newest call first. It is a view: nothing is stored twice, and it always
-- shows the calls as they are. The SQL sticks to what SQLite 3.31 knows, so
-- an older `sqlite3` or Python (Datasette) reads it too.

CREATE VIEW calls_readable AS
SELECT
    c.conversation_id,
    c.call_id,
    c.status,
    replace(substr(c.started_at, 1, 19), 'T', ' ') AS started_at,
    substr(c.started_at, 1, 10) AS started_on,
    substr(c.started_at, -6) AS utc_offset,
    c.workflow,
    w.name_zh AS workflow_zh,
    w.name_en AS workflow_en,
    c.category,
    k.name_zh AS category_zh,
    k.name_en AS category_en,
    c.call_result,
    CASE WHEN c.total_time > 0 THEN 'yes' ELSE 'no' END AS answered,
    CASE WHEN c.total_time IS NULL THEN NULL
         ELSE printf('%d:%02d:%02d', c.total_time / 3600, c.total_time / 60 % 60, c.total_time % 60)
    END AS total_time,
    c.total_time AS total_seconds,
    CASE WHEN c.queue_time IS NULL THEN NULL
         ELSE printf('%d:%02d:%02d', c.queue_time / 3600, c.queue_time / 60 % 60, c.queue_time % 60)
    END AS queue_time,
    CASE WHEN c.ring_time IS NULL THEN NULL
         ELSE printf('%d:%02d:%02d', c.ring_time / 3600, c.ring_time / 60 % 60, c.ring_time % 60)
    END AS ring_time,
    CASE WHEN c.ivr_time IS NULL THEN NULL
         ELSE printf('%d:%02d:%02d', c.ivr_time / 3600, c.ivr_time / 60 % 60, c.ivr_time % 60)
    END AS ivr_time,
    c.agent_id,
    c.agent_nick_name,
    c.agent_email,
    c.user_group_id AS agent_group_id,
    c.user_group_name AS agent_group,
    c.customer_phone,
    c.nick_name AS customer_name,
    c.mobile_area,
    c.display_number,
    c.queue_statue,
    c.drop_side,
    c.defeat_cause,
    d.description_en AS defeat_cause_en,
    d.description AS defeat_cause_description,
    c.survey,
    CASE c.is_leave_message WHEN 1 THEN 'yes' WHEN 0 THEN 'no' END AS left_message,
    c.record_url,
    (SELECT group_concat(ticket_number, ', ')
       FROM (SELECT ticket_number FROM tickets t
              WHERE t.conversation_id = c.conversation_id
              ORDER BY t.position)) AS ticket_numbers,
    replace(substr(c.customer_ring_at, 1, 19), 'T', ' ') AS customer_ring_at,
    replace(substr(c.customer_answer_at, 1, 19), 'T', ' ') AS customer_answer_at,
    replace(substr(c.customer_hangup_at, 1, 19), 'T', ' ') AS customer_hangup_at,
    replace(substr(c.agent_ring_at, 1, 19), 'T', ' ') AS agent_ring_at,
    replace(substr(c.agent_answer_at, 1, 19), 'T', ' ') AS agent_answer_at,
    replace(substr(c.agent_hangup_at, 1, 19), 'T', ' ') AS agent_hangup_at,
    c.last_occasion,
    o.name_zh AS last_occasion_zh,
    o.name_en AS last_occasion_en,
    replace(substr(c.last_event_at, 1, 19), 'T', ' ') AS last_event_at,
    c.event_count,
    c.warning_count,
    replace(substr(c.first_received_at, 1, 19), 'T', ' ') AS first_received_at,
    replace(substr(c.last_received_at, 1, 19), 'T', ' ') AS last_received_at
FROM calls c
LEFT JOIN workflows w ON w.code = c.workflow
LEFT JOIN categories k ON k.code = c.category
LEFT JOIN occasions o ON o.code = c.last_occasion
LEFT JOIN defeat_causes d ON d.name = c.defeat_cause
ORDER BY c.started_at_ms DESC, c.conversation_id DESC;
