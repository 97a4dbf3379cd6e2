"""Domain exceptions; the API maps each to one problem+json answer, nothing else leaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grassroots.messages import message_for


class DomainError(Exception):
    """A rule of the domain refused the request; `code` is the stable machine word."""

    status = 400
    default_code = "bad_request"

    def __init__(
        self,
        code: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        message_en: str | None = None,
        message_zh: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.params = dict(params or {})
        self._message_en = message_en
        self._message_zh = message_zh
        self.errors = list(errors or [])
        self.headers = dict(headers or {})
        super().__init__(self.code)

    def message(self, language: str) -> str:
        """The human sentence in 'zh' or 'en'."""
        explicit = self._message_en if language == "en" else self._message_zh
        if explicit:
            return explicit
        return message_for(self.code, language, self.params)


class BadRequest(DomainError):
    """The request cannot be understood."""


class Unauthorized(DomainError):
    """No valid credentials."""

    status = 401
    default_code = "not_authenticated"


class Forbidden(DomainError):
    """The caller's role may not do this at all."""

    status = 403
    default_code = "forbidden"


class NotFound(DomainError):
    """The object does not exist or lies outside the caller's scope (never say which)."""

    status = 404
    default_code = "not_found"


class Conflict(DomainError):
    """The request conflicts with the stored state."""

    status = 409
    default_code = "conflict"


class TooLarge(DomainError):
    """A body or batch over its bound."""

    status = 413
    default_code = "too_large"


class Invalid(DomainError):
    """Well-formed input that breaks a domain rule."""

    status = 422
    default_code = "invalid"


class RateLimited(DomainError):
    """Too many attempts."""

    status = 429
    default_code = "rate_limited"


class Unavailable(DomainError):
    """A dependency (the database) is not reachable right now."""

    status = 503
    default_code = "service_unavailable"
