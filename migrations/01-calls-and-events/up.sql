-- The first schema of udesk-calls.
--
-- Layout, for a person with `sqlite3`:
--   events          every distinct push, byte for byte, with its delivery count
--   parse_warnings  fields of a push whose value could not be read (raw value kept)
--   rejected_pushes bodies answered 400/422, kept for inspection and replay
--   calls           one row per conversation_id, merged from its events
--   custom_fields, tickets, callout_tasks, relevant_agents, agent_tags,
--   ivr_recordings, ivr_variables, questionnaire_answers, weixin_openids
--                   the collections of a call, one row per element
--   occasions, categories, workflows, defeat_causes
--                   Udesk's code lists, to join a code to its meaning
--
-- Times are RFC 3339 text (e.g. 2019-07-24T15:23:17+08:00) in the offset the
-- push gave, or the service's default offset when it gave none. Columns
-- ending in `_ms` are the same instants as Unix milliseconds, for sorting and
-- range filters.

CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL,
    occasion         TEXT,
    event_at         TEXT,
    event_at_ms      INTEGER,
    received_at      TEXT    NOT NULL,
    last_received_at TEXT    NOT NULL,
    deliveries       INTEGER NOT NULL DEFAULT 1 CHECK (deliveries >= 1),
    -- 'json' or 'form': how the body was encoded on the wire.
    body_format      TEXT    NOT NULL CHECK (body_format IN ('json', 'form')),
    -- The body exactly as received (text when it is UTF-8, else a blob).
    body             BLOB    NOT NULL,
    -- SHA-256 of body: a byte-identical redelivery is counted, not stored.
    body_sha256      BLOB    NOT NULL UNIQUE,
    -- For form bodies, the fields as a JSON object; NULL for JSON bodies.
    form_payload     TEXT,
    warning_count    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_by_call ON events (conversation_id, event_at_ms, id);

CREATE TABLE parse_warnings (
    event_id        INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    field           TEXT    NOT NULL,
    raw_value       TEXT    NOT NULL,
    problem         TEXT    NOT NULL,
    PRIMARY KEY (event_id, position)
) WITHOUT ROWID;
CREATE INDEX parse_warnings_by_call ON parse_warnings (conversation_id);
CREATE INDEX parse_warnings_by_field ON parse_warnings (field);

CREATE TABLE rejected_pushes (
    id           INTEGER PRIMARY KEY,
    received_at  TEXT    NOT NULL,
    http_status  INTEGER NOT NULL,
    error        TEXT    NOT NULL,
    content_type TEXT,
    body         BLOB    NOT NULL
);

