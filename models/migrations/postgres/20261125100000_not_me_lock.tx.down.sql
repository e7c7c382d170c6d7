ALTER TABLE accounts DROP COLUMN password_locked_at;

--bun:split

ALTER TABLE accounts DROP COLUMN public_id;
