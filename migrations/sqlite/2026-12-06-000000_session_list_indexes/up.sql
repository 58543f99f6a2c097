-- Issue 18: the console's session list is in last-seen order, and nothing indexed it: each view
-- read and sorted every live session (2.4 s p99 with 100,000 of them). These read the list in
-- its order, the realm filter within its realm. With the expiry columns in them (and
-- `revoked_at`, which SQLite needs named to treat an index as covering), a typed page's key is
-- found in the index alone.
CREATE INDEX auth_sessions_live_seen
    ON auth_sessions (last_seen_at, id, idle_expires_at, absolute_expires_at, revoked_at)
    WHERE revoked_at IS NULL;
-- The realm index replaces `live_by_realm`: SQLite preferred that one's idle-expiry range for
-- a realm's list and sorted the realm's sessions. The per-realm live count reads this one
-- alone, as it read the old.
DROP INDEX auth_sessions_live_by_realm;
CREATE INDEX auth_sessions_live_realm_seen
    ON auth_sessions (realm, last_seen_at, id, idle_expires_at, absolute_expires_at, revoked_at)
    WHERE revoked_at IS NULL;
