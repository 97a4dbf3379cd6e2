"""Benchmark plumbing: real servers on loopback and a load generator in its own process.

Two ways to run the service under benchmark:
- served (the default of B2, B3 and B5): `python -m grassroots.cli serve`, as the README starts
  it: one process, the background worker inside, INFO logs, the README's defaults; the
  environment differs only in the database, a known secret key (so the bench signs tokens), a
  metrics token (so the bench reads /metrics) and the bench's PYTHONPATH (`served_env`);
- tuned (`--tuned`): plain uvicorn on `api.app:create_app_from_env` without the worker, logs at
  WARNING (`bench_env`), the figures of earlier sessions.

Every benchmark runs the grassroots app and the bare ceiling app (bench/bare_app.py) with the
same uvicorn settings on the same machine in the same run, so the ratio holds on a noisy box.
The load generator (wrk when installed, else bench/load.py; `bench/served.py`) shares the 2 cores
with the server: figures are conservative.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuv"
# Lets the bench read /metrics of the served process (the README leaves it unset: then only an
# admin's token reads it).
BENCH_METRICS_TOKEN = "bench-metrics-token-0123456789-abcdefghijklmn"


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


def served_env(database_url: str) -> dict[str, str]:
    """Environment of `grassroots serve` as the README runs it, but the bench's four variables.

    GRASSROOTS_DATABASE_URL (a fresh database), GRASSROOTS_SECRET_KEY (the bench signs tokens
    with it; on SQLite the README lets the service generate one), GRASSROOTS_METRICS_TOKEN (the
    bench reads /metrics) and PYTHONPATH. Every other GRASSROOTS_* variable of the caller's shell
    is dropped, so the README's defaults hold (INFO logs, worker inside, pool of 10, ...).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRASSROOTS_")}
    env.update(
        GRASSROOTS_DATABASE_URL=database_url,
        GRASSROOTS_SECRET_KEY=BENCH_SECRET,
        GRASSROOTS_METRICS_TOKEN=BENCH_METRICS_TOKEN,
        PYTHONPATH=str(ROOT),
    )
    return env


@contextlib.contextmanager
def serve_service(database_url: str, *, tuned: bool, workers: int = 1) -> Iterator[Server]:
    """The grassroots service: as the README serves it, or the tuned server with `tuned`."""
    if tuned:
        env = bench_env(database_url, GRASSROOTS_METRICS_TOKEN=BENCH_METRICS_TOKEN)
        with serve(env=env, workers=workers) as server:
            yield server
        return
    port = free_port()
    cmd = [sys.executable, "-m", "grassroots.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers)]
    # The JSON log lines are formatted and written as in production, to a file kept for a look.
    log_path = Path(tempfile.mkdtemp(prefix="gr-bench-log-")) / "serve.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=served_env(database_url), stdout=log_file, stderr=log_file
        )
        try:
            yield _started(
                process, f"http://127.0.0.1:{port}", what="grassroots serve", log=log_path
            )
        finally:
            _stop(process)


def _started(
    process: subprocess.Popen[bytes], url: str, *, what: str, log: Path | None = None
) -> Server:
    """Wait until `url`/healthz answers 200 (migrations run first in `grassroots serve`)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                if r.status == 200:
                    return Server(url=url, process=process)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                where = f" (log: {log})" if log else ""
                raise RuntimeError(f"{what} did not start{where}") from None
            time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    try:
        yield _started(process, f"http://127.0.0.1:{port}", what=f"server {app}")
    finally:
        _stop(process)


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


# --- the morning's round: a patrol member, an active round, 150,000 points through the API ----

PATROL_ZONE = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 32.0], [120.87, 32.0], [120.87, 32.008], [120.86, 32.008], [120.86, 32.0]]
    ],
}
ROUND_POINTS = 150_000
ROUND_STEP_S = 0.2  # 150,000 fixes over 8 h 20 min: one shift
ZONE_EXIT_JOB = "patrol.zone_exits"


async def root_unit(name: str = "崇川区") -> Any:
    """A root org unit for a benchmark's world (its path is /<id>/, as the service makes them)."""
    from models.org import OrgUnit

    unit_id = uuid.uuid4()
    return await OrgUnit.create(id=unit_id, name=name, path=f"/{unit_id.hex}/", depth=0)


