-- Passkeys (WebAuthn credentials, SPEC §9): one row per credential, owned
-- by one account and scoped to the relying party id (BASE_URL's host) it
-- was registered under. The user handle the authenticator keeps is the
-- account's public id, so it is not stored again here.
CREATE TABLE passkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    rp_id TEXT NOT NULL,
    credential_id BLOB NOT NULL,
    name TEXT NOT NULL,
    public_key BLOB NOT NULL,
    attestation_type TEXT NOT NULL,
    attestation_format TEXT NOT NULL,
    aaguid BLOB NOT NULL,
    sign_count INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state BOOLEAN NOT NULL,
    transports TEXT NOT NULL,
    attachment TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);

--bun:split

CREATE UNIQUE INDEX passkeys_credential_idx ON passkeys (rp_id, credential_id);

--bun:split

CREATE INDEX passkeys_account_idx ON passkeys (account_id, created_at);

--bun:split

-- A WebAuthn ceremony between its begin and finish requests: the library's
-- SessionData (the challenge) kept server-side, single use (finish deletes
-- the row it claims) and short-lived. The browser holds the raw ceremony
-- token in its encrypted visitor cookie; only its SHA-256 is stored.
CREATE TABLE webauthn_ceremonies (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    session_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

--bun:split

CREATE INDEX webauthn_ceremonies_expiry_idx ON webauthn_ceremonies (expires_at);
