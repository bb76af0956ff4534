"""Notifications in the system and through the external channels (企业微信, 钉钉)."""
