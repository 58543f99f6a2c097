DROP INDEX auth_sessions_live_by_realm;
CREATE INDEX auth_sessions_live_by_realm ON auth_sessions (realm, idle_expires_at) WHERE revoked_at IS NULL;
