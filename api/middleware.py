"""Pure ASGI middleware: client addresses, bounded request bodies, request metrics
(prometheus_client) and access logs."""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import language_headers, language_of
from grassroots import metrics
from grassroots.messages import message_for

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
    """413 problem+json for a body over the limit, whether announced or streamed.

    The refused body is read and dropped (up to DRAIN_FACTOR times the limit) before the answer:
    a server that closes a connection with unread bytes in it makes the kernel reset it, and
    the client, still sending, never reads the 413 (the attack replay met this on a served
    deployment). A larger body is cut off unread.
    """

    DRAIN_FACTOR = 4

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            try:
                length: int | None = int(declared)
            except ValueError:
                length = None
            if length is not None and length > self.max_bytes:
                if length <= self.max_bytes * self.DRAIN_FACTOR:
                    await self._drain(receive, budget=length)
                await self._reject(send, scope)
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
                await self._drain(receive, budget=self.max_bytes * self.DRAIN_FACTOR - received)
                await self._reject(send, scope)

    @staticmethod
    async def _drain(receive: Receive, *, budget: int) -> None:
        """Read and drop the rest of the request body, at most `budget` bytes of it."""
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _reject(self, send: Send, scope: Scope) -> None:
        # The language is looked up only for the rare 413, not on every request.
        headers = dict(scope["headers"])
        language = language_of(headers.get(b"accept-language", b"").decode("latin-1"))
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


QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def _route_template(scope: Scope) -> str:
    """The matched route as a template ('/api/v1/users/{id}'), never the raw path with ids."""
    route: Any = scope.get("route")
    if route is None:
        return "unmatched"
    # Included routes carry their full path template (prefix and all).
    return str(getattr(route, "path", "unmatched"))


class MetricsMiddleware:
    """Times every request, labels it by its route template (never the raw path), logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # labels() takes a lock and builds a key each call: keep the children per label set.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(scope)
            method = scope["method"]
            counter = self._counters.get((method, template, status))
            if counter is None:
                counter = metrics.REQUESTS.labels(method=method, route=template, status=status)
                self._counters[(method, template, status)] = counter
            counter.inc()
            timer = self._timers.get((method, template))
            if timer is None:
                timer = metrics.REQUEST_SECONDS.labels(method=method, route=template)
                self._timers[(method, template)] = timer
            timer.observe(elapsed)
            # Probes are called every few seconds by load balancers and Prometheus: their counts
            # and latencies are in the metrics above, a log line each would be noise (and was
            # half the cost of a /healthz, bench/b7_stack_cost.py).
            if template not in QUIET_ROUTES and access_log.isEnabledFor(logging.INFO):
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
