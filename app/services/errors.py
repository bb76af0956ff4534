"""Domain errors that routes map to flash messages or HTTP statuses."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The action was already taken (double submission, concurrent approval) or the state does not allow it."""

    status = 409


class ProcessDefinitionBroken(DomainError):
    """The deployed process fails before anything could be saved (e.g. at its start)."""

    status = 500


class ValidationFailed(DomainError):
    status = 422

    def __init__(self, errors: dict[str, str], values: dict[str, Any] | None = None,
                 message: str = "表单有误，请检查后重新提交"):
        super().__init__(message)
        self.errors = errors
        self.values = values or {}


class Busy(DomainError):
    """The database stayed busy (lock timeout, repeated deadlock) after bounded retries; nothing was saved."""

    status = 503
