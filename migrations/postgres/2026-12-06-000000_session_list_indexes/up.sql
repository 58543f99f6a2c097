-- Issue 18: the console's session list is in last-seen order, and nothing indexed it: each view
-- read and sorted every live session (1.0 s p99 with 100,000 of them). These read the list in
-- its order, the realm filter within its realm; with the expiry columns included, a typed
-- page's key is found by an index-only scan.
CREATE INDEX auth_sessions_live_seen
    ON auth_sessions (last_seen_at, id) INCLUDE (idle_expires_at, absolute_expires_at)
    WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_live_realm_seen
    ON auth_sessions (realm, last_seen_at, id) INCLUDE (idle_expires_at, absolute_expires_at)
    WHERE revoked_at IS NULL;
