"""B2: `POST /rounds/{id}/points` in batches of 500, one API process, durable, >= 30,000 points/s.

    python bench/b2_points.py [--db sqlite|postgres|both] [--duration 10] [--concurrency 8]
                              [--tuned] [--loadgen auto|wrk|python] [--round-points 150000]

The service runs as the README starts it (`grassroots serve`, worker inside; `--tuned`: the
earlier uvicorn server without worker). First a patrol member uploads the morning's round of
150,000 points through the API; the measured uploads start when the worker begins to judge it.
Each load connection is one more patrol member uploading its own round (fresh point ids, times
moving forward; with wrk one thread per connection, bench/wrk/points.lua). The ceiling is the
bare FastAPI endpoint receiving the same 500-point body in the same run. The load generator
shares the machine's cores with the server, so the figures are conservative. After the run the
stored rows of the measured rounds are counted: every point answered 2xx must be there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, served  # noqa: E402

BATCH = 500
TARGET_POINTS_S = 30_000.0  # issue 15 (DESIGN.md's 20,000 on the tuned server)
ZONE = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 32.0], [120.87, 32.0], [120.87, 32.008], [120.86, 32.008], [120.86, 32.0]]
    ],
}


async def _count_points(database_url: str, rounds: list[str]) -> int:
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.patrol import TrackPoint

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        return await TrackPoint.filter(round_id__in=rounds).count()
    finally:
        await Tortoise.close_connections()


def _body(member: int, request_no: int, start_ts: float) -> bytes:
    """500 fresh points: ids from (member, request, index), times 5 ms apart moving forward."""
    parts = []
    base = request_no * BATCH
    for k in range(BATCH):
        seq = base + k
        ts = datetime.fromtimestamp(start_ts + seq * 0.005, tz=UTC).isoformat()
        lon = 120.861 + (seq % 900) * 0.00001
        parts.append(
            f'{{"id":"{member:08x}-0000-4000-8000-{seq:012x}","ts":"{ts}",'
            f'"lon":{lon:.6f},"lat":32.004,"accuracy_m":8.0,"speed_mps":1.3}}'
        )
    return ('{"points":[' + ",".join(parts) + "]}").encode()


def points_requests(args: dict[str, Any], n: int):
    """Load factory (bench/load.py): connection n uploads to round n."""
    return served.points_requests(args, n)


def run(
    kind: str,
    *,
    duration_s: float,
    concurrency: int,
    tuned: bool,
    loadgen: str,
    round_points: int,
) -> tuple[float, float, bool]:
    """B2 on one database: (points/s, ceiling points/s, pass)."""
    url = harness.database_url_for(kind, "b2")
    harness.migrate(url)
    # Member 0 uploads the morning's round first; members 1.. are the measured load.
    patrol = harness.seed_patrol(url, concurrency + 1)
    load_data = {
        "tokens": patrol["tokens"][1:],
        "rounds": patrol["rounds"][1:],
        "start_ts": patrol["start_ts"],
    }
    how = "tuned uvicorn, no worker" if tuned else "grassroots serve, worker inside"
    print(
        f"[{kind}] B2 POST /rounds/{{id}}/points, batches of {BATCH}, one API process ({how}), "
        f"{concurrency} members uploading, {duration_s:g} s, {served.tool(loadgen)}",
        flush=True,
    )
    answered: list[dict[str, Any]] = []

    def upload(seconds: float) -> dict[str, Any]:
        figures = served.run_load(
            server.url,
            "points",
            load_data,
            connections=concurrency,
            duration_s=seconds,
            loadgen=loadgen,
        )
        answered.append(figures)
        return figures

    with harness.serve_service(url, tuned=tuned) as server:
        figures, activity = served.measure_after_morning_round(
            server,
            url,
            patrol,
            tuned=tuned,
            warm_up=lambda: upload(1.0),
            measure=lambda: upload(duration_s),
            round_points=round_points,
        )
    stored = asyncio.run(_count_points(url, load_data["rounds"]))
    answered_points = sum(f["ok"] for f in answered) * BATCH
    sample = json.loads(_body(0, 0, patrol["start_ts"]))
    ceiling = served.ceiling(
        "bare_post",
        {"body": sample},
        connections=concurrency,
        duration_s=duration_s,
        loadgen=loadgen,
    )
    points_s = figures["ok_per_s"] * BATCH
    ceiling_s = ceiling["ok_per_s"] * BATCH
    print(served.line(f"[{kind}] points batches", figures))
    print(served.line(f"[{kind}] bare POST (ceiling)", ceiling))
    print(
        f"[{kind}] {points_s:,.0f} points/s; the bare POST of the same body: "
        f"{ceiling_s:,.0f} points/s; grassroots is {points_s / ceiling_s:.0%} of it"
    )
    print(
        f"[{kind}] stored: {stored:,} points of the measured members' rounds, answered 2xx: "
        f"{answered_points:,} (warm-up included)"
    )
    durable = stored >= answered_points and not figures["errors"] and not figures["non_2xx"]
    ok = harness.verdict(f"B2 {kind} points/s", points_s, TARGET_POINTS_S)
    print(f"B2 {kind} every 2xx point stored, no error: {'PASS' if durable else 'FAIL'}")
    if activity is not None:
        print(f"B2 {kind} measured while the worker judged the round: {activity.judged_during}")
    return points_s, ceiling_s, ok and durable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    served.add_served_arguments(parser)
    args = parser.parse_args()
    if args.db == "both":
        # One process per database: Tortoise caches SQL per model class with the first dialect.
        forwarded = [
            "--duration",
            str(args.duration),
            "--concurrency",
            str(args.concurrency),
            "--loadgen",
            args.loadgen,
            "--round-points",
            str(args.round_points),
            *(["--tuned"] if args.tuned else []),
        ]
        codes = [
            subprocess.run(
                [sys.executable, __file__, "--db", kind, *forwarded], check=False
            ).returncode
            for kind in ("sqlite", "postgres")
        ]
        print("B2 PASS" if not any(codes) else "B2 FAIL")
        sys.exit(1 if any(codes) else 0)
    ok = run(
        args.db,
        duration_s=args.duration,
        concurrency=args.concurrency,
        tuned=args.tuned,
        loadgen=args.loadgen,
        round_points=args.round_points,
    )[2]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
