DROP TABLE rate_events;
DROP TABLE email_tokens;
