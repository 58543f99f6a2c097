-- Issue 18: the console's figures without a scan. An exact count of 1,000,000 accounts read an
-- index of them all on every view of the dashboard and the organisations page (3.8 s p99 for
-- the latter), and live sessions were counted by reading them. These counters are kept by
-- triggers in the writing statement's own transaction, so they are exact whatever writes:
-- the portal, the command line, or an operator's SQL (but not a bulk load with triggers off).

-- Accounts by organisation, platform admins apart (organisation admins do not see them).
CREATE TABLE account_counts (
    organisation_id INTEGER NOT NULL,
    is_platform_admin BOOLEAN NOT NULL,
    accounts BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, is_platform_admin)
);
INSERT INTO account_counts (organisation_id, is_platform_admin, accounts)
    SELECT organisation_id, is_platform_admin, COUNT(*) FROM accounts
    GROUP BY organisation_id, is_platform_admin;

CREATE TRIGGER account_counts_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO account_counts (organisation_id, is_platform_admin, accounts)
        VALUES (NEW.organisation_id, NEW.is_platform_admin, 1)
        ON CONFLICT (organisation_id, is_platform_admin) DO UPDATE SET accounts = accounts + 1;
END;
CREATE TRIGGER account_counts_move AFTER UPDATE OF organisation_id, is_platform_admin ON accounts
WHEN OLD.organisation_id IS NOT NEW.organisation_id
    OR OLD.is_platform_admin IS NOT NEW.is_platform_admin BEGIN
    UPDATE account_counts SET accounts = accounts - 1
        WHERE organisation_id = OLD.organisation_id AND is_platform_admin = OLD.is_platform_admin;
    INSERT INTO account_counts (organisation_id, is_platform_admin, accounts)
        VALUES (NEW.organisation_id, NEW.is_platform_admin, 1)
        ON CONFLICT (organisation_id, is_platform_admin) DO UPDATE SET accounts = accounts + 1;
    -- Its open sessions move with it.
    UPDATE session_counts SET unrevoked = unrevoked - (SELECT COUNT(*) FROM auth_sessions s
            WHERE s.account_id = OLD.id AND s.realm = session_counts.realm
            AND s.revoked_at IS NULL)
        WHERE organisation_id = OLD.organisation_id;
    INSERT INTO session_counts (organisation_id, realm, unrevoked)
        SELECT NEW.organisation_id, realm, COUNT(*) FROM auth_sessions
        WHERE account_id = NEW.id AND revoked_at IS NULL GROUP BY realm
        ON CONFLICT (organisation_id, realm) DO UPDATE SET unrevoked = unrevoked + excluded.unrevoked;
END;
-- The portal never deletes an account; should someone, its open sessions (deleted by the
-- foreign key after this) leave the counts here, while the account can still be read.
CREATE TRIGGER account_counts_delete BEFORE DELETE ON accounts BEGIN
    UPDATE account_counts SET accounts = accounts - 1
        WHERE organisation_id = OLD.organisation_id AND is_platform_admin = OLD.is_platform_admin;
    UPDATE session_counts SET unrevoked = unrevoked - (SELECT COUNT(*) FROM auth_sessions s
            WHERE s.account_id = OLD.id AND s.realm = session_counts.realm
            AND s.revoked_at IS NULL)
        WHERE organisation_id = OLD.organisation_id;
END;

-- Unrevoked sessions by their account's organisation and realm. A live count is this less
-- the unrevoked rows already past a bound, which the cleanup ends every interval: that
-- backlog is read from the two expiry indexes below, so the figure is exact and costs the
-- backlog, not the registry.
CREATE TABLE session_counts (
    organisation_id INTEGER NOT NULL,
    realm TEXT NOT NULL,
    unrevoked BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, realm)
);
INSERT INTO session_counts (organisation_id, realm, unrevoked)
    SELECT a.organisation_id, s.realm, COUNT(*) FROM auth_sessions s
    JOIN accounts a ON a.id = s.account_id
    WHERE s.revoked_at IS NULL GROUP BY a.organisation_id, s.realm;

CREATE TRIGGER session_counts_insert AFTER INSERT ON auth_sessions
WHEN NEW.revoked_at IS NULL BEGIN
    INSERT INTO session_counts (organisation_id, realm, unrevoked)
        SELECT organisation_id, NEW.realm, 1 FROM accounts WHERE id = NEW.account_id
        ON CONFLICT (organisation_id, realm) DO UPDATE SET unrevoked = unrevoked + 1;
END;
CREATE TRIGGER session_counts_revoke AFTER UPDATE OF revoked_at ON auth_sessions
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL BEGIN
    UPDATE session_counts SET unrevoked = unrevoked - 1 WHERE realm = OLD.realm
        AND organisation_id = (SELECT organisation_id FROM accounts WHERE id = OLD.account_id);
END;
CREATE TRIGGER session_counts_unrevoke AFTER UPDATE OF revoked_at ON auth_sessions
WHEN OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NULL BEGIN
    INSERT INTO session_counts (organisation_id, realm, unrevoked)
        SELECT organisation_id, NEW.realm, 1 FROM accounts WHERE id = NEW.account_id
        ON CONFLICT (organisation_id, realm) DO UPDATE SET unrevoked = unrevoked + 1;
END;
CREATE TRIGGER session_counts_delete AFTER DELETE ON auth_sessions
WHEN OLD.revoked_at IS NULL BEGIN
    UPDATE session_counts SET unrevoked = unrevoked - 1 WHERE realm = OLD.realm
        AND organisation_id = (SELECT organisation_id FROM accounts WHERE id = OLD.account_id);
END;

-- The backlog: unrevoked rows past their idle bound, and those past their absolute bound only.
-- Expiry first, not realm: with the realm first SQLite took the idle range for a realm's
-- session list and sorted it (why `auth_sessions_live_by_realm` went). `account_id` is in them
-- so an organisation's backlog is found from the index and the account's row.
CREATE INDEX auth_sessions_open_idle
    ON auth_sessions (idle_expires_at, realm, account_id, revoked_at) WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_open_absolute
    ON auth_sessions (absolute_expires_at, realm, account_id, idle_expires_at, revoked_at)
    WHERE revoked_at IS NULL;

-- Platform admins, found without reading every account: every organisation admin's list,
-- count and export leaves them out by `account_id NOT IN (platform admins)`, and the live
-- figures above subtract theirs.
CREATE INDEX accounts_platform_admins ON accounts (is_platform_admin, organisation_id, id);
