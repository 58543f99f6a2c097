DROP TABLE admin_actions;
DROP TABLE outbox;
ALTER TABLE security_incidents DROP COLUMN request_id;
