-- The second factor (SPEC §15). One row per account: pending (`enabled_at` NULL) from the moment
-- its secret is shown, on once a code confirmed it. The secret is sealed (AES-256-GCM under a
-- key derived from REALMGATE_SECRET_KEY); `last_step` is the last accepted time step, so no code
-- of that step or an earlier one is accepted again.
CREATE TABLE two_factor (
    account_id INTEGER PRIMARY KEY NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    enabled_at TIMESTAMP,
    last_step BIGINT
);
-- Single-use recovery codes, stored as SHA-256 of their normalised form.
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX recovery_codes_account ON recovery_codes (account_id, code_hash);
