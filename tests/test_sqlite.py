"""SQLite shared with another process (grassroots.sqlite): every transaction begins IMMEDIATE.

The job process (services/job_process.py), `grassroots worker` beside `grassroots serve
--no-worker` and a second API process each hold their own connection to the SQLite file. A
transaction of Tortoise's plain BEGIN reads under a snapshot and fails at its first write when
another connection committed in between (SQLITE_BUSY, which no busy timeout waits out); one that
begins IMMEDIATE holds the write lock from the start, and the other connection waits for it. A
writer that never gets the lock within the busy timeout is a 503 with Retry-After, never a 500.
A plain `sqlite3` connection in a thread stands for the other process: SQLite locks per
connection, not per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from models.notifications import Device
from models.org import OrgUnit

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("GRASSROOTS_TEST_DATABASE_URL")), reason="SQLite run only"
)


def _database_file() -> str:
    return connections.get("default").filename


def _other_process_writes(path: str, *, timeout_s: float) -> float:
    """Insert and commit one row from a connection of its own; when the commit returned."""
    other = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    try:
        other.execute("INSERT INTO other_process_rows (note) VALUES ('theirs')")
        return time.monotonic()
    finally:
        other.close()


@contextlib.asynccontextmanager
async def write_lock_held_elsewhere(settings) -> AsyncIterator[None]:
    """Another connection holds the write lock, and ours waits 200 ms for it (then restored)."""
    own = connections.get("default")
    await own.execute_script("PRAGMA busy_timeout = 200")
    holder = sqlite3.connect(_database_file(), timeout=1, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await own.execute_script(
            f"PRAGMA busy_timeout = {int(settings.db_command_timeout_s * 1000)}"
        )


@pytest.fixture
async def scratch_table(db):
    await connections.get("default").execute_script(
        "CREATE TABLE IF NOT EXISTS other_process_rows (note TEXT NOT NULL)"
    )
    yield
    await connections.get("default").execute_script("DROP TABLE other_process_rows")


async def test_a_commit_between_a_transactions_read_and_its_write_waits_instead_of_failing_it(
    scratch_table,
):
    path = _database_file()
    async with in_transaction() as conn:
        # The read that, under a deferred BEGIN, would pin this transaction to a snapshot.
        assert await OrgUnit.all().using_db(conn).count() == 0
        theirs = asyncio.create_task(asyncio.to_thread(_other_process_writes, path, timeout_s=10))
        await asyncio.sleep(0.3)  # long enough for their commit, had it not had to wait
        assert not theirs.done(), "the other connection committed inside our transaction"
        await conn.execute_query("INSERT INTO other_process_rows (note) VALUES ('ours')")
        ours_committing = time.monotonic()
    their_commit = await theirs
    assert their_commit >= ours_committing
    rows = await connections.get("default").execute_query_dict(
        "SELECT note FROM other_process_rows ORDER BY rowid"
    )
    assert [r["note"] for r in rows] == ["ours", "theirs"]


async def test_a_write_lock_held_past_the_busy_timeout_is_a_503_and_writes_nothing(
    client, make_unit, make_user, auth, settings
):
    unit = await make_unit()
    user = await make_user("patrol", unit=unit)
    headers = auth(user)
    device = {"provider": "fcm", "platform": "android", "app_version": "1.0", "locale": "zh-CN"}
    async with write_lock_held_elsewhere(settings):
        r = await client.put("/me/devices/token-held-out", headers=headers, json=device)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "5"
    assert r.json()["code"] == "database_unavailable"
    assert not await Device.exists(token="token-held-out")
    # The lock gone, the same request passes.
    r = await client.put("/me/devices/token-held-out", headers=headers, json=device)
    assert r.status_code == 201, r.text


async def test_a_transaction_that_cannot_begin_gives_the_connection_back(db, settings):
    # BEGIN IMMEDIATE fails while another connection holds the write lock past the busy
    # timeout; the process's one connection must stay usable (its lock released) after that.
    own = connections.get("default")
    async with write_lock_held_elsewhere(settings):
        with pytest.raises(Exception, match="database is locked"):
            async with in_transaction():
                pass
        # Asked before any other statement, which would wait for a lock left taken forever.
        leaked = own._lock.locked()
        if leaked:
            own._lock.release()  # so the rest of the suite runs; the assertion fails this test
        left_on = connections.get("default")
    assert not leaked, "the connection's lock stayed taken: every later statement would hang"
    assert left_on is own, "the context was left on a transaction that never began"
    async with in_transaction() as conn:
        assert await OrgUnit.all().using_db(conn).count() == 0
    assert await OrgUnit.all().count() == 0
