"""B3: `POST /me/checkins` from 32 concurrent subjects, one API process, while the worker judges.

    python bench/b3_checkins.py [--db sqlite|postgres] [--duration 10] [--concurrency 32]
                                [--tuned] [--loadgen auto|wrk|python]

The service runs as the README starts it (`grassroots serve`, worker inside; `--tuned`: the
earlier uvicorn server without worker). Before the measurement a patrol round of 150,000 points
is uploaded through the API and the check-ins start just before the worker's zone-exit job is
due, so the job judges that round while they run (bench/harness.py: morning_round).
Targets (issue 15): >= 1,500 check-ins/s with p99 < 50 ms, every answer 2xx; the bare FastAPI
POST's rate is measured in the same run for the ratio. wrk (or bench/load.py) shares the
machine's cores with the server.

Every check-in is a location check-in judged against the subject's permitted area (a polygon of
about 2 km across, cached prepared in the server), stored with its audit entry in one transaction.
The area is a patrol Zone of kind permitted_area.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, served  # noqa: E402

AREA = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 31.98], [120.90, 31.98], [120.90, 32.02], [120.86, 32.02], [120.86, 31.98]]
    ],
}


def seed(database_url: str, subjects: int) -> dict[str, Any]:
    """An office, an officer and `subjects` subjects under supervision; returns tokens and area."""
    return asyncio.run(_seed(database_url, subjects))


async def _seed(database_url: str, subjects: int) -> dict[str, Any]:
    """An office, an officer and `subjects` subjects under supervision; returns tokens and area."""
    from tortoise import Tortoise

    from geo.measure import area_m2
    from geo.validation import parse_area
    from grassroots import db
    from grassroots.settings import Settings
    from models.correction import Level, Supervision
    from models.org import OrgUnit, Role, User
    from models.patrol import Zone
    from services.correction.levels import rules_for_org_path
    from services.security import issue_access_token

    settings = Settings(database_url=database_url, secret_key=harness.BENCH_SECRET)
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        root_id = uuid.uuid4()
        root = await OrgUnit.create(id=root_id, name="崇川区", path=f"/{root_id.hex}/", depth=0)
        office_id = uuid.uuid4()
        office = await OrgUnit.create(
            id=office_id,
            name="和平桥街道",
            parent=root,
            path=f"{root.path}{office_id.hex}/",
            depth=1,
        )
        officer = await User.create(
            username="b3officer",
            password_hash="!",
            full_name="孙涛",
            roles_text=User.encode_roles([Role.officer.value]),
            org_unit=office,
            org_path=office.path,
        )
        zone_id = uuid.uuid4()
        await Zone.create(
            id=zone_id,
            name="活动范围",
            kind="permitted_area",
            org_unit=office,
            org_path=office.path,
            geometry=AREA,
            area_m2=area_m2(geom=parse_area(geojson=AREA)),
        )
        rules = await rules_for_org_path(org_path=office.path)
        yesterday = datetime.now(ZoneInfo(settings.timezone)).date() - timedelta(days=1)
        tokens = []
        for n in range(subjects):
            subject = await User.create(
                username=f"b3subject{n}",
                password_hash="!",
                full_name=f"对象{n}",
                roles_text=User.encode_roles([Role.subject.value]),
                org_unit=office,
                org_path=office.path,
            )
            await Supervision.create(
                client_id=uuid.uuid4(),
                subject=subject,
                officer=officer,
                permitted_zone_id=zone_id,
                level=Level.strict,
                level_history=[
                    {
                        "decided_on": "2020-01-01",
                        "level": "strict",
                        "decided_at": "2020-01-01T00:00:00Z",
                        "decided_by": str(officer.id),
                    }
                ],
                rules=rules,
                starts_on=date(2020, 1, 1),
                ends_on=date(2099, 12, 31),
                # A running deployment: the worker closed every interval up to yesterday.
                closed_through=yesterday,
                org_unit=office,
                org_path=office.path,
            )
            tokens.append(issue_access_token(user_id=subject.id, settings=settings))
    finally:
        await Tortoise.close_connections()
    return {"tokens": tokens, "zone_id": str(zone_id), "org_path": office.path}


def requests(args: dict[str, Any], n: int) -> Any:
    """Load factory: connection n checks in as subject n, inside the area, a new id each time."""
    token = args["tokens"][n % len(args["tokens"])]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    rng = random.Random(n)

    def next_request(_i: int) -> tuple[str, str, dict[str, str], bytes]:
        body = {
            "id": str(uuid.uuid4()),
            "kind": "location",
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "lon": 120.87 + rng.random() * 0.02,
            "lat": 31.99 + rng.random() * 0.02,
            "accuracy_m": 15.0,
        }
        return "POST", "/api/v1/me/checkins", headers, json.dumps(body).encode()

    return next_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    served.add_served_arguments(parser)
    args = parser.parse_args()

    database_url = harness.database_url_for(args.db, "b3")
    harness.migrate(database_url)
    seeded = seed(database_url, args.concurrency)
    patrol = harness.seed_patrol(database_url, 1)
    data = {"tokens": seeded["tokens"]}

    def checkins(duration_s: float) -> dict[str, Any]:
        return served.run_load(
            server.url,
            "checkins",
            data,
            connections=args.concurrency,
            duration_s=duration_s,
            loadgen=args.loadgen,
        )

    how = "tuned uvicorn, no worker" if args.tuned else "grassroots serve, worker inside"
    print(
        f"B3 POST /me/checkins, {args.db}, one API process ({how}), {args.concurrency} "
        f"concurrent subjects, {args.duration:g} s, {served.tool(args.loadgen)} "
        "(load generator on the same cores)",
        flush=True,
    )
    with harness.serve_service(database_url, tuned=args.tuned) as server:
        figures, activity = served.measure_after_morning_round(
            server,
            database_url,
            patrol,
            tuned=args.tuned,
            warm_up=lambda: checkins(1.0),
            measure=lambda: checkins(args.duration),
            round_points=args.round_points,
        )
    sample = {
        "id": str(uuid.uuid4()),
        "kind": "location",
        "occurred_at": "2026-01-01T00:00:00Z",
        "lon": 120.88,
        "lat": 32.0,
        "accuracy_m": 15.0,
    }
    bare = served.ceiling(
        "bare_post",
        {"body": sample},
        connections=args.concurrency,
        duration_s=args.duration,
        loadgen=args.loadgen,
    )
    print(served.line("check-ins", figures))
    print(served.line("bare POST (ceiling)", bare))
    print(f"check-ins are {figures['rps'] / bare['rps']:.1%} of the bare POST's rate")
    ok = served.verdicts("B3", figures, rate=("check-ins per second", 1500), activity=activity)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
