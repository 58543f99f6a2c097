DROP TABLE incident_counts;
DROP TABLE password_checks;
