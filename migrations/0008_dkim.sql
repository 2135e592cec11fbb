-- DKIM verification of report mail (server/dkim): each raw message's result and the evidence.
-- NULL: not verified (dkim.mode = off, a message that carries no report, or stored before this
-- version). Results and errors: the closed lists in the README.
ALTER TABLE raw_messages
    ADD COLUMN dkim text CHECK (dkim IN ('pass', 'fail', 'none', 'temperror', 'permerror')),
    -- {"result", "from_domain", "domain", "selector", "key_bits", "alignment", "signatures": [...]}
    ADD COLUMN dkim_detail jsonb;
