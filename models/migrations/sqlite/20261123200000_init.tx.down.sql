DROP TABLE rate_limits;
--bun:split
DROP TABLE outbox_emails;
--bun:split
DROP TABLE security_events;
--bun:split
DROP TABLE sessions;
--bun:split
DROP TABLE password_resets;
--bun:split
DROP TABLE accounts;
