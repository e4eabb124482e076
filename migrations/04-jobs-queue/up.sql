-- jobs: a durable queue of background work on the stored pushes.
--
-- A job is written in the same transaction as the push it concerns, so a
-- push answered 200 is a push whose jobs exist, whatever happens next. The
-- first kind is 'forward' (sending the push on to each `--forward-to` URL);
-- archiving Udesk's expiring recording links will be another kind on the
-- same table.
--
--   kind            what the job does ('forward')
--   target          where it goes (for 'forward', the URL as configured)
--   event_id        the push it concerns; the job goes when the push is
--                   purged, since it only makes sense with its body
--   ordering_key    jobs of one kind, target and key run one at a time in
--                   id order (for 'forward', the call's conversation_id: a
--                   later push of a call waits for an earlier one); NULL
--                   orders nothing
--   state           pending (to do, or being done), delivered (done), parked
--                   (given up on until an operator re-queues it with
--                   `udesk-calls forward retry`)
--   attempts        tries so far
--   next_attempt_at when a pending job is due next
--   last_error      why the latest try failed, in words (never a secret)
--   created_at, updated_at
--
-- Times are RFC 3339 in UTC with milliseconds (2024-05-06T01:02:03.456Z),
-- the one width and offset that compares correctly as text.

-- The Content-Type a push arrived with, so it is forwarded with it; NULL when
-- it had none, and for pushes stored before this migration.
ALTER TABLE events ADD COLUMN content_type TEXT;

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    event_id        INTEGER REFERENCES events (id) ON DELETE CASCADE,
    ordering_key    INTEGER,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'parked')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
-- Claiming: the due jobs of a target in arrival order, and whether an
-- earlier job of the same key is still pending. Partial, so they hold only
-- the work left, however many jobs were done.
CREATE INDEX jobs_pending ON jobs (kind, target, id) WHERE state = 'pending';
CREATE INDEX jobs_pending_by_key ON jobs (kind, target, ordering_key, id)
    WHERE state = 'pending';
-- Counts by state, the latest success, re-queueing the parked ones.
CREATE INDEX jobs_by_state ON jobs (kind, target, state, updated_at);
-- Erasing a push erases its jobs without a scan.
CREATE INDEX jobs_by_event ON jobs (event_id);
