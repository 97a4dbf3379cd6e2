"""Pure ASGI middleware: bounded request bodies, request metrics (prometheus_client) and access
logs."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import language_of
from grassroots import metrics
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
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
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
                await self._reject(send, scope)

    async def _reject(self, send: Send, scope: Scope) -> None:
        # The language is looked up only for the rare 413, not on every request.
        headers = dict(scope["headers"])
        language = language_of(headers.get(b"accept-language", b"").decode("latin-1"))
        body = _problem_bytes(
            "body_too_large",
            413,
            message_for("body_too_large", language, {"limit": self.max_bytes}),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


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
