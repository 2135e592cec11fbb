-- failure_details no longer carries a row-level foreign key to policies. The key's ON DELETE
-- CASCADE ran one statement per deleted policy, and each of those probed the policy_id index of
-- every month partition: deleting a month of reports (prune) cost about 50 microseconds a
-- report in the cascade alone. In its place one statement-level trigger on policies deletes the
-- failure-details of all policies a statement removed, by policy id within the range of their
-- start times (so only the months concerned are read). Deleting a report still deletes its
-- policies (foreign key) and their failure-details (this trigger). Failure-details are written
-- only by the statement that writes their policy (store.cpp), so no row can point at a policy
-- that never existed.
ALTER TABLE failure_details DROP CONSTRAINT failure_details_policy_id_fkey;

CREATE FUNCTION tlsrpt_policies_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER policies_failure_details AFTER DELETE ON policies
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION tlsrpt_policies_deleted();
