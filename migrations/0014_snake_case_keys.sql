-- The project's own JSON keys are snake_case (RFC 8460's names keep their own spelling): the
-- posture check result's "mta-sts" object is now "mta_sts". Stored results are rewritten so
-- that the API, the policy history and the drift functions read one name.
UPDATE posture_checks
   SET result = (result - 'mta-sts') || jsonb_build_object('mta_sts', result -> 'mta-sts')
 WHERE result ? 'mta-sts';
