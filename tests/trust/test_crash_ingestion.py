"""Faults against real uvicorn and a real database: a SIGKILL in the middle of point ingestion,
and the same batch replayed concurrently from several connections.

Every point answered 2xx must be stored after the restart, none twice; a replayed batch is stored
once whatever the interleaving.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.side_db import side_database

ROOT = Path(__file__).resolve().parents[2]
SECRET = "crash-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

SEED = """
import asyncio, json, uuid
from datetime import UTC, datetime, timedelta
from tortoise import Tortoise
from geo.measure import area_m2
from geo.validation import parse_area
from grassroots import db
from grassroots.settings import get_settings
from models.org import OrgUnit, Role, User
from models.patrol import Assignment, Zone
from services.security import issue_access_token

SQUARE = {"type": "Polygon", "coordinates": [[[120.86, 31.99], [120.90, 31.99], [120.90, 32.03],
          [120.86, 32.03], [120.86, 31.99]]]}

async def main():
    s = get_settings()
    await Tortoise.init(config=db.tortoise_config(s))
    uid = uuid.uuid4()
    unit = await OrgUnit.create(id=uid, name="崇川区", path=f"/{uid.hex}/")
    member = await User.create(username="crash_patrol", password_hash="!", full_name="李强",
        roles_text=User.encode_roles([Role.patrol.value]), org_unit=unit, org_path=unit.path)
    zone = await Zone.create(name="濠河", kind="patrol", org_unit=unit, org_path=unit.path,
        geometry=SQUARE, area_m2=area_m2(geom=parse_area(geojson=SQUARE)))
    now = datetime.now(UTC)
    await Assignment.create(zone=zone, user=member, org_path=unit.path,
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=8))
    print(json.dumps({"token": issue_access_token(user_id=member.id, settings=s),
                      "zone_id": str(zone.id)}))
    await Tortoise.close_connections()

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def database(tmp_path):
    with side_database("crash", tmp_path) as url:
        yield url


def _env(url: str) -> dict[str, str]:
    return dict(os.environ) | {
        "GRASSROOTS_DATABASE_URL": url,
        "GRASSROOTS_SECRET_KEY": SECRET,
        "GRASSROOTS_INPROCESS_WORKER": "0",
        "GRASSROOTS_LOG_LEVEL": "WARNING",
    }


def _start(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=_env(url),
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.1)


@pytest.fixture
def seeded(database):
    subprocess.run(
        [sys.executable, "-m", "grassroots.cli", "migrate"],
        cwd=ROOT,
        env=_env(database),
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = subprocess.run(
        [sys.executable, "-c", SEED],
        cwd=ROOT,
        env=_env(database),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return database, json.loads(out.stdout.strip().splitlines()[-1])


def _batch(start: datetime, n: int, offset: int) -> list[dict]:
    return [
        {
            "id": str(uuid.uuid4()),
            "ts": (start + timedelta(seconds=offset + i)).isoformat(),
            "lon": 120.87 + (offset + i) * 1e-6,
            "lat": 32.0,
            "accuracy_m": 10.0,
        }
        for i in range(n)
    ]


def test_sigkill_mid_ingestion_loses_no_acknowledged_point(seeded, tmp_path):
    from tests.conftest import SERVER_LOGS

    database, seed = seeded
    log = tmp_path / "server.log"
    SERVER_LOGS.append(log)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {seed['token']}"}
    server = _start(database, port, log)
    started = datetime.now(UTC) - timedelta(minutes=30)
    round_id = str(uuid.uuid4())
    acknowledged: set[str] = set()
    sent_batches: list[list[dict]] = []

    async def ingest() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as c:
            r = await c.post(
                "/api/v1/rounds",
                json={
                    "id": round_id,
                    "zone_id": seed["zone_id"],
                    "started_at": started.isoformat(),
                },
            )
            assert r.status_code == 201, r.text

            async def sender(worker: int) -> None:
                for k in range(200):
                    batch = _batch(started, 50, (worker * 200 + k) * 50 % 1500)
                    sent_batches.append(batch)
                    try:
                        r = await c.post(
                            f"/api/v1/rounds/{round_id}/points", json={"points": batch}
                        )
                    except httpx.HTTPError:
                        return  # the server died under us: this batch was never acknowledged
                    if r.status_code == 200:
                        acknowledged.update(p["id"] for p in batch)

            tasks = [asyncio.create_task(sender(w)) for w in range(4)]
            await asyncio.sleep(1.5)
            server.send_signal(signal.SIGKILL)  # no shutdown, no flush: a crash
            await asyncio.gather(*tasks)

    asyncio.run(ingest())
    server.wait(timeout=10)
    assert len(acknowledged) > 0, "nothing was acknowledged before the kill"
    server = _start(database, port, log)
    try:

        async def check() -> tuple[int, set[str]]:
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
                summary = (await c.get(f"/api/v1/rounds/{round_id}")).json()
                track = (await c.get(f"/api/v1/rounds/{round_id}/track")).json()
            return summary["points"], set(track["properties"]["point_ids"])

        count, stored = asyncio.run(check())
        assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged points lost"
        assert count == len(stored), "a point was stored twice"

        # A phone retrying everything after the crash changes nothing already stored.
        async def replay() -> None:
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
                for batch in sent_batches[:20]:
                    r = await c.post(f"/api/v1/rounds/{round_id}/points", json={"points": batch})
                    assert r.status_code == 200

        asyncio.run(replay())
        count_after, stored_after = asyncio.run(check())
        assert stored <= stored_after and count_after == len(stored_after)
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_same_batch_replayed_concurrently_is_stored_once(seeded, tmp_path):
    from tests.conftest import SERVER_LOGS

    database, seed = seeded
    log = tmp_path / "server.log"
    SERVER_LOGS.append(log)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {seed['token']}"}
    server = _start(database, port, log)
    try:
        started = datetime.now(UTC) - timedelta(minutes=10)
        round_id = str(uuid.uuid4())
        batch = _batch(started, 200, 0)

        async def run() -> tuple[list[dict], int]:
            clients = [
                httpx.AsyncClient(base_url=base, headers=headers, timeout=30) for _ in range(6)
            ]
            try:
                r = await clients[0].post(
                    "/api/v1/rounds",
                    json={
                        "id": round_id,
                        "zone_id": seed["zone_id"],
                        "started_at": started.isoformat(),
                    },
                )
                assert r.status_code == 201
                answers = await asyncio.gather(
                    *[
                        c.post(f"/api/v1/rounds/{round_id}/points", json={"points": batch})
                        for c in clients
                        for _ in range(2)
                    ]
                )
                assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
                summary = (await clients[0].get(f"/api/v1/rounds/{round_id}")).json()
                return [a.json() for a in answers], summary["points"]
            finally:
                for c in clients:
                    await c.aclose()

        bodies, stored = asyncio.run(run())
        assert stored == 200
        assert sum(b["accepted"] for b in bodies) == 200
        assert all(b["accepted"] + b["duplicates"] == 200 for b in bodies)
    finally:
        server.terminate()
        server.wait(timeout=15)
