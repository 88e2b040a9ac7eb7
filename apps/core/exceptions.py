"""The one small hierarchy of domain errors. Views turn them into a message or a 4xx."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal a user can understand. `message` is shown to them (translated)."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PermissionDenied(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409
