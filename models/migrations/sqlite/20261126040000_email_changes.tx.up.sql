-- email_changes: a requested change of address, waiting for the new
-- address to confirm it. Only the code's SHA-256 is stored; the row dies
-- with its account.
CREATE TABLE email_changes (
    code_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    new_email TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    created_ip TEXT NOT NULL,
    created_user_agent TEXT NOT NULL,
    used_ip TEXT
);

--bun:split

CREATE INDEX email_changes_account_idx ON email_changes (account_id, used_at);