CREATE TABLE calls (
    conversation_id      INTEGER PRIMARY KEY,
    status               TEXT    NOT NULL CHECK (status IN ('IN_PROGRESS', 'ENDED')),
    last_occasion        TEXT    NOT NULL,
    -- call_start_at, else the earliest ring time, else the earliest push time.
    started_at           TEXT,
    -- Sort key of started_at; falls back to the first arrival so it is never NULL.
    started_at_ms        INTEGER NOT NULL,
    first_received_at    TEXT    NOT NULL,
    last_received_at     TEXT    NOT NULL,
    last_event_at        TEXT,
    event_count          INTEGER NOT NULL,
    warning_count        INTEGER NOT NULL,
    -- The push fields, merged; names as Udesk spells them.
    call_id              TEXT,
    nick_name            TEXT,
    customer_phone       TEXT,
    mobile_area          TEXT,
    display_number       TEXT,
    workflow             TEXT,
    from_agent_id        INTEGER,
    call_result          TEXT,
    is_leave_message     INTEGER CHECK (is_leave_message IN (0, 1)),
    total_time           INTEGER,
    record_url           TEXT,
    survey               TEXT,
    outline_phone_number TEXT,
    agent_id             INTEGER,
    customer_ring_at     TEXT,
    agent_ring_at        TEXT,
    customer_answer_at   TEXT,
    agent_answer_at      TEXT,
    customer_hangup_at   TEXT,
    agent_hangup_at      TEXT,
    agent_email          TEXT,
    agent_nick_name      TEXT,
    category             TEXT,
    task_name            TEXT,
    queue_statue         TEXT,
    queue_time           INTEGER,
    dtmf                 TEXT,
    device_info          TEXT,
    drop_side            TEXT,
    defeat_cause         TEXT,
    multi_ring_count     INTEGER,
    task_id              INTEGER,
    queue_overflow       TEXT,
    ivr_time             INTEGER,
    -- As pushed ("aa:11,bb:22"); parsed into ivr_variables.
    ivr_variables        TEXT,
    lang                 TEXT,
    is_blocked           INTEGER CHECK (is_blocked IN (0, 1)),
    level                TEXT,
    description          TEXT,
    organization_name    TEXT,
    owner_name           TEXT,
    owner_group_name     TEXT,
    note_id              INTEGER,
    note_content         TEXT,
    note_template_id     INTEGER,
    note_template_name   TEXT,
    questionnaire_id     INTEGER,
    biz_id               TEXT,
    customer_id          INTEGER,
    customer_token       TEXT,
    customer_web_token   TEXT,
    customer_sdk_token   TEXT,
    user_group_id        INTEGER,
    user_group_name      TEXT,
    call_start_at        TEXT,
    ring_time            INTEGER,
    created_at           TEXT
);
CREATE INDEX calls_by_started_at ON calls (started_at_ms, conversation_id);
CREATE INDEX calls_by_agent ON calls (agent_id, started_at_ms, conversation_id);
CREATE INDEX calls_by_workflow ON calls (workflow, started_at_ms, conversation_id);
CREATE INDEX calls_by_call_result ON calls (call_result, started_at_ms, conversation_id);
CREATE INDEX calls_by_category ON calls (category, started_at_ms, conversation_id);
CREATE INDEX calls_by_call_id ON calls (call_id);
CREATE INDEX calls_by_customer_phone ON calls (customer_phone, started_at_ms);

