-- The domain list (/ and /api/v1/overview) one page at a time, at any number of domains.
--
-- The list is every domain with reports, monitored or checked, sorted by name, by success
-- ratio (7 days or the range), by failed sessions or by the newest report, then cut to a page.
-- Sorting needs a figure for every domain; before this migration they were summed from every
-- daily row of the range (10,000 domains x 30 days: 300,000 rows per request) and the domain
-- set came from DISTINCT over all of daily_sessions. Now:
--
-- 1. known_domains: one row per domain the list shows (reports or a posture check), with the
--    hour of its newest report's start (the "newest" sort), kept by add_session_counts and by
--    a trigger on posture_checks.
-- 2. domain_windows: per domain, the successful and failed sessions of the `days` UTC days up to
--    `as_of` (midnight UTC, included), for the windows listed in window_state. serve builds
--    them each UTC day for the ranges the pages offer (build_domain_windows, a few hundred
--    milliseconds at 10,000 domains x a year); add_session_counts adds new counts to every
--    built window that covers their day, so a built window always equals the sum of its
--    daily_sessions rows. A page sorted by a window's figure reads it in index order (counts
--    still pending in session_counts_new, seconds at most, move a domain at the next
--    compaction; the rows shown include them). A window not built (another range, or the
--    minutes after midnight) is summed from daily_sessions and session_counts_new, through the
--    index below.
--
-- Builds and additions exclude each other by an advisory lock (shared for additions, exclusive
-- for a build), so that a build sees every addition committed before it and every later
-- addition sees the build.

CREATE TABLE known_domains (
    domain         text PRIMARY KEY,
    newest_bucket  timestamptz  -- the newest report's hour; null: a posture check only
);
INSERT INTO known_domains (domain, newest_bucket)
SELECT policy_domain, max(bucket) FROM (
    SELECT policy_domain, bucket FROM session_counts UNION ALL SELECT policy_domain, bucket FROM session_counts_new) AS x
GROUP BY 1;
INSERT INTO known_domains (domain) SELECT DISTINCT domain FROM posture_checks ON CONFLICT DO NOTHING;

CREATE FUNCTION tlsrpt_posture_domain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO known_domains (domain) VALUES (NEW.domain) ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER posture_checks_known AFTER INSERT ON posture_checks FOR EACH ROW EXECUTE FUNCTION tlsrpt_posture_domain();

CREATE TABLE window_state (
    days     integer     NOT NULL CHECK (days BETWEEN 1 AND 400),
    as_of    timestamptz NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (days, as_of)
);

CREATE TABLE domain_windows (
    days          integer     NOT NULL,
    as_of         timestamptz NOT NULL,
    policy_domain text        NOT NULL,
    successful    bigint      NOT NULL,
    failed        bigint      NOT NULL,
    -- The sort keys, each with an index, so that a page of the list sorted by them reads only
    -- its rows: the success ratio in millionths (null without sessions) and the failed sessions
    -- (null for none); the domains without a key follow by name.
    ratio_key     double precision GENERATED ALWAYS AS
                  (CASE WHEN successful + failed > 0 THEN round(successful::float8 / (successful + failed) * 1000000) END) STORED,
    failed_key    bigint GENERATED ALWAYS AS (nullif(failed, 0)) STORED,
    PRIMARY KEY (days, as_of, policy_domain),
    FOREIGN KEY (days, as_of) REFERENCES window_state ON DELETE CASCADE
);
CREATE INDEX domain_windows_ratio ON domain_windows (days, as_of, ratio_key, policy_domain) WHERE ratio_key IS NOT NULL;
CREATE INDEX domain_windows_failed ON domain_windows (days, as_of, failed_key DESC, policy_domain) WHERE failed_key IS NOT NULL;
CREATE INDEX known_domains_newest ON known_domains (newest_bucket DESC, domain) WHERE newest_bucket IS NOT NULL;

-- A range of daily rows for every domain at once (a range without a built window).
CREATE INDEX daily_sessions_day ON daily_sessions (day) INCLUDE (policy_domain, successful, failed);

-- A page's rows: each domain's newest report and the organisations that reported in range, from
-- the index alone (policies are only inserted, so autovacuum keeps their pages all-visible).
CREATE INDEX policies_domain_start_org ON policies (policy_domain, start_datetime) INCLUDE (organization_name, report_id);
DROP INDEX policies_domain_start;

