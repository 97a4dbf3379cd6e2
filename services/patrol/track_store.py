"""The track-point table's upkeep: partitions ahead of time, and retention by whole partitions.

On PostgreSQL the points live in range partitions of `ts` (models.patrol): the monthly ones of
migration 0009, then one a day, made ahead by the job. Partitions wholly past the retention
period are detached and dropped, which costs the same whatever their size; retention there
works in whole UTC days, so only a monthly partition that the cutoff falls inside is deleted
row by row (its days wholly past the cutoff), in bounded batches. SQLite keeps one table and
deletes up to the cutoff in the same bounded batches, so neither database holds one long delete
(SQLite's single connection would stall every request behind it).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections

from grassroots.db import dialect
from models.patrol import (
    TRACK_DAYS_AHEAD,
    TRACK_POINT_TABLE,
    TrackPoint,
    day_start,
    next_month,
    track_day_partition_name,
    track_day_partition_sql,
)

log = logging.getLogger("grassroots.patrol")

DELETE_BATCH = 5_000
# A run deletes at most this many batches; the rest waits for the next hourly run, so one run
# never holds the worker (or SQLite's one connection) for long.
MAX_DELETE_BATCHES = 200
# Ours: a month (0009's, patrol_track_point_p2026_12) or a day (patrol_track_point_p2026_12_02).
_PARTITION_NAME = re.compile(rf"^{TRACK_POINT_TABLE}_p(\d{{4}})_(\d{{2}})(?:_(\d{{2}}))?$")


@dataclass(frozen=True)
class TrackPartition:
    """One partition as the catalogue lists it: the points from `start` until `end`."""

    name: str
    start: datetime
    end: datetime
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
    """Our partitions of the track-point table (monthly and daily), oldest first."""
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
        if found[3] is None:
            start = datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)
            end = next_month(start)
        else:
            start = datetime(int(found[1]), int(found[2]), int(found[3]), tzinfo=UTC)
            end = start + timedelta(days=1)
        out.append(TrackPartition(name=name, start=start, end=end, detach_pending=bool(pending)))
    return sorted(out, key=lambda p: p.start)


async def ensure_partitions(*, now: datetime, ahead: int = TRACK_DAYS_AHEAD) -> list[str]:
    """Create a daily partition for each day from today to `ahead` days on that none covers.

    Days inside an existing (monthly) partition stay there: a range may not overlap another.
    """
    if not await is_partitioned():
        return []
    existing = await list_partitions()
    conn = connections.get("default")
    created = []
    day = day_start(now)
    for _ in range(ahead + 1):
        if not any(p.start <= day < p.end for p in existing):
            await conn.execute_script(track_day_partition_sql(day))
            created.append(track_day_partition_name(day))
        day += timedelta(days=1)
    return created


async def _drop_expired_partitions(*, cutoff: datetime) -> list[str]:
    """Detach (without blocking inserts) and drop every partition wholly older than `cutoff`."""
    conn = connections.get("default")
    dropped = []
    for part in await list_partitions():
        if part.end > cutoff:
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
        # ts in the filter lets PostgreSQL prune to the boundary partition.
        deleted += await TrackPoint.filter(id__in=list(ids), ts__lt=cutoff).delete()
        if len(ids) < DELETE_BATCH:
            return deleted, False
        await asyncio.sleep(0)  # let requests in between batches
    return deleted, True


async def delete_expired_points(*, cutoff: datetime) -> RetentionResult:
    """Remove the track points older than `cutoff`: whole partitions first, then the boundary.

    On PostgreSQL by whole UTC days: the cutoff's own day goes at the first run after it is
    wholly past (its partition dropped; inside one of 0009's monthly partitions, its rows
    deleted), so a point outlives the retention period by less than a day. Trimming the
    cutoff's day row by row instead cost each run in proportion to the day's points (at 10
    million points, 6.4x the run at 1 million, bench/b8_scale.py; at city scale an hour's 1.2
    million rows a run, above the per-run cap), only for the partition to be dropped whole a
    day later anyway. SQLite deletes up to `cutoff` itself.
    """
    partitioned = await is_partitioned()
    dropped = await _drop_expired_partitions(cutoff=cutoff) if partitioned else []
    deleted, more = await _delete_in_batches(cutoff=day_start(cutoff) if partitioned else cutoff)
    if more:
        log.info("track retention stopped after %d points; the rest goes next run", deleted)
    return RetentionResult(dropped_partitions=dropped, deleted_rows=deleted, more_left=more)
