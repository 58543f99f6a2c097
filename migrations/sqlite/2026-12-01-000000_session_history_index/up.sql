-- The dashboard's "previous sign-in" looks at an account's sessions newest first, revoked or
-- not; without this it scanned the whole registry on every page view.
CREATE INDEX auth_sessions_by_account_created ON auth_sessions (account_id, created_at);

-- The console's 7-day chart counts sign-ins per day.
CREATE INDEX auth_sessions_created ON auth_sessions (created_at);
