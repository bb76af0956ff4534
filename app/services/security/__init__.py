"""Accounts, login throttling, API tokens and the hash-chained audit log."""
