"""B2: `POST /rounds/{id}/points` in batches of 500, one API process, durable, >= 20,000 points/s.

    python bench/b2_points.py [--db sqlite|postgres|both] [--duration 10] [--concurrency 16]

Each load connection is one patrol member uploading its own round (a fresh point id every time,
times moving forward), against real uvicorn on loopback. The ceiling is the bare FastAPI endpoint
receiving the same 500-point body in the same run. The load generator shares the machine's cores
with the server, so the figures are conservative. After the run the stored rows are counted: every
answered point must be in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

BATCH = 500
TARGET_POINTS_S = 20_000.0
ZONE = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 32.0], [120.87, 32.0], [120.87, 32.008], [120.86, 32.008], [120.86, 32.0]]
    ],
}


async def _prepare(database_url: str, members: int) -> dict[str, Any]:
    """Users, a zone, shifts and one active round per member; returns tokens and round ids."""
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.org import OrgUnit, Role, User
    from models.patrol import Assignment, Round, Zone, ZoneKind
    from services.patrol import zones
    from services.security import issue_access_token

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        unit_id = uuid.uuid4()
        unit = await OrgUnit.create(id=unit_id, name="崇川区", path=f"/{unit_id.hex}/", depth=0)
        geojson, area = zones.validated_area(geojson=ZONE)
        zone = await Zone.create(
            name="濠河",
            kind=ZoneKind.patrol,
            org_unit=unit,
            org_path=unit.path,
            geometry=geojson,
            area_m2=area,
        )
        now = datetime.now(UTC)
        rounds, tokens = [], []
        for n in range(members):
            user = await User.create(
                username=f"bench{n}",
                password_hash="!",
                full_name=f"队员{n}",
                roles_text=User.encode_roles([Role.patrol.value]),
                org_unit=unit,
                org_path=unit.path,
            )
            await Assignment.create(
                zone=zone,
                user=user,
                org_path=unit.path,
                starts_at=now - timedelta(hours=2),
                ends_at=now + timedelta(hours=6),
            )
            rnd = await Round.create(
                user=user,
                zone=zone,
                org_path=unit.path,
                started_at=now - timedelta(hours=1),
                request_hash="bench",
            )
            rounds.append(str(rnd.id))
            tokens.append(issue_access_token(user_id=user.id, settings=settings))
        return {
            "rounds": rounds,
            "tokens": tokens,
            "start_ts": (now - timedelta(minutes=59)).timestamp(),
        }
    finally:
        await Tortoise.close_connections()


async def _count_points(database_url: str) -> int:
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.patrol import TrackPoint

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        return await TrackPoint.all().count()
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
    """Load factory: connection n uploads to round n."""
    token, round_id, start_ts = args["tokens"][n], args["rounds"][n], args["start_ts"]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    path = f"/api/v1/rounds/{round_id}/points"
    return lambda i: ("POST", path, headers, _body(n, i, start_ts))


def run(kind: str, *, duration_s: float, concurrency: int) -> tuple[float, float, bool]:
    """B2 on one database: (points/s, ceiling points/s, pass)."""
    url = harness.database_url_for(kind, "b2")
    harness.migrate(url)
    prepared = asyncio.run(_prepare(url, concurrency))
    with harness.serve(env=harness.bench_env(url)) as server:
        figures = harness.load(
            url=server.url,
            factory="bench.b2_points:points_requests",
            args=prepared,
            concurrency=concurrency,
            duration_s=duration_s,
        )
    stored = asyncio.run(_count_points(url))
    sample = json.loads(_body(0, 0, prepared["start_ts"]))
    ceiling = harness.ceiling(
        method="POST", body=sample, concurrency=concurrency, duration_s=duration_s
    )
    points_s = figures["ok"] / duration_s * BATCH
    ceiling_s = ceiling["ok"] / duration_s * BATCH
    print(
        f"[{kind}] {figures['ok']} batches answered 2xx in {duration_s:.0f} s "
        f"(statuses {figures['statuses']}, errors {figures['errors']}), "
        f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms; "
        f"{stored:,} points stored in total (warm-up included)"
    )
    print(
        f"[{kind}] ceiling: bare FastAPI POST of the same body: {ceiling_s:,.0f} points/s "
        f"({ceiling['rps']:,.1f} req/s); grassroots is {points_s / ceiling_s:.0%} of it"
    )
    durable = stored >= figures["ok"] * BATCH and not figures["errors"]
    if not durable:
        print(f"[{kind}] FAIL: fewer points stored than answered")
    ok = harness.verdict(f"B2 {kind} points/s", points_s, TARGET_POINTS_S)
    return points_s, ceiling_s, ok and durable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.db == "both":
        # One process per database: Tortoise caches SQL per model class with the first dialect.
        codes = [
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--db",
                    kind,
                    "--duration",
                    str(args.duration),
                    "--concurrency",
                    str(args.concurrency),
                ],
                check=False,
            ).returncode
            for kind in ("sqlite", "postgres")
        ]
        print("B2 PASS" if not any(codes) else "B2 FAIL")
        sys.exit(1 if any(codes) else 0)
    ok = run(args.db, duration_s=args.duration, concurrency=args.concurrency)[2]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
