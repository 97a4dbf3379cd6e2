"""Check-ins: a subject's own (judged against the permitted area and approved leave) and the
officer's in-person reports and home visits. A retried id replays the stored check-in.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

import services.correction.messages  # noqa: F401  (registers the codes raised here)
from models.correction import CheckIn, CheckInKind, CheckInStatus, Supervision
from models.org import OrgUnit, User
from services import alerts, audit
from services.correction.area import permitted_area
from services.correction.dates import local_date
from services.correction.leave import leave_covers
from services.correction.supervisions import read_supervision, supervision_of
from services.errors import Conflict, Invalid
from services.group_commit import GroupCommit

HOURS_KINDS = (CheckInKind.service_hours, CheckInKind.study)
FUTURE_SLACK = timedelta(minutes=5)


def _check_checkin_input(
    *,
    kind: CheckInKind,
    occurred_at: datetime,
    lon: float | None,
    lat: float | None,
    hours: float | None,
    text: str | None,
    now: datetime,
) -> None:
    if occurred_at > now + FUTURE_SLACK:
        raise Invalid(
            "checkin_in_future",
            errors=[{"loc": ["body", "occurred_at"], "msg": "checkin_in_future"}],
        )
    if (lon is None) != (lat is None):
        raise Invalid("lon_lat_together")
    if kind == CheckInKind.location and lon is None:
        raise Invalid(
            "location_required", errors=[{"loc": ["body", "lon"], "msg": "location_required"}]
        )
    if kind in HOURS_KINDS and (hours is None or hours <= 0):
        raise Invalid(
            "hours_required", errors=[{"loc": ["body", "hours"], "msg": "hours_required"}]
        )
    if kind not in HOURS_KINDS and hours is not None:
        raise Invalid(
            "hours_not_allowed", errors=[{"loc": ["body", "hours"], "msg": "hours_not_allowed"}]
        )
    if kind == CheckInKind.thought_report and not text:
        raise Invalid("text_required", errors=[{"loc": ["body", "text"], "msg": "text_required"}])


_CHECKIN_WRITER = GroupCommit()


async def _store_once(
    *, values: dict[str, Any], object_id: uuid.UUID, request_hash: str
) -> tuple[CheckIn, bool]:
    """Insert, or replay the stored check-in with the same id (409 for another body).

    The insert goes first, with its audit entry, in a transaction shared with concurrent
    check-ins (one disk sync for many): a retry is rare, so the common case costs no lookup.
    """
    checkin = CheckIn(id=object_id, request_hash=request_hash, **values)
    entry = audit.entry(action="create", resource_type="checkin", resource_id=object_id)
    try:
        await _CHECKIN_WRITER.insert(checkin, entry)
        return checkin, True
    except IntegrityError:
        existing = await CheckIn.get_or_none(id=object_id)
        if existing is None:
            raise
    if existing.request_hash != request_hash:
        raise Conflict("id_conflict")
    return existing, False


async def record_checkin(
    *,
    user: User,
    checkin_id: uuid.UUID,
    kind: CheckInKind,
    occurred_at: datetime,
    lon: float | None,
    lat: float | None,
    accuracy_m: float | None,
    hours: float | None,
    text: str | None,
    request_hash: str,
    now: datetime,
) -> tuple[CheckIn, bool]:
    """A subject's check-in, judged against the permitted area and approved leave."""
    _check_checkin_input(
        kind=kind, occurred_at=occurred_at, lon=lon, lat=lat, hours=hours, text=text, now=now
    )
    day = local_date(occurred_at)
    supervision = await supervision_of(subject_id=user.id, day=day)
    if supervision is None:
        raise Invalid("not_under_supervision")
    on_leave = leave_covers(supervision, occurred_at)
    inside: bool | None = None
    outside_m: float | None = None
    status = CheckInStatus.ok
    if lon is not None and lat is not None:
        area = await permitted_area(supervision.permitted_zone_id)
        if area is None:
            status = CheckInStatus.unverified
        else:
            distance = area.distance_outside_m(lon=lon, lat=lat)
            # Outside only when farther out than the fix's own uncertainty.
            inside = distance <= (accuracy_m or 0.0)
            outside_m = round(distance, 1)
            if not inside and not on_leave:
                status = CheckInStatus.violation
    values = {
        "supervision_id": supervision.id,
        "subject_id": user.id,
        "recorded_by_id": user.id,
        "kind": kind,
        "occurred_at": occurred_at,
        "lon": lon,
        "lat": lat,
        "accuracy_m": accuracy_m,
        "hours": hours,
        "text": text,
        "inside_permitted_area": inside,
        "distance_outside_m": outside_m,
        "on_approved_leave": on_leave,
        "status": status,
        "org_path": supervision.org_path,
    }
    checkin, created = await _store_once(
        values=values, object_id=checkin_id, request_hash=request_hash
    )
    if created and checkin.status == CheckInStatus.violation:
        await _alert_outside(supervision=supervision, checkin=checkin)
    return checkin, created


async def _alert_outside(*, supervision: Supervision, checkin: CheckIn) -> None:
    """One `outside_permitted_area` alert to the officer for this check-in, never twice."""
    key = f"{supervision.id}:{checkin.id}"
    unit = await OrgUnit.get(id=supervision.org_unit_id)  # type: ignore[attr-defined]
    await alerts.raise_alert(
        kind="outside_permitted_area",
        subject_type="supervision",
        subject_id=supervision.id,
        org_unit=unit,
        recipients=[supervision.officer_id],  # type: ignore[attr-defined]
        title="矫正对象超出活动范围",
        dedup_key=key,
        # The distance, never the position: alerts travel further than the check-in record.
        detail={"checkin_id": str(checkin.id), "distance_outside_m": checkin.distance_outside_m},
        occurred_at=checkin.occurred_at,
        urgent=True,
        once=True,
    )


async def record_officer_checkin(
    *,
    user: User,
    supervision: Supervision,
    checkin_id: uuid.UUID,
    kind: CheckInKind,
    occurred_at: datetime,
    lon: float | None,
    lat: float | None,
    accuracy_m: float | None,
    text: str | None,
    request_hash: str,
    now: datetime,
) -> tuple[CheckIn, bool]:
    """An in-person report or a home visit, recorded by the officer."""
    _check_checkin_input(
        kind=kind, occurred_at=occurred_at, lon=lon, lat=lat, hours=None, text=text, now=now
    )
    day = local_date(occurred_at)
    if not supervision.starts_on <= day <= supervision.ends_on:
        raise Invalid("not_under_supervision")
    values = {
        "supervision_id": supervision.id,
        "subject_id": supervision.subject_id,  # type: ignore[attr-defined]
        "recorded_by_id": user.id,
        "kind": kind,
        "occurred_at": occurred_at,
        "lon": lon,
        "lat": lat,
        "accuracy_m": accuracy_m,
        "hours": None,
        "text": text,
        "inside_permitted_area": None,
        "distance_outside_m": None,
        "on_approved_leave": leave_covers(supervision, occurred_at),
        "status": CheckInStatus.ok,
        "org_path": supervision.org_path,
    }
    return await _store_once(values=values, object_id=checkin_id, request_hash=request_hash)


def my_checkins(*, user: User) -> QuerySet[CheckIn]:
    """A subject's own check-ins."""
    return CheckIn.filter(subject_id=user.id)


async def supervision_checkins(*, supervision: Supervision) -> QuerySet[CheckIn]:
    """The check-ins of one supervision; reading them is audited as a read of the supervision."""
    await read_supervision(supervision=supervision)
    return CheckIn.filter(supervision_id=supervision.id)
