-- Issue 18: the incidents and sign-outs lists page by the key (created_at, id), newest first. On
-- SQLite the time index already ends in the rowid (the id); PostgreSQL needs the id in the index
-- to read a page in order without sorting the rows of one timestamp.
CREATE INDEX security_incidents_created_id ON security_incidents (created_at, id);
CREATE INDEX logout_activity_created_id ON logout_activity (created_at, id);
