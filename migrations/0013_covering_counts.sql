-- The summary (and the time series by hour, by organisation or by policy type) reads the hourly
-- rollup of one domain over a range: the primary key's (policy_domain, bucket) prefix finds the
-- rows, then every row's heap page was read for its `sessions`. The primary key now carries
-- `sessions` as a non-key column, so the answer comes from the index alone (an index-only scan,
-- once VACUUM has marked the pages all-visible, which autovacuum does): about half the pages per
-- answer, which matters once the table no longer fits in shared buffers. The key, and so
-- uniqueness and ON CONFLICT, is unchanged.
--
-- Building the index reads the whole table and blocks writes to it meanwhile (about a minute
-- for the rollups of 20 million failure-details on a small machine); intake waits, it does not fail.
CREATE UNIQUE INDEX session_counts_covering ON session_counts
    (policy_domain, bucket, result, organization_name, policy_type, mx_host) INCLUDE (sessions);
ALTER TABLE session_counts DROP CONSTRAINT session_counts_pkey,
    ADD CONSTRAINT session_counts_pkey PRIMARY KEY USING INDEX session_counts_covering;
