DROP INDEX auth_sessions_live_realm_seen;
DROP INDEX auth_sessions_live_seen;
CREATE INDEX auth_sessions_live_by_realm
    ON auth_sessions (realm, idle_expires_at, absolute_expires_at, revoked_at)
    WHERE revoked_at IS NULL;
