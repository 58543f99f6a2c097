-- Organisations (SPEC §14): every account belongs to one; organisation admins see their own.
CREATE TABLE organisations (
    id SERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO organisations (slug, name, is_active, created_at)
    VALUES ('default', 'Default', TRUE, now() AT TIME ZONE 'utc');

ALTER TABLE accounts ADD COLUMN organisation_id INTEGER NOT NULL DEFAULT 1 REFERENCES organisations(id);
ALTER TABLE accounts ADD COLUMN is_platform_admin BOOLEAN NOT NULL DEFAULT FALSE;
-- Every admin so far saw every account: they keep that as platform admins.
UPDATE accounts SET is_platform_admin = TRUE WHERE is_admin;
CREATE INDEX accounts_organisation ON accounts (organisation_id, id);

-- The account's organisation at the time of the event (null when no account is known).
ALTER TABLE logout_activity ADD COLUMN organisation_id INTEGER;
UPDATE logout_activity SET organisation_id =
    (SELECT organisation_id FROM accounts WHERE accounts.id = logout_activity.account_id);
CREATE INDEX logout_activity_organisation ON logout_activity (organisation_id, created_at);
ALTER TABLE security_incidents ADD COLUMN organisation_id INTEGER;
UPDATE security_incidents SET organisation_id =
    (SELECT organisation_id FROM accounts WHERE accounts.id = security_incidents.account_id);
CREATE INDEX security_incidents_organisation ON security_incidents (organisation_id, created_at);
