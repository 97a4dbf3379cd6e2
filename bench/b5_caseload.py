"""B5: GET /me/caseload (50 clients), 16 concurrent clients, one API process, worker inside.

    python bench/b5_caseload.py [--db postgres|sqlite] [--duration 10] [--workers 1]
                                [--tuned] [--loadgen auto|wrk|python] [--round-points 150000]

Seeds 16 social workers with 50 clients each (visits, so every row has a due date) in four teams.
The service runs as the README starts it (`grassroots serve`, worker inside; `--tuned`: the
earlier uvicorn server without worker). A patrol round of 150,000 points is uploaded through the
API first and the caseload reads start when the worker begins to judge it; then, as references,
GET /me/tasks and GET /me, and the bare FastAPI endpoint on the same uvicorn settings as the
ceiling. Target (issue 15): >= 1,000 caseload reads/s with p99 < 50 ms on one process. The load
generator shares the machine's cores with the servers: the figures are conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, served  # noqa: E402

WORKERS = 16
CLIENTS_PER_WORKER = 50
TEAM_SIZE = 4


async def _seed(database_url: str) -> list[str]:
    """Workers, clients, visits and teams; returns one access token per worker."""
    from pydantic import SecretStr
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.settings import Settings
    from models.org import OrgUnit, Role, Team, TeamMember, User
    from models.social import Client, ClientCategory, RiskLevel, Visit, VisitKind
    from services.security import issue_access_token
    from services.social.cadence import visit_due_on

    settings = Settings(database_url=database_url, secret_key=SecretStr(harness.BENCH_SECRET))
    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        unit_id = uuid.uuid4()
        unit = await OrgUnit.create(id=unit_id, name="和平桥街道", path=f"/{unit_id.hex}/", depth=0)
        now = datetime.now(UTC)
        categories = list(ClientCategory)
        risks = list(RiskLevel)
        workers: list[User] = []
        clients: list[Client] = []
        visits: list[Visit] = []
        for w in range(WORKERS):
            worker = await User.create(
                username=f"bench_worker{w}",
                password_hash="!",
                full_name=f"社工{w}",
                roles_text=User.encode_roles([Role.social_worker.value]),
                org_unit=unit,
                org_path=unit.path,
            )
            workers.append(worker)
            for c in range(CLIENTS_PER_WORKER):
                risk = risks[c % 3]
                last = now - timedelta(days=c % 40, hours=c)
                client_id = uuid.uuid4()
                clients.append(
                    Client(
                        id=client_id,
                        full_name=f"对象{w}-{c}",
                        category=categories[c % 4],
                        phone="13905131234",
                        address="崇川区和平桥街道濠西路 12 号",
                        home_lon=120.865,
                        home_lat=32.011,
                        risk_level=risk,
                        org_unit_id=unit.id,
                        org_path=unit.path,
                        social_worker_id=worker.id,
                        assigned_at=now - timedelta(days=90),
                        last_visit_at=last,
                        visit_due_on=visit_due_on(
                            risk_level=risk, last_visit_at=last, assigned_at=None, tz=settings.tz
                        ),
                        id_number_masked="3206**********1234",
                    )
                )
                visits.append(
                    Visit(
                        id=uuid.uuid4(),
                        client_id=client_id,
                        recorded_by_id=worker.id,
                        kind=VisitKind.home,
                        occurred_at=last,
                        notes="",
                        request_hash="bench",
                    )
                )
        await Client.bulk_create(clients, batch_size=500)
        await Visit.bulk_create(visits, batch_size=500)
        for t in range(WORKERS // TEAM_SIZE):
            members = workers[t * TEAM_SIZE : (t + 1) * TEAM_SIZE]
            team = await Team.create(
                name=f"社工站{t}",
                org_unit=unit,
                org_path=unit.path,
                lead=members[0],
                anchor_month=date(now.year, 1, 1),
            )
            await TeamMember.bulk_create([TeamMember(team=team, user=m) for m in members])
        return [issue_access_token(user_id=w.id, settings=settings) for w in workers]
    finally:
        await Tortoise.close_connections()


def caseload_requests(args: dict[str, Any], n: int):
    """Load factory: connection n asks for worker n's caseload."""
    headers = {"Authorization": f"Bearer {args['tokens'][n % len(args['tokens'])]}"}
    return lambda _i: ("GET", "/api/v1/me/caseload", headers, b"")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="API processes")
    parser.add_argument("--concurrency", type=int, default=16)
    served.add_served_arguments(parser)
    args = parser.parse_args()

    database_url = harness.database_url_for(args.db, "b5")
    harness.migrate(database_url)
    tokens = asyncio.run(_seed(database_url))
    patrol = harness.seed_patrol(database_url, 1)
    how = "tuned uvicorn, no worker" if args.tuned else "grassroots serve, worker inside"
    print(
        f"B5 on {args.db}, {args.workers} API process(es) ({how}), {args.concurrency} "
        f"connections, {WORKERS} workers x {CLIENTS_PER_WORKER} clients, {args.duration:g} s "
        f"per run, {served.tool(args.loadgen)}",
        flush=True,
    )

    def get(path: str, seconds: float) -> dict[str, Any]:
        return served.run_load(
            server.url,
            "get",
            {"tokens": tokens, "path": path},
            connections=args.concurrency,
            duration_s=seconds,
            loadgen=args.loadgen,
        )

    with harness.serve_service(database_url, tuned=args.tuned, workers=args.workers) as server:
        caseload, activity = served.measure_after_morning_round(
            server,
            database_url,
            patrol,
            tuned=args.tuned,
            warm_up=lambda: [get(p, 1.0) for p in ("/api/v1/me/caseload", "/api/v1/me/tasks")],
            measure=lambda: get("/api/v1/me/caseload", args.duration),
            round_points=args.round_points,
        )
        # Not targets of issue 15, measured after the judgement: the six-ones tasks, and the
        # cost every authenticated request pays before any handler runs (GET /me).
        tasks = get("/api/v1/me/tasks", args.duration)
        reference = get("/api/v1/me", args.duration)
    bare = served.ceiling(
        "bare_get",
        connections=args.concurrency,
        duration_s=args.duration,
        loadgen=args.loadgen,
        workers=args.workers,
    )
    print(served.line("GET /me/caseload", caseload))
    print(served.line("GET /me/tasks (after)", tasks))
    print(served.line("GET /me (reference)", reference))
    print(served.line("bare GET (ceiling)", bare))
    print(f"caseload reads are {caseload['rps'] / bare['rps']:.0%} of the bare GET's rate")
    ok = served.verdicts("B5", caseload, rate=("caseload reads/s", 1000), activity=activity)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
