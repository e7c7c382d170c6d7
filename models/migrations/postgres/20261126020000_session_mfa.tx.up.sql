-- Whether a session's sign-in used a second factor or a passkey
-- (X-Latchkey-MFA on /auth/verify). Every existing session used a password
-- alone.
ALTER TABLE sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
