-- Current-password checks made by a signed-in session (SPEC §9 "Abuse by a signed-in
-- session"): one row per registry row, so the cap holds whatever secret the row has now.
CREATE TABLE password_checks (
    session_id TEXT PRIMARY KEY NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- Checks admitted in the window that began at window_started_at.
    checks INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    -- Wrong current passwords over the session's whole life; the 5th ends it.
    wrong INTEGER NOT NULL,
    -- Set while a check is with Argon2; a stale value (a crash mid-check) is ignored.
    in_flight_since TIMESTAMP
);
CREATE INDEX password_checks_account ON password_checks (account_id, in_flight_since);

-- Incidents caused by requests that are not signed in, counted per client IP key (an IPv6
-- address by its /64) and kind in each clock minute (SPEC §9 "Floods").
CREATE TABLE incident_counts (
    ip_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    minute TIMESTAMP NOT NULL,
    count INTEGER NOT NULL,
    -- The minute's `incident_flood` row, once one was written.
    flood_incident_id INTEGER,
    PRIMARY KEY (ip_key, kind, minute)
);
CREATE INDEX incident_counts_minute ON incident_counts (minute);
