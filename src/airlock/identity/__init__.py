"""Identity: accounts of natural persons, their credentials (argon2id password, TOTP, recovery codes, WebAuthn), roles, tokens and sessions."""
