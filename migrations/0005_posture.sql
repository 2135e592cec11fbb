-- Posture checks of the monitored domains (tlsrpt serve, checks.domains / [[domain]]): every
-- run with its findings, and the history of the MTA-STS policies each domain published.

-- One check of one domain. `result` is the whole answer, as `tlsrpt check --json` prints it:
-- the MTA-STS record and policy, the rua list, each MX host with its addresses, STARTTLS, TLS
-- version, certificate (not-after, names, SHA-256, trust) and TLSA records. A result equal to
-- the previous check's is not stored again: `result_of` names the check that holds it (checks
-- run hourly and mostly find what they found before).
CREATE TABLE posture_checks (
    id            bigserial   PRIMARY KEY,
    domain        text        NOT NULL,
    checked_at    timestamptz NOT NULL,
    duration_ms   integer     NOT NULL,
    complete      boolean     NOT NULL,  -- false: a step could not complete (check-incomplete)
    errors        integer     NOT NULL,
    warnings      integer     NOT NULL,
    sts_id        text,                  -- the id of the _mta-sts record, when valid
    mode          text,                  -- the policy's mode, when a policy was read
    policy_sha256 text,                  -- SHA-256 of the policy text (see published_policies)
    result        jsonb,
    result_of     bigint      REFERENCES posture_checks (id),
    CHECK ((result IS NULL) <> (result_of IS NULL))
);
CREATE INDEX posture_checks_domain ON posture_checks (domain, checked_at DESC);

-- Every finding of a check, one row each (names: ingest/policy/finding.hpp, README).
CREATE TABLE posture_findings (
    check_id bigint NOT NULL REFERENCES posture_checks (id) ON DELETE CASCADE,
    finding  text   NOT NULL,
    severity text   NOT NULL CHECK (severity IN ('error', 'warning', 'info')),
    subject  text   NOT NULL,
    detail   text   NOT NULL
);
CREATE INDEX posture_findings_check ON posture_findings (check_id);

-- Each distinct policy a domain published (by record id and text), first and last seen.
CREATE TABLE published_policies (
    domain     text        NOT NULL,
    sts_id     text        NOT NULL,
    sha256     text        NOT NULL,
    mode       text,
    max_age    bigint,
    mx         text[]      NOT NULL,
    text       text        NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (domain, sts_id, sha256)
);
