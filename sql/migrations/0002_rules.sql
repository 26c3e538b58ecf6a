-- 0002: the rule set, one row per version; the active version is the highest.
--
-- Rows are only ever inserted (PUT /v1/rules): a purchase records the version
-- it was computed with, so an old version must stay readable as it was.
-- Version 1, the default rule set, is inserted by the daemon at start when
-- the table is empty (the document comes from the binary, not from SQL).

CREATE TABLE rule_versions (
    version       integer PRIMARY KEY CHECK (version >= 1),
    document      jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
    activated_at  timestamptz NOT NULL DEFAULT now(),
    activated_by  bigint REFERENCES api_keys (id)
);

-- Every daemon caches the active version; a new one tells them all
-- (LISTEN loyalty_rules), whoever inserted it.  The payload is the version.
CREATE FUNCTION loyalty_notify_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('loyalty_rules', NEW.version::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER rule_versions_inserted AFTER INSERT ON rule_versions
    FOR EACH ROW EXECUTE FUNCTION loyalty_notify_rules();
