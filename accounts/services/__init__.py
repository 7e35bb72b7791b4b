"""Every write on accounts, one module per area: audit, users, sessions, api_keys, rate_limits."""
