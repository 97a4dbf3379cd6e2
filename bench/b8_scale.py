"""B8: a round summary, a zone day report and track retention at 1,000,000 and 10,000,000 points.

    python bench/b8_scale.py --db postgres [--small 1000000] [--large 10000000] [--days 60]

Issue 15: on a PostgreSQL table of 10,000,000 track points over 60 days, a round summary, a zone
daily report and the retention run each take no more than twice what they take on 1,000,000.

A fresh database is built through the real migrations (`grassroots migrate`). The points are
made in SQL (`INSERT ... SELECT` over `generate_series`, straight into the partitioned table):
rounds of 2,000-20,000 points (a point every 2 s walking laps, two minutes ~300 m outside every
hour) spread over the 60 days before now, in 40 background zones. What is measured is the same
at both sizes: zone Z0's day ten days ago, four rounds of 10,000 points with three checkpoints;
only the rest of the table grows, as it does when a city adds teams. Timed, best of 3, through
the real service functions:

- the round summary of one of those rounds (`analysis.round_summary`, what the API answers);
- the zone day report of that day (`reports.zone_report`);
- the retention job (`patrol.retention`) with its cutoff at noon (UTC) 20 days after the oldest
  point, so a third of the rows are past it; each repeat runs on a fresh copy of the database
  (`CREATE DATABASE ... TEMPLATE`), so every one is a first run. Twice: hot, with the copy's
  files in the page cache as the copy leaves them, and cold, with the files of the
  partitions it drops evicted first (`posix_fadvise` DONTNEED, when the data directory is on
  this machine), as partitions past the retention period are in service. Freeing cached pages
  costs in proportion to their number, and on a filesystem mounted with `discard` so does
  freeing the blocks (the floor, shown).

The past gets a partition a day, as the partition job makes them (`--monthly`: a partition a
month, as migration 0009 made them, the layout before).

The table grows from the small to the large size in place (the same rounds plus more) and is
ANALYZEd before each measurement. PostgreSQL only: SQLite keeps one table, and this is the
production database's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

CEILING = 2.0
REPEATS = 3
STEP_S = 2
BACKGROUND_ZONES = 40
MEASURED_ROUNDS = 4
MEASURED_POINTS = 10_000
MEASURED_DAY_AGO = 10
# Points inserted per statement while filling (progress, and no one huge transaction).
FILL_CHUNK = 1_000_000


def zone_geojson(centre_lon: float, centre_lat: float) -> dict[str, Any]:
    """A 0.01 x 0.008 degree rectangle (~950 x 890 m) around a centre."""
    w, s, e, n = centre_lon - 0.005, centre_lat - 0.004, centre_lon + 0.005, centre_lat + 0.004
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def round_size(k: int) -> int:
    """The k-th background round's points: 2,000-20,000, fixed by k."""
    return 2_000 + (k * 7_919) % 18_001


# The walk, in SQL over the round's row `r` (its zone centre clon/clat) and point index g.i:
# a lap every 10 minutes whose reach swings slowly, two minutes ~300 m out every hour.
_WALK = (
    """
    r.clon + (CASE WHEN g.i % 1800 < 60 THEN 0.0085
              ELSE 0.0025 + 0.0015 * sin(g.i / 1300.0) END) * cos(g.i / 300.0 * 2 * pi())
""",
    """
    r.clat + (CASE WHEN g.i % 1800 < 60 THEN 0.0068
              ELSE 0.0020 + 0.0012 * sin(g.i / 1300.0) END) * sin(g.i / 300.0 * 2 * pi())
""",
)


async def _sql(sql: str, params: list[Any] | None = None) -> list[Any]:
    from tortoise import connections

    _, rows = await connections.get("default").execute_query(sql, params or [])
    return list(rows)


_FILL: dict[str, Any] = {}


async def _fill_sql(sql: str, params: list[Any] | None = None) -> None:
    """A filling statement on a connection of its own, without the service's 10 s timeout."""
    import asyncpg

    if "conn" not in _FILL:
        _FILL["conn"] = await asyncpg.connect(_FILL["url"], command_timeout=None)
    await _FILL["conn"].execute(sql, *(params or []))


