-- Issue 17: an account an admin made without a password gets an invitation, a password link of
-- its own purpose (its wording and REALMGATE_INVITE_TTL).
ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check
    CHECK (purpose IN ('reset', 'confirm', 'invite'));
