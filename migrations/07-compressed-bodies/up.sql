-- Pushes are kept compressed with zstd against a dictionary trained on this
-- database's own pushes: a call's pushes repeat the same sixty-odd keys and
-- most of their values, and one push of ~2.2 kB keeps in ~270 bytes. Each
-- event names the dictionary its body needs; NULL means the body is stored
-- as received (before a dictionary was trained, or when compressing did
-- not make it smaller). GraphQL's `CallEvent.body` serves a push as
-- received; README's "Raw pushes" says how to read one with sqlite3 and zstd.

CREATE TABLE body_dictionaries (
    id          INTEGER PRIMARY KEY,
    created_at  TEXT    NOT NULL,
    -- How many stored pushes it was trained on. Every run of five or more
    -- digits in them was masked first, so no phone number is in it.
    trained_on  INTEGER NOT NULL,
    dictionary  BLOB    NOT NULL
);

ALTER TABLE events ADD COLUMN body_dictionary INTEGER REFERENCES body_dictionaries (id);

-- Every number of seven digits or more that a call's pushes carry, its
-- digits reversed: a purge of a customer's number finds their calls here
-- (also where a prefix such as +86 precedes it) without decompressing
-- every push.
CREATE TABLE call_numbers (
    reversed_digits TEXT    NOT NULL,
    conversation_id INTEGER NOT NULL,
    PRIMARY KEY (reversed_digits, conversation_id)
) WITHOUT ROWID;
CREATE INDEX call_numbers_by_call ON call_numbers (conversation_id);

-- What the service's upkeep has done so far (how far bodies are compressed).
CREATE TABLE store_state (
    key   TEXT PRIMARY KEY,
    value ANY
) WITHOUT ROWID;

-- The bodies still stored as received, for a purge to search byte for byte:
-- few once the upkeep has compressed the others.
CREATE INDEX events_stored_as_received ON events (id) WHERE body_dictionary IS NULL;
