ALTER TABLE security_incidents DROP COLUMN organisation_id;
ALTER TABLE logout_activity DROP COLUMN organisation_id;
ALTER TABLE accounts DROP COLUMN is_platform_admin;
ALTER TABLE accounts DROP COLUMN organisation_id;
DROP TABLE organisations;
