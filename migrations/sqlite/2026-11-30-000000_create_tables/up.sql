-- Times are UTC, stored by Diesel as 'YYYY-MM-DD HH:MM:SS.ffffff' text, so text order is time order.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    must_change_password BOOLEAN NOT NULL DEFAULT 0,
    email_confirmed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP,
    last_login_ip TEXT
);

CREATE TABLE auth_sessions (
    -- Public random id, used in URLs. The browser's secret is never stored, only its SHA-256.
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    realm TEXT NOT NULL CHECK (realm IN ('user', 'admin')),
    remember BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    idle_expires_at TIMESTAMP NOT NULL,
    absolute_expires_at TIMESTAMP NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at TIMESTAMP,
    revoke_reason TEXT
);
CREATE INDEX auth_sessions_live_by_account ON auth_sessions (account_id, realm) WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_live_by_realm ON auth_sessions (realm, idle_expires_at) WHERE revoked_at IS NULL;

CREATE TABLE logout_activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    realm TEXT NOT NULL,
    session_id TEXT,
    reason TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX logout_activity_created ON logout_activity (created_at);
CREATE INDEX logout_activity_account ON logout_activity (account_id);

CREATE TABLE security_incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    realm TEXT,
    account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    email_attempted TEXT,
    ip TEXT,
    user_agent TEXT,
    details TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX security_incidents_created ON security_incidents (created_at);
CREATE INDEX security_incidents_kind ON security_incidents (kind, created_at);
CREATE INDEX security_incidents_account ON security_incidents (account_id);
