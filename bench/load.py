"""A small closed-loop HTTP/1.1 load generator (keep-alive, uvloop), run as its own process.

    python bench/load.py --url http://127.0.0.1:8001 --factory bench.b3_checkins:requests \
        --args '{"tokens": [...]}' --concurrency 32 --duration 10

Each connection asks its factory for the next request and waits for the answer (closed loop), so
the figure is throughput at that concurrency with the latency each request saw. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def _one_connection(
    host: str,
    port: int,
    next_request,
    deadline: float,
    warmup_until: float,
    latencies: list[float],
    statuses: Counter,
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            method, path, headers, body = next_request(i)
            i += 1
            head = [
                f"{method} {path} HTTP/1.1",
                f"Host: {host}:{port}",
                f"Content-Length: {len(body)}",
            ]
            head += [f"{k}: {v}" for k, v in headers.items()]
            started = time.perf_counter()
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            status = int(status_line.split()[1]) if status_line else 0
            if started >= warmup_until:
                latencies.append(elapsed)
                statuses[status] += 1
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def main_async(args: argparse.Namespace) -> dict:
    module_name, _, func_name = args.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), func_name)
    factory_args = json.loads(args.args)
    url = urlsplit(args.url)
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    start = time.perf_counter()
    warmup_until = start + args.warmup
    deadline = warmup_until + args.duration
    await asyncio.gather(
        *[
            _one_connection(
                url.hostname,
                url.port,
                factory(factory_args, n),
                deadline,
                warmup_until,
                latencies,
                statuses,
                errors,
            )
            for n in range(args.concurrency)
        ]
    )
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors[:5],
        "rps": len(latencies) / args.duration,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--factory", required=True)
    parser.add_argument("--args", default="{}")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