async def _insert_points(where: str, params: list[Any]) -> None:
    """The points of the rounds in `bench_round` matching `where`, made in the database."""
    lon, lat = _WALK
    await _fill_sql(
        f"""
        INSERT INTO patrol_track_point
            (id, ts, lon, lat, accuracy_m, speed_mps, is_mock, in_zone, received_at, round_id)
        SELECT gen_random_uuid(), r.started_at + g.i * interval '{STEP_S} seconds',
               {lon}, {lat}, 8.0, NULL, false, true,
               r.started_at + g.i * interval '{STEP_S} seconds' + interval '30 seconds', r.id
        FROM bench_round r CROSS JOIN LATERAL generate_series(0, r.n - 1) AS g(i)
        WHERE {where}
        """,
        params,
    )


async def _setup(*, data_start: datetime, data_end: datetime, monthly: bool) -> dict[str, Any]:
    """Org, member, zones, checkpoints and the measured day's rounds with their points."""
    from models.org import Role
    from models.patrol import (
        Checkpoint,
        Round,
        RoundStatus,
        Zone,
        ZoneKind,
        day_start,
        month_start,
        next_month,
        track_day_partition_sql,
        track_partition_sql,
    )
    from services.patrol import reports, track_store, zones

    # The past as a deployment running the partition job has it: a partition a day (or a
    # month, with --monthly, as migration 0009 made them) up to those the migration made.
    first_made = (await track_store.list_partitions())[0].start
    if monthly:
        month = month_start(data_start)
        while month < first_made:
            await _sql(track_partition_sql(month))
            month = next_month(month)
    else:
        day = day_start(data_start)
        while day < first_made:
            await _sql(track_day_partition_sql(day))
            day += timedelta(days=1)
    unit = await harness.root_unit()
    user = await harness.unit_user(unit, username="bench", full_name="队员", role=Role.patrol.value)
    zone_ids = []
    for k in range(BACKGROUND_ZONES + 1):
        centre = (120.80 + (k % 10) * 0.02, 31.95 + (k // 10) * 0.02)
        geojson, area = zones.validated_area(geojson=zone_geojson(*centre))
        zone = await Zone.create(
            name=f"Z{k}",
            kind=ZoneKind.patrol,
            org_unit=unit,
            org_path=unit.path,
            geometry=geojson,
            area_m2=area,
        )
        zone_ids.append((zone.id, centre))
    measured_zone, (clon, clat) = zone_ids[0]
    for i, (dlon, dlat) in enumerate([(-0.002, 0.0), (0.002, 0.001), (0.0, -0.0015)]):
        await Checkpoint.create(
            zone_id=measured_zone,
            org_path=unit.path,
            name=f"CP{i}",
            lon=clon + dlon,
            lat=clat + dlat,
            radius_m=30.0,
            code=f"code-{i}",
        )
    await _sql(
        "CREATE TABLE bench_round (k int PRIMARY KEY, id uuid NOT NULL, started_at timestamptz "
        "NOT NULL, n int NOT NULL, clon float8 NOT NULL, clat float8 NOT NULL)"
    )
    day = (data_end - timedelta(days=MEASURED_DAY_AGO)).astimezone(_tz()).date()
    day_start, _ = reports.local_day_bounds(day)
    measured = []
    for k, hour in enumerate([8, 10, 13, 15][:MEASURED_ROUNDS]):
        started_at = day_start + timedelta(hours=hour)
        rnd = await Round.create(
            user=user,
            zone_id=measured_zone,
            org_path=unit.path,
            started_at=started_at,
            ended_at=started_at + timedelta(seconds=MEASURED_POINTS * STEP_S),
            status=RoundStatus.ended,
            request_hash="b8",
            points_count=MEASURED_POINTS,
        )
        await _sql(
            "INSERT INTO bench_round VALUES ($1, $2, $3, $4, $5, $6)",
            [-1 - k, rnd.id, started_at, MEASURED_POINTS, clon, clat],
        )
        measured.append(rnd.id)
    await _insert_points("r.k < 0", [])
    return {
        "unit_path": unit.path,
        "user_id": user.id,
        "zones": zone_ids[1:],
        "measured_zone": measured_zone,
        "measured_round": measured[0],
        "day": day,
    }


def _tz() -> Any:
    from grassroots.settings import get_settings

    return get_settings().tz


async def _grow(world: dict[str, Any], *, target: int, data_start: datetime, days: int) -> int:
    """Background rounds and their points until the table holds `target` points; how many."""
    (have,) = (await _sql("SELECT count(*) FROM patrol_track_point"))[0]
    (next_k,) = (await _sql("SELECT coalesce(max(k), -1) + 1 FROM bench_round"))[0]
    spread_s = days * 86_400 - 20_000 * STEP_S - 600
    chunk_first, chunk_points = next_k, 0
    k = next_k
    while have < target:
        n = min(round_size(k), target - have)
        zone_id, (clon, clat) = world["zones"][k % len(world["zones"])]
        started_at = data_start + timedelta(seconds=60 + (k * 104_729) % spread_s)
        round_id = uuid.uuid4()
        await _sql(
            "INSERT INTO patrol_round (id, created_at, updated_at, org_path, status, started_at, "
            "ended_at, request_hash, points_count, user_id, zone_id, exits_alerted) VALUES "
            "($1, now(), now(), $2, 'ended', $3, $4, 'b8', $5, $6, $7, 0)",
            [
                round_id,
                world["unit_path"],
                started_at,
                started_at + timedelta(seconds=n * STEP_S),
                n,
                world["user_id"],
                zone_id,
            ],
        )
        await _sql(
            "INSERT INTO bench_round VALUES ($1, $2, $3, $4, $5, $6)",
            [k, round_id, started_at, n, clon, clat],
        )
        have += n
        chunk_points += n
        k += 1
        if chunk_points >= FILL_CHUNK or have >= target:
            await _insert_points("r.k >= $1 AND r.k < $2", [chunk_first, k])
            chunk_first, chunk_points = k, 0
            print(f"    {have:>12,} points", flush=True)
    await _fill_sql("ANALYZE")
    return have


async def _best(repeats: int, run: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = await run()
        best = min(best, time.perf_counter() - started)
    return best, result


def _psql(base: str, sql: str) -> None:
    subprocess.run(["psql", f"{base}/postgres", "-q", "-c", sql], check=True, capture_output=True)


async def _measure(
    world: dict[str, Any], *, database_url: str, cutoff: datetime
) -> dict[str, tuple[float, str]]:
    """The three figures on the database as it stands."""
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings, get_settings
    from models.patrol import Round, Zone
    from services.patrol import analysis, reports, track_store
    from services.patrol import jobs as patrol_jobs

    out: dict[str, tuple[float, str]] = {}
    rnd = await Round.get(id=world["measured_round"])
    summary_s, summary = await _best(REPEATS, lambda: analysis.round_summary(round=rnd))
    out["round summary"] = (
        summary_s,
        f"{summary.points:,} points, {summary.distance_m:,.0f} m, "
        f"coverage {summary.coverage_ratio:.3f}, {len(summary.exits)} exits",
    )
    zone = await Zone.get(id=world["measured_zone"])
    report_s, report = await _best(
        REPEATS, lambda: reports.zone_report(zone=zone, day=world["day"])
    )
    out["zone day report"] = (
        report_s,
        f"{report.rounds} rounds, coverage {report.coverage_ratio:.3f}",
    )
    # Retention: each repeat on a fresh copy of the database, so every run is a first run.
    base, dbname = database_url.rsplit("/", 1)
    copy = f"{dbname}_copy"
    job_now = cutoff + timedelta(days=get_settings().retention_days)
    (expired,) = (await _sql("SELECT count(*) FROM patrol_track_point WHERE ts < $1", [cutoff]))[0]
    (total,) = (await _sql("SELECT count(*) FROM patrol_track_point"))[0]
    (directory,) = (await _sql("SHOW data_directory"))[0]
    expired_parts = [p.name for p in await track_store.list_partitions() if p.end <= cutoff]
    floor = await _filesystem_floor(directory, expired_parts)
    await Tortoise.close_connections()
    if "conn" in _FILL:
        await _FILL.pop("conn").close()
    said, left = "", 0
    runs: dict[str, float] = {}
    try:
        # Hot: the copy's files as the copy left them, in the page cache. Cold: evicted from it
        # first, as partitions past the retention period (months old) are in service.
        for cache in ("hot", "cold"):
            if cache == "cold" and not os.access(directory, os.W_OK):
                continue
            best = float("inf")
            for _ in range(REPEATS):
                _psql(base, f'DROP DATABASE IF EXISTS "{copy}"')
                _psql(base, f'CREATE DATABASE "{copy}" TEMPLATE "{dbname}" STRATEGY FILE_COPY')
                if cache == "cold":
                    evicted = _evict_partition_files(base, copy, directory, expired_parts)
                settings = Settings(database_url=f"{base}/{copy}", secret_key=harness.BENCH_SECRET)
                await Tortoise.init(config=db.tortoise_config(settings))
                try:
                    started = time.perf_counter()
                    said = await patrol_jobs.retention_job(job_now)
                    best = min(best, time.perf_counter() - started)
                    said, _, names = said.partition("; dropped partitions ")
                    said += f"; dropped {len(names.split(', ')) if names else 0} partitions"
                    (left,) = (
                        await _sql(
                            "SELECT count(*) FROM patrol_track_point WHERE ts < $1", [cutoff]
                        )
                    )[0]
                finally:
                    await Tortoise.close_connections()
                _psql(base, f'DROP DATABASE "{copy}"')
            runs[cache] = best
    finally:
        settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
        await Tortoise.init(config=db.tortoise_config(settings))
    what = f"{expired:,} of {total:,} points past the cutoff, {left:,} left after: {said}"
    out["retention run"] = (runs["hot"], what)
    if "cold" in runs:
        files, resident = evicted
        cached = "" if resident is None else f", {resident / 2**20:.1f} MB of them cached after"
        out["retention, cold"] = (
            runs["cold"],
            f"the same, the dropped partitions' {files} files first evicted from the cache{cached}",
        )
    if floor is not None:
        out["freeing the bytes"] = floor
    return out


def _evict_partition_files(
    base: str, dbname: str, directory: str, parts: list[str]
) -> tuple[int, int | None]:
    """Drop the files of partitions `parts` of database `dbname` and of their indexes from the
    page cache (every fork and segment). The copy wrote and synced them: clean pages, which
    POSIX_FADV_DONTNEED evicts. The catalogs stay cached, as they are in service."""
    names = ",".join(f"'{name}'" for name in parts)
    listed = subprocess.run(
        [
            "psql",
            f"{base}/{dbname}",
            "-Atq",
            "-c",
            "CHECKPOINT",
            "-c",
            "SELECT pg_relation_filepath(oid) FROM pg_class WHERE relname IN ("
            f"{names}) OR oid IN (SELECT indexrelid FROM pg_index i JOIN pg_class c "
            f"ON c.oid = i.indrelid WHERE c.relname IN ({names}))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    files = []
    for relative in listed:
        path = Path(directory) / relative
        own = re.compile(re.escape(path.name) + r"(\.\d+|_fsm|_vm|_init)?")
        files += [f for f in path.parent.iterdir() if own.fullmatch(f.name)]
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    if len(files) < len(parts):
        raise SystemExit(f"B8: {len(files)} files found for {len(parts)} partitions")
    return len(files), _resident_bytes(files)


def _resident_bytes(files: list[Path]) -> int | None:
    """Bytes of `files` in the page cache (util-linux `fincore`), None without it."""
    if not shutil.which("fincore") or not files:
        return None
    done = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", *map(str, files)],
        check=True,
        capture_output=True,
        text=True,
    )
    return sum(int(line) for line in done.stdout.split())


async def _filesystem_floor(directory: str, parts: list[str]) -> tuple[float, str] | None:
    """What the filesystem under PostgreSQL's data takes to free as many bytes as the retention
    run drops (the main forks of the partitions and their indexes), in as many files, without
    PostgreSQL: written, synced, then timed truncating and unlinking them (as a DROP TABLE does
    at commit). Shown beside the run, not judged: a
    filesystem mounted with `discard` frees blocks in proportion to their number. None when
    the data directory is not on this machine or not writable. `parts`: the partitions the
    run drops."""
    if not parts or not os.access(directory, os.W_OK):
        return None
    sizes = await _sql(
        "SELECT pg_relation_size(r.oid) FROM pg_class r "
        "WHERE r.oid IN (SELECT c.oid FROM pg_class c WHERE c.relname = ANY($1::text[]) UNION "
        "SELECT i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE c.relname = ANY($1::text[]))",
        [parts],
    )
    scratch = Path(directory) / "bench_b8_floor"
    scratch.mkdir(exist_ok=True)
    chunk = os.urandom(1 << 20)
    try:
        files = []
        for n, (size,) in enumerate(sizes):
            path = scratch / f"f{n}"
            with open(path, "wb") as f:
                for _ in range(size >> 20):
                    f.write(chunk)
                f.write(chunk[: size & ((1 << 20) - 1)])
                f.flush()
                os.fsync(f.fileno())
            files.append(path)
        started = time.perf_counter()
        for path in files:
            fd = os.open(path, os.O_RDWR)
            try:
                os.ftruncate(fd, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
            path.unlink()
        seconds = time.perf_counter() - started
    finally:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()
    total = sum(size for (size,) in sizes)
    return seconds, f"{total / 2**20:,.0f} MB in {len(sizes)} files (not PostgreSQL: the floor)"


async def _run(database_url: str, small: int, large: int, days: int, monthly: bool) -> bool:
    from tortoise import Tortoise

    from grassroots import clock, db
    from grassroots.settings import Settings

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    _FILL["url"] = database_url
    try:
        data_end = clock.now().replace(second=0, microsecond=0)
        data_start = data_end - timedelta(days=days)
        # A third of the days past the cutoff, which lies at noon (UTC): the boundary day's
        # points before it are deleted row by row, the days before it dropped whole.
        cutoff = data_start + timedelta(days=days // 3)
        cutoff = cutoff.replace(hour=12, minute=0)
        world = await _setup(data_start=data_start, data_end=data_end, monthly=monthly)
        print(f"partitions: {'monthly' if monthly else 'daily'} before those migration 0009 made")
        figures: dict[int, dict[str, tuple[float, str]]] = {}
        for size in (small, large):
            started = time.perf_counter()
            print(f"filling to {size:,} points over {days} days", flush=True)
            have = await _grow(world, target=size, data_start=data_start, days=days)
            (rounds,) = (await _sql("SELECT count(*) FROM bench_round"))[0]
            print(f"  {have:,} points in {rounds:,} rounds, {time.perf_counter() - started:.0f} s")
            figures[size] = await _measure(world, database_url=database_url, cutoff=cutoff)
            for name, (seconds, what) in figures[size].items():
                print(f"  {name:<16} {seconds * 1000:10.1f} ms   {what}", flush=True)
        ok = True
        print(f"\nB8 at {small:,} and {large:,} points (best of {REPEATS}):")
        for name in figures[small]:
            if name not in figures[large]:
                continue
            small_s, large_s = figures[small][name][0], figures[large][name][0]
            print(f"  {name:<16} {small_s * 1000:10.1f} ms  {large_s * 1000:10.1f} ms")
            if name == "freeing the bytes":
                print(f"  (the filesystem alone, {large_s / small_s:.1f}x: no target)")
                continue
            ok &= harness.verdict(
                f"B8 {name} large/small", large_s / small_s, CEILING, higher_is_better=False
            )
        return ok
    finally:
        await Tortoise.close_connections()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres"], default="postgres")
    parser.add_argument("--small", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument(
        "--monthly", action="store_true", help="the past in monthly partitions (before daily)"
    )
    args = parser.parse_args()
    os.environ.setdefault("GRASSROOTS_SECRET_KEY", harness.BENCH_SECRET)
    database_url = harness.database_url_for(args.db, "scale_b8")
    harness.migrate(database_url)
    ok = asyncio.run(_run(database_url, args.small, args.large, args.days, args.monthly))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
