-- public_id: a stable opaque account id (128 random bits, lower-case hex)
-- for anything that leaves the server, in place of the sequential id.
-- SQLite cannot add a column with a non-constant default, so existing rows
-- are backfilled and the trigger fills rows inserted without one.
ALTER TABLE accounts ADD COLUMN public_id TEXT NOT NULL DEFAULT '';

--bun:split

UPDATE accounts SET public_id = lower(hex(randomblob(16))) WHERE public_id = '';

--bun:split

CREATE UNIQUE INDEX accounts_public_id_idx ON accounts (public_id);

--bun:split

CREATE TRIGGER accounts_public_id_fill AFTER INSERT ON accounts
WHEN NEW.public_id = ''
BEGIN
    UPDATE accounts SET public_id = lower(hex(randomblob(16))) WHERE id = NEW.id;
END;

--bun:split

-- password_locked_at: set by "this wasn't me"; while set the password
-- signs nobody in, until a new password is set (reset or operator).
ALTER TABLE accounts ADD COLUMN password_locked_at TIMESTAMP;
