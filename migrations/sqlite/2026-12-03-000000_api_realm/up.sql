-- The api realm (SPEC §13): bearer-token sessions in the same registry, with the device name
-- the app gave at sign-in.
--
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt. Migrations run
-- inside one transaction, where `PRAGMA foreign_keys` cannot be turned off, and dropping the
-- old table deletes the rows that reference it (ON DELETE CASCADE): those two small tables
-- are kept aside and put back.
CREATE TEMP TABLE kept_password_checks AS SELECT * FROM password_checks;
CREATE TEMP TABLE kept_rotated_secrets AS SELECT * FROM rotated_secrets;
-- Emptied first, so the drop's cascade has nothing to look up (rotated_secrets.session_id has
-- no index: a cascade per session row would scan it each time).
DELETE FROM password_checks;
DELETE FROM rotated_secrets;

CREATE TABLE auth_sessions_new (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    realm TEXT NOT NULL CHECK (realm IN ('user', 'admin', 'api')),
    remember BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    idle_expires_at TIMESTAMP NOT NULL,
    absolute_expires_at TIMESTAMP NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at TIMESTAMP,
    revoke_reason TEXT,
    device_name TEXT
);
INSERT INTO auth_sessions_new (id, secret_hash, account_id, realm, remember, created_at,
        last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent, revoked_at,
        revoke_reason)
    SELECT id, secret_hash, account_id, realm, remember, created_at, last_seen_at,
        idle_expires_at, absolute_expires_at, ip, user_agent, revoked_at, revoke_reason
    FROM auth_sessions;
DROP TABLE auth_sessions;
ALTER TABLE auth_sessions_new RENAME TO auth_sessions;

CREATE INDEX auth_sessions_live_by_account ON auth_sessions (account_id, realm) WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_live_by_realm
    ON auth_sessions (realm, idle_expires_at, absolute_expires_at, revoked_at)
    WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_by_account_created ON auth_sessions (account_id, created_at);
CREATE INDEX auth_sessions_created ON auth_sessions (created_at);

INSERT INTO password_checks SELECT * FROM kept_password_checks;
INSERT INTO rotated_secrets SELECT * FROM kept_rotated_secrets;
DROP TABLE kept_password_checks;
DROP TABLE kept_rotated_secrets;
