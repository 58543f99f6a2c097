-- Issue 17: an account an admin made without a password gets an invitation, a password link of
-- its own purpose (its wording and REALMGATE_INVITE_TTL). SQLite cannot change a CHECK in place:
-- the table is rebuilt (nothing refers to it).
CREATE TABLE email_tokens_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('reset', 'confirm', 'invite')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
INSERT INTO email_tokens_new (id, token_hash, account_id, purpose, created_at, expires_at, used_at)
    SELECT id, token_hash, account_id, purpose, created_at, expires_at, used_at FROM email_tokens;
DROP TABLE email_tokens;
ALTER TABLE email_tokens_new RENAME TO email_tokens;
CREATE INDEX email_tokens_account ON email_tokens (account_id, purpose);
