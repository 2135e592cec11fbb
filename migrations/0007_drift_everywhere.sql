-- Drift for every policy of a report, sts and tlsa, in one function that the readiness verdict,
-- the report answer, the summary and the metrics share.

-- TLSA records in one form, whoever wrote them: "usage selector matching hexdata" with the
-- numbers without leading zeros and the data in lower case without spaces (a record may come as
-- a whole resource record, "_25._tcp.mx. IN TLSA 3 1 1 ..."; the data may be split by spaces).
-- Sorted and without repeats: an RRset is a set.
CREATE FUNCTION normalized_tlsa(records text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT coalesce(array_agg(DISTINCT r ORDER BY r), '{}') FROM (
        SELECT CASE WHEN m IS NULL THEN lower(regexp_replace(btrim(x), '\s+', ' ', 'g'))
                    ELSE m[1]::int || ' ' || m[2]::int || ' ' || m[3]::int || ' ' || lower(regexp_replace(m[4], '\s', '', 'g'))
               END AS r
        FROM unnest(records) AS x,
             LATERAL (SELECT regexp_match(x, '(?:^|\s)(\d{1,3})\s+(\d{1,3})\s+(\d{1,3})\s+([0-9A-Fa-f][0-9A-Fa-f\s]*)$')) AS g (m)
        WHERE btrim(x) <> '') AS s
    $$;

-- The TLSA records each MX host of a monitored domain published, as the posture checks saw them
-- (secure or not), first and last seen.
CREATE TABLE published_tlsa (
    domain     text        NOT NULL,
    mx_host    text        NOT NULL,
    records    text[]      NOT NULL,  -- normalized_tlsa()
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (domain, mx_host, records)
);

-- What the checks stored so far.
INSERT INTO published_tlsa (domain, mx_host, records, first_seen, last_seen)
SELECT c.domain, lower(rtrim(m->>'host', '.')), normalized_tlsa(ARRAY(SELECT jsonb_array_elements_text(m->'tlsa'->'records'))),
       min(c.checked_at), max(c.checked_at)
FROM posture_checks c JOIN posture_checks h ON h.id = coalesce(c.result_of, c.id),
     jsonb_array_elements(CASE jsonb_typeof(h.result->'mx') WHEN 'array' THEN h.result->'mx' ELSE '[]' END) AS m
WHERE jsonb_typeof(m->'tlsa'->'records') = 'array' AND jsonb_array_length(m->'tlsa'->'records') > 0
GROUP BY 1, 2, 3;

-- The drift of one policy of a report (policy type, policy domain, mx-host list, policy-string,
-- the report's start): what the domain published when the report began, by content.
--   state: current (that policy, or those TLSA records, were still published on the report's
--          first day or the day before: checks are hourly, reports daily), previous (replaced
--          before that), never-published (no complete check ever saw it: forged, or older than
--          monitoring), unknown (no complete posture check of the domain: not monitored).
--   matched: the sts id of the published policy, or the MX host whose TLSA records matched.
--   last_published, max_age (sts): when it was last seen and its max_age.
--   beyond_max_age: previous, and unpublished for longer than its max_age on the report's first
--          day (a sender that should have dropped it from its cache).
-- No row for no-policy-found. In two parts, the lookup (published_match(), which does not depend
-- on the report's date) and the arithmetic (drift_state()), each a set-returning SQL function so
-- that PostgreSQL inlines them into the calling query: about twice a plain scan of the same
-- policies, and 15 times faster than a function called row by row (tests/bench/bench_drift.sh).
CREATE FUNCTION published_match(policy_type text, domain text, mx_host text[], policy_string text[])
    RETURNS TABLE (monitored boolean, matched text, last_published timestamptz, max_age bigint)
    LANGUAGE sql STABLE
    AS $$
    WITH m AS (
        SELECT pp.sts_id AS matched, pp.last_seen, pp.max_age FROM published_policies pp
        WHERE $1 = 'sts' AND pp.domain = $2 AND pp.normalized = normalized_policy($4)
        UNION ALL
        SELECT t.mx_host, t.last_seen, NULL FROM published_tlsa t
        WHERE $1 = 'tlsa' AND t.domain = $2 AND t.records = normalized_tlsa($4)
          AND (cardinality($3) = 0 OR t.mx_host IN (SELECT lower(rtrim(x, '.')) FROM unnest($3) AS x))
        ORDER BY 2 DESC LIMIT 1)
    SELECT EXISTS (SELECT 1 FROM posture_checks c WHERE c.domain = $2 AND c.complete), m.matched, m.last_seen, m.max_age
    FROM (SELECT 1) AS one LEFT JOIN m ON true
    WHERE $1 IN ('sts', 'tlsa')
    $$;

CREATE FUNCTION drift_state(monitored boolean, last_published timestamptz, max_age bigint, start timestamptz)
    RETURNS TABLE (state text, beyond_max_age boolean)
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE WHEN NOT $1 THEN 'unknown'
                WHEN $2 IS NULL THEN 'never-published'
                WHEN $2 >= d - interval '1 day' THEN 'current'
                ELSE 'previous' END,
           coalesce($2 < d - interval '1 day' AND d > $2 + make_interval(secs => $3), false)
    FROM (SELECT date_trunc('day', $4 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d) AS day
    $$;

CREATE FUNCTION policy_drift(policy_type text, domain text, mx_host text[], policy_string text[], start timestamptz)
    RETURNS TABLE (state text, matched text, last_published timestamptz, max_age bigint, beyond_max_age boolean)
    LANGUAGE sql STABLE
    AS $$
    SELECT s.state, m.matched, m.last_published, m.max_age, s.beyond_max_age
    FROM published_match($1, $2, $3, $4) AS m, drift_state(m.monitored, m.last_published, m.max_age, $5) AS s
    $$;
