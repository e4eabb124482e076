-- A call's later pushes are kept as deltas of its earlier ones: compressed
-- against the call's previous push (and the end of the body's dictionary)
-- a push of ~2.2 kB keeps in ~65 bytes, where the dictionary alone needs
-- ~240. `body_base` names the push a body is a delta of (an earlier push
-- of the same call, itself perhaps a delta: chains are at most eight
-- long); NULL for a body compressed on its own or stored as received.
-- README's "Raw pushes" says how to read them (`udesk-calls pushes`).
--
-- New rows keep the first 8 bytes of the body's SHA-256 in `body_sha256`
-- (rows of earlier versions keep all 32): within one call, the unique
-- index still finds a redelivery, and the writer compares the bytes
-- before it counts one, so two pushes can never be taken for each other.
ALTER TABLE events ADD COLUMN body_base INTEGER;

-- A purge finds the numbers of the calls it erases in their pushes again,
-- so `call_numbers` needs no index by call (a third of what it weighed).
-- A call's own id, in every push, is no longer kept as one of its numbers.
DROP INDEX call_numbers_by_call;
