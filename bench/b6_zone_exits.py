"""B6: a zone-exit run after 500 new points costs the same on a 10,000- and a 1,000,000-point round.

    python bench/b6_zone_exits.py [--db sqlite|postgres] [--small 10000] [--large 1000000]

In process, against a real database migrated by the command line. Two active rounds in one zone:
a point a second walking laps inside the zone, with an excursion ~100 m out for two minutes
every hour (zone exits to judge and alert). Both tracks are stored, then judged once whole (not
timed). Then, five times for each round in turn, 500 new points arrive through the upload path
(`services.patrol.points.add_points`) and one run of the `patrol.zone_exits` job is timed. The
figure is the ratio of the medians, large over small; the ceiling is 2x. The job shares the
machine's cores with everything else running on it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

NEW_POINTS = 500
RUNS = 5
CEILING = 2.0
ZONE = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 32.0], [120.87, 32.0], [120.87, 32.008], [120.86, 32.008], [120.86, 32.0]]
    ],
}
CENTRE = (120.865, 32.004)


def position(i: int) -> tuple[float, float]:
    """Point i of the walk: a lap every 10 minutes, two minutes ~100 m outside every hour."""
    angle = i / 600 * 2 * math.pi
    reach = 0.0075 if (i + 60) % 3600 < 120 else 0.004
    return CENTRE[0] + reach * math.cos(angle), CENTRE[1] + reach * 0.8 * math.sin(angle)


async def _past_partitions(since: datetime) -> None:
    """On PostgreSQL, a partition a day from `since` up to those the migrations made."""
    from tortoise import connections

    from models.patrol import day_start, track_day_partition_sql
    from services.patrol import track_store

    if not await track_store.is_partitioned():
        return
    first_made = (await track_store.list_partitions())[0].start
    day = day_start(since)
    while day < first_made:
        await connections.get("default").execute_script(track_day_partition_sql(day))
        day += timedelta(days=1)


async def _setup(points_per_round: list[int]) -> list[tuple[uuid.UUID, datetime, int]]:
    """A zone, a member and one round per size with its whole track stored."""
    from tortoise import connections
    from tortoise.transactions import in_transaction

    from models.org import Role
    from models.patrol import Round
    from services.patrol import points

    unit = await harness.root_unit()
    zone = await harness.patrol_zone(unit, geojson=ZONE)
    user = await harness.unit_user(unit, username="bench", full_name="队员", role=Role.patrol.value)
    now = datetime.now(UTC)
    await _past_partitions(now - timedelta(seconds=max(points_per_round) + NEW_POINTS * RUNS + 600))
    out = []
    for n in points_per_round:
        started_at = now - timedelta(seconds=n + NEW_POINTS * RUNS + 600)
        rnd = await Round.create(
            user=user, zone=zone, org_path=unit.path, started_at=started_at, request_hash="b6"
        )
        chunk = 3000
        for first in range(0, n, chunk):
            batch = []
            for i in range(first, min(n, first + chunk)):
                lon, lat = position(i)
                batch.append(
                    points.PointInput(
                        id=uuid.uuid4(),
                        ts=started_at + timedelta(seconds=i),
                        lon=lon,
                        lat=lat,
                        accuracy_m=8.0,
                    )
                )
            async with in_transaction() as conn:
                await points._insert_points(
                    conn,
                    points.PointBatch.of(batch),
                    round_id=rnd.id,
                    in_zone=[True] * len(batch),
                    received_at=now,
                )
        await Round.filter(id=rnd.id).update(
            points_count=n, track_changed_at=now, track_dirty_from=started_at
        )
        out.append((rnd.id, started_at, n))
    assert connections.get("default") is not None
    return out


async def _run(database_url: str, small: int, large: int) -> bool:
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.patrol import Round
    from services.patrol import jobs as patrol_jobs
    from services.patrol import points

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        started = time.perf_counter()
        rounds = await _setup([small, large])
        print(f"stored {small:,} + {large:,} points in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        first = await patrol_jobs.zone_exit_job(datetime.now(UTC))
        print(
            f"first judgement of both whole tracks (not timed): {first}, "
            f"{time.perf_counter() - started:.1f} s"
        )
        timings: dict[int, list[float]] = {small: [], large: []}
        judged_upto = {round_id: n for round_id, _, n in rounds}
        for _ in range(RUNS):
            for round_id, started_at, n in rounds:
                rnd = await Round.get(id=round_id).select_related("zone")
                base = judged_upto[round_id]
                batch = []
                for i in range(base, base + NEW_POINTS):
                    lon, lat = position(i)
                    batch.append(
                        points.PointInput(
                            id=uuid.uuid4(),
                            ts=started_at + timedelta(seconds=i),
                            lon=lon,
                            lat=lat,
                            accuracy_m=8.0,
                        )
                    )
                result = await points.add_points(
                    round=rnd, points=points.PointBatch.of(batch), now=datetime.now(UTC)
                )
                assert result.accepted == NEW_POINTS, result
                judged_upto[round_id] = base + NEW_POINTS
                t0 = time.perf_counter()
                summary = await patrol_jobs.zone_exit_job(datetime.now(UTC))
                timings[n].append(time.perf_counter() - t0)
                assert "judged 1 rounds" in summary, summary
        small_s = statistics.median(timings[small])
        large_s = statistics.median(timings[large])
        ratio = large_s / small_s
        print(f"runs of {NEW_POINTS} new points, median of {RUNS}:")
        print(
            f"  {small:>9,}-point round: {small_s * 1000:8.1f} ms  "
            f"(all: {', '.join(f'{t * 1000:.0f}' for t in timings[small])} ms)"
        )
        print(
            f"  {large:>9,}-point round: {large_s * 1000:8.1f} ms  "
            f"(all: {', '.join(f'{t * 1000:.0f}' for t in timings[large])} ms)"
        )
        return harness.verdict("B6 large/small run cost", ratio, CEILING, higher_is_better=False)
    finally:
        await Tortoise.close_connections()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    args = parser.parse_args()
    database_url = harness.database_url_for(args.db, "b6")
    harness.migrate(database_url)
    ok = asyncio.run(_run(database_url, args.small, args.large))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
