-- Rollups: the statistics of calls kept per hour and per day by the writer,
-- in the same transaction as each push, so callStats over a month reads a
-- few thousand rows instead of every call.
--
-- `hour` is 'YYYY-MM-DD HH:00' and `day` 'YYYY-MM-DD', both in the service's
-- default UTC offset (recorded in rollup_state; another offset rebuilds
-- them). Five families of keys, from the smallest: totals; by workflow and
-- call result; by workflow, category and failure reason; by agent; by all
-- four outcome columns. A query reads the smallest family that keeps its
-- keys and filters. Each row holds sums and maxima from which callStats
-- derives its figures, e.g. an average talk time is talk_seconds /
-- talk_reported. Key columns may be NULL (a call without an agent); rows
-- are unique on their keys, kept so by the writer, which finds rows with
-- `IS`.

CREATE TABLE rollup_state (
    utc_offset_seconds INTEGER NOT NULL
);

-- Totals, per hour.
CREATE TABLE rollup_hour (
    hour TEXT NOT NULL,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_hour_keys ON rollup_hour (hour);

-- Totals, per day.
CREATE TABLE rollup_day (
    day TEXT NOT NULL,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_day_keys ON rollup_day (day);

-- Per workflow and call result, per hour.
CREATE TABLE rollup_result_hour (
    hour TEXT NOT NULL,
    workflow TEXT,
    call_result TEXT,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_result_hour_keys ON rollup_result_hour (hour, workflow, call_result);

-- Per workflow and call result, per day.
CREATE TABLE rollup_result_day (
    day TEXT NOT NULL,
    workflow TEXT,
    call_result TEXT,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_result_day_keys ON rollup_result_day (day, workflow, call_result);

-- Per workflow, category and failure reason, per hour.
CREATE TABLE rollup_category_hour (
    hour TEXT NOT NULL,
    workflow TEXT,
    category TEXT,
    defeat_cause TEXT,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_category_hour_keys ON rollup_category_hour (hour, workflow, category, defeat_cause);

-- Per workflow, category and failure reason, per day.
CREATE TABLE rollup_category_day (
    day TEXT NOT NULL,
    workflow TEXT,
    category TEXT,
    defeat_cause TEXT,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_category_day_keys ON rollup_category_day (day, workflow, category, defeat_cause);

-- Per agent (and the agent's group), per hour.
CREATE TABLE rollup_agent_hour (
    hour TEXT NOT NULL,
    agent_id INTEGER,
    user_group_id INTEGER,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_agent_hour_keys ON rollup_agent_hour (hour, agent_id, user_group_id);

-- Per agent (and the agent's group), per day.
CREATE TABLE rollup_agent_day (
    day TEXT NOT NULL,
    agent_id INTEGER,
    user_group_id INTEGER,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_agent_day_keys ON rollup_agent_day (day, agent_id, user_group_id);

-- Per workflow, call result, category and failure reason, per hour.
CREATE TABLE rollup_outcome_hour (
    hour TEXT NOT NULL,
    workflow TEXT,
    call_result TEXT,
    category TEXT,
    defeat_cause TEXT,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_outcome_hour_keys ON rollup_outcome_hour (hour, workflow, call_result, category, defeat_cause);

-- Per workflow, call result, category and failure reason, per day.
CREATE TABLE rollup_outcome_day (
    day TEXT NOT NULL,
    workflow TEXT,
    call_result TEXT,
    category TEXT,
    defeat_cause TEXT,
    calls INTEGER NOT NULL,             -- calls started in the cell
    answered INTEGER NOT NULL,          -- calls with total_time > 0
    talk_seconds INTEGER NOT NULL,      -- sum of total_time
    talk_reported INTEGER NOT NULL,     -- calls reporting a total_time
    talk_longest INTEGER,               -- largest total_time
    queue_seconds INTEGER NOT NULL,     -- sum of queue_time
    queue_reported INTEGER NOT NULL,    -- calls reporting a queue_time
    ring_seconds INTEGER NOT NULL,      -- sum of ring_time
    ring_reported INTEGER NOT NULL,     -- calls reporting a ring_time
    inbound INTEGER NOT NULL,           -- calls with workflow 'in'
    inbound_answered INTEGER NOT NULL,  -- inbound calls with total_time > 0
    answer_wait_seconds INTEGER NOT NULL, -- sum of queue_time + ring_time of answered inbound calls
    abandoned INTEGER NOT NULL,         -- inbound, never answered, call_result 放弃排队, 客户速挂 or 客户挂机
    longest_wait INTEGER,               -- largest queue_time + ring_time of an inbound call
    answered_within_10s INTEGER NOT NULL, -- answered inbound calls that waited at most 10 s (and so on)
    answered_within_15s INTEGER NOT NULL,
    answered_within_20s INTEGER NOT NULL,
    answered_within_30s INTEGER NOT NULL,
    answered_within_45s INTEGER NOT NULL,
    answered_within_60s INTEGER NOT NULL,
    answered_within_90s INTEGER NOT NULL,
    answered_within_120s INTEGER NOT NULL,
    answered_within_180s INTEGER NOT NULL,
    answered_within_300s INTEGER NOT NULL
);
CREATE INDEX rollup_outcome_day_keys ON rollup_outcome_day (day, workflow, call_result, category, defeat_cause);

-- Statistics by agent come from rollup_agent_*, and what must still count
-- calls by agent (a filter the rollups do not keep) reads calls_for_stats;
-- one index fewer for every push to update.
DROP INDEX calls_for_agent_stats;
