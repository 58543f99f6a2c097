DROP TRIGGER accounts_search_update;
DROP TRIGGER accounts_search_delete;
DROP TRIGGER accounts_search_insert;
DROP TABLE accounts_search;
