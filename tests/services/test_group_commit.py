"""Group commit: concurrent writes share a transaction; one bad write fails alone."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.exceptions import IntegrityError

from models.audit import AuditEntry
from services import audit
from services.group_commit import GroupCommit


async def test_concurrent_inserts_are_all_stored_with_their_defaults(db):
    writer = GroupCommit()
    entries = [audit.entry(action="create", resource_type="t", resource_id=i) for i in range(40)]
    await asyncio.gather(*[writer.insert(e) for e in entries])
    stored = await AuditEntry.filter(resource_type="t").order_by("at")
    assert len(stored) == 40
    assert all(e.at is not None for e in stored)


async def test_a_duplicate_fails_only_its_own_caller(db):
    writer = GroupCommit()
    await writer.insert(audit.entry(action="x", resource_type="t", resource_id=1))
    first = await AuditEntry.get(resource_type="t")
    dup = audit.entry(action="x", resource_type="t", resource_id=2)
    dup.id = first.id
    others = [audit.entry(action="x", resource_type="t", resource_id=n) for n in range(3, 8)]
    results = await asyncio.gather(
        writer.insert(dup), *[writer.insert(o) for o in others], return_exceptions=True
    )
    assert isinstance(results[0], IntegrityError)
    assert all(r is None for r in results[1:])
    assert await AuditEntry.filter(resource_type="t").count() == 6


async def test_a_plain_step_runs_inside_the_group_transaction(db):
    writer = GroupCommit()

    async def step(conn):
        await audit.record(action="step", resource_type="t", resource_id=None, using_db=conn)

    await asyncio.gather(
        writer.run(step),
        writer.insert(audit.entry(action="i", resource_type="t", resource_id=None)),
    )
    assert sorted(await AuditEntry.filter(resource_type="t").values_list("action", flat=True)) == [
        "i",
        "step",
    ]


@pytest.mark.parametrize("n", [1, 25])
async def test_callers_return_only_after_commit(db, n):
    writer = GroupCommit()
    await asyncio.gather(
        *[
            writer.insert(audit.entry(action="c", resource_type="t", resource_id=i))
            for i in range(n)
        ]
    )
    # Visible from a fresh query right after the callers returned: committed, not pending.
    assert await AuditEntry.filter(resource_type="t", action="c").count() == n


async def test_insert_soon_returns_before_commit_and_flush_waits_for_it(db):
    writer = GroupCommit()
    writer.insert_soon(audit.entry(action="read", resource_type="t", resource_id=1))
    await writer.flush()
    assert await AuditEntry.filter(resource_type="t", action="read").count() == 1
