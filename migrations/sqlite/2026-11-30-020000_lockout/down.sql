DROP TABLE known_devices;
DROP TABLE login_failures;
