-- Rollups for the analytics API, so that summaries and time series read a handful of rows per
-- domain and day instead of every failure-detail.
--
-- The store appends each new report's counts to session_counts_new in the transaction that
-- inserts the report (plain inserts: concurrent writers never wait on each other's rows).
-- compact_session_counts(), run by `tlsrpt serve` every few seconds and at the end of
-- `tlsrpt ingest`, moves them into session_counts (hourly) and daily_sessions (daily, per
-- domain). Readers add what is still pending, so answers never depend on compaction.

-- Sessions per hour of report start, policy domain, organisation, policy type, result and
-- receiving MX:
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

-- Not yet compacted: same columns, one row per report, policy, result and MX.
CREATE TABLE session_counts_new (LIKE session_counts INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE INDEX session_counts_new_domain ON session_counts_new (policy_domain, bucket);

-- Per policy domain and UTC day: the time series' rows.
CREATE TABLE daily_sessions (
    policy_domain text        NOT NULL,
    day           timestamptz NOT NULL,  -- midnight UTC
    successful    bigint      NOT NULL,
    failed        bigint      NOT NULL,
    by_result     jsonb       NOT NULL,  -- failure-detail sessions by result-type
    PRIMARY KEY (policy_domain, day)
);

-- {"a": 1} + {"a": 2, "b": 1} = {"a": 3, "b": 1}
CREATE FUNCTION add_counts(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a = '{}' THEN b WHEN b = '{}' THEN a ELSE
        (SELECT jsonb_object_agg(k, n) FROM (SELECT k, sum(v::bigint) AS n
            FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS e (k, v) GROUP BY k) AS s)
    END $$;
CREATE AGGREGATE sum_counts(jsonb) (SFUNC = add_counts, STYPE = jsonb, INITCOND = '{}');

-- Moves every pending row into the rollups; returns how many. Rows go in key order, so two
-- compactions at once (two servers) wait for each other instead of deadlocking, and a row
-- deleted by one is skipped by the other.
CREATE FUNCTION compact_session_counts() RETURNS bigint LANGUAGE sql AS $$
    WITH moved AS (DELETE FROM session_counts_new RETURNING *),
    hourly AS (
        INSERT INTO session_counts (bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions)
        SELECT bucket, policy_domain, organization_name, policy_type, result, mx_host, sum(sessions) FROM moved
        GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 2, 1, 5, 3, 4, 6
        ON CONFLICT (policy_domain, bucket, result, organization_name, policy_type, mx_host)
        DO UPDATE SET sessions = session_counts.sessions + excluded.sessions),
    per_result AS (
        SELECT policy_domain, date_bin('1 day', bucket, '2000-01-01Z') AS day, result, sum(sessions) AS n FROM moved
        GROUP BY 1, 2, 3),
    daily AS (
        INSERT INTO daily_sessions (policy_domain, day, successful, failed, by_result)
        SELECT policy_domain, day, coalesce(sum(n) FILTER (WHERE result = 'success'), 0),
               coalesce(sum(n) FILTER (WHERE result = 'failure'), 0),
               coalesce(jsonb_object_agg(result, n) FILTER (WHERE result NOT IN ('success', 'failure')), '{}')
        FROM per_result GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (policy_domain, day) DO UPDATE SET successful = daily_sessions.successful + excluded.successful,
            failed = daily_sessions.failed + excluded.failed,
            by_result = add_counts(daily_sessions.by_result, excluded.by_result))
    SELECT count(*) FROM moved $$;

-- What the database holds already.
INSERT INTO session_counts_new (bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions)
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
SELECT compact_session_counts();

-- Helpers for the API's JSON: a success ratio (null without sessions) and a UTC RFC 3339 time.
CREATE FUNCTION success_ratio(ok numeric, failed numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN ok + failed > 0 THEN round(ok / (ok + failed), 6) END $$;
CREATE FUNCTION utc_text(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;
