-- public_id: a stable opaque account id (128 random bits, lower-case hex)
-- for anything that leaves the server, in place of the sequential id.
-- gen_random_uuid() (built in since Postgres 13) has 122 random bits: two
-- of them hashed give 128. A volatile default is evaluated for each
-- existing row, so this backfills them too.
ALTER TABLE accounts ADD COLUMN public_id TEXT NOT NULL
    DEFAULT substr(encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'), 1, 32);

--bun:split

ALTER TABLE accounts ADD CONSTRAINT accounts_public_id_key UNIQUE (public_id);

--bun:split

-- password_locked_at: set by "this wasn't me"; while set the password
-- signs nobody in, until a new password is set (reset or operator).
ALTER TABLE accounts ADD COLUMN password_locked_at TIMESTAMPTZ;
