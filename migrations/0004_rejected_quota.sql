-- A storage quota for rejected inputs (hostile senders): bytes of rejected inputs offered per
-- UTC day, per client and in all. Past a quota the raw message keeps its hash, size, reason,
-- source and header section, not its body.

-- Who sent it, as the per-client limits count (an IPv4 address, an IPv6 /64); NULL for inputs
-- that have no network client (cli, imap).
ALTER TABLE raw_messages ADD COLUMN client text;
-- Why the body is absent (only 'quota' so far), and the header section kept in its place.
ALTER TABLE raw_messages ADD COLUMN body_dropped text CHECK (body_dropped IN ('quota'));
ALTER TABLE raw_messages ADD COLUMN head bytea;
ALTER TABLE raw_messages DROP CONSTRAINT raw_messages_check;
ALTER TABLE raw_messages ADD CONSTRAINT raw_messages_body_check
    CHECK (body IS NOT NULL OR duplicate_of IS NOT NULL OR body_dropped IS NOT NULL);

-- Bytes and count of rejected inputs per UTC day and client ('' is everyone together).
CREATE TABLE rejected_quota (
    day      date   NOT NULL,
    client   text   NOT NULL,
    bytes    bigint NOT NULL,
    messages bigint NOT NULL,
    PRIMARY KEY (day, client)
);
