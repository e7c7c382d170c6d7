ALTER TABLE accounts DROP COLUMN password_locked_at;

--bun:split

DROP TRIGGER accounts_public_id_fill;

--bun:split

DROP INDEX accounts_public_id_idx;

--bun:split

ALTER TABLE accounts DROP COLUMN public_id;
