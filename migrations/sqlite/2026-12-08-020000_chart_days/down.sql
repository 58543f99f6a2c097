DROP TRIGGER chart_days_incident;
DROP TRIGGER chart_days_sign_out;
DROP TRIGGER chart_days_sign_in;
DROP TABLE chart_days;
