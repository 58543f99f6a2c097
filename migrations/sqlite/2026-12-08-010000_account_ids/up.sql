-- Issue 18: a typed page of the account list reads the id of the row before it, walking the
-- ids from the first (`LIMIT 1 OFFSET n`). In rowid order that walk read the table itself, whose
-- rows carry password hashes: 103 ms p99 for page 5,000. This index holds the ids alone, so the
-- walk reads a few hundred small pages instead. (PostgreSQL walks its primary key index.)
CREATE INDEX accounts_ids ON accounts (id);
