DROP INDEX accounts_search;