-- Adding rows to the rollups (migration 0012), now also to known_domains and to every built
-- window that covers their day. Each statement takes a fresh snapshot after the shared lock.
CREATE OR REPLACE FUNCTION add_session_counts(counts session_counts[]) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(7016001);
  WITH moved AS (SELECT * FROM unnest(counts))
  INSERT INTO session_counts (bucket, policy_domain, organization_name, policy_type, result, mx_host, sessions)
  SELECT bucket, policy_domain, organization_name, policy_type, result, mx_host, sum(sessions) FROM moved
  GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 2, 1, 5, 3, 4, 6
  ON CONFLICT (policy_domain, bucket, result, organization_name, policy_type, mx_host)
  DO UPDATE SET sessions = session_counts.sessions + excluded.sessions;
  WITH moved AS (SELECT * FROM unnest(counts)),
  per_result AS (
      SELECT policy_domain, date_bin('1 day', bucket, '2000-01-01Z') AS day, result, sum(sessions) AS n FROM moved
      GROUP BY 1, 2, 3)
  INSERT INTO daily_sessions (policy_domain, day, successful, failed, by_result)
  SELECT policy_domain, day, coalesce(sum(per_result.n) FILTER (WHERE result = 'success'), 0),
         coalesce(sum(per_result.n) FILTER (WHERE result = 'failure'), 0),
         coalesce(jsonb_object_agg(result, per_result.n) FILTER (WHERE result NOT IN ('success', 'failure')), '{}')
  FROM per_result GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (policy_domain, day) DO UPDATE SET successful = daily_sessions.successful + excluded.successful,
      failed = daily_sessions.failed + excluded.failed,
      by_result = add_counts(daily_sessions.by_result, excluded.by_result);
  WITH moved AS (SELECT * FROM unnest(counts)),
  per_day AS (
      SELECT policy_domain, date_bin('1 day', bucket, '2000-01-01Z') AS day,
             coalesce(sum(sessions) FILTER (WHERE result = 'success'), 0) AS ok,
             coalesce(sum(sessions) FILTER (WHERE result = 'failure'), 0) AS bad
      FROM moved WHERE result IN ('success', 'failure') GROUP BY 1, 2)
  INSERT INTO domain_windows (days, as_of, policy_domain, successful, failed)
  SELECT w.days, w.as_of, d.policy_domain, sum(d.ok), sum(d.bad)
  FROM window_state w JOIN per_day d ON d.day <= w.as_of AND d.day > w.as_of - make_interval(hours => 24 * w.days)
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (days, as_of, policy_domain) DO UPDATE SET successful = domain_windows.successful + excluded.successful,
      failed = domain_windows.failed + excluded.failed;
  WITH moved AS (SELECT * FROM unnest(counts))
  INSERT INTO known_domains (domain, newest_bucket)
  SELECT policy_domain, max(bucket) FROM moved GROUP BY 1 ORDER BY 1
  ON CONFLICT (domain) DO UPDATE SET newest_bucket = greatest(known_domains.newest_bucket, excluded.newest_bucket)
  WHERE known_domains.newest_bucket IS DISTINCT FROM greatest(known_domains.newest_bucket, excluded.newest_bucket);
  SELECT count(*) INTO n FROM unnest(counts);
  RETURN n;
END $$;

-- Builds the windows of `days` up to `as_of` (midnight UTC) that are not built yet, and drops
-- the windows of earlier days. Returns how many windows it built.
CREATE FUNCTION build_domain_windows(p_days integer[], p_as_of timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  d integer;
  built integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM window_state w WHERE w.as_of <> p_as_of)
     AND (SELECT count(*) FROM window_state w WHERE w.as_of = p_as_of AND w.days = ANY(p_days))
         = cardinality(ARRAY(SELECT DISTINCT unnest(p_days))) THEN
    RETURN 0;  -- all built, none to drop: no lock taken
  END IF;
  PERFORM pg_advisory_xact_lock(7016001);
  DELETE FROM window_state w WHERE w.as_of < p_as_of;
  FOREACH d IN ARRAY p_days LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM window_state w WHERE w.days = d AND w.as_of = p_as_of);
    INSERT INTO window_state (days, as_of) VALUES (d, p_as_of);
    INSERT INTO domain_windows (days, as_of, policy_domain, successful, failed)
    SELECT d, p_as_of, s.policy_domain, sum(s.successful), sum(s.failed) FROM daily_sessions s
    WHERE s.day <= p_as_of AND s.day > p_as_of - make_interval(hours => 24 * d)
    GROUP BY 3;
    built := built + 1;
  END LOOP;
  RETURN built;
END $$;
