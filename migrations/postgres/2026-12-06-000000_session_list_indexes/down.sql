DROP INDEX auth_sessions_live_realm_seen;
DROP INDEX auth_sessions_live_seen;
