DROP INDEX accounts_ids;
