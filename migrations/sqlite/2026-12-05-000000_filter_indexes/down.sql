DROP INDEX logout_activity_reason;
DROP INDEX security_incidents_severity;
