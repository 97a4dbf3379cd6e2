"""The officer's overview: each subject's status today, in a few queries whatever the page size."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from models.alerts import Alert, AlertStatus
from models.correction import COUNTING_STATUSES, CheckIn, CheckInStatus, Supervision
from models.org import User
from services import audit
from services.correction import access
from services.correction.dates import local_date, local_zone
from services.correction.leave import leave_covers

# Supervisions ended this many days ago or less stay in the officer's list, shown as ended.
ENDED_SHOWN_DAYS = 30


def officer_list_filter(*, today: date) -> Q:
    """Supervisions running today, and those ended in the last `ENDED_SHOWN_DAYS` days."""
    return Q(starts_on__lte=today, ends_on__gte=today) | Q(
        ended_on__gte=today - timedelta(days=ENDED_SHOWN_DAYS)
    )


@dataclass
class SubjectToday:
    """A subject's status today, for the officer's list."""

    supervision: Supervision
    subject_name: str
    level: str
    checked_in: bool
    outside: bool
    on_leave: bool
    overdue: bool
    status: str
    open_alerts: int
    last_checkin_at: datetime | None


async def subjects_today(
    *, supervisions: Sequence[Supervision], now: datetime
) -> list[SubjectToday]:
    """Today's status of each supervision's subject in four queries, whatever the page size."""
    tz = local_zone()
    today = local_date(now, tz)
    ids = [s.id for s in supervisions]
    if not ids:
        return []
    day_start = datetime.combine(today, time.min, tzinfo=tz).astimezone(UTC)
    day_end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    todays = await CheckIn.filter(
        supervision_id__in=ids, occurred_at__gte=day_start, occurred_at__lt=day_end
    ).values("supervision_id", "status", "recorded_by_id", "subject_id")
    checked: set[uuid.UUID] = set()
    outside: set[uuid.UUID] = set()
    for row in todays:
        if row["recorded_by_id"] == row["subject_id"] and row["status"] in COUNTING_STATUSES:
            checked.add(row["supervision_id"])
        if row["status"] == CheckInStatus.violation:
            outside.add(row["supervision_id"])
    latest: dict[uuid.UUID, datetime] = {}
    for sid, at in await CheckIn.filter(
        supervision_id__in=ids, occurred_at__gte=now - timedelta(days=31)
    ).values_list("supervision_id", "occurred_at"):
        if sid not in latest or at > latest[sid]:
            latest[sid] = at
    open_counts: dict[uuid.UUID, int] = defaultdict(int)
    missed_open: set[uuid.UUID] = set()
    for sid, kind, count in (
        await Alert.filter(subject_type="supervision", subject_id__in=ids, status=AlertStatus.open)
        .group_by("subject_id", "kind")
        .annotate(n=Count("id"))
        .values_list("subject_id", "kind", "n")
    ):
        open_counts[sid] += int(count)
        if kind == "missed_checkin":
            missed_open.add(sid)
    subject_ids = [s.subject_id for s in supervisions]  # type: ignore[attr-defined]
    names: dict[Any, Any] = dict(
        await User.filter(id__in=subject_ids).values_list("id", "full_name")
    )
    out: list[SubjectToday] = []
    for s in supervisions:
        on_leave = leave_covers(s, now)
        is_outside = s.id in outside
        overdue = s.id in missed_open
        is_checked = s.id in checked
        if s.ended_on is not None:
            status = "ended"
        elif is_outside:
            status = "outside"
        elif on_leave:
            status = "on_leave"
        elif overdue:
            status = "overdue"
        elif is_checked:
            status = "checked_in"
        else:
            status = "pending"
        out.append(
            SubjectToday(
                supervision=s,
                subject_name=str(names.get(s.subject_id, "")),  # type: ignore[attr-defined]
                level=s.level.value,
                checked_in=is_checked,
                outside=is_outside,
                on_leave=on_leave,
                overdue=overdue,
                status=status,
                open_alerts=open_counts.get(s.id, 0),
                last_checkin_at=latest.get(s.id),
            )
        )
    await audit.record(
        action="list",
        resource_type="supervision",
        resource_id=None,
        detail={"view": "officer_subjects", "count": len(out)},
    )
    return out


def officer_subjects(*, user: User, now: datetime) -> QuerySet[Supervision]:
    """The supervisions on an officer's list today (a supervisor's or admin's whole subtree)."""
    today = local_date(now)
    return access.officer_supervisions(user=user).filter(officer_list_filter(today=today))
