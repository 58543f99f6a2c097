-- Organisations (SPEC §14): every account belongs to one; organisation admins see their own.
CREATE TABLE organisations (
    id INTEGER PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO organisations (slug, name, is_active, created_at)
    VALUES ('default', 'Default', 1, strftime('%Y-%m-%d %H:%M:%S', 'now'));

-- SQLite refuses ALTER TABLE ... ADD COLUMN with a REFERENCES clause and a non-null default
-- while foreign keys are on, and rebuilding `accounts` would rebuild every table that points at
-- it; so on SQLite the portal alone keeps `organisation_id` pointing at a row (organisations
-- are never deleted). PostgreSQL has the foreign key.
ALTER TABLE accounts ADD COLUMN organisation_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN is_platform_admin BOOLEAN NOT NULL DEFAULT 0;
-- Every admin so far saw every account: they keep that as platform admins.
UPDATE accounts SET is_platform_admin = 1 WHERE is_admin = 1;
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
