"""Errors that carry their HTTP status; one handler (the MaasError exception handler ``create_app`` registers in maas.api.app) maps them to ``{"error": "..."}``.

    MaasError (500)
    ├── InvalidInput (400)         bad JSON, wrong tensor names/shapes/datatypes, unknown tier/site/objective
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── ModelNotFound (404)        unknown model or version
    ├── NotFound (404)             unknown tenant or API key (admin API)
    ├── Conflict (409)             the name/version exists with other content, or the version is serving
    ├── PayloadTooLarge (413)
    ├── QuotaExceeded (429)
    ├── Unsupported (501)
    ├── NotReady (503)             model or tier deployment not ready
    │   ├── NoFeasibleTier (503)   no tier can take the request now (with the reason per tier)
    │   └── StoreUnavailable (503) the database is locked or unreachable (nothing was half-written)
    └── ConfigError (exit code 2)  a config/topology/scenario file is wrong: names the file, field and allowed values
"""

from __future__ import annotations

__all__ = [
    "MaasError",
    "InvalidInput",
    "Unauthorized",
    "Forbidden",
    "ModelNotFound",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "QuotaExceeded",
    "Unsupported",
    "NotReady",
    "NoFeasibleTier",
    "StoreUnavailable",
    "ConfigError",
]


class MaasError(Exception):
    """Base of every error the platform raises on purpose; ``status`` is the HTTP status it maps to."""

    status: int = 500
    headers: dict[str, str] | None = None  # response headers the error carries (rate-limit state, Retry-After)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(MaasError):
    status = 400


class Unauthorized(MaasError):
    status = 401


class Forbidden(MaasError):
    status = 403


class ModelNotFound(MaasError):
    status = 404


class NotFound(MaasError):
    status = 404


class Conflict(MaasError):
    status = 409


class PayloadTooLarge(MaasError):
    status = 413


class QuotaExceeded(MaasError):
    """A tenant limit refused the request. ``reason``: rate_limit | quota | energy_budget | carbon_budget |
    concurrency; ``retry_after_s``: when asking again can succeed (None: unknown)."""

    status = 429

    def __init__(self, message: str, reason: str = "quota", retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class Unsupported(MaasError):
    status = 501


class NotReady(MaasError):
    status = 503


class NoFeasibleTier(NotReady):
    status = 503


class StoreUnavailable(NotReady):
    """The database (SQLite file or PostgreSQL server) is locked or unreachable; the transaction was rolled back."""

    status = 503


class ConfigError(MaasError):
    """A configuration file is wrong. The CLI exits 2 with this message; nothing starts half-configured."""

    status = 400

    def __init__(self, file: str, field: str, problem: str, allowed: str | None = None) -> None:
        text = f"{file}: {field}: {problem}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)
        self.file = file
        self.field = field
        self.allowed = allowed
