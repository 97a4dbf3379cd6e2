"""The track-point table's upkeep: monthly partitions ahead of time, and retention by month.

On PostgreSQL the points live in monthly partitions (models.patrol, migration 0009): whole
months past the retention period are detached and dropped, which costs the same whatever their
size, and only the one month that the cutoff falls inside is deleted row by row, in bounded
batches. SQLite keeps one table and deletes in the same bounded batches, so neither database
holds one long delete (SQLite's single connection would stall every request behind it).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise import connections

from grassroots.db import dialect
from models.patrol import (
    TRACK_PARTITIONS_AHEAD,
    TRACK_POINT_TABLE,
    TrackPoint,
    month_start,
    next_month,
    track_partition_name,
    track_partition_sql,
)

log = logging.getLogger("grassroots.patrol")

DELETE_BATCH = 5_000
# A run deletes at most this many batches; the rest waits for the next hourly run, so one run
# never holds the worker (or SQLite's one connection) for long.
MAX_DELETE_BATCHES = 200
_PARTITION_NAME = re.compile(rf"^{TRACK_POINT_TABLE}_p(\d{{4}})_(\d{{2}})$")


@dataclass(frozen=True)
class TrackPartition:
    """One monthly partition as the catalogue lists it."""

    name: str
    month: datetime
    detach_pending: bool


@dataclass(frozen=True)
class RetentionResult:
    """What a retention run removed."""

    dropped_partitions: list[str]
    deleted_rows: int
    more_left: bool


async def is_partitioned() -> bool:
    """True on PostgreSQL when the track-point table is partitioned (always after 0009)."""
    if dialect() != "postgres":
        return False
    _, rows = await connections.get("default").execute_query(
        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = $1 AND n.nspname = current_schema()",
        [TRACK_POINT_TABLE],
    )
    return bool(rows) and rows[0][0] == "p"


async def list_partitions() -> list[TrackPartition]:
    """The monthly partitions of the track-point table, oldest first."""
    _, rows = await connections.get("default").execute_query(
        "SELECT c.relname, i.inhdetachpending FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE p.relname = $1 AND n.nspname = current_schema()",
        [TRACK_POINT_TABLE],
    )
    out = []
    for name, pending in rows:
        found = _PARTITION_NAME.match(name)
        if found is None:
            continue  # someone's own partition: never dropped by us
        month = datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)
        out.append(TrackPartition(name=name, month=month, detach_pending=bool(pending)))
    return sorted(out, key=lambda p: p.month)


async def ensure_partitions(*, now: datetime, ahead: int = TRACK_PARTITIONS_AHEAD) -> list[str]:
    """Create the partitions of this month and `ahead` months after it; the names created."""
    if not await is_partitioned():
        return []
    existing = {p.name for p in await list_partitions()}
    conn = connections.get("default")
    created = []
    month = month_start(now)
    for _ in range(ahead + 1):
        name = track_partition_name(month)
        if name not in existing:
            await conn.execute_script(track_partition_sql(month))
            created.append(name)
        month = next_month(month)
    return created


async def _drop_expired_partitions(*, cutoff: datetime) -> list[str]:
    """Detach (without blocking inserts) and drop every partition wholly older than `cutoff`."""
    conn = connections.get("default")
    dropped = []
    for part in await list_partitions():
        if next_month(part.month) > cutoff:
            break
        # CONCURRENTLY takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so point uploads
        # go on while it waits; it must run outside a transaction (the job is not wrapped in
        # one). An interrupted detach leaves the partition "pending": FINALIZE completes it.
        mode = "FINALIZE" if part.detach_pending else "CONCURRENTLY"
        await conn.execute_script(
            f'ALTER TABLE "{TRACK_POINT_TABLE}" DETACH PARTITION "{part.name}" {mode}'
        )
        await conn.execute_script(f'DROP TABLE "{part.name}"')
        dropped.append(part.name)
    return dropped


async def _delete_in_batches(*, cutoff: datetime) -> tuple[int, bool]:
    """Delete points older than `cutoff`, DELETE_BATCH at a time; (deleted, more left)."""
    deleted = 0
    for _ in range(MAX_DELETE_BATCHES):
        ids = (
            await TrackPoint.filter(ts__lt=cutoff).limit(DELETE_BATCH).values_list("id", flat=True)
        )
        if not ids:
            return deleted, False
        # ts in the filter lets PostgreSQL prune to the boundary month's partition.
        deleted += await TrackPoint.filter(id__in=list(ids), ts__lt=cutoff).delete()
        if len(ids) < DELETE_BATCH:
            return deleted, False
        await asyncio.sleep(0)  # let requests in between batches
    return deleted, True


async def delete_expired_points(*, cutoff: datetime) -> RetentionResult:
    """Remove every track point older than `cutoff`: whole months first, then the boundary."""
    dropped = await _drop_expired_partitions(cutoff=cutoff) if await is_partitioned() else []
    deleted, more = await _delete_in_batches(cutoff=cutoff)
    if more:
        log.info("track retention stopped after %d points; the rest goes next run", deleted)
    return RetentionResult(dropped_partitions=dropped, deleted_rows=deleted, more_left=more)
