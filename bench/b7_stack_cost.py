"""B7 in process: what the middleware, routing and dependencies cost per request, without HTTP.

    python bench/b7_stack_cost.py [--requests 20000] [--repeat 3]

Calls the ASGI apps directly (no socket, no uvicorn, no load generator), so the figures hold on
a busy machine far better than a req/s run: the bare FastAPI app (bench/bare_app.py), the
grassroots app as `grassroots serve` builds it (JSON logs at INFO written to /dev/null), and the
grassroots app with its layers taken away one at a time, to show where the time goes. Prints
microseconds per request, the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("GRASSROOTS_SECRET_KEY", "bench-secret-key-0123456789-abcdefghijklmnopqrstuv")
os.environ["GRASSROOTS_DATABASE_URL"] = "sqlite://:memory:"


def _scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers
        or [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def per_request_us(app: Any, path: str, *, n: int, headers=None) -> float:
    """Mean microseconds for one GET of `path` through `app`, after a warm-up."""
    scope = _scope(path, headers)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(max(200, n // 10)):
        await app(dict(scope), receive, send)
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - started
    assert set(statuses) <= {200, 401}, statuses[-1]
    return elapsed / n * 1e6


async def main_async(args: argparse.Namespace) -> None:
    from bench.bare_app import app as bare
    from grassroots.logs import configure
    from grassroots.settings import get_settings

    configure("INFO")
    logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # noqa: SIM115
    from api.app import create_app

    served = create_app(get_settings(), manage_db=False)
    quiet_access = logging.getLogger("grassroots.access")
    cases: list[tuple[str, Any, str, Any]] = [
        ("bare FastAPI GET /bare", bare, "/bare", None),
        ("grassroots GET /healthz (as served)", served, "/healthz", None),
        ("grassroots GET /healthz, access log off", served, "/healthz", "quiet"),
        ("grassroots GET /api/v1/me without a token (401)", served, "/api/v1/me", None),
    ]
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, app, path, mode in cases:
            quiet_access.setLevel(logging.WARNING if mode == "quiet" else logging.NOTSET)
            cost = await per_request_us(app, path, n=args.requests)
            best[name] = min(best.get(name, cost), cost)
    quiet_access.setLevel(logging.NOTSET)
    for name, cost in best.items():
        print(f"{name}: {cost:,.1f} us/request")
    print(f"/healthz : bare (cost) = {best[cases[1][0]] / best[cases[0][0]]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
