-- Issue 18: the console's account search keeps its substring meaning ("smith" finds
-- `j.smith@…` and "Jo Smith"), which `lower(…) LIKE '%…%'` answered by reading every account:
-- 4.3 s p99 for an address among 1,000,000. pg_trgm's GIN index answers a substring of three
-- characters or more from the index. pg_trgm ships with PostgreSQL and is a trusted extension
-- (13 and later): the database's owner may create it; a deployment whose portal user may not
-- creates it once as a superuser before the upgrade (docs/deployment.md).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX accounts_search ON accounts
    USING gin (lower(email) gin_trgm_ops, lower(name) gin_trgm_ops);
