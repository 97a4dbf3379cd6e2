"""The database goes away and comes back: a real uvicorn server on PostgreSQL, reached through a
TCP proxy in this test that can refuse connections, or swallow every byte (a network partition).

While the database is unreachable every API request answers 503 problem+json
`database_unavailable` within a few seconds (never a 500, never a hang), /readyz says 503, and
service resumes by itself once the proxy is restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("GRASSROOTS_TEST_DATABASE_URL")
SECRET = "fault-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PASSWORD = "fault-admin-password-1"
# Short timeouts keep the test quick (the defaults are in grassroots/settings.py).
TIMEOUT_S = 2.0
# The longest a request may take while the database is away. Refused: at once. Partition: the
# query's command timeout, then asyncpg's cancel request and the pool's reconnect, each bounded
# by the connect timeout (measured ~4-6 s with 2 s timeouts).
MAX_ANSWER_S = 3 * TIMEOUT_S + 1.5
# Slowest 503 and time to recover per failure, printed at the end of the run.
FIGURES: dict[str, str] = {}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PG_URL,
        reason="PostgreSQL only (GRASSROOTS_TEST_DATABASE_URL unset); SQLite is an embedded file "
        "with no connection to lose, and an unreadable file is not a state the service meets",
    ),
]


class Proxy:
    """A TCP proxy to PostgreSQL: `refuse()` closes every connection and the listening port,
    `blackhole()` keeps connections open but drops every byte, `restore()` heals both."""

    def __init__(self, *, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.dropping = False
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.writers.add(client_w)
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.writers.add(upstream_w)
        await asyncio.gather(self._pipe(client_r, upstream_w), self._pipe(upstream_r, client_w))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.dropping:
                    writer.write(data)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            self.writers.discard(writer)

    async def refuse(self) -> None:
        """The database is down: the port refuses, open connections are reset."""
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        self.server = None

    def blackhole(self) -> None:
        """A network partition: connections open and stay silent."""
        self.dropping = True

    async def restore(self) -> None:
        """The database is back on the same port."""
        self.dropping = False
        if self.server is None:
            await self.start()

    async def close(self) -> None:
        if self.server is not None:
            await self.refuse()


def _psql(base: str, sql: str) -> None:
    subprocess.run(["psql", f"{base}/postgres", "-q", "-c", sql], check=True, capture_output=True)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    assert PG_URL
    parts = urlsplit(PG_URL)
    base = f"{parts.scheme}://{parts.netloc}"
    name = f"{parts.path.lstrip('/')}_fault"
    _psql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _psql(base, f'CREATE DATABASE "{name}"')
    proxy = Proxy(target_host=parts.hostname or "127.0.0.1", target_port=parts.port or 5432)
    await proxy.start()
    user = f"{parts.username}@" if parts.username else ""
    env = dict(os.environ) | {
        "GRASSROOTS_SECRET_KEY": SECRET,
        "GRASSROOTS_LOG_LEVEL": "WARNING",
        "GRASSROOTS_DB_CONNECT_TIMEOUT_S": str(TIMEOUT_S),
        "GRASSROOTS_DB_COMMAND_TIMEOUT_S": str(TIMEOUT_S),
    }
    direct = env | {"GRASSROOTS_DATABASE_URL": f"{base}/{name}"}
    for args, stdin in ((["migrate"], None), (["create-admin", "fault_admin"], PASSWORD + "\n")):
        subprocess.run(
            [sys.executable, "-m", "grassroots.cli", *args],
            cwd=ROOT,
            env=direct,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
            timeout=120,
        )
    from tests.conftest import SERVER_LOGS
    from tests.fuzz.conftest import _free_port

    log_path = tmp_path / "server.log"
    SERVER_LOGS.append(log_path)
    port = _free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app_from_env",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env
            | {"GRASSROOTS_DATABASE_URL": f"postgres://{user}127.0.0.1:{proxy.port}/{name}"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                deadline = time.monotonic() + 60
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "server did not start"
                    await asyncio.sleep(0.2)
                signed_in = await client.post(
                    "/api/v1/auth/token", data={"username": "fault_admin", "password": PASSWORD}
                )
                assert signed_in.status_code == 200, signed_in.text
                token = signed_in.json()["access_token"]
                client.headers["Authorization"] = f"Bearer {token}"
                yield {"client": client, "proxy": proxy, "log": log_path}
        finally:
            process.terminate()
            process.wait(timeout=15)
            await proxy.close()
    _psql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


REQUESTS = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/org-units"),
    ("GET", "/api/v1/alerts"),
]


async def _all_answer_503(client: httpx.AsyncClient) -> tuple[list[str], float]:
    """Every request, one after another, then a burst at once: all 503 in time."""
    wrong: list[str] = []
    slowest = [0.0]

    async def one(method: str, path: str) -> None:
        started = time.monotonic()
        body = {"name": "新社区"} if method == "POST" else None
        r = await client.request(method, path, json=body)
        took = time.monotonic() - started
        slowest[0] = max(slowest[0], took)
        code = r.json().get("code") if r.content else None
        if (
            r.status_code != 503
            or code != "database_unavailable"
            or r.headers.get("content-type") != "application/problem+json"
            or took > MAX_ANSWER_S
        ):
            wrong.append(f"{method} {path}: {r.status_code} {code} in {took:.1f}s")

    for method, path in REQUESTS:
        await one(method, path)
    await asyncio.gather(*(one(m, p) for m, p in REQUESTS * 5))
    started = time.monotonic()
    ready = await client.get("/readyz")
    if ready.status_code != 503 or time.monotonic() - started > MAX_ANSWER_S:
        wrong.append(f"/readyz: {ready.status_code} in {time.monotonic() - started:.1f}s")
    # Signing in needs the database too, and says so the same way.
    token = await client.post("/api/v1/auth/token", data={"username": "x", "password": "y"})
    if token.status_code != 503:
        wrong.append(f"/auth/token: {token.status_code}")
    return wrong, slowest[0]


async def _recovers(client: httpx.AsyncClient) -> float:
    """Seconds until /me and /readyz answer 200 again without any restart."""
    started = time.monotonic()
    while time.monotonic() - started < 30:
        me, ready = await client.get("/api/v1/me"), await client.get("/readyz")
        if me.status_code == 200 and ready.status_code == 200:
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    raise AssertionError("service did not resume within 30 s of the database's return")


@pytest.mark.parametrize("failure", ["refused", "partition"])
async def test_database_loss_answers_503_and_service_resumes(server, failure):
    client, proxy = server["client"], server["proxy"]
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200

    if failure == "refused":
        await proxy.refuse()
    else:
        proxy.blackhole()
    wrong, slowest = await _all_answer_503(client)
    assert not wrong, "\n".join(wrong)

    await proxy.restore()
    recovered = await _recovers(client)
    FIGURES[failure] = (
        f"{len(REQUESTS) * 6} requests all 503 database_unavailable, slowest {slowest:.1f} s; "
        f"recovered {recovered:.1f} s after the database returned"
    )
    created = await client.post("/api/v1/org-units", json={"name": "恢复后"})
    assert created.status_code == 201, created.text
    # Warnings only (asyncpg's pool and ours say the database is away): no error, no 500.
    errors = [line for line in server["log"].read_text().splitlines() if '"level": "error"' in line]
    assert not errors, errors[0][:3000]