async def unit_user(unit: Any, *, username: str, full_name: str, role: str) -> Any:
    """A user of `unit` with one role and no password (benchmarks sign tokens for it)."""
    from models.org import User

    return await User.create(
        username=username,
        password_hash="!",
        full_name=full_name,
        roles_text=User.encode_roles([role]),
        org_unit=unit,
        org_path=unit.path,
    )


async def patrol_zone(unit: Any, *, geojson: dict[str, Any], name: str = "濠河") -> Any:
    """A patrol zone of `unit`, its area validated as the service validates one."""
    from models.patrol import Zone, ZoneKind
    from services.patrol import zones

    geometry, area = zones.validated_area(geojson=geojson)
    return await Zone.create(
        name=name,
        kind=ZoneKind.patrol,
        org_unit=unit,
        org_path=unit.path,
        geometry=geometry,
        area_m2=area,
    )


async def _seed_patrol(database_url: str, members: int, round_hours: float) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.org import Role
    from models.patrol import Assignment, Round
    from services.security import issue_access_token

    settings = Settings(database_url=database_url, secret_key=BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        unit = await root_unit()
        zone = await patrol_zone(unit, geojson=PATROL_ZONE)
        now = datetime.now(UTC)
        started = now - timedelta(hours=round_hours)
        rounds, tokens = [], []
        for n in range(members):
            user = await unit_user(
                unit, username=f"bench_patrol{n}", full_name=f"队员{n}", role=Role.patrol.value
            )
            await Assignment.create(
                zone=zone,
                user=user,
                org_path=unit.path,
                starts_at=started - timedelta(minutes=30),
                ends_at=now + timedelta(hours=6),
            )
            rnd = await Round.create(
                user=user, zone=zone, org_path=unit.path, started_at=started, request_hash="bench"
            )
            rounds.append(str(rnd.id))
            tokens.append(issue_access_token(user_id=user.id, settings=settings))
        return {"rounds": rounds, "tokens": tokens, "start_ts": started.timestamp() + 60}
    finally:
        await Tortoise.close_connections()


def seed_patrol(database_url: str, members: int, *, round_hours: float = 9.0) -> dict[str, Any]:
    """Patrol members with a shift and an active round each over one zone (as bench/b2 seeds).

    Returns their tokens, round ids and `start_ts`, the epoch second a track may start at.
    """
    return asyncio.run(_seed_patrol(database_url, members, round_hours))


def _round_point(seq: int, start_ts: float) -> str:
    """Fix `seq` of the morning's round: laps inside the zone, ~150 m out for 4 min an hour."""
    from datetime import UTC, datetime

    t = seq * ROUND_STEP_S
    lap = (t * 1.3) % 2400.0  # metres along a 600 m x 600 m square walked at 1.3 m/s
    side, along = divmod(lap, 600.0)
    x, y = [(along, 0.0), (600.0, along), (600.0 - along, 600.0), (0.0, 600.0 - along)][int(side)]
    into_hour = t % 3600.0
    if 1800.0 <= into_hour < 2040.0:  # walk east out of the zone and back
        x += 1.3 * min(into_hour - 1800.0, 2040.0 - into_hour)
    lon = 120.8635 + x / 94_500.0
    lat = 32.0013 + y / 111_000.0
    ts = datetime.fromtimestamp(start_ts + t, tz=UTC).isoformat()
    return (
        f'{{"id":"{uuid.UUID(int=(0xB5 << 96) | seq)}","ts":"{ts}","lon":{lon:.6f},'
        f'"lat":{lat:.6f},"accuracy_m":6.0,"speed_mps":1.3}}'
    )


@dataclass(frozen=True)
class Upload:
    """How the morning's round went up."""

    points: int
    seconds: float
    batches: int
    refused_batches: int
    p50_ms: float
    max_ms: float


def upload_round(
    url: str,
    *,
    token: str,
    round_id: str,
    start_ts: float,
    points: int = ROUND_POINTS,
    batch: int = 500,
) -> Upload:
    """Upload a round's track through the API, `batch` points a request, one after the other.

    As a phone does (one upload at a time, oldest first), on one kept-alive connection; the
    round stays active, so the in-process worker's zone-exit job judges it afterwards.
    """
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    refused = sent = 0
    latencies: list[float] = []
    started = time.perf_counter()
    for first in range(0, points, batch):
        body = ",".join(_round_point(s, start_ts) for s in range(first, min(first + batch, points)))
        sent_at = time.perf_counter()
        conn.request("POST", f"/api/v1/rounds/{round_id}/points", f'{{"points":[{body}]}}', headers)
        answer = conn.getresponse()
        payload = json.loads(answer.read() or b"{}")
        latencies.append(time.perf_counter() - sent_at)
        if not 200 <= answer.status < 300 or payload.get("rejected"):
            refused += 1
        sent += 1
    conn.close()
    latencies.sort()
    return Upload(
        points=points,
        seconds=time.perf_counter() - started,
        batches=sent,
        refused_batches=refused,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        max_ms=latencies[-1] * 1000,
    )


# --- what the worker did: /metrics of the served process and the job's schedule -------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def read_metrics(url: str) -> dict[str, float]:
    """The samples of /metrics (read with the bench's metrics token), by `name{labels}`."""
    request = urllib.request.Request(
        f"{url}/metrics", headers={"Authorization": f"Bearer {BENCH_METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found:
            samples[found[1] + (found[2] or "")] = float(found[3])
    return samples


@dataclass(frozen=True)
class WorkerActivity:
    """What the served process's worker did between two /metrics readings."""

    judge_runs: int
    judge_seconds: float
    other_job_runs: int
    lag_samples_over_50ms: int
    lag_samples: int
    lag_max_1m_s: float | None
    # Seconds of the window during which the last zone-exit run ran (its row's start and end).
    overlap_s: float = 0.0
    window_s: float = 0.0

    @property
    def judged_during(self) -> str:
        """Whether, and how long, the worker judged during the measured window."""
        if self.overlap_s <= 0:
            return "NO (no zone-exit run inside the window: run longer)"
        return f"yes, {self.overlap_s:.1f} s of the {self.window_s:.1f} s window"

    def line(self) -> str:
        lag = (
            f", longest loop stall of the last minute {self.lag_max_1m_s * 1000:.0f} ms"
            if self.lag_max_1m_s is not None
            else ""
        )
        return (
            f"worker during the measurement: {ZONE_EXIT_JOB} ran {self.judge_runs} time(s) for "
            f"{self.judge_seconds:.1f} s, {self.other_job_runs} other job run(s); "
            f"event-loop lag over 50 ms in {self.lag_samples_over_50ms} of "
            f"{self.lag_samples} samples{lag}"
        )


def worker_activity(before: dict[str, float], after: dict[str, float]) -> WorkerActivity:
    """The difference of two `read_metrics` readings, as the worker's part of it."""

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    judge = f'{{job="{ZONE_EXIT_JOB}"}}'
    runs = [k for k in after if k.startswith("grassroots_job_duration_seconds_count{")]
    lag_all = "grassroots_event_loop_lag_observed_seconds_count"
    lag_50 = 'grassroots_event_loop_lag_observed_seconds_bucket{le="0.05"}'
    max_1m = after.get("grassroots_event_loop_lag_max_1m_seconds")
    return WorkerActivity(
        judge_runs=int(delta(f"grassroots_job_duration_seconds_count{judge}")),
        judge_seconds=delta(f"grassroots_job_duration_seconds_sum{judge}"),
        other_job_runs=int(sum(delta(k) for k in runs if ZONE_EXIT_JOB not in k)),
        lag_samples_over_50ms=int(delta(lag_all) - delta(lag_50)),
        lag_samples=int(delta(lag_all)),
        lag_max_1m_s=max_1m,
    )


@dataclass(frozen=True)
class JobTimes:
    """A job's schedule as its row says (epoch seconds); `running` while a worker holds it."""

    next_run_at: float
    running: bool
    last_started_at: float | None
    last_finished_at: float | None
    runs: int


async def _job_times(database_url: str, name: str) -> JobTimes | None:
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.jobs import JobState

    settings = Settings(database_url=database_url, secret_key=BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        state = await JobState.get_or_none(name=name)
    finally:
        await Tortoise.close_connections()
    if state is None:
        return None
    return JobTimes(
        next_run_at=state.next_run_at.timestamp(),
        running=state.locked_until is not None,
        last_started_at=state.last_started_at.timestamp() if state.last_started_at else None,
        last_finished_at=state.last_finished_at.timestamp() if state.last_finished_at else None,
        runs=state.runs,
    )


def job_times(database_url: str, name: str = ZONE_EXIT_JOB) -> JobTimes | None:
    """The job's row (None before its first run), read through the ORM like the worker."""
    return asyncio.run(_job_times(database_url, name))


def job_next_run(database_url: str, name: str = ZONE_EXIT_JOB) -> float | None:
    """When the worker runs `name` next (epoch seconds), None while it runs or before its first."""
    times = job_times(database_url, name)
    return None if times is None or times.running else times.next_run_at


def wait_for_job_run_to_end(database_url: str, *, timeout_s: float = 120.0) -> None:
    """Block until the zone-exit job is idle with its next run scheduled (not running now)."""
    deadline = time.monotonic() + timeout_s
    while job_next_run(database_url) is None and time.monotonic() < deadline:
        time.sleep(0.5)


def wait_for_job_period(database_url: str, *, free_s: float, timeout_s: float = 120.0) -> None:
    """Block until the zone-exit job is idle and not due for at least `free_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        due = job_next_run(database_url)
        if due is not None and due - time.time() >= free_s:
            return
        time.sleep(0.5)


def wait_for_job_start(database_url: str, *, timeout_s: float = 120.0) -> float:
    """Block until a worker holds the zone-exit job (a run has begun); seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        times = job_times(database_url)
        if times is not None and times.running:
            break
        time.sleep(0.1)
    return time.monotonic() - started


def morning_round(
    url: str,
    database_url: str,
    *,
    token: str,
    round_id: str,
    start_ts: float,
    worker: bool = True,
    points: int = ROUND_POINTS,
) -> Upload:
    """Upload the morning's round, then wait until the worker has begun to judge it.

    The zone-exit job runs every 30 s. The upload starts when the next run is at least 20 s
    away (so the worker does not judge the round while it goes up, unless the upload takes
    longer), and this returns as soon as the next run has begun: the measured load that follows
    runs while the worker judges the whole round. The waits are printed. Without a worker
    (`worker=False`, the tuned server) the round is uploaded and nothing judges it.
    """
    if worker:
        wait_for_job_period(database_url, free_s=20.0)
    uploaded = upload_round(url, token=token, round_id=round_id, start_ts=start_ts, points=points)
    print(
        f"morning round: {uploaded.points:,} points in {uploaded.batches} batches of 500 "
        f"uploaded in {uploaded.seconds:.1f} s ({uploaded.points / uploaded.seconds:,.0f} "
        f"points/s; per batch p50 {uploaded.p50_ms:.0f} ms, max {uploaded.max_ms:.0f} ms; "
        f"{uploaded.refused_batches} batches with a refusal)",
        flush=True,
    )
    if not worker:
        return uploaded
    times = job_times(database_url)
    if times is not None and times.running:
        print("morning round: the worker is judging it already (the upload outlasted a period)")
        return uploaded
    waited = wait_for_job_start(database_url)
    print(
        f"morning round: waited {waited:.1f} s for the worker's next {ZONE_EXIT_JOB} run",
        flush=True,
    )
    return uploaded


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its live children (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, ...; utime and stime are fields 14 and 15 of stat.
        if entry.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total
