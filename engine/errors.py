"""Errors the engine's verbs raise; each maps to one HTTP status in the web layer."""

from __future__ import annotations


class EngineError(Exception):
    status = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFound(EngineError):
    status = 404


class Forbidden(EngineError):
    status = 403


class Conflict(EngineError):
    """The state moved on: a stale version, a task already done, a procedure already running."""

    status = 409


class Invalid(EngineError):
    """Input that does not fit; ``errors`` names each field."""

    status = 422
