-- Issue 18: a revoke is counted per statement, not per row. The row trigger ran one PL/pgSQL
-- call and one upsert for each of a cleanup batch's 250 rows (or a sign-out everywhere's);
-- one grouped upsert from the statement's transition tables does the same count. (The scale
-- run's long write-lock holds turned out to be waiting for a CPU, not this work: see
-- docs/performance.md.) A trigger with transition tables cannot
-- name columns, so it fires on every UPDATE of the registry; a last-seen touch changes no
-- revoke, and its statement's join of one old and one new row finds nothing to count.
DROP TRIGGER session_counts_revoke ON auth_sessions;

CREATE FUNCTION session_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_counts (organisation_id, realm, unrevoked)
        SELECT a.organisation_id, c.realm, SUM(c.step) FROM (
            -- A revoke leaves the old row's place; an un-revoke (never by the portal) joins the
            -- new row's.
            SELECT o.account_id, o.realm, -1 AS step FROM old_rows o
                JOIN new_rows n ON n.id = o.id
                WHERE o.revoked_at IS NULL AND n.revoked_at IS NOT NULL
            UNION ALL
            SELECT n.account_id, n.realm, 1 FROM old_rows o
                JOIN new_rows n ON n.id = o.id
                WHERE o.revoked_at IS NOT NULL AND n.revoked_at IS NULL
        ) c
        JOIN accounts a ON a.id = c.account_id
        GROUP BY a.organisation_id, c.realm
        ON CONFLICT (organisation_id, realm)
        DO UPDATE SET unrevoked = session_counts.unrevoked + EXCLUDED.unrevoked;
    RETURN NULL;
END $$;
CREATE TRIGGER session_counts_update AFTER UPDATE ON auth_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION session_counts_updated();
