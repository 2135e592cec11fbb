-- The first schema: raw messages as received, the reports read from them, their policies,
-- failure-details and quirks. Forward-only: later changes are new numbered files.

-- Every input as received: the evidence. One row per arrival; an arrival whose bytes are
-- already stored keeps no second copy (body NULL, duplicate_of points at the copy).
CREATE TABLE raw_messages (
    id            bigserial PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    transport     text        NOT NULL CHECK (transport IN ('cli', 'smtp', 'imap', 'https')),
    source        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    sha256        bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    size          integer     NOT NULL CHECK (size >= 0),
    body          bytea COMPRESSION lz4,  -- lz4: several times cheaper than pglz for mail
    duplicate_of  bigint      REFERENCES raw_messages (id),
    outcome       text        NOT NULL CHECK (outcome IN ('stored', 'rejected', 'duplicate')),
    reason        text,
    detail        text,
    reports       integer     NOT NULL DEFAULT 0,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (body IS NOT NULL OR duplicate_of IS NOT NULL),
    CHECK ((outcome = 'rejected') = (reason IS NOT NULL))
);
CREATE INDEX raw_messages_sha256 ON raw_messages (sha256);
CREATE INDEX raw_messages_rejected ON raw_messages (reason, received_at) WHERE outcome = 'rejected';

-- One row per distinct report. dedup_key = SHA-256 of organisation, report-id, date range and
-- the sorted policy domains: a re-delivery is the same report, while a reporter reusing a
-- report-id for another day or another domain makes a different one.
CREATE TABLE reports (
    id                 bigserial   PRIMARY KEY,
    raw_message_id     bigint      NOT NULL REFERENCES raw_messages (id),
    dedup_key          bytea       NOT NULL UNIQUE,
    organization_name  text        NOT NULL,
    contact_info       text,
    report_id          text        NOT NULL,
    start_datetime     timestamptz NOT NULL,
    end_datetime       timestamptz NOT NULL,
    successful_sessions bigint     NOT NULL,
    failed_sessions    bigint      NOT NULL,
    source_part        text,
    source_filename    text,
    stored_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (end_datetime >= start_datetime)
);
CREATE INDEX reports_start ON reports (start_datetime);
CREATE INDEX reports_raw_message ON reports (raw_message_id);

CREATE TABLE report_quirks (
    report_id  bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    quirk      text   NOT NULL,
    PRIMARY KEY (report_id, quirk)
);
CREATE INDEX report_quirks_quirk ON report_quirks (quirk);

-- Policies carry the report's start time and organisation so that the API's questions (by
-- policy domain and time range, by organisation) are answered from one table.
CREATE TABLE policies (
    id                             bigserial   PRIMARY KEY,
    report_id                      bigint      NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    position                       integer     NOT NULL,
    policy_type                    text        NOT NULL CHECK (policy_type IN ('sts', 'tlsa', 'no-policy-found')),
    policy_string                  text[]      NOT NULL,
    policy_domain                  text        NOT NULL,
    mx_host                        text[]      NOT NULL,
    total_successful_session_count bigint      NOT NULL CHECK (total_successful_session_count >= 0),
    total_failure_session_count    bigint      NOT NULL CHECK (total_failure_session_count >= 0),
    start_datetime                 timestamptz NOT NULL,
    organization_name              text        NOT NULL,
    UNIQUE (report_id, position)
);
CREATE INDEX policies_domain_start ON policies (policy_domain, start_datetime);
CREATE INDEX policies_organization_start ON policies (organization_name, start_datetime);

-- Failure-details, with the policy's domain and the report's start time copied in for the
-- questions by result type and by receiving MX.
CREATE TABLE failure_details (
    policy_id              bigint      NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    result_type            text        NOT NULL,
    sending_mta_ip         text,
    receiving_mx_hostname  text,
    receiving_mx_helo      text,
    receiving_ip           text,
    failed_session_count   bigint      NOT NULL CHECK (failed_session_count >= 0),
    additional_information text,
    failure_reason_code    text,
    policy_domain          text        NOT NULL,
    start_datetime         timestamptz NOT NULL
);
CREATE INDEX failure_details_policy ON failure_details (policy_id);
CREATE INDEX failure_details_domain_type ON failure_details (policy_domain, result_type, start_datetime);
CREATE INDEX failure_details_type_start ON failure_details (result_type, start_datetime);
CREATE INDEX failure_details_mx_start ON failure_details (receiving_mx_hostname, start_datetime);
