DELETE FROM auth_sessions WHERE realm = 'api';
ALTER TABLE auth_sessions DROP COLUMN device_name;
ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_realm_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_realm_check
    CHECK (realm IN ('user', 'admin'));
