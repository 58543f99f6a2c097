-- Issue 18: the console's figures without a scan. An exact count of 1,000,000 accounts read an
-- index of them all on every view of the dashboard and the organisations page (4.9 s p99 for
-- the latter), and live sessions were counted by reading them. These counters are kept by
-- triggers in the writing statement's own transaction, so they are exact whatever writes (the
-- portal, the command line, an operator's SQL; not TRUNCATE, which fires no row trigger).
-- Inserts are counted per statement from its transition table: a bulk insert of 20,000
-- accounts of one organisation is one update of its counter, not 20,000 versions of one row
-- in one transaction. An upsert's row lock orders concurrent writers, so no count is lost.

-- Accounts by organisation, platform admins apart (organisation admins do not see them).
CREATE TABLE account_counts (
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    is_platform_admin BOOLEAN NOT NULL,
    accounts BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, is_platform_admin)
);
INSERT INTO account_counts (organisation_id, is_platform_admin, accounts)
    SELECT organisation_id, is_platform_admin, COUNT(*) FROM accounts
    GROUP BY organisation_id, is_platform_admin;

-- Unrevoked sessions by their account's organisation and realm. A live count is this less
-- the unrevoked rows already past a bound, which the cleanup ends every interval: that
-- backlog is read from the two expiry indexes below, so the figure is exact and costs the
-- backlog, not the registry.
CREATE TABLE session_counts (
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    realm TEXT NOT NULL,
    unrevoked BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, realm)
);
INSERT INTO session_counts (organisation_id, realm, unrevoked)
    SELECT a.organisation_id, s.realm, COUNT(*) FROM auth_sessions s
    JOIN accounts a ON a.id = s.account_id
    WHERE s.revoked_at IS NULL GROUP BY a.organisation_id, s.realm;

CREATE FUNCTION account_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_counts (organisation_id, is_platform_admin, accounts)
        SELECT organisation_id, is_platform_admin, COUNT(*) FROM new_rows
        GROUP BY organisation_id, is_platform_admin
        ON CONFLICT (organisation_id, is_platform_admin)
        DO UPDATE SET accounts = account_counts.accounts + EXCLUDED.accounts;
    RETURN NULL;
END $$;
CREATE TRIGGER account_counts_insert AFTER INSERT ON accounts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION account_counts_inserted();

-- An account's open sessions leave its old place (a move, or a delete before the foreign key
-- deletes them, while the account can still be read) and, on a move, join its new one.
CREATE FUNCTION account_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE account_counts SET accounts = accounts - 1
        WHERE organisation_id = OLD.organisation_id AND is_platform_admin = OLD.is_platform_admin;
    UPDATE session_counts c SET unrevoked = c.unrevoked - n.count
        FROM (SELECT realm, COUNT(*) AS count FROM auth_sessions
              WHERE account_id = OLD.id AND revoked_at IS NULL GROUP BY realm) n
        WHERE c.organisation_id = OLD.organisation_id AND c.realm = n.realm;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    INSERT INTO account_counts (organisation_id, is_platform_admin, accounts)
        VALUES (NEW.organisation_id, NEW.is_platform_admin, 1)
        ON CONFLICT (organisation_id, is_platform_admin)
        DO UPDATE SET accounts = account_counts.accounts + 1;
    INSERT INTO session_counts (organisation_id, realm, unrevoked)
        SELECT NEW.organisation_id, realm, COUNT(*) FROM auth_sessions
        WHERE account_id = NEW.id AND revoked_at IS NULL GROUP BY realm
        ON CONFLICT (organisation_id, realm)
        DO UPDATE SET unrevoked = session_counts.unrevoked + EXCLUDED.unrevoked;
    RETURN NEW;
END $$;
CREATE TRIGGER account_counts_move AFTER UPDATE OF organisation_id, is_platform_admin
    ON accounts FOR EACH ROW
    WHEN (OLD.organisation_id IS DISTINCT FROM NEW.organisation_id
          OR OLD.is_platform_admin IS DISTINCT FROM NEW.is_platform_admin)
    EXECUTE FUNCTION account_counts_changed();
CREATE TRIGGER account_counts_delete BEFORE DELETE ON accounts FOR EACH ROW
    EXECUTE FUNCTION account_counts_changed();

CREATE FUNCTION session_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_counts (organisation_id, realm, unrevoked)
        SELECT a.organisation_id, n.realm, COUNT(*) FROM new_rows n
        JOIN accounts a ON a.id = n.account_id
        WHERE n.revoked_at IS NULL GROUP BY a.organisation_id, n.realm
        ON CONFLICT (organisation_id, realm)
        DO UPDATE SET unrevoked = session_counts.unrevoked + EXCLUDED.unrevoked;
    RETURN NULL;
END $$;
CREATE TRIGGER session_counts_insert AFTER INSERT ON auth_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION session_counts_inserted();

-- One row's revoke (or, never by the portal, un-revoke or delete while unrevoked): -1 or +1.
CREATE FUNCTION session_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row auth_sessions;
    step BIGINT;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.revoked_at IS NULL THEN
        row := NEW;
        step := 1;
    ELSE
        row := OLD;
        step := -1;
    END IF;
    INSERT INTO session_counts (organisation_id, realm, unrevoked)
        SELECT organisation_id, row.realm, step FROM accounts WHERE id = row.account_id
        ON CONFLICT (organisation_id, realm)
        DO UPDATE SET unrevoked = session_counts.unrevoked + EXCLUDED.unrevoked;
    RETURN NULL;
END $$;
CREATE TRIGGER session_counts_revoke AFTER UPDATE OF revoked_at ON auth_sessions FOR EACH ROW
    WHEN ((OLD.revoked_at IS NULL) <> (NEW.revoked_at IS NULL))
    EXECUTE FUNCTION session_counts_changed();
CREATE TRIGGER session_counts_delete AFTER DELETE ON auth_sessions FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL)
    EXECUTE FUNCTION session_counts_changed();

-- The backlog: unrevoked rows past their idle bound, and those past their absolute bound only.
CREATE INDEX auth_sessions_open_idle ON auth_sessions (idle_expires_at)
    INCLUDE (realm, account_id) WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_open_absolute ON auth_sessions (absolute_expires_at)
    INCLUDE (realm, account_id, idle_expires_at) WHERE revoked_at IS NULL;

-- Platform admins, found without reading every account: every organisation admin's list,
-- count and export leaves them out by `account_id NOT IN (platform admins)`, and the live
-- figures above subtract theirs.
CREATE INDEX accounts_platform_admins ON accounts (is_platform_admin, organisation_id, id);
