"""Privacy: pseudonymization, tenant keys, roles, tokens, audit, GDPR."""
