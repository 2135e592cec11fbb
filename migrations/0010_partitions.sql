-- failure_details becomes a table partitioned by month of the report's start time (UTC), so that
-- retention drops whole months instead of deleting rows, and a question about a time range reads
-- only its months. A default partition takes what no month covers (a sender's clock years off):
-- nothing is refused for want of a partition. Existing rows are carried over.
--
-- tlsrpt_partition_month(day) makes the partition of day's month, moving the rows the default
-- partition holds for it; tlsrpt_ensure_partitions(back, ahead) makes the months from `back`
-- before the current one to `ahead` after it (migrate and serve call it; several servers at once
-- are serialised by an advisory lock).
DROP INDEX failure_details_domain_type, failure_details_mx_start, failure_details_policy, failure_details_type_start;
ALTER TABLE failure_details DROP CONSTRAINT failure_details_policy_id_fkey;
ALTER TABLE failure_details RENAME TO failure_details_unpartitioned;

CREATE TABLE failure_details (LIKE failure_details_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (start_datetime);
CREATE TABLE failure_details_default PARTITION OF failure_details DEFAULT;
CREATE INDEX failure_details_domain_type ON failure_details (policy_domain, result_type, start_datetime);
CREATE INDEX failure_details_mx_start ON failure_details (receiving_mx_hostname, start_datetime);
CREATE INDEX failure_details_policy ON failure_details (policy_id);
CREATE INDEX failure_details_type_start ON failure_details (result_type, start_datetime);
ALTER TABLE failure_details ADD CONSTRAINT failure_details_policy_id_fkey
  FOREIGN KEY (policy_id) REFERENCES policies (id) ON DELETE CASCADE;

CREATE FUNCTION tlsrpt_partition_month(day date) RETURNS boolean LANGUAGE plpgsql AS $$
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

CREATE FUNCTION tlsrpt_ensure_partitions(back integer, ahead integer) RETURNS integer LANGUAGE sql AS $$
  SELECT count(*) FILTER (WHERE made)::integer FROM (
    SELECT tlsrpt_partition_month(((now() AT TIME ZONE 'UTC')::date + make_interval(months => m))::date) AS made
    FROM generate_series(-back, ahead) AS m) AS x
$$;

-- The months of the rows there are, within the 14 months before this one and 3 after; the rest
-- stay in the default partition.
SELECT tlsrpt_partition_month(m)
FROM (SELECT DISTINCT date_trunc('month', start_datetime AT TIME ZONE 'UTC')::date AS m FROM failure_details_unpartitioned) AS x
WHERE m >= date_trunc('month', now() AT TIME ZONE 'UTC')::date - interval '14 months'
  AND m <= date_trunc('month', now() AT TIME ZONE 'UTC')::date + interval '3 months';
SELECT tlsrpt_ensure_partitions(14, 3);
INSERT INTO failure_details SELECT * FROM failure_details_unpartitioned;
DROP TABLE failure_details_unpartitioned;

-- Retention: a stored message's body may be dropped after retention.raw_bodies (its hash, size,
-- outcome and reports stay).
ALTER TABLE raw_messages DROP CONSTRAINT raw_messages_body_dropped_check;
ALTER TABLE raw_messages ADD CONSTRAINT raw_messages_body_dropped_check CHECK (body_dropped IN ('quota', 'retention'));
CREATE INDEX raw_messages_body_kept ON raw_messages (received_at) WHERE body IS NOT NULL AND outcome <> 'rejected';
-- (retention deletes a rejected message only when no duplicate points at it)
CREATE INDEX raw_messages_duplicate_of ON raw_messages (duplicate_of) WHERE duplicate_of IS NOT NULL;
