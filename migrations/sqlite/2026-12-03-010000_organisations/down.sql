DROP INDEX security_incidents_organisation;
ALTER TABLE security_incidents DROP COLUMN organisation_id;
DROP INDEX logout_activity_organisation;
ALTER TABLE logout_activity DROP COLUMN organisation_id;
DROP INDEX accounts_organisation;
ALTER TABLE accounts DROP COLUMN is_platform_admin;
ALTER TABLE accounts DROP COLUMN organisation_id;
DROP TABLE organisations;
