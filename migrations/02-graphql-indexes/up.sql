-- Indexes for the GraphQL API: one per filter, the talk-time order, and a
-- covering index for statistics over a time range.
--
-- Each filter index ends in (started_at_ms, conversation_id), so a filter
-- combined with a time range, or paged in start-time order, reads the index
-- in order and never sorts.

CREATE INDEX calls_by_agent_email ON calls (agent_email, started_at_ms, conversation_id);
CREATE INDEX calls_by_status ON calls (status, started_at_ms, conversation_id);
CREATE INDEX calls_by_last_occasion ON calls (last_occasion, started_at_ms, conversation_id);
CREATE INDEX calls_by_defeat_cause ON calls (defeat_cause, started_at_ms, conversation_id);
CREATE INDEX calls_by_survey ON calls (survey, started_at_ms, conversation_id);
CREATE INDEX calls_by_agent_group ON calls (user_group_id, started_at_ms, conversation_id);
CREATE INDEX calls_by_total_time ON calls (total_time, started_at_ms);

-- The talk-time order: a call without a talk time sorts as 0 seconds.
CREATE INDEX calls_by_talk_time ON calls (coalesce(total_time, 0), conversation_id);

-- "Has a recording" as an indexed truth value.
CREATE INDEX calls_by_recording ON calls ((record_url IS NOT NULL), started_at_ms, conversation_id);

-- "Has tickets" cannot be indexed across tables, so calls count their
-- tickets, kept right by triggers whatever writes the tickets table.
ALTER TABLE calls ADD COLUMN ticket_count INTEGER NOT NULL DEFAULT 0;
UPDATE calls SET ticket_count =
    (SELECT count(*) FROM tickets WHERE tickets.conversation_id = calls.conversation_id);
CREATE TRIGGER tickets_count_up AFTER INSERT ON tickets BEGIN
    UPDATE calls SET ticket_count = ticket_count + 1 WHERE conversation_id = NEW.conversation_id;
END;
CREATE TRIGGER tickets_count_down AFTER DELETE ON tickets BEGIN
    UPDATE calls SET ticket_count = ticket_count - 1 WHERE conversation_id = OLD.conversation_id;
END;
CREATE INDEX calls_by_ticket_count ON calls (ticket_count, started_at_ms, conversation_id);

-- Statistics over a time range read only this index: the range, every
-- groupBy key and every measured column are in it.
CREATE INDEX calls_for_stats ON calls (
    started_at_ms, agent_id, user_group_id, workflow, call_result, category,
    defeat_cause, total_time, queue_time, ring_time
);

-- Statistics by agent: the planner walks agents in order (no sort for the
-- grouping) and reads the range and the measures from the index alone.
CREATE INDEX calls_for_agent_stats ON calls (agent_id, started_at_ms, total_time, queue_time, ring_time);