-- Collections: each is replaced whole when the merge picks another push for it.
CREATE TABLE custom_fields (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    field_id        TEXT    NOT NULL,
    name            TEXT,
    -- JSON: a string for text fields, an array for select / cascade / checkbox.
    value           TEXT,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE tickets (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    ticket_number   TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;
CREATE INDEX tickets_by_number ON tickets (ticket_number);

CREATE TABLE callout_tasks (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    task_id         INTEGER NOT NULL,
    name            TEXT,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE relevant_agents (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    agent           TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE agent_tags (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    tag             TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE ivr_recordings (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    recording_id    INTEGER,
    url             TEXT,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE ivr_variables (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE questionnaire_answers (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    question        TEXT    NOT NULL,
    answer          TEXT,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

CREATE TABLE weixin_openids (
    conversation_id INTEGER NOT NULL REFERENCES calls (conversation_id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    openid          TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

-- Udesk's code lists (the vendor document's 详解二, 三 and 八, and the workflows).
CREATE TABLE occasions (
    code    TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE categories (
    code    TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE workflows (
    code    TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE defeat_causes (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    alias       TEXT NOT NULL,
    -- The vendor's description (Chinese) and an English one.
    description    TEXT NOT NULL,
    description_en TEXT NOT NULL
);

INSERT INTO occasions (code, name_zh, name_en) VALUES
    ('begin', '开始自动外呼', 'automatic outbound call started'),
    ('agent_answer', '呼出回拨坐席接听', 'outbound callback: agent answered'),
    ('customer_answer', '呼出回拨客户接听', 'outbound callback: customer answered'),
    ('enqueue_succ', '呼入入队成功', 'inbound: queued successfully'),
    ('agent_lock', '锁定坐席', 'agent locked'),
    ('agent_incall', '坐席开始通话', 'agent starts talking'),
    ('agent_breakout', '分配坐席未应答', 'assigned agent did not answer'),
    ('transfer_succ', '转接成功', 'transfer succeeded'),
    ('transfer_failed', '转接失败', 'transfer failed'),
    ('consult_succ', '咨询成功', 'consult succeeded'),
    ('consult_failed', '咨询失败', 'consult failed'),
    ('listening_succ', '监听成功', 'monitoring succeeded'),
    ('listening_failed', '监听失败', 'monitoring failed'),
    ('third_party_succ', '三方成功', 'three-party succeeded'),
    ('third_party_failed', '三方失败', 'three-party failed'),
    ('interpose_succ', '强插成功', 'barge-in succeeded'),
    ('interpose_failed', '强插失败', 'barge-in failed'),
    ('substitute_succ', '拦截成功', 'intercept succeeded'),
    ('substitute_failed', '拦截失败', 'intercept failed'),
    ('whisper_succ', '密语成功', 'whisper succeeded'),
    ('whisper_failed', '密语失败', 'whisper failed'),
    ('hangup', '通话有一方挂断', 'one side hung up'),
    ('end', '通话结束', 'the call is over'),
    ('end_info', '高级通话信息', 'advanced-call information');

INSERT INTO categories (code, name_zh, name_en) VALUES
    ('normal', '普通通话', 'ordinary call'),
    ('transfer', '转接', 'transfer'),
    ('transfer_outline', '转接外线', 'transfer to an external line'),
    ('consult', '咨询', 'consult'),
    ('consult_outline', '咨询(外线)', 'consult (external line)'),
    ('three_party', '三方', 'three-party'),
    ('three_party_outline', '三方(外线)', 'three-party (external line)'),
    ('listening', '监听', 'monitoring'),
    ('barge_in', '组长强插', 'supervisor barge-in'),
    ('substitute', '组长强拆', 'supervisor intercept');

INSERT INTO workflows (code, name_zh, name_en) VALUES
    ('in', '呼入', 'inbound'),
    ('out_callback', '双向回拨', 'two-way callback'),
    ('out_direct', '外呼直拨', 'direct outbound'),
    ('out_auto', '自动外呼', 'automatic outbound');

INSERT INTO defeat_causes (id, name, alias, description, description_en) VALUES
    (1, '关机', 'power off', '关机', 'phone switched off'),
    (2, '空号', 'does not exist', '空号', 'number does not exist'),
    (3, '停机', 'out of service', '停机', 'line suspended'),
    (4, '正在通话中', 'hold on', '正在通话中', 'already in a call'),
    (5, '用户拒接', 'not convenient', '用户拒接', 'rejected'),
    (6, '无法接通', 'is not reachable', '无法接通', 'unreachable'),
    (7, '暂停服务', 'not in service', '暂停服务', 'service paused'),
    (8, '用户正忙', 'busy now', '用户正忙', 'busy'),
    (9, '拨号方式不正确', 'not a local number', '拨号方式不正确', 'wrong dialling format'),
    (10, '呼入限制', 'barring of incoming', '呼入限制', 'incoming calls barred'),
    (11, '呼叫转移失败', 'forwarded', '呼叫转移失败', 'call forwarding failed'),
    (12, '网络忙', 'line is busy', '网络忙', 'network busy'),
    (13, '无人接听', 'not answer', '无人接听', 'no answer'),
    (14, '欠费', 'defaulting', '欠费', 'account in arrears'),
    (15, '无法接听', 'cannot be connected', '无法接听', 'cannot be answered'),
    (16, '改号', 'number change', '改号', 'number changed'),
    (17, '线路故障', 'line fault', '线路不能呼出,比如SIM卡欠费', 'line cannot dial out, e.g. SIM in arrears'),
    (18, '稍后再拨', 'redial later', '各种稍后再拨提示', 'assorted "try later" prompts');
