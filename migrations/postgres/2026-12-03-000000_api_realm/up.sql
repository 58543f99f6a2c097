-- The api realm (SPEC §13): bearer-token sessions in the same registry, with the device name
-- the app gave at sign-in.
ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_realm_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_realm_check
    CHECK (realm IN ('user', 'admin', 'api'));
ALTER TABLE auth_sessions ADD COLUMN device_name TEXT;
