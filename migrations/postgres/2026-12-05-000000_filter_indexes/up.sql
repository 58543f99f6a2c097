-- Issue 18: the incidents list by severity and the sign-outs list by reason walked the time
-- index and read every row, and their bounded counts read until 10,001 matches. Each filter
-- now has its own index in the list's order, (created_at, id) within the filter's value.
CREATE INDEX security_incidents_severity ON security_incidents (severity, created_at, id);
CREATE INDEX logout_activity_reason ON logout_activity (reason, created_at, id);
