"""Retention of precise locations (PIPL: sensitive personal information).

Track points are deleted by the patrol capability's own job (`patrol.retention`). Check-ins and
home visits stay as records of what happened (compliance and casework history), but their
positions are erased once older than GRASSROOTS_RETENTION_DAYS. Checkpoint visits and incidents
of patrol rounds keep a coarse position instead: their coordinates are rounded to 0.01 degree
(about 1.1 km north-south, 0.95 km east-west at Nantong's latitude) and a visit's accuracy is
erased. Rounded, not nulled, because the contract gives both a position that is always a number
(apps and exports read it without a null check) and an incident's rough place still serves the
zone's statistics, while a square kilometre no longer pins where a person stood. Each run says
what it did in the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise import connections

from grassroots.db import dialect
from grassroots.settings import get_settings
from models.audit import AuditEntry
from models.correction import CheckIn
from models.patrol import CheckpointVisit, Incident
from models.social import Visit
from services import audit
from services.jobs import isolated, job


@job("privacy.location_retention", every_s=3600)
async def erase_old_locations(now: datetime) -> str:
    """Blank the positions of check-ins and visits older than the retention period."""
    days = get_settings().retention_days
    cutoff = now - timedelta(days=days)
    since = await _previous_cutoff()

    async def coarsen_checkpoint_visits() -> int:
        return await _coarsen(
            CheckpointVisit._meta.db_table, since=since, cutoff=cutoff, accuracy=True
        )

    async def coarsen_incidents() -> int:
        return await _coarsen(Incident._meta.db_table, since=since, cutoff=cutoff, accuracy=False)

    async def erase_checkins() -> int:
        return await CheckIn.filter(occurred_at__lt=cutoff, lon__isnull=False).update(
            lon=None, lat=None, accuracy_m=None
        )

    async def erase_visits() -> int:
        return await Visit.filter(occurred_at__lt=cutoff, lon__isnull=False).update(
            lon=None, lat=None, accuracy_m=None
        )

    # One set-based statement per table, each isolated: a failure on one leaves the others done.
    name = "privacy.location_retention"
    checkpoint_visits = (
        await isolated(job_name=name, row_id="checkpoint_visits", work=coarsen_checkpoint_visits)
        or 0
    )
    incidents = await isolated(job_name=name, row_id="incidents", work=coarsen_incidents) or 0
    checkins = await isolated(job_name=name, row_id="checkins", work=erase_checkins) or 0
    visits = await isolated(job_name=name, row_id="visits", work=erase_visits) or 0
    await audit.record(
        action="erase_location",
        resource_type="location",
        resource_id=None,
        detail={
            "checkins": checkins,
            "visits": visits,
            "checkpoint_visits_coarsened": checkpoint_visits,
            "incidents_coarsened": incidents,
            "older_than": cutoff.isoformat(),
            "retention_days": days,
        },
    )
    return (
        f"erased positions of {checkins} check-ins and {visits} visits older than {days} days; "
        f"coarsened {checkpoint_visits} checkpoint visits and {incidents} incidents"
    )


COARSE_DECIMALS = 2


async def _previous_cutoff() -> datetime | None:
    """The cutoff of the last completed run (its audit entry), None before the first."""
    entry = (
        await AuditEntry.filter(action="erase_location", resource_type="location")
        .order_by("-at")
        .first()
    )
    older_than = entry.detail.get("older_than") if entry is not None else None
    return datetime.fromisoformat(older_than) if isinstance(older_than, str) else None


async def _coarsen(table: str, *, since: datetime | None, cutoff: datetime, accuracy: bool) -> int:
    """Round the positions of rows in `table` dated before `cutoff`; how many rows changed.

    Rows before `since` (the previous run's cutoff) were rounded by that run and no row is ever
    dated that far back when it arrives, so a run reads only the rows that crossed the cutoff
    since (through the `ts` index), not every old row again; rows already rounded are skipped.
    """
    if since is not None and since >= cutoff:
        return 0  # nothing crossed the cutoff since (or the period was lengthened)
    pg = dialect() == "postgres"
    coarse = (
        f"round({{col}}::numeric, {COARSE_DECIMALS})::float8"
        if pg
        else f"round({{col}}, {COARSE_DECIMALS})"
    )

    def param(at: datetime, n: int) -> tuple[str, object]:
        # SQLite holds datetimes as UTC ISO text, compared as text.
        return (f"${n}", at) if pg else ("?", at.astimezone(UTC))

    lon, lat = coarse.format(col="lon"), coarse.format(col="lat")
    sets = f"lon = {lon}, lat = {lat}" + (", accuracy_m = NULL" if accuracy else "")
    dirty = f"lon <> {lon} OR lat <> {lat}" + (" OR accuracy_m IS NOT NULL" if accuracy else "")
    mark, value = param(cutoff, 1)
    where, values = f"ts < {mark}", [value]
    if since is not None:
        mark, value = param(since, 2)
        where, values = f"{where} AND ts >= {mark}", [*values, value]
    changed, _ = await connections.get("default").execute_query(
        f'UPDATE "{table}" SET {sets} WHERE {where} AND ({dirty})', values
    )
    return int(changed)
