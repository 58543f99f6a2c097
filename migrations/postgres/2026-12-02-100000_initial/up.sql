-- The whole schema of migrations/sqlite as it stands, for a PostgreSQL database created fresh:
-- the same tables, columns and meanings (SPEC §10). Times are UTC in `timestamp` (without time
-- zone), as Diesel's `Timestamp`; ids are `SERIAL` where SQLite autoincrements.

CREATE TABLE accounts (
    id SERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    email_confirmed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP,
    last_login_ip TEXT
);

CREATE TABLE auth_sessions (
    -- Public random id, used in URLs. The browser's secret is never stored, only its SHA-256.
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    realm TEXT NOT NULL CHECK (realm IN ('user', 'admin')),
    remember BOOLEAN NOT NULL DEFAULT FALSE,
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
CREATE INDEX auth_sessions_live_by_realm
    ON auth_sessions (realm, idle_expires_at, absolute_expires_at) WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_by_account_created ON auth_sessions (account_id, created_at);
CREATE INDEX auth_sessions_created ON auth_sessions (created_at);

CREATE TABLE logout_activity (
    id SERIAL PRIMARY KEY,
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
    id SERIAL PRIMARY KEY,
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

-- Single-use links sent by mail (password reset, address confirmation). Only the SHA-256 of
-- the token is kept.
CREATE TABLE email_tokens (
    id SERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('reset', 'confirm')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX email_tokens_account ON email_tokens (account_id, purpose);

-- Events counted over a sliding hour: sign-ups per IP, reset requests per IP, reset mails per
-- account.
CREATE TABLE rate_events (
    id SERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX rate_events_lookup ON rate_events (kind, subject, created_at);

-- Failed sign-in counters, per normalised email, per client IP, and per known device and email.
CREATE TABLE login_failures (
    kind TEXT NOT NULL CHECK (kind IN ('email', 'ip', 'device')),
    subject TEXT NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    PRIMARY KEY (kind, subject)
);

-- Browsers that signed in to an account before: they keep their own failure budget for that
-- account while its email is locked (docs/security.md).
CREATE TABLE known_devices (
    device_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    last_success_at TIMESTAMP NOT NULL,
    PRIMARY KEY (device_hash, email)
);

-- Current-password checks made by a signed-in session (SPEC §9), one row per registry row.
CREATE TABLE password_checks (
    session_id TEXT PRIMARY KEY REFERENCES auth_sessions(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    checks INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    wrong INTEGER NOT NULL,
    in_flight_since TIMESTAMP
);
CREATE INDEX password_checks_account ON password_checks (account_id, in_flight_since);

-- Flood-limited incidents per client IP key, kind and clock minute (SPEC §9 "Floods").
CREATE TABLE incident_counts (
    ip_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    minute TIMESTAMP NOT NULL,
    count INTEGER NOT NULL,
    flood_incident_id INTEGER,
    PRIMARY KEY (ip_key, kind, minute)
);
CREATE INDEX incident_counts_minute ON incident_counts (minute);

-- Secrets replaced by a password change or "sign out everywhere else" (SPEC §8).
CREATE TABLE rotated_secrets (
    secret_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
    rotated_at TIMESTAMP NOT NULL
);
CREATE INDEX rotated_secrets_rotated_at ON rotated_secrets (rotated_at);
