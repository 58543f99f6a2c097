DROP INDEX logout_activity_organisation;
CREATE INDEX logout_activity_organisation ON logout_activity (organisation_id, created_at);
DROP INDEX security_incidents_organisation;
CREATE INDEX security_incidents_organisation ON security_incidents (organisation_id, created_at);
DROP INDEX security_incidents_kind;
CREATE INDEX security_incidents_kind ON security_incidents (kind, created_at);
