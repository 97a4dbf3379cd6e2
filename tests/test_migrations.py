"""The committed migrations build exactly the schema the models describe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = "postgres://postgres@127.0.0.1:5432"

DUMP = """
import asyncio, json, sys
from tortoise import Tortoise, connections
from grassroots import db
from grassroots.settings import get_settings

async def main(mode):
    settings = get_settings()
    if mode == "migrate":
        await db.migrate(settings)
        await Tortoise.init(config=db.tortoise_config(settings))
    else:
        await Tortoise.init(config=db.tortoise_config(settings))
        await Tortoise.generate_schemas()
        if db.dialect() == "postgres":  # as migration 0009 leaves it
            from grassroots import clock
            from models.patrol import month_start, track_partitioning_sql
            month = month_start(clock.now())
            await connections.get("default").execute_script(
                track_partitioning_sql(first_month=month, last_month=month))
    conn = connections.get("default")
    if db.dialect() == "sqlite":
        tables = [r["name"] for r in await conn.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'tortoise_%' ORDER BY name")]
        schema = {}
        for t in tables:
            cols = await conn.execute_query_dict(f'PRAGMA table_info("{t}")')
            idx = await conn.execute_query_dict(f'PRAGMA index_list("{t}")')
            fks = await conn.execute_query_dict(f'PRAGMA foreign_key_list("{t}")')
            unique = []
            for i in idx:
                if i["unique"]:
                    info = await conn.execute_query_dict(f'PRAGMA index_info("{i["name"]}")')
                    unique.append(sorted(r["name"] for r in info))
            schema[t] = {
                "columns": sorted((c["name"], c["type"].upper(), c["notnull"], c["pk"]) for c in cols),
                "unique": sorted(unique),
                "fks": sorted((f["from"], f["table"], f["to"]) for f in fks),
            }
    else:
        rows = await conn.execute_query_dict(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema='public' AND table_name NOT LIKE 'tortoise_%' "
            "AND table_name NOT LIKE 'patrol_track_point_p%' ORDER BY 1, 2")
        schema = {}
        for r in rows:
            schema.setdefault(r["table_name"], []).append([r["column_name"], r["data_type"], r["is_nullable"]])
        cons = await conn.execute_query_dict(
            "SELECT tc.table_name, tc.constraint_type, string_agg(kcu.column_name, ',' ORDER BY kcu.column_name) AS cols "
            "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu "
            "ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema "
            # partitions inherit their parent's constraint names: match the table too
            "AND tc.table_name = kcu.table_name "
            "WHERE tc.table_schema='public' AND tc.table_name NOT LIKE 'tortoise_%' "
            "AND tc.table_name NOT LIKE 'patrol_track_point_p%' "
            "GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type")
        schema["__constraints__"] = sorted([c["table_name"], c["constraint_type"], c["cols"]] for c in cons)
    await Tortoise.close_connections()
    print(json.dumps(schema, sort_keys=True))

asyncio.run(main(sys.argv[1]))
"""


def _run_script(script: str, url: str, *args: str) -> str:
    """Run a script in a fresh interpreter against the database at `url`; its standard output."""
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=dict(os.environ) | {"GRASSROOTS_DATABASE_URL": url},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _dump(url: str, mode: str) -> str:
    return _run_script(DUMP, url, mode)


def _fresh_pg(name: str) -> str:
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(
            ["psql", f"{PG_BASE}/postgres", "-q", "-c", sql], check=True, capture_output=True
        )
    return f"{PG_BASE}/{name}"


def test_sqlite_migrations_equal_generated_schema(tmp_path):
    migrated = _dump(f"sqlite://{tmp_path / 'migrated.db'}", "migrate")
    generated = _dump(f"sqlite://{tmp_path / 'generated.db'}", "generate")
    assert migrated == generated


@pytest.mark.skipif(
    not os.environ.get("GRASSROOTS_TEST_DATABASE_URL"), reason="PostgreSQL run only"
)
def test_postgres_migrations_equal_generated_schema():
    migrated = _dump(_fresh_pg("gr_migrated_check"), "migrate")
    generated = _dump(_fresh_pg("gr_generated_check"), "generate")
    assert migrated == generated


def test_migrating_twice_is_a_no_op(tmp_path):
    url = f"sqlite://{tmp_path / 'twice.db'}"
    first = _dump(url, "migrate")
    assert _dump(url, "migrate") == first


UPGRADE = """
import asyncio, uuid
from datetime import datetime, timezone
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate
from grassroots import db
from grassroots.settings import get_settings

async def main():
    config = db.tortoise_config(get_settings())
    await migrate(config=config, target="models.0003_social")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    conn = connections.get("default")
    pg = db.dialect() == "postgres"
    marks = lambda n: ", ".join(f"${i + 1}" for i in range(n)) if pg else ", ".join("?" * n)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    at = at if pg else at.isoformat()
    unit, client = (uuid.uuid4(), uuid.uuid4()) if pg else (str(uuid.uuid4()), str(uuid.uuid4()))
    await conn.execute_query(
        f"INSERT INTO org_unit (id, created_at, updated_at, name, path, depth) VALUES ({marks(6)})",
        [unit, at, at, "u", "/u/", 0])
    await conn.execute_query(
        "INSERT INTO social_client (id, created_at, updated_at, full_name, category, address, "
        f"risk_level, org_unit_id, org_path) VALUES ({marks(9)})",
        [client, at, at, "a", "drug_rehab", "b", "low", unit, "/u/"])
    await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    rows = await connections.get("default").execute_query_dict(
        "SELECT status, closed_on, close_reason FROM social_client")
    await Tortoise.close_connections()
    print(rows)

asyncio.run(main())
"""


def _upgrade(url: str) -> str:
    return _run_script(UPGRADE, url).strip()


OPEN_CLIENT = "[{'status': 'open', 'closed_on': None, 'close_reason': None}]"


def test_0004_opens_the_cases_of_an_existing_database(tmp_path):
    # A NOT NULL column added to a table with rows needs a database default (SQLite refuses it).
    assert _upgrade(f"sqlite://{tmp_path / 'upgrade.db'}") == OPEN_CLIENT


@pytest.mark.skipif(
    not os.environ.get("GRASSROOTS_TEST_DATABASE_URL"), reason="PostgreSQL run only"
)
def test_0004_opens_the_cases_of_an_existing_postgres_database():
    assert _upgrade(_fresh_pg("gr_upgrade_check")) == OPEN_CLIENT


PARTITION = """
import asyncio, uuid
from datetime import datetime, timedelta, timezone
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate
from grassroots import clock, db
from grassroots.settings import get_settings
from models.org import OrgUnit, User
from models.patrol import Round, TrackPoint, Zone

async def main():
    config = db.tortoise_config(get_settings())
    await migrate(config=config, target="models.0008_track_watermark")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    unit = await OrgUnit.create(name="u", path="/u/", depth=0)
    user = await User.create(username="p", password_hash="!", full_name="x", roles_text="patrol",
                             org_unit=unit, org_path="/u/")
    zone = await Zone.create(name="z", kind="patrol", org_unit=unit, org_path="/u/",
                             geometry={}, area_m2=1.0)
    now = clock.now()
    rnd = await Round.create(user=user, zone=zone, org_path="/u/", request_hash="h",
                             started_at=now - timedelta(days=70))
    times = [now - timedelta(days=d) for d in (65, 35, 0)]
    await TrackPoint.bulk_create([TrackPoint(id=uuid.uuid4(), round_id=rnd.id, ts=t, lon=1.0,
        lat=2.0, in_zone=True, received_at=t) for t in times])
    await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    conn = connections.get("default")
    kind = await conn.execute_query_dict(
        "SELECT relkind::text AS k FROM pg_class WHERE relname = 'patrol_track_point'")
    parts = await conn.execute_query_dict(
        "SELECT count(*) AS n FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = 'patrol_track_point'")
    stored = sorted(await TrackPoint.filter(round_id=rnd.id).values_list("ts", flat=True))
    await Tortoise.close_connections()
    print(kind[0]["k"], parts[0]["n"] >= 5, stored == sorted(times))

asyncio.run(main())
"""


@pytest.mark.skipif(
    not os.environ.get("GRASSROOTS_TEST_DATABASE_URL"), reason="PostgreSQL run only"
)
def test_0009_moves_existing_points_into_monthly_partitions():
    # Points of three months (65 and 35 days ago, now) and two months ahead: five partitions.
    assert _run_script(PARTITION, _fresh_pg("gr_partition_check")).strip() == "p True True"
