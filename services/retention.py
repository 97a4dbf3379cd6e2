"""Retention of precise locations (PIPL: sensitive personal information).

Track points are deleted by the patrol capability's own job (`patrol.retention`). Check-ins and
home visits stay as records of what happened (compliance and casework history), but their
positions are erased once older than GRASSROOTS_RETENTION_DAYS. Each run says what it did in
the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from grassroots.settings import get_settings
from models.correction import CheckIn
from models.social import Visit
from services import audit
from services.jobs import isolated, job


@job("privacy.location_retention", every_s=3600)
async def erase_old_locations(now: datetime) -> str:
    """Blank the positions of check-ins and visits older than the retention period."""
    days = get_settings().retention_days
    cutoff = now - timedelta(days=days)

    async def erase_checkins() -> int:
        return await CheckIn.filter(occurred_at__lt=cutoff, lon__isnull=False).update(
            lon=None, lat=None, accuracy_m=None
        )

    async def erase_visits() -> int:
        return await Visit.filter(occurred_at__lt=cutoff, lon__isnull=False).update(
            lon=None, lat=None, accuracy_m=None
        )

    # One set-based statement per table, each isolated: a failure on one leaves the other done.
    name = "privacy.location_retention"
    checkins = await isolated(job_name=name, row_id="checkins", work=erase_checkins) or 0
    visits = await isolated(job_name=name, row_id="visits", work=erase_visits) or 0
    await audit.record(
        action="erase_location",
        resource_type="location",
        resource_id=None,
        detail={
            "checkins": checkins,
            "visits": visits,
            "older_than": cutoff.isoformat(),
            "retention_days": days,
        },
    )
    return f"erased positions of {checkins} check-ins and {visits} visits older than {days} days"
