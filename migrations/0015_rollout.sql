-- The MTA-STS policies tlsrpt hosts (policy.domains, [[domain]] hosted = true) and every change
-- made to them (tlsrpt rollout, POST /api/v1/domains/{domain}/rollout, the automatic steps).
--
-- A domain's row is what its policy host serves now: mode, mx patterns, max_age and the policy
-- id that goes into its _mta-sts TXT record. A change takes effect for senders only once that
-- record carries the new id: dns_id is the id last seen there (or written there by a dynamic
-- update), dns_state says where the change stands.
CREATE TABLE hosted_policies (
    domain          text        PRIMARY KEY,
    mode            text        NOT NULL CHECK (mode IN ('testing', 'enforce', 'none')),
    mx              text[]      NOT NULL,
    max_age         bigint      NOT NULL CHECK (max_age BETWEEN 0 AND 31557600),
    policy_id       text        NOT NULL CHECK (policy_id ~ '^[A-Za-z0-9]{1,32}$'),
    changed_at      timestamptz NOT NULL,
    -- The longest max_age ever served for the domain, and until when a sender may still hold a
    -- policy of it: the policy host may go only after that (RFC 8461 section 8.3).
    longest_max_age bigint      NOT NULL,
    held_until      timestamptz NOT NULL,
    -- The DNS side of the latest change: pending (not published yet), updated (a dynamic update
    -- was accepted), confirmed (the record was read back with this id), failed (the update was
    -- refused: dns_detail says why).
    dns_state       text        NOT NULL DEFAULT 'pending' CHECK (dns_state IN ('pending', 'updated', 'confirmed', 'failed')),
    dns_id          text,
    dns_detail      text        NOT NULL DEFAULT '',
    dns_at          timestamptz,
    -- The days in a row the readiness verdict was ready (rollout.auto_enforce), and when the
    -- automatic steps last looked.
    ready_since     timestamptz
);

CREATE TABLE policy_changes (
    id         bigserial   PRIMARY KEY,
    domain     text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL,  -- the token's name, "cli", "auto"
    action     text        NOT NULL,  -- testing, enforce, rollback, none, remove
    reason     text        NOT NULL,
    forced     boolean     NOT NULL DEFAULT false,
    old        jsonb,                 -- {mode, mx, max_age, policy_id}; null for the first policy
    new        jsonb                  -- null when hosting ended (remove)
);
CREATE INDEX policy_changes_domain ON policy_changes (domain, at DESC, id DESC);

-- One change, atomically: it applies only when the domain's policy id is still `expected`
-- (null: the domain has no policy yet), so two changes made at once cannot both pass their
-- checks against the same state. A null `new_mode` ends the hosting (the row goes). Returns
-- whether it applied. Every applied change is announced on the channel tlsrpt_policy (payload:
-- the domain), which the policy listeners of every server follow.
CREATE FUNCTION rollout_change(p_domain text, expected text, new_mode text, new_mx text[], new_max_age bigint,
                               new_id text, p_actor text, p_action text, p_reason text, p_forced boolean)
RETURNS boolean LANGUAGE plpgsql AS $$
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
