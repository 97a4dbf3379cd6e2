"""B3: `POST /me/checkins` from 32 concurrent subjects over real uvicorn, one API process.

    python bench/b3_checkins.py [--db sqlite|postgres] [--duration 10] [--concurrency 32]

Targets (DESIGN.md): >= 1,500 check-ins/s, p99 < 50 ms, and >= 25 % of a bare FastAPI POST's
rate measured in the same run. The load generator shares the machine's cores with the server.

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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

AREA = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 31.98], [120.90, 31.98], [120.90, 32.02], [120.86, 32.02], [120.86, 31.98]]
    ],
}


async def seed(database_url: str, subjects: int) -> dict[str, Any]:
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    database_url = harness.database_url_for(args.db, "b3")
    harness.migrate(database_url)
    seeded = asyncio.run(seed(database_url, args.concurrency))
    env = harness.bench_env(database_url)
    with harness.serve(env=env) as server:
        figures = harness.load(
            url=server.url,
            factory="bench.b3_checkins:requests",
            args={"tokens": seeded["tokens"]},
            concurrency=args.concurrency,
            duration_s=args.duration,
        )
    sample = {
        "id": str(uuid.uuid4()),
        "kind": "location",
        "occurred_at": "2026-01-01T00:00:00Z",
        "lon": 120.88,
        "lat": 32.0,
        "accuracy_m": 15.0,
    }
    bare = harness.ceiling(
        method="POST", body=sample, concurrency=args.concurrency, duration_s=args.duration
    )
    print(
        f"B3 POST /me/checkins, {args.db}, one API process, {args.concurrency} concurrent "
        f"subjects, {args.duration:g} s (load generator on the same cores)"
    )
    print(
        f"  check-ins: {figures['rps']:,.0f}/s, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, statuses {figures['statuses']}, "
        f"errors {figures['errors']}"
    )
    print(f"  bare POST ceiling: {bare['rps']:,.0f}/s, p99 {bare['p99_ms']:.1f} ms")
    non_2xx = figures["requests"] - figures["ok"]
    ok = all(
        [
            harness.verdict("check-ins per second", figures["rps"], 1500),
            harness.verdict("p99 ms", figures["p99_ms"], 50, higher_is_better=False),
            harness.verdict("percent of bare POST", 100 * figures["rps"] / max(bare["rps"], 1), 25),
            harness.verdict("non-2xx answers", non_2xx, 0, higher_is_better=False),
        ]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
