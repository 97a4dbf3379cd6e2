"""RFC 9457 problem+json for every error: domain, validation, routing, and the unexpected."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from tortoise.exceptions import DBConnectionError, OperationalError

from api.schemas import INPUT_RULE_CODES
from grassroots.errors import DomainError
from grassroots.messages import message_for

log = logging.getLogger("grassroots.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


# The language tag each catalog language is answered with (Content-Language).
CONTENT_LANGUAGES = {"zh": "zh-CN", "en": "en"}


def language_headers(language: str, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """`headers` plus Content-Language and `Vary: Accept-Language`, for text chosen by language.

    Without Vary a shared cache could hand a Chinese answer to an English client (RFC 9111 4.1).
    """
    merged = dict(headers or {})
    vary = [v.strip() for v in merged.pop("Vary", merged.pop("vary", "")).split(",") if v.strip()]
    if not any(v.lower() == "accept-language" for v in vary):
        vary.append("Accept-Language")
    merged["Vary"] = ", ".join(vary)
    merged["Content-Language"] = CONTENT_LANGUAGES[language]
    return merged


def language_of(accept_language: str | None) -> str:
    """'en' when English is preferred over Chinese, else 'zh' (the default)."""
    if not accept_language:
        return "zh"
    best, best_q = "zh", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang and q > best_q:
            best, best_q = lang, q
    return best


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
) -> JSONResponse:
    """The one shape of every error body; `language` is the one `detail` is written in."""
    body: dict[str, Any] = {
        "type": f"urn:grassroots:problem:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = list(errors)
    all_headers = dict(headers or {}) if language is None else language_headers(language, headers)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=all_headers
    )


def problem_for(
    request_headers: Mapping[str, str], *, status: int, code: str, **params: Any
) -> JSONResponse:
    """A problem from the catalog, in the language the request asked for."""
    language = language_of(request_headers.get("accept-language"))
    return problem_response(
        status=status, code=code, detail=message_for(code, language, params), language=language
    )


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    language = language_of(request.headers.get("accept-language"))
    return problem_response(
        status=exc.status,
        code=exc.code,
        detail=exc.message(language),
        errors=exc.errors or None,
        headers=exc.headers,
        language=language,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    language = language_of(request.headers.get("accept-language"))
    raw = exc.errors()
    rule = next((e["type"] for e in raw if e.get("type") in INPUT_RULE_CODES), None)
    code = (
        "malformed_json"
        if any(e.get("type") == "json_invalid" for e in raw)
        else rule or "validation_error"
    )
    # Only loc and msg go back: pydantic's `input` would echo what was sent, secrets included.
    errors = [{"loc": _clean_loc(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in raw]
    return problem_response(
        status=422,
        code=code,
        detail=message_for(code, language, {}),
        errors=errors,
        language=language,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        404: "route_not_found",
        405: "method_not_allowed",
        401: "not_authenticated",
        413: "body_too_large",
    }
    code = codes.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
    language = language_of(request.headers.get("accept-language"))
    return problem_response(
        status=exc.status_code,
        code=code,
        detail=message_for(code, language, {"limit": exc.detail}),
        headers=getattr(exc, "headers", None),
        language=language,
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    language = language_of(request.headers.get("accept-language"))
    return problem_response(
        status=503,
        code="database_unavailable",
        detail=message_for("database_unavailable", language, {}),
        headers={"Retry-After": "5"},
        language=language,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _looks_like_connection_failure(exc):
        return await _database_down(request, exc)
    log.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc
    )
    language = language_of(request.headers.get("accept-language"))
    return problem_response(
        status=500,
        code="internal_error",
        detail=message_for("internal_error", language, {}),
        language=language,
    )


# What a lost database raises: asyncpg's own errors reach us bare (Tortoise translates only SQL
# errors), a refused or reset socket is a ConnectionError, a connect or command timeout a
# TimeoutError.
CONNECTION_LOST: tuple[type[Exception], ...] = (
    DBConnectionError,
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError, socket.gaierror
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # AdminShutdownError, CannotConnectNowError
    asyncpg.exceptions.InsufficientResourcesError,  # TooManyConnectionsError
)


def _looks_like_connection_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CONNECTION_LOST):
            return True
        if isinstance(current, OperationalError) and "connect" in str(current).lower():
            return True
        if "database is locked" in str(current):
            # SQLite: another process held the write lock past the busy timeout
            # (GRASSROOTS_DB_COMMAND_TIMEOUT_S); nothing was written, a retry may pass.
            return True
        current = current.__cause__ or current.__context__
    return False


def install(app: FastAPI) -> None:
    """Register the handlers once on the app."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBConnectionError, _database_down)
    # Handled inside the app, not only by the catch-all: Starlette re-raises what reaches the
    # catch-all to the server after answering, and the client may see the connection drop
    # instead of the 503. `_unexpected` answers 503 for a lost connection, else 500 (logged).
    for error in (OperationalError, *CONNECTION_LOST[1:]):
        app.add_exception_handler(error, _unexpected)
    app.add_exception_handler(Exception, _unexpected)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `code` is a stable machine word.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
API_ERROR_STATUSES = ("400", "401", "403", "404", "409", "413", "422", "429", "503")
ERROR_DESCRIPTIONS = {
    "400": "Bad request",
    "401": "Missing or expired token",
    "403": "The role may not do this",
    "404": "Not found or outside the caller's scope",
    "409": "Conflict with the stored state",
    "413": "Body or batch too large",
    "422": "Invalid input",
    "429": "Rate limited",
    "503": "Database unavailable",
}


LANGUAGE_HEADERS: dict[str, Any] = {
    "Content-Language": {
        "description": "The language `detail` is written in: zh-CN (default) or en",
        "schema": {"type": "string", "enum": sorted(CONTENT_LANGUAGES.values())},
    },
    "Vary": {
        "description": "Accept-Language: `detail` follows the request's Accept-Language",
        "schema": {"type": "string"},
    },
}


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Declare the problem+json answers every /api operation may give, in place of FastAPI's 422."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    spec["components"].setdefault("headers", {}).update(LANGUAGE_HEADERS)
    header_refs = {name: {"$ref": f"#/components/headers/{name}"} for name in LANGUAGE_HEADERS}
    spec["components"]["schemas"].pop("HTTPValidationError", None)
    spec["components"]["schemas"].pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in spec.get("paths", {}).items():
        statuses = API_ERROR_STATUSES if path.startswith("/api/") else ("503",)
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for status in statuses:
                entry = responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
                entry["content"] = {PROBLEM_MEDIA_TYPE: {"schema": ref}}
                entry["headers"] = {**entry.get("headers", {}), **header_refs}
    return spec
