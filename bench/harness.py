"""Benchmark plumbing: real uvicorn servers on loopback and a load generator in its own process.

Every benchmark runs the grassroots app and the bare ceiling app (bench/bare_app.py) with the
same uvicorn settings on the same machine in the same run, so the ratio holds on a noisy box.
The load generator shares the 2 cores with the server: figures are conservative.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuv"


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running uvicorn server."""

    url: str
    process: subprocess.Popen[bytes]


def database_url_for(kind: str, name: str) -> str:
    """A fresh database: 'sqlite' (a temp file) or 'postgres' (dropped and created on loopback)."""
    if kind == "sqlite":
        return f"sqlite://{tempfile.mkdtemp(prefix='gr-bench-')}/{name}.db"
    dbname = f"gr_bench_{name}"
    base = os.environ.get("GRASSROOTS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    for sql in (f'DROP DATABASE IF EXISTS "{dbname}"', f'CREATE DATABASE "{dbname}"'):
        subprocess.run(
            ["psql", f"{base}/postgres", "-q", "-c", sql], check=True, capture_output=True
        )
    return f"{base}/{dbname}"


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a grassroots server under benchmark."""
    env = dict(os.environ)
    env.update(
        GRASSROOTS_DATABASE_URL=database_url,
        GRASSROOTS_SECRET_KEY=BENCH_SECRET,
        GRASSROOTS_LOG_LEVEL="WARNING",
        GRASSROOTS_INPROCESS_WORKER="0",
        GRASSROOTS_ARGON2_TIME_COST="1",
        GRASSROOTS_ARGON2_MEMORY_COST_KIB="1024",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def serve(
    *,
    app: str = "api.app:create_app_from_env",
    factory: bool = True,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[Server]:
    """Run uvicorn (uvloop, httptools, no access log) until the block ends."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        cmd.append("--factory")
    process = subprocess.Popen(cmd, cwd=ROOT, env=env or bench_env("sqlite://:memory:"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"server {app} did not start") from None
                time.sleep(0.2)
        yield Server(url=url, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def migrate(database_url: str) -> None:
    """Apply migrations to a benchmark database through the real command line."""
    subprocess.run(
        [sys.executable, "-m", "grassroots.cli", "migrate"],
        cwd=ROOT,
        env=bench_env(database_url),
        check=True,
        capture_output=True,
    )


def load(
    *,
    url: str,
    factory: str,
    args: dict[str, Any] | None = None,
    concurrency: int = 16,
    duration_s: float = 10.0,
    warmup_s: float = 1.0,
) -> dict[str, Any]:
    """Run bench/load.py against `url` in its own process; returns its JSON figures."""
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "--url",
            url,
            "--factory",
            factory,
            "--args",
            json.dumps(args or {}),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration_s),
            "--warmup",
            str(warmup_s),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def bare_get(_args: dict[str, Any], _n: int):
    """Load factory for the ceiling: GET /bare."""
    return lambda _i: ("GET", "/bare", {}, b"")


def bare_post(args: dict[str, Any], _n: int):
    """Load factory for the ceiling: POST /bare with a body like the real one."""
    body = json.dumps(args.get("body", {"x": 1})).encode()
    return lambda _i: ("POST", "/bare", {"Content-Type": "application/json"}, body)


def ceiling(
    *,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    concurrency: int = 16,
    duration_s: float = 10.0,
    workers: int = 1,
) -> dict[str, Any]:
    """The bare endpoint's figures under the same load."""
    with serve(
        app="bench.bare_app:app", factory=False, env=bench_env("sqlite://:memory:"), workers=workers
    ) as server:
        factory = "bench.harness:bare_get" if method == "GET" else "bench.harness:bare_post"
        return load(
            url=server.url,
            factory=factory,
            args={"body": body or {}},
            concurrency=concurrency,
            duration_s=duration_s,
        )


def verdict(name: str, value: float, target: float, *, higher_is_better: bool = True) -> bool:
    """Print one figure against its target and say PASS or FAIL."""
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    print(f"{name}: {value:,.1f} (target {sign} {target:,.1f}) {'PASS' if ok else 'FAIL'}")
    return ok
