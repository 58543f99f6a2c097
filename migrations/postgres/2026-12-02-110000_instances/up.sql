-- Running instances on this database (SPEC §16): each beats every 10 s and deletes its row
-- when it stops gracefully. A start with REALMGATE_CLEAR_SESSIONS_ON_START clears sessions
-- only when no other instance beat in the last 30 s.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    last_beat_at TIMESTAMP NOT NULL
);
