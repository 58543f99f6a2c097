DROP TRIGGER chart_days_incident ON security_incidents;
DROP TRIGGER chart_days_sign_out ON logout_activity;
DROP TRIGGER chart_days_sign_in ON auth_sessions;
DROP FUNCTION chart_days_happened();
DROP FUNCTION chart_days_signed_in();
DROP TABLE chart_days;
