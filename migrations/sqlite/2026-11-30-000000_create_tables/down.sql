DROP TABLE security_incidents;
DROP TABLE logout_activity;
DROP TABLE auth_sessions;
DROP TABLE accounts;
