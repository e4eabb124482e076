-- recordings: every recording link a stored push carried, and the copy
-- kept of it (`serve --recordings-to`). Udesk's links are signed and
-- expire, so each is downloaded by a 'recording' job queued in the push's
-- own transaction; the copy is named by its SHA-256 in the archive (a local
-- directory or an S3 bucket), so the same audio is kept once.
--
--   conversation_id   the call
--   ivr_recording_id  '' for the call's own `record_url`; the IVR
--                     recording's id for one of `ivr_record_urls`
--   source_url        the link as pushed (it may carry a signature: never
--                     logged)
--   source_expires_at_ms  the link's `Expires`, when it says one
--   bytes, sha256, content_type, archive_key, archived_at_ms
--                     the copy, once archived (sha256 in lowercase hex;
--                     archive_key its name in the archive); NULL before
--
-- Whether a recording is pending or failed, and why, is its job's state and
-- last error (`jobs.subject` names the recording).
CREATE TABLE recordings (
    id                   INTEGER PRIMARY KEY,
    conversation_id      INTEGER NOT NULL,
    ivr_recording_id     TEXT    NOT NULL DEFAULT '',
    source_url           TEXT    NOT NULL,
    source_expires_at_ms INTEGER,
    bytes                INTEGER,
    sha256               TEXT,
    content_type         TEXT,
    archive_key          TEXT,
    archived_at_ms       INTEGER,
    UNIQUE (conversation_id, ivr_recording_id, source_url)
);
-- Whether another recording still uses a copy (purge keeps it then).
CREATE INDEX recordings_by_key ON recordings (archive_key) WHERE archive_key IS NOT NULL;

-- What a job is about within its push: for 'recording', the recording's id.
ALTER TABLE jobs ADD COLUMN subject INTEGER;
CREATE INDEX jobs_by_subject ON jobs (kind, subject) WHERE subject IS NOT NULL;
