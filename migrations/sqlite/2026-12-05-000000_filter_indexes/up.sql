-- Issue 18: the incidents list by severity and the sign-outs list by reason walked the time
-- index and looked up every row, and their bounded counts read until 10,001 matches: with 5M
-- incidents, 1% of them critical, that is a million rows a view (970 ms p99 in the scale run).
-- Each filter now has its own index in the list's order (the rowid, the id, ends each).
CREATE INDEX security_incidents_severity ON security_incidents (severity, created_at);
CREATE INDEX logout_activity_reason ON logout_activity (reason, created_at);
