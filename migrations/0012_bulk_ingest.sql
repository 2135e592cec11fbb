-- For the store's bulk statement (many messages in one statement, store.cpp bulk_sql):
--
-- 1. The lookup of an earlier copy of a message's bytes (the first row with the same SHA-256
--    that still has its body) gets an index that answers it in id order. With only (sha256), a
--    plan made before the table had statistics could walk the primary key instead, reading the
--    whole table for every message. Only rows with a body are in it; nothing else looked
--    raw_messages up by sha256, so the old index goes.
CREATE INDEX raw_messages_body_sha256 ON raw_messages (sha256, id) WHERE body IS NOT NULL;
DROP INDEX raw_messages_sha256;

-- 2. Adding rows to the rollups, as compaction did it, for any rows: the bulk statement adds
--    its messages' counts directly (once per statement, its rows summed first), and compaction
--    adds what it moves out of session_counts_new. Rows go in key order, hourly then daily, so
--    two writers at once wait for each other instead of deadlocking.
CREATE FUNCTION add_session_counts(counts session_counts[]) RETURNS bigint LANGUAGE sql AS $$
    WITH moved AS (SELECT * FROM unnest(counts)),
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

CREATE OR REPLACE FUNCTION compact_session_counts() RETURNS bigint LANGUAGE sql AS $$
    WITH moved AS (DELETE FROM session_counts_new RETURNING *)
    SELECT coalesce(add_session_counts(array_agg(ROW(moved.*)::session_counts)), 0) FROM moved $$;
