"""A bare ASGI app served by uvicorn (httptools, uvloop) in a daemon thread on loopback."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

Scope = dict[str, Any]


class LoopbackServer:
    """Start and stop a uvicorn server for ``self.handle`` on 127.0.0.1; subclasses answer."""

    name = "stand-in"

    def __init__(self) -> None:
        """Prepare; ``start`` (or ``with``) binds a free port, kept across restarts."""
        self._port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = 0

    def __enter__(self) -> LoopbackServer:
        """Start the server."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def base_url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        """Bind the port and serve in a daemon thread."""
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            loop="uvloop",
            http="httptools",
            ws="none",
            interface="asgi3",
            proxy_headers=False,
            server_header=False,
            date_header=False,
            lifespan="off",
            access_log=False,
            log_level="warning",
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.005)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving: the port refuses connections."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)
        self._server = self._thread = None

    def wait_idle(self, timeout_s: float = 5.0) -> None:
        """Let requests in flight finish."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)

    async def _asgi(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.in_flight += 1  # only the server's event loop thread touches it
        try:
            body = b""
            more = True
            while more:
                event = await receive()
                body += event.get("body", b"")
                more = event.get("more_body", False)
            status, headers, payload = await self.handle(scope, body)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json;charset=utf-8"),
                        (b"content-length", str(len(payload)).encode()),
                        *[(k.encode(), v.encode()) for k, v in headers.items()],
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})
        finally:
            self.in_flight -= 1

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, extra headers, JSON body)."""
        raise NotImplementedError


def header(scope: Scope, name: str) -> str:
    """The first value of a request header (lower-case name), or ''."""
    wanted = name.encode()
    for key, value in scope["headers"]:
        if key == wanted:
            return str(value.decode("latin-1"))
    return ""
