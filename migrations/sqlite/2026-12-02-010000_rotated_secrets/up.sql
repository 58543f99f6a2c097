-- Secrets replaced by a password change or "sign out everywhere else" (SPEC §8). They never
-- work again; the guard only recognises them, so a request another tab sent with the old
-- secret just before the change is refused without rewriting the browser's new cookie.
CREATE TABLE rotated_secrets (
    secret_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
    rotated_at TIMESTAMP NOT NULL
);
CREATE INDEX rotated_secrets_rotated_at ON rotated_secrets (rotated_at);
