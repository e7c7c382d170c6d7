-- Email verification codes (SPEC §8): like reset codes, only the SHA-256
-- of a code is stored. email is the address the code proves: a code sent
-- to an address the account no longer has proves nothing. Existing
-- accounts keep email_verified_at as it is (set only by a completed reset
-- so far): nobody else becomes verified.
CREATE TABLE email_verifications (
    code_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    created_ip TEXT NOT NULL
);

--bun:split

CREATE INDEX email_verifications_account_idx ON email_verifications (account_id, used_at);
