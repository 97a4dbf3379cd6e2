"""B5: GET /me/caseload (50 clients) and GET /me/tasks, 16 concurrent clients, two API processes.

    python bench/b5_caseload.py [--db postgres|sqlite] [--duration 10] [--workers 2]

Seeds 16 social workers with 50 clients each (visits, so every row has a due date) in four teams,
then drives each endpoint with one connection per worker, and the bare FastAPI endpoint on the
same uvicorn settings as the ceiling. Target: p99 < 50 ms and >= 1,000 req/s on two processes.
The load generator shares the machine's cores with the servers: the figures are conservative.
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

from bench import harness  # noqa: E402

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


def tasks_requests(args: dict[str, Any], n: int):
    """Load factory: connection n asks for worker n's six-ones tasks of this year."""
    headers = {"Authorization": f"Bearer {args['tokens'][n % len(args['tokens'])]}"}
    return lambda _i: ("GET", "/api/v1/me/tasks", headers, b"")


def me_requests(args: dict[str, Any], n: int):
    """Load factory for the reference: GET /me (authentication and one query, nothing else)."""
    headers = {"Authorization": f"Bearer {args['tokens'][n % len(args['tokens'])]}"}
    return lambda _i: ("GET", "/api/v1/me", headers, b"")


def _line(name: str, figures: dict[str, Any]) -> None:
    print(
        f"{name:<22} {figures['rps']:>9,.0f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
        f"p99 {figures['p99_ms']:6.1f} ms  statuses {figures['statuses']}  "
        f"errors {figures['errors'] or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    database_url = harness.database_url_for(args.db, "b5")
    harness.migrate(database_url)
    tokens = asyncio.run(_seed(database_url))
    env = harness.bench_env(database_url)
    print(
        f"B5 on {args.db}, {args.workers} API processes, {args.concurrency} connections, "
        f"{WORKERS} workers x {CLIENTS_PER_WORKER} clients, {args.duration:.0f} s per run"
    )
    results: dict[str, dict[str, Any]] = {}
    with harness.serve(env=env, workers=args.workers) as server:
        for name, factory in [
            ("GET /me/caseload", "bench.b5_caseload:caseload_requests"),
            ("GET /me/tasks", "bench.b5_caseload:tasks_requests"),
        ]:
            results[name] = harness.load(
                url=server.url,
                factory=factory,
                args={"tokens": tokens},
                concurrency=args.concurrency,
                duration_s=args.duration,
            )
            _line(name, results[name])
        # Not a target: the cost every authenticated request pays before any handler runs.
        reference = harness.load(
            url=server.url,
            factory="bench.b5_caseload:me_requests",
            args={"tokens": tokens},
            concurrency=args.concurrency,
            duration_s=args.duration,
        )
        _line("GET /me (reference)", reference)
    bare = harness.ceiling(
        concurrency=args.concurrency, duration_s=args.duration, workers=args.workers
    )
    _line("bare GET (ceiling)", bare)
    ok = True
    for name, figures in results.items():
        if figures["ok"] != figures["requests"] or figures["errors"]:
            print(f"{name}: non-2xx answers or errors: FAIL")
            ok = False
        ok &= harness.verdict(f"{name} req/s", figures["rps"], 1000)
        ok &= harness.verdict(f"{name} p99 ms", figures["p99_ms"], 50, higher_is_better=False)
        print(f"{name}: {figures['rps'] / bare['rps']:.0%} of the bare endpoint's rate")
    print("B5", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
