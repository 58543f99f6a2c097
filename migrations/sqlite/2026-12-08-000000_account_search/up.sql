-- Issue 18: the console's account search keeps its substring meaning ("smith" finds
-- `j.smith@…` and "Jo Smith"), which `LIKE '%…%'` answered by reading every account: 2.0 s p99
-- for an address among 1,000,000. A trigram index answers a substring of three characters or
-- more from the index. It holds no copy of the text (`content='accounts'`); the triggers keep
-- it in step with every write, in the write's own transaction.
CREATE VIRTUAL TABLE accounts_search USING fts5 (
    email, name, content = 'accounts', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO accounts_search (accounts_search) VALUES ('rebuild');

CREATE TRIGGER accounts_search_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO accounts_search (rowid, email, name) VALUES (NEW.id, NEW.email, NEW.name);
END;
CREATE TRIGGER accounts_search_delete AFTER DELETE ON accounts BEGIN
    INSERT INTO accounts_search (accounts_search, rowid, email, name)
        VALUES ('delete', OLD.id, OLD.email, OLD.name);
END;
CREATE TRIGGER accounts_search_update AFTER UPDATE OF email, name ON accounts BEGIN
    INSERT INTO accounts_search (accounts_search, rowid, email, name)
        VALUES ('delete', OLD.id, OLD.email, OLD.name);
    INSERT INTO accounts_search (rowid, email, name) VALUES (NEW.id, NEW.email, NEW.name);
END;
