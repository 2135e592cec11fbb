-- Views for dashboards and ad-hoc SQL (Grafana's PostgreSQL data source reads these): the
-- rollups with what is still pending added, so readers need not know about compaction.

-- Sessions per hour, policy domain, organisation, policy type, result and receiving MX (see
-- 0002 for what result and mx_host hold).
CREATE VIEW tlsrpt_sessions AS
    SELECT bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions FROM session_counts
    UNION ALL
    SELECT bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions FROM session_counts_new;

-- Sessions per policy domain and UTC day: successful, failed, and failed by result-type.
CREATE VIEW tlsrpt_daily AS
    SELECT policy_domain, day, sum(successful)::bigint AS successful, sum(failed)::bigint AS failed,
           sum_counts(by_result) AS by_result
    FROM (
        SELECT policy_domain, day, successful, failed, by_result FROM daily_sessions
        UNION ALL
        SELECT policy_domain, day, coalesce(sum(n) FILTER (WHERE result = 'success'), 0),
               coalesce(sum(n) FILTER (WHERE result = 'failure'), 0),
               coalesce(jsonb_object_agg(result, n) FILTER (WHERE result NOT IN ('success', 'failure')), '{}')
        FROM (SELECT policy_domain, date_bin('1 day', bucket, '2000-01-01Z') AS day, result, sum(sessions) AS n
              FROM session_counts_new GROUP BY 1, 2, 3) AS p
        GROUP BY 1, 2
    ) AS d
    GROUP BY 1, 2;
