"""B7: GET /healthz on the service started as the README starts it, against the bare endpoint.

    python bench/b7_healthz.py [--duration 10] [--connections 32] [--rounds 2] [--db sqlite]

The service runs as `grassroots serve` runs it (one process, uvloop and httptools, the background
worker inside, JSON logs at the default level to standard error), the ceiling is the bare FastAPI
app (bench/bare_app.py) on the same uvicorn settings. Both are measured in the same run, one after
the other, `--rounds` times each (alternating, so a noisy neighbour hits both), with wrk on
loopback when it is installed (`apt-get install -y wrk`), else the project's own generator
(bench/load.py). wrk and the server share the machine's 2 cores: the figures are conservative.
Target: /healthz >= 60 % of the bare endpoint's requests per second.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

TARGET_RATIO = 0.60


@contextmanager
def serve_as_readme(database_url: str) -> Iterator[str]:
    """`grassroots serve` on a free port as the README starts it (bench/harness.py)."""
    with harness.serve_service(database_url, tuned=False) as server:
        yield server.url


def rate(url: str, *, duration_s: float, connections: int) -> float:
    """Requests per second of GET `url`."""
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if found is None or "Non-2xx" in out:
            raise RuntimeError(f"wrk: {out}")
        return float(found[1])
    base, path = url.rsplit("/", 1)
    figures = harness.load(
        url=base,
        factory="bench.b7_healthz:healthz_get" if path == "healthz" else "bench.harness:bare_get",
        concurrency=connections,
        duration_s=duration_s,
    )
    return float(figures["rps"])


def healthz_get(_args: dict[str, object], _n: int):
    """Load factory for bench/load.py: GET /healthz."""
    return lambda _i: ("GET", "/healthz", {}, b"")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    tool = "wrk" if shutil.which("wrk") else "bench/load.py"
    database_url = harness.database_url_for(args.db, "b7")
    print(
        f"B7 GET /healthz, {args.connections} connections, {args.duration:g} s, {tool}, {args.db}"
    )
    bare: list[float] = []
    app: list[float] = []
    for _ in range(args.rounds):
        with harness.serve(
            app="bench.bare_app:app", factory=False, env=harness.bench_env("sqlite://:memory:")
        ) as server:
            rate(f"{server.url}/bare", duration_s=1, connections=args.connections)  # warm up
            bare.append(
                rate(f"{server.url}/bare", duration_s=args.duration, connections=args.connections)
            )
        with serve_as_readme(database_url) as url:
            rate(f"{url}/healthz", duration_s=1, connections=args.connections)
            app.append(
                rate(f"{url}/healthz", duration_s=args.duration, connections=args.connections)
            )
    best_bare, best_app = max(bare), max(app)
    print("bare GET /bare req/s:    " + ", ".join(f"{r:,.0f}" for r in bare))
    print("grassroots /healthz req/s: " + ", ".join(f"{r:,.0f}" for r in app))
    print(f"best: bare {best_bare:,.0f}, /healthz {best_app:,.0f}")
    ratio = best_app / best_bare
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"ratio /healthz : bare = {ratio:.2f} (target >= {TARGET_RATIO:.2f}) {verdict}")
    if os.environ.get("B7_STRICT") and ratio < TARGET_RATIO:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
