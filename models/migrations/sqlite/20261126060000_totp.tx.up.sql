-- TOTP second factor (SPEC §9): one row per account. A row whose
-- confirmed_at is NULL is a set-up in progress (its secret shown, not yet
-- confirmed by a code); only a confirmed row is a second factor. The
-- secret is sealed (AES-GCM, KeyTOTPSecrets, bound to the account id);
-- last_step is the last accepted RFC 6238 time step (replay refused).
CREATE TABLE totp_factors (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP
);

--bun:split

-- Single-use recovery codes, stored as the SHA-256 of the code (80 random
-- bits each, so a fast hash suffices).
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

--bun:split

CREATE UNIQUE INDEX recovery_codes_account_hash_idx ON recovery_codes (account_id, code_hash);
