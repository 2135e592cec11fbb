-- Drift: a report's MTA-STS policy compared with what the domain published. A policy's content
-- in a form where the same policy compares equal however it was written: one "key: value" per
-- non-empty line, keys in lower case, spaces trimmed, lines sorted (mx lines may come in any
-- order; spaces, tabs and CRs trimmed). The reports' policy-string (one array element per line) and the published text (LF or
-- CRLF lines) both go through it.
CREATE FUNCTION normalized_policy(lines text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT coalesce(array_agg(l ORDER BY l), '{}') FROM (
        SELECT lower(btrim(split_part(x, ':', 1), E' \t\r')) || ': ' || btrim(substr(x, strpos(x, ':') + 1), E' \t\r') AS l
        FROM unnest(lines) AS x WHERE btrim(x, E' \t\r') <> '' AND strpos(x, ':') > 0) AS s
    $$;

ALTER TABLE published_policies ADD COLUMN normalized text[];
UPDATE published_policies SET normalized = normalized_policy(string_to_array(replace(text, E'\r', ''), E'\n'));
ALTER TABLE published_policies ALTER COLUMN normalized SET NOT NULL;
CREATE INDEX published_policies_normalized ON published_policies (domain, normalized);
