"""A city's morning (issue 7, load): every kind of traffic at once against one deployment.

    python bench/city_morning.py [--db postgres|sqlite] [--duration 600]

One uvicorn with 2 worker processes (PostgreSQL by default) and one `grassroots worker` process.
At once, for `--duration` seconds: patrol members upload point batches (8 connections), subjects
check in (16), social workers read their caseloads (8), and a scheduler fans a reminder out to
every seeded user once a minute (the worker puts it in each inbox). It prints per endpoint the
rate, p99 and errors, the reminder fan-out (inbox rows expected and found) and the server's
memory (resident set of the uvicorn processes) after warm-up and at the end. Error rate must be 0
and memory flat (growth under 20 %). The load generators share the 2 cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import b3_checkins, b5_caseload, harness  # noqa: E402


async def _seed_admin(database_url: str) -> dict[str, Any]:
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.org import Role, User
    from services.security import issue_access_token

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        unit = await harness.root_unit("南通市")
        admin = await harness.unit_user(
            unit, username="morning_admin", full_name="调度员", role=Role.admin.value
        )
        audience = await User.exclude(id=admin.id).count()
        return {
            "token": issue_access_token(user_id=admin.id, settings=settings),
            "audience": audience,
        }
    finally:
        await Tortoise.close_connections()


async def _count_inbox(database_url: str) -> int:
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.notifications import Notification

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        return await Notification.filter(title__startswith="晨会提醒").count()
    finally:
        await Tortoise.close_connections()


def _rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn's worker processes)."""
    total = 0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    for p in [pid, *map(int, children.split())]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def _post_reminder(base: str, token: str, n: int) -> int:
    body = {
        "title": f"晨会提醒 {n}",
        "body": "请按时完成今日巡防、报到和走访任务。",
        "audience": {"roles": ["patrol", "subject", "social_worker", "officer"]},
        "first_at": (datetime.now(UTC) + timedelta(seconds=2)).isoformat(),
    }
    request = urllib.request.Request(
        f"{base}/api/v1/reminders",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return int(r.status)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--duration", type=float, default=600.0)
    args = parser.parse_args()

    url = harness.database_url_for(args.db, "morning")
    harness.migrate(url)
    points = harness.seed_patrol(url, 8)
    checkins = b3_checkins.seed(url, 16)
    caseload = asyncio.run(b5_caseload._seed(url))
    admin = asyncio.run(_seed_admin(url))
    env = harness.bench_env(url, GRASSROOTS_WORKER_POLL_S="1")
    worker_log = Path(tempfile.mkdtemp(prefix="gr-morning-")) / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "grassroots.cli", "worker"],
        cwd=harness.ROOT,
        env=env | {"GRASSROOTS_LOG_LEVEL": "INFO"},
        stdout=worker_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    results: dict[str, dict[str, Any]] = {}
    reminders: list[int] = []
    try:
        with harness.serve(env=env, workers=2) as server:
            loads = {
                "POST /rounds/{id}/points": ("bench.b2_points:points_requests", points, 8),
                "POST /me/checkins": ("bench.b3_checkins:requests", checkins, 16),
                "GET /me/caseload": (
                    "bench.b5_caseload:caseload_requests",
                    {"tokens": caseload},
                    8,
                ),
            }

            def drive(name: str, factory: str, factory_args: Any, concurrency: int) -> None:
                results[name] = harness.load(
                    url=server.url,
                    factory=factory,
                    args=factory_args,
                    concurrency=concurrency,
                    duration_s=args.duration,
                    warmup_s=5,
                )

            threads = [
                threading.Thread(target=drive, args=(name, *spec)) for name, spec in loads.items()
            ]
            for t in threads:
                t.start()
            time.sleep(10)
            rss_start = _rss_kib(server.process.pid)
            started = time.time()
            n = 0
            while any(t.is_alive() for t in threads):
                if time.time() - started >= 60 * n and time.time() - started < args.duration - 10:
                    reminders.append(_post_reminder(server.url, admin["token"], n))
                    n += 1
                time.sleep(1)
            rss_end = _rss_kib(server.process.pid)
            time.sleep(5)  # let the worker fan out the last reminder
    finally:
        worker.terminate()
        stop_started = time.time()
        try:
            worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker_stop_s = time.time() - stop_started
    inbox = asyncio.run(_count_inbox(url))

    print(
        f"city morning on {args.db}: uvicorn --workers 2 + 1 grassroots worker, "
        f"{args.duration:g} s, load generators on the same 2 cores"
    )
    errors = 0
    for name, figures in results.items():
        bad = figures["requests"] - figures["ok"] + len(figures["errors"])
        errors += bad
        print(
            f"  {name:<26} {figures['rps']:>8,.0f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
            f"p99 {figures['p99_ms']:6.1f} ms  non-2xx/errors {bad}  {figures['statuses']}"
        )
    expected = len(reminders) * admin["audience"]
    print(
        f"  reminders: {len(reminders)} created ({set(reminders)}), inbox rows {inbox} "
        f"of {expected} expected"
    )
    print(f"  worker stopped {worker_stop_s:.1f} s after SIGTERM; its log: {worker_log}")
    growth = (rss_end - rss_start) / rss_start * 100 if rss_start else 0.0
    print(
        f"  memory (uvicorn RSS): {rss_start / 1024:.0f} MiB after warm-up, "
        f"{rss_end / 1024:.0f} MiB at the end ({growth:+.1f} %)"
    )
    ok = [
        harness.verdict("errors", errors, 0, higher_is_better=False),
        harness.verdict("inbox rows missing", expected - inbox, 0, higher_is_better=False),
        harness.verdict("memory growth %", growth, 20.0, higher_is_better=False),
    ]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
