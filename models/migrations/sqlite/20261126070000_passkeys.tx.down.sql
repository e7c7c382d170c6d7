DROP TABLE webauthn_ceremonies;

--bun:split

DROP TABLE passkeys;
