-- Sessions per hour of report start, policy domain, reporting organisation, policy type,
-- result and receiving MX: what the API's summaries and time series read (a handful of rows
-- per domain and day instead of every failure-detail). The store adds to it in the transaction
-- that inserts the report, so it always agrees with policies and failure_details.
--   result 'success': the policy's total-successful-session-count (mx_host '')
--   result 'failure': the policy's total-failure-session-count (mx_host '')
--   any other result: failed-session-count of failure-details with that result-type, by
--   receiving-mx-hostname ('' when the detail has none)
CREATE TABLE session_counts (
    bucket            timestamptz NOT NULL,
    policy_domain     text        NOT NULL,
    organization_name text        NOT NULL,
    policy_type       text        NOT NULL,
    result            text        NOT NULL,
    mx_host           text        NOT NULL,
    sessions          bigint      NOT NULL CHECK (sessions >= 0),
    PRIMARY KEY (policy_domain, bucket, result, organization_name, policy_type, mx_host)
);
CREATE INDEX session_counts_bucket ON session_counts (bucket);

INSERT INTO session_counts (bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions)
SELECT date_trunc('hour', p.start_datetime, 'UTC'), p.policy_domain, p.organization_name, p.policy_type,
       k.result, k.mx_host, sum(k.sessions)
FROM policies p
CROSS JOIN LATERAL (
    SELECT 'success', '', p.total_successful_session_count
    UNION ALL SELECT 'failure', '', p.total_failure_session_count
    UNION ALL SELECT d.result_type, coalesce(d.receiving_mx_hostname, ''), d.failed_session_count
              FROM failure_details d WHERE d.policy_id = p.id
) AS k (result, mx_host, sessions)
WHERE k.sessions > 0
GROUP BY 1, 2, 3, 4, 5, 6;

-- Helpers for the API's JSON: a success ratio (null without sessions) and a UTC RFC 3339 time.
CREATE FUNCTION success_ratio(ok numeric, failed numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN ok + failed > 0 THEN round(ok / (ok + failed), 6) END $$;
CREATE FUNCTION utc_text(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;
