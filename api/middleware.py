"""Pure ASGI middleware: client addresses, bounded request bodies, metrics and access logs."""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import language_headers, language_of
from services.messages import message_for

access_log = logging.getLogger("grassroots.access")


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` once a streamed body passes the limit (FastAPI re-raises it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=str(limit))


def _problem_bytes(code: str, status: int, detail: str) -> bytes:
    return json.dumps(
        {
            "type": f"urn:grassroots:problem:{code}",
            "title": "Content Too Large",
            "status": status,
            "detail": detail,
            "code": code,
        },
        ensure_ascii=False,
    ).encode()


class BodyLimitMiddleware:
    """413 problem+json for a body over the limit, whether announced or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        language = language_of(headers.get(b"accept-language", b"").decode("latin-1"))
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(send, language)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, language)

    async def _reject(self, send: Send, language: str) -> None:
        body = _problem_bytes(
            "body_too_large",
            413,
            message_for("body_too_large", language, {"limit": self.max_bytes}),
        )
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        headers += [
            (name.lower().encode(), value.encode())
            for name, value in language_headers(language).items()
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class CleanTextMiddleware:
    """422 `invalid_text` for a NUL in the path or query, before any route sees it.

    Bodies are checked by their schemas (`StrictInput`); a path or query string reaches string
    parameters of many routes, and a NUL there breaks PostgreSQL text. Percent-decoded lone
    surrogates cannot occur: the query is decoded as UTF-8 with replacement.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "")
            or b"%00" in scope.get("query_string", b"")
            or b"\x00" in scope.get("query_string", b"")
        ):
            headers = dict(scope.get("headers") or [])
            language = language_of(headers.get(b"accept-language", b"").decode("latin-1"))
            body = json.dumps(
                {
                    "type": "urn:grassroots:problem:invalid_text",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": message_for("invalid_text", language, {}),
                    "code": "invalid_text",
                },
                ensure_ascii=False,
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 422,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Request counts and latency histograms per route, in Prometheus text."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.latency_count: dict[tuple[str, str], int] = defaultdict(int)
        self.latency_buckets: dict[tuple[str, str], list[int]] = defaultdict(
            lambda: [0] * len(LATENCY_BUCKETS_S)
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.counts[(method, route, status)] += 1
        key = (method, route)
        self.latency_sum[key] += seconds
        self.latency_count[key] += 1
        buckets = self.latency_buckets[key]
        for i, bound in enumerate(LATENCY_BUCKETS_S):
            if seconds <= bound:
                buckets[i] += 1

    def render(self, extra: dict[str, float] | None = None) -> str:
        """The Prometheus exposition text."""
        lines = [
            "# HELP grassroots_requests_total Requests answered, by route and status.",
            "# TYPE grassroots_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.counts.items()):
            lines.append(
                f'grassroots_requests_total{{method="{method}",route="{route}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP grassroots_request_duration_seconds Time to answer, by route.",
            "# TYPE grassroots_request_duration_seconds histogram",
        ]
        for (method, route), count in sorted(self.latency_count.items()):
            labels = f'method="{method}",route="{route}"'
            for bound, n in zip(
                LATENCY_BUCKETS_S, self.latency_buckets[(method, route)], strict=True
            ):
                lines.append(
                    f'grassroots_request_duration_seconds_bucket{{{labels},le="{bound}"}} {n}'
                )
            lines.append(
                f'grassroots_request_duration_seconds_bucket{{{labels},le="+Inf"}} {count}'
            )
            lines.append(
                f"grassroots_request_duration_seconds_sum{{{labels}}} "
                f"{self.latency_sum[(method, route)]:.6f}"
            )
            lines.append(f"grassroots_request_duration_seconds_count{{{labels}}} {count}")
        for name, value in sorted((extra or {}).items()):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {value}")
        return "\n".join(lines) + "\n"


def _route_template(scope: Scope) -> str:
    """The matched route as a template ('/api/v1/users/{id}'), never the raw path with ids."""
    route: Any = scope.get("route")
    if route is None:
        return "unmatched"
    path: str = scope.get("path", "")
    for name, value in (scope.get("path_params") or {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path


class MetricsMiddleware:
    """Times every request, labels it by its route template (never the raw path), logs it."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.observe(method=method, route=template, status=status, seconds=elapsed)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(text: str) -> list[Network]:
    """'10.0.0.1, 10.1.0.0/16' -> networks; a malformed entry is a ValueError at start."""
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    ]


def _trusted(host: str, proxies: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


class ClientAddressMiddleware:
    """Sets the client address from X-Forwarded-For only when the peer is a trusted proxy.

    Read right to left, the way each proxy appends: the first hop that is not a trusted proxy
    is the client. Any other peer's header is ignored, so a phone cannot choose the address its
    sign-in attempts are throttled (and audited) under.
    """

    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = list(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:
            peer = scope.get("client")
            if peer and _trusted(peer[0], self.trusted):
                forwarded = [
                    value.decode("latin-1")
                    for name, value in scope.get("headers") or []
                    if name == b"x-forwarded-for"
                ]
                hops = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
                client = peer[0]
                for hop in reversed(hops):
                    client = hop
                    if not _trusted(hop, self.trusted):
                        break
                if client != peer[0]:
                    scope = dict(scope, client=(client[:64], 0))
        await self.app(scope, receive, send)
