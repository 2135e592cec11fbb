-- Schema snapshot: pg_dump --schema-only of a database migrated from empty (comments, SET lines
-- and blank lines dropped). tests/integration/store_test.sh keeps it equal to migrations/.
CREATE FUNCTION public.add_counts(a jsonb, b jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE WHEN a = '{}' THEN b WHEN b = '{}' THEN a ELSE
        (SELECT jsonb_object_agg(k, n) FROM (SELECT k, sum(v::bigint) AS n
            FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS e (k, v) GROUP BY k) AS s)
    END $$;
CREATE TABLE public.session_counts (
    bucket timestamp with time zone NOT NULL,
    policy_domain text NOT NULL,
    organization_name text NOT NULL,
    policy_type text NOT NULL,
    result text NOT NULL,
    mx_host text NOT NULL,
    sessions bigint NOT NULL,
    CONSTRAINT session_counts_sessions_check CHECK ((sessions >= 0))
);
CREATE FUNCTION public.add_session_counts(counts public.session_counts[]) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
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
CREATE FUNCTION public.build_domain_windows(p_days integer[], p_as_of timestamp with time zone) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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
CREATE FUNCTION public.compact_session_counts() RETURNS bigint
    LANGUAGE sql
    AS $$
    WITH moved AS (DELETE FROM session_counts_new RETURNING *)
    SELECT coalesce(add_session_counts(array_agg(ROW(moved.*)::session_counts)), 0) FROM moved $$;
CREATE FUNCTION public.drift_state(monitored boolean, last_published timestamp with time zone, max_age bigint, start timestamp with time zone) RETURNS TABLE(state text, beyond_max_age boolean)
    LANGUAGE sql IMMUTABLE
    AS $_$
    SELECT CASE WHEN NOT $1 THEN 'unknown'
                WHEN $2 IS NULL THEN 'never-published'
                WHEN $2 >= d - interval '1 day' THEN 'current'
                ELSE 'previous' END,
           coalesce($2 < d - interval '1 day' AND d > $2 + make_interval(secs => $3), false)
    FROM (SELECT date_trunc('day', $4 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d) AS day
    $_$;
CREATE FUNCTION public.normalized_policy(lines text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT coalesce(array_agg(l ORDER BY l), '{}') FROM (
        SELECT lower(btrim(split_part(x, ':', 1), E' \t\r')) || ': ' || btrim(substr(x, strpos(x, ':') + 1), E' \t\r') AS l
        FROM unnest(lines) AS x WHERE btrim(x, E' \t\r') <> '' AND strpos(x, ':') > 0) AS s
    $$;
CREATE FUNCTION public.normalized_tlsa(records text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $_$
    SELECT coalesce(array_agg(DISTINCT r ORDER BY r), '{}') FROM (
        SELECT CASE WHEN m IS NULL THEN lower(regexp_replace(btrim(x), '\s+', ' ', 'g'))
                    ELSE m[1]::int || ' ' || m[2]::int || ' ' || m[3]::int || ' ' || lower(regexp_replace(m[4], '\s', '', 'g'))
               END AS r
        FROM unnest(records) AS x,
             LATERAL (SELECT regexp_match(x, '(?:^|\s)(\d{1,3})\s+(\d{1,3})\s+(\d{1,3})\s+([0-9A-Fa-f][0-9A-Fa-f\s]*)$')) AS g (m)
        WHERE btrim(x) <> '') AS s
    $_$;
CREATE FUNCTION public.policy_drift(policy_type text, domain text, mx_host text[], policy_string text[], start timestamp with time zone) RETURNS TABLE(state text, matched text, last_published timestamp with time zone, max_age bigint, beyond_max_age boolean)
    LANGUAGE sql STABLE
    AS $_$
    SELECT s.state, m.matched, m.last_published, m.max_age, s.beyond_max_age
    FROM published_match($1, $2, $3, $4) AS m, drift_state(m.monitored, m.last_published, m.max_age, $5) AS s
    $_$;
CREATE FUNCTION public.published_match(policy_type text, domain text, mx_host text[], policy_string text[]) RETURNS TABLE(monitored boolean, matched text, last_published timestamp with time zone, max_age bigint)
    LANGUAGE sql STABLE
    AS $_$
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
    $_$;
CREATE FUNCTION public.rollout_change(p_domain text, expected text, new_mode text, new_mx text[], new_max_age bigint, new_id text, p_actor text, p_action text, p_reason text, p_forced boolean) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
DECLARE
  cur hosted_policies;
BEGIN
  SELECT * INTO cur FROM hosted_policies WHERE domain = p_domain FOR UPDATE;
  IF (cur.domain IS NULL AND expected IS NOT NULL) OR (cur.domain IS NOT NULL AND cur.policy_id IS DISTINCT FROM expected) THEN
    RETURN false;
  END IF;
  IF new_mode IS NULL THEN
    DELETE FROM hosted_policies WHERE domain = p_domain;
  ELSIF cur.domain IS NULL THEN
    INSERT INTO hosted_policies (domain, mode, mx, max_age, policy_id, changed_at, longest_max_age, held_until)
    VALUES (p_domain, new_mode, new_mx, new_max_age, new_id, now(), new_max_age, now() + make_interval(secs => new_max_age));
  ELSE
    UPDATE hosted_policies SET mode = new_mode, mx = new_mx, max_age = new_max_age, policy_id = new_id, changed_at = now(),
           longest_max_age = greatest(longest_max_age, new_max_age),
           -- any policy served until now may have been fetched just now
           held_until = greatest(held_until, now() + make_interval(secs => greatest(longest_max_age, new_max_age))),
           dns_state = 'pending', dns_detail = '', ready_since = NULL
     WHERE domain = p_domain;
  END IF;
  INSERT INTO policy_changes (domain, actor, action, reason, forced, old, new)
  VALUES (p_domain, p_actor, p_action, p_reason, p_forced,
          CASE WHEN cur.domain IS NULL THEN NULL
               ELSE jsonb_build_object('mode', cur.mode, 'mx', to_jsonb(cur.mx), 'max_age', cur.max_age, 'policy_id', cur.policy_id) END,
          CASE WHEN new_mode IS NULL THEN NULL
               ELSE jsonb_build_object('mode', new_mode, 'mx', to_jsonb(new_mx), 'max_age', new_max_age, 'policy_id', new_id) END);
  PERFORM pg_notify('tlsrpt_policy', p_domain);
  RETURN true;
END $$;
CREATE FUNCTION public.success_ratio(ok numeric, failed numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN ok + failed > 0 THEN round(ok / (ok + failed), 6) END $$;
CREATE FUNCTION public.tlsrpt_ensure_partitions(back integer, ahead integer) RETURNS integer
    LANGUAGE sql
    AS $$
  SELECT count(*) FILTER (WHERE made)::integer FROM (
    SELECT tlsrpt_partition_month(((now() AT TIME ZONE 'UTC')::date + make_interval(months => m))::date) AS made
    FROM generate_series(-back, ahead) AS m) AS x
$$;
CREATE FUNCTION public.tlsrpt_partition_month(day date) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
DECLARE
  lo timestamptz := date_trunc('month', day::timestamp) AT TIME ZONE 'UTC';
  hi timestamptz := (date_trunc('month', day::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'failure_details_' || to_char(day, 'YYYY_MM');
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('tlsrpt partitions'));
  IF to_regclass(name) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE failure_details INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
  -- the partition's bound as a constraint first: attaching then need not scan it
  EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (start_datetime >= %L AND start_datetime < %L)',
                 name, name || '_bound', lo, hi);
  EXECUTE format('WITH moved AS (DELETE FROM failure_details_default WHERE start_datetime >= %L AND start_datetime < %L '
                 'RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, name);
  EXECUTE format('ALTER TABLE failure_details ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_bound');
  RETURN true;
END $$;
CREATE FUNCTION public.tlsrpt_policies_deleted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
  lo timestamptz;
  hi timestamptz;
  ids bigint[];
BEGIN
  SELECT min(start_datetime), max(start_datetime), array_agg(id) INTO lo, hi, ids FROM gone;
  IF ids IS NOT NULL THEN
    DELETE FROM failure_details WHERE policy_id = ANY (ids) AND start_datetime BETWEEN lo AND hi;
  END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION public.tlsrpt_posture_domain() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  INSERT INTO known_domains (domain) VALUES (NEW.domain) ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE FUNCTION public.utc_text(t timestamp with time zone) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;
CREATE AGGREGATE public.sum_counts(jsonb) (
    SFUNC = public.add_counts,
    STYPE = jsonb,
    INITCOND = '{}'
);
CREATE TABLE public.daily_sessions (
    policy_domain text NOT NULL,
    day timestamp with time zone NOT NULL,
    successful bigint NOT NULL,
    failed bigint NOT NULL,
    by_result jsonb NOT NULL
);
CREATE TABLE public.domain_windows (
    days integer NOT NULL,
    as_of timestamp with time zone NOT NULL,
    policy_domain text NOT NULL,
    successful bigint NOT NULL,
    failed bigint NOT NULL,
    ratio_key double precision GENERATED ALWAYS AS (
CASE
    WHEN ((successful + failed) > 0) THEN round((((successful)::double precision / ((successful + failed))::double precision) * (1000000)::double precision))
    ELSE NULL::double precision
END) STORED,
    failed_key bigint GENERATED ALWAYS AS (NULLIF(failed, 0)) STORED
);
CREATE TABLE public.failure_details (
    policy_id bigint NOT NULL,
    result_type text NOT NULL,
    sending_mta_ip text,
    receiving_mx_hostname text,
    receiving_mx_helo text,
    receiving_ip text,
    failed_session_count bigint NOT NULL,
    additional_information text,
    failure_reason_code text,
    policy_domain text NOT NULL,
    start_datetime timestamp with time zone NOT NULL,
    CONSTRAINT failure_details_failed_session_count_check CHECK ((failed_session_count >= 0))
)
PARTITION BY RANGE (start_datetime);
CREATE TABLE public.failure_details_default (
    policy_id bigint NOT NULL,
    result_type text NOT NULL,
    sending_mta_ip text,
    receiving_mx_hostname text,
    receiving_mx_helo text,
    receiving_ip text,
    failed_session_count bigint NOT NULL,
    additional_information text,
    failure_reason_code text,
    policy_domain text NOT NULL,
    start_datetime timestamp with time zone NOT NULL,
    CONSTRAINT failure_details_failed_session_count_check CHECK ((failed_session_count >= 0))
);
CREATE TABLE public.hosted_policies (
    domain text NOT NULL,
    mode text NOT NULL,
    mx text[] NOT NULL,
    max_age bigint NOT NULL,
    policy_id text NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    longest_max_age bigint NOT NULL,
    held_until timestamp with time zone NOT NULL,
    dns_state text DEFAULT 'pending'::text NOT NULL,
    dns_id text,
    dns_detail text DEFAULT ''::text NOT NULL,
    dns_at timestamp with time zone,
    ready_since timestamp with time zone,
    CONSTRAINT hosted_policies_dns_state_check CHECK ((dns_state = ANY (ARRAY['pending'::text, 'updated'::text, 'confirmed'::text, 'failed'::text]))),
    CONSTRAINT hosted_policies_max_age_check CHECK (((max_age >= 0) AND (max_age <= 31557600))),
    CONSTRAINT hosted_policies_mode_check CHECK ((mode = ANY (ARRAY['testing'::text, 'enforce'::text, 'none'::text]))),
    CONSTRAINT hosted_policies_policy_id_check CHECK ((policy_id ~ '^[A-Za-z0-9]{1,32}$'::text))
);
CREATE TABLE public.known_domains (
    domain text NOT NULL,
    newest_bucket timestamp with time zone
);
CREATE TABLE public.policies (
    id bigint NOT NULL,
    report_id bigint NOT NULL,
    "position" integer NOT NULL,
    policy_type text NOT NULL,
    policy_string text[] NOT NULL,
    policy_domain text NOT NULL,
    mx_host text[] NOT NULL,
    total_successful_session_count bigint NOT NULL,
    total_failure_session_count bigint NOT NULL,
    start_datetime timestamp with time zone NOT NULL,
    organization_name text NOT NULL,
    CONSTRAINT policies_policy_type_check CHECK ((policy_type = ANY (ARRAY['sts'::text, 'tlsa'::text, 'no-policy-found'::text]))),
    CONSTRAINT policies_total_failure_session_count_check CHECK ((total_failure_session_count >= 0)),
    CONSTRAINT policies_total_successful_session_count_check CHECK ((total_successful_session_count >= 0))
);
CREATE SEQUENCE public.policies_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.policies_id_seq OWNED BY public.policies.id;
CREATE TABLE public.policy_changes (
    id bigint NOT NULL,
    domain text NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    reason text NOT NULL,
    forced boolean DEFAULT false NOT NULL,
    old jsonb,
    new jsonb
);
CREATE SEQUENCE public.policy_changes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.policy_changes_id_seq OWNED BY public.policy_changes.id;
CREATE TABLE public.posture_checks (
    id bigint NOT NULL,
    domain text NOT NULL,
    checked_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    complete boolean NOT NULL,
    errors integer NOT NULL,
    warnings integer NOT NULL,
    sts_id text,
    mode text,
    policy_sha256 text,
    result jsonb,
    result_of bigint,
    CONSTRAINT posture_checks_check CHECK (((result IS NULL) <> (result_of IS NULL)))
);
CREATE SEQUENCE public.posture_checks_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.posture_checks_id_seq OWNED BY public.posture_checks.id;
CREATE TABLE public.posture_findings (
    check_id bigint NOT NULL,
    finding text NOT NULL,
    severity text NOT NULL,
    subject text NOT NULL,
    detail text NOT NULL,
    CONSTRAINT posture_findings_severity_check CHECK ((severity = ANY (ARRAY['error'::text, 'warning'::text, 'info'::text])))
);
CREATE TABLE public.published_policies (
    domain text NOT NULL,
    sts_id text NOT NULL,
    sha256 text NOT NULL,
    mode text,
    max_age bigint,
    mx text[] NOT NULL,
    text text NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL,
    normalized text[] NOT NULL
);
CREATE TABLE public.published_tlsa (
    domain text NOT NULL,
    mx_host text NOT NULL,
    records text[] NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL
);
CREATE TABLE public.raw_messages (
    id bigint NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    transport text NOT NULL,
    source jsonb DEFAULT '{}'::jsonb NOT NULL,
    sha256 bytea NOT NULL,
    size integer NOT NULL,
    body bytea,
    duplicate_of bigint,
    outcome text NOT NULL,
    reason text,
    detail text,
    reports integer DEFAULT 0 NOT NULL,
    processed_at timestamp with time zone DEFAULT now() NOT NULL,
    client text,
    body_dropped text,
    head bytea,
    dkim text,
    dkim_detail jsonb,
    CONSTRAINT raw_messages_body_check CHECK (((body IS NOT NULL) OR (duplicate_of IS NOT NULL) OR (body_dropped IS NOT NULL))),
    CONSTRAINT raw_messages_body_dropped_check CHECK ((body_dropped = ANY (ARRAY['quota'::text, 'retention'::text]))),
    CONSTRAINT raw_messages_check1 CHECK (((outcome = 'rejected'::text) = (reason IS NOT NULL))),
    CONSTRAINT raw_messages_dkim_check CHECK ((dkim = ANY (ARRAY['pass'::text, 'fail'::text, 'none'::text, 'temperror'::text, 'permerror'::text]))),
    CONSTRAINT raw_messages_outcome_check CHECK ((outcome = ANY (ARRAY['stored'::text, 'rejected'::text, 'duplicate'::text]))),
    CONSTRAINT raw_messages_sha256_check CHECK ((octet_length(sha256) = 32)),
    CONSTRAINT raw_messages_size_check CHECK ((size >= 0)),
    CONSTRAINT raw_messages_transport_check CHECK ((transport = ANY (ARRAY['cli'::text, 'smtp'::text, 'imap'::text, 'https'::text])))
);
ALTER TABLE ONLY public.raw_messages ALTER COLUMN body SET COMPRESSION lz4;
CREATE SEQUENCE public.raw_messages_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.raw_messages_id_seq OWNED BY public.raw_messages.id;
CREATE TABLE public.rejected_quota (
    day date NOT NULL,
    client text NOT NULL,
    bytes bigint NOT NULL,
    messages bigint NOT NULL
);
CREATE TABLE public.report_quirks (
    report_id bigint NOT NULL,
    quirk text NOT NULL
);
CREATE TABLE public.reports (
    id bigint NOT NULL,
    raw_message_id bigint NOT NULL,
    dedup_key bytea NOT NULL,
    organization_name text NOT NULL,
    contact_info text,
    report_id text NOT NULL,
    start_datetime timestamp with time zone NOT NULL,
    end_datetime timestamp with time zone NOT NULL,
    successful_sessions bigint NOT NULL,
    failed_sessions bigint NOT NULL,
    source_part text,
    source_filename text,
    stored_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT reports_check CHECK ((end_datetime >= start_datetime))
);
CREATE SEQUENCE public.reports_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.reports_id_seq OWNED BY public.reports.id;
CREATE TABLE public.schema_migrations (
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);
CREATE TABLE public.session_counts_new (
    bucket timestamp with time zone NOT NULL,
    policy_domain text NOT NULL,
    organization_name text NOT NULL,
    policy_type text NOT NULL,
    result text NOT NULL,
    mx_host text NOT NULL,
    sessions bigint NOT NULL,
    CONSTRAINT session_counts_sessions_check CHECK ((sessions >= 0))
);
CREATE VIEW public.tlsrpt_daily AS
 SELECT d.policy_domain,
    d.day,
    (sum(d.successful))::bigint AS successful,
    (sum(d.failed))::bigint AS failed,
    public.sum_counts(d.by_result) AS by_result
   FROM ( SELECT daily_sessions.policy_domain,
            daily_sessions.day,
            daily_sessions.successful,
            daily_sessions.failed,
            daily_sessions.by_result
           FROM public.daily_sessions
        UNION ALL
         SELECT p.policy_domain,
            p.day,
            COALESCE(sum(p.n) FILTER (WHERE (p.result = 'success'::text)), (0)::numeric) AS "coalesce",
            COALESCE(sum(p.n) FILTER (WHERE (p.result = 'failure'::text)), (0)::numeric) AS "coalesce",
            COALESCE(jsonb_object_agg(p.result, p.n) FILTER (WHERE (p.result <> ALL (ARRAY['success'::text, 'failure'::text]))), '{}'::jsonb) AS "coalesce"
           FROM ( SELECT session_counts_new.policy_domain,
                    date_bin('1 day'::interval, session_counts_new.bucket, '2000-01-01 00:00:00+00'::timestamp with time zone) AS day,
                    session_counts_new.result,
                    sum(session_counts_new.sessions) AS n
                   FROM public.session_counts_new
                  GROUP BY session_counts_new.policy_domain, (date_bin('1 day'::interval, session_counts_new.bucket, '2000-01-01 00:00:00+00'::timestamp with time zone)), session_counts_new.result) p
          GROUP BY p.policy_domain, p.day) d
  GROUP BY d.policy_domain, d.day;
CREATE VIEW public.tlsrpt_sessions AS
 SELECT session_counts.bucket,
    session_counts.policy_domain,
    session_counts.organization_name,
    session_counts.policy_type,
    session_counts.result,
    session_counts.mx_host,
    session_counts.sessions
   FROM public.session_counts
UNION ALL
 SELECT session_counts_new.bucket,
    session_counts_new.policy_domain,
    session_counts_new.organization_name,
    session_counts_new.policy_type,
    session_counts_new.result,
    session_counts_new.mx_host,
    session_counts_new.sessions
   FROM public.session_counts_new;
CREATE TABLE public.window_state (
    days integer NOT NULL,
    as_of timestamp with time zone NOT NULL,
    built_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT window_state_days_check CHECK (((days >= 1) AND (days <= 400)))
);
ALTER TABLE ONLY public.failure_details ATTACH PARTITION public.failure_details_default DEFAULT;
ALTER TABLE ONLY public.policies ALTER COLUMN id SET DEFAULT nextval('public.policies_id_seq'::regclass);
ALTER TABLE ONLY public.policy_changes ALTER COLUMN id SET DEFAULT nextval('public.policy_changes_id_seq'::regclass);
ALTER TABLE ONLY public.posture_checks ALTER COLUMN id SET DEFAULT nextval('public.posture_checks_id_seq'::regclass);
ALTER TABLE ONLY public.raw_messages ALTER COLUMN id SET DEFAULT nextval('public.raw_messages_id_seq'::regclass);
ALTER TABLE ONLY public.reports ALTER COLUMN id SET DEFAULT nextval('public.reports_id_seq'::regclass);
ALTER TABLE ONLY public.daily_sessions
    ADD CONSTRAINT daily_sessions_pkey PRIMARY KEY (policy_domain, day);
ALTER TABLE ONLY public.domain_windows
    ADD CONSTRAINT domain_windows_pkey PRIMARY KEY (days, as_of, policy_domain);
ALTER TABLE ONLY public.hosted_policies
    ADD CONSTRAINT hosted_policies_pkey PRIMARY KEY (domain);
ALTER TABLE ONLY public.known_domains
    ADD CONSTRAINT known_domains_pkey PRIMARY KEY (domain);
ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_report_id_position_key UNIQUE (report_id, "position");
ALTER TABLE ONLY public.policy_changes
    ADD CONSTRAINT policy_changes_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.posture_checks
    ADD CONSTRAINT posture_checks_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.published_policies
    ADD CONSTRAINT published_policies_pkey PRIMARY KEY (domain, sts_id, sha256);
ALTER TABLE ONLY public.published_tlsa
    ADD CONSTRAINT published_tlsa_pkey PRIMARY KEY (domain, mx_host, records);
ALTER TABLE ONLY public.raw_messages
    ADD CONSTRAINT raw_messages_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.rejected_quota
    ADD CONSTRAINT rejected_quota_pkey PRIMARY KEY (day, client);
ALTER TABLE ONLY public.report_quirks
    ADD CONSTRAINT report_quirks_pkey PRIMARY KEY (report_id, quirk);
ALTER TABLE ONLY public.reports
    ADD CONSTRAINT reports_dedup_key_key UNIQUE (dedup_key);
ALTER TABLE ONLY public.reports
    ADD CONSTRAINT reports_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (name);
ALTER TABLE ONLY public.session_counts
    ADD CONSTRAINT session_counts_pkey PRIMARY KEY (policy_domain, bucket, result, organization_name, policy_type, mx_host) INCLUDE (sessions);
ALTER TABLE ONLY public.window_state
    ADD CONSTRAINT window_state_pkey PRIMARY KEY (days, as_of);
CREATE INDEX daily_sessions_day ON public.daily_sessions USING btree (day) INCLUDE (policy_domain, successful, failed);
CREATE INDEX domain_windows_failed ON public.domain_windows USING btree (days, as_of, failed_key DESC, policy_domain) WHERE (failed_key IS NOT NULL);
CREATE INDEX domain_windows_ratio ON public.domain_windows USING btree (days, as_of, ratio_key, policy_domain) WHERE (ratio_key IS NOT NULL);
CREATE INDEX failure_details_domain_type ON ONLY public.failure_details USING btree (policy_domain, result_type, start_datetime);
CREATE INDEX failure_details_default_policy_domain_result_type_start_dat_idx ON public.failure_details_default USING btree (policy_domain, result_type, start_datetime);
CREATE INDEX failure_details_policy ON ONLY public.failure_details USING btree (policy_id);
CREATE INDEX failure_details_default_policy_id_idx ON public.failure_details_default USING btree (policy_id);
CREATE INDEX failure_details_mx_start ON ONLY public.failure_details USING btree (receiving_mx_hostname, start_datetime);
CREATE INDEX failure_details_default_receiving_mx_hostname_start_datetim_idx ON public.failure_details_default USING btree (receiving_mx_hostname, start_datetime);
CREATE INDEX failure_details_type_start ON ONLY public.failure_details USING btree (result_type, start_datetime);
CREATE INDEX failure_details_default_result_type_start_datetime_idx ON public.failure_details_default USING btree (result_type, start_datetime);
CREATE INDEX known_domains_newest ON public.known_domains USING btree (newest_bucket DESC, domain) WHERE (newest_bucket IS NOT NULL);
CREATE INDEX policies_domain_start_org ON public.policies USING btree (policy_domain, start_datetime) INCLUDE (organization_name, report_id);
CREATE INDEX policies_organization_start ON public.policies USING btree (organization_name, start_datetime);
CREATE INDEX policy_changes_domain ON public.policy_changes USING btree (domain, at DESC, id DESC);
CREATE INDEX posture_checks_domain ON public.posture_checks USING btree (domain, checked_at DESC);
CREATE INDEX posture_findings_check ON public.posture_findings USING btree (check_id);
CREATE INDEX published_policies_normalized ON public.published_policies USING btree (domain, normalized);
CREATE INDEX raw_messages_body_kept ON public.raw_messages USING btree (received_at) WHERE ((body IS NOT NULL) AND (outcome <> 'rejected'::text));
CREATE INDEX raw_messages_body_sha256 ON public.raw_messages USING btree (sha256, id) WHERE (body IS NOT NULL);
CREATE INDEX raw_messages_duplicate_of ON public.raw_messages USING btree (duplicate_of) WHERE (duplicate_of IS NOT NULL);
CREATE INDEX raw_messages_received ON public.raw_messages USING btree (received_at);
CREATE INDEX raw_messages_rejected ON public.raw_messages USING btree (reason, received_at) WHERE (outcome = 'rejected'::text);
CREATE INDEX report_quirks_quirk ON public.report_quirks USING btree (quirk);
CREATE INDEX reports_raw_message ON public.reports USING btree (raw_message_id);
CREATE INDEX reports_start ON public.reports USING btree (start_datetime);
CREATE INDEX session_counts_bucket ON public.session_counts USING btree (bucket);
CREATE INDEX session_counts_new_domain ON public.session_counts_new USING btree (policy_domain, bucket);
ALTER INDEX public.failure_details_domain_type ATTACH PARTITION public.failure_details_default_policy_domain_result_type_start_dat_idx;
ALTER INDEX public.failure_details_policy ATTACH PARTITION public.failure_details_default_policy_id_idx;
ALTER INDEX public.failure_details_mx_start ATTACH PARTITION public.failure_details_default_receiving_mx_hostname_start_datetim_idx;
ALTER INDEX public.failure_details_type_start ATTACH PARTITION public.failure_details_default_result_type_start_datetime_idx;
CREATE TRIGGER policies_failure_details AFTER DELETE ON public.policies REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION public.tlsrpt_policies_deleted();
CREATE TRIGGER posture_checks_known AFTER INSERT ON public.posture_checks FOR EACH ROW EXECUTE FUNCTION public.tlsrpt_posture_domain();
ALTER TABLE ONLY public.domain_windows
    ADD CONSTRAINT domain_windows_days_as_of_fkey FOREIGN KEY (days, as_of) REFERENCES public.window_state(days, as_of) ON DELETE CASCADE;
ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_report_id_fkey FOREIGN KEY (report_id) REFERENCES public.reports(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.posture_checks
    ADD CONSTRAINT posture_checks_result_of_fkey FOREIGN KEY (result_of) REFERENCES public.posture_checks(id);
ALTER TABLE ONLY public.posture_findings
    ADD CONSTRAINT posture_findings_check_id_fkey FOREIGN KEY (check_id) REFERENCES public.posture_checks(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.raw_messages
    ADD CONSTRAINT raw_messages_duplicate_of_fkey FOREIGN KEY (duplicate_of) REFERENCES public.raw_messages(id);
ALTER TABLE ONLY public.report_quirks
    ADD CONSTRAINT report_quirks_report_id_fkey FOREIGN KEY (report_id) REFERENCES public.reports(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.reports
    ADD CONSTRAINT reports_raw_message_id_fkey FOREIGN KEY (raw_message_id) REFERENCES public.raw_messages(id);
