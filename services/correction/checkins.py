"""Check-ins: a subject's own (judged against the permitted area and approved leave) and the
officer's in-person reports and home visits. A retried id replays the stored check-in.

A check-in counts only when it proves something: a position less precise than
GRASSROOTS_CHECKIN_MAX_ACCURACY_M is `unverified` (the app is asked to retry), and one arriving
more than GRASSROOTS_CHECKIN_LATE_AFTER_H after it was taken is `late` until the assigned officer
confirms it. Hours (community service and study) are capped at 24 per subject per local day.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

import services.correction.messages  # noqa: F401  (registers the codes raised here)
from grassroots.errors import Conflict, Invalid
from grassroots.settings import get_settings
from models.base import new_row
from models.correction import COUNTING_STATUSES, CheckIn, CheckInKind, CheckInStatus, Supervision
from models.org import OrgUnit, User
from services import alerts, audit
from services.correction.area import permitted_area
from services.correction.dates import local_date, local_zone
from services.correction.jobs import recount_closed_intervals
from services.correction.leave import leave_covers
from services.correction.supervisions import read_supervision, supervision_of
from services.group_commit import GroupCommit

HOURS_KINDS = (CheckInKind.service_hours, CheckInKind.study)
FUTURE_SLACK = timedelta(minutes=5)
# A day holds 24 hours, whatever they were spent on: the cap is across entries of both kinds.
MAX_HOURS_PER_DAY = 24.0


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
    checkin = new_row(CheckIn, id=object_id, request_hash=request_hash, **values)
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
    inside, outside_m, status = await _judge(
        supervision=supervision, lon=lon, lat=lat, accuracy_m=accuracy_m, on_leave=on_leave
    )
    late_after = timedelta(hours=get_settings().checkin_late_after_h)
    if status is not CheckInStatus.unverified and now - occurred_at > late_after:
        # Taken long before it arrived: it may fill a missed interval only on the officer's word.
        status = CheckInStatus.late
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
    if kind in HOURS_KINDS:
        checkin, created = await _store_hours_once(
            values=values, object_id=checkin_id, request_hash=request_hash, day=day
        )
    else:
        checkin, created = await _store_once(
            values=values, object_id=checkin_id, request_hash=request_hash
        )
    if created and checkin.status == CheckInStatus.violation:
        await _alert_outside(supervision=supervision, checkin=checkin)
    if created:
        await _count_where_closed(checkin=checkin, now=now)
    return checkin, created


async def _count_where_closed(*, checkin: CheckIn, now: datetime) -> None:
    """A counting check-in of a day before today may fall in an interval the worker already
    closed as missed (a phone that uploads yesterday's check-in this morning): count it there
    too, which resolves that interval's alert. Today's check-ins, the common case, cost nothing.
    """
    if checkin.status in COUNTING_STATUSES and local_date(checkin.occurred_at) < local_date(now):
        await recount_closed_intervals(checkin=checkin, tz=local_zone())


async def _judge(
    *,
    supervision: Supervision,
    lon: float | None,
    lat: float | None,
    accuracy_m: float | None,
    on_leave: bool,
) -> tuple[bool | None, float | None, CheckInStatus]:
    """(inside, distance outside in m, status) of a position against the permitted area."""
    if lon is None or lat is None:
        return None, None, CheckInStatus.ok
    area = await permitted_area(supervision.permitted_zone_id)
    if area is None:
        return None, None, CheckInStatus.unverified
    max_accuracy_m = get_settings().checkin_max_accuracy_m
    accuracy = accuracy_m or 0.0
    distance = area.distance_outside_m(lon=lon, lat=lat)
    # Outside only when farther out than the fix's own uncertainty, and that uncertainty counts
    # only up to the bound: a declared 100 km never puts a point 8 km out inside.
    inside = distance <= min(accuracy, max_accuracy_m)
    if accuracy > max_accuracy_m:
        status = CheckInStatus.unverified
    elif not inside and not on_leave:
        status = CheckInStatus.violation
    else:
        status = CheckInStatus.ok
    return inside, round(distance, 1), status


def _day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    tz = local_zone()
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return start, end


async def _store_hours_once(
    *, values: dict[str, Any], object_id: uuid.UUID, request_hash: str, day: date
) -> tuple[CheckIn, bool]:
    """Insert an hours entry within the day's cap, or replay the stored one with the same id.

    The supervision row is locked while the day's hours are summed, so two entries sent at once
    cannot both pass the cap. Over the cap is a 422 `hours_over_daily_cap`, nothing stored.
    """
    start_at, end_at = _day_bounds_utc(day)
    async with in_transaction():
        await Supervision.select_for_update().get(id=values["supervision_id"])
        existing = await CheckIn.get_or_none(id=object_id)
        if existing is not None:
            if existing.request_hash != request_hash:
                raise Conflict("id_conflict")
            return existing, False
        booked: list[Any] = await CheckIn.filter(
            subject_id=values["subject_id"],
            kind__in=list(HOURS_KINDS),
            occurred_at__gte=start_at,
            occurred_at__lt=end_at,
        ).values_list("hours", flat=True)
        total = sum(float(hours or 0.0) for hours in booked)
        if total + float(values["hours"]) > MAX_HOURS_PER_DAY:
            raise Invalid(
                "hours_over_daily_cap",
                errors=[{"loc": ["body", "hours"], "msg": "hours_over_daily_cap"}],
            )
        checkin = await CheckIn.create(id=object_id, request_hash=request_hash, **values)
        await audit.record(action="create", resource_type="checkin", resource_id=object_id)
    return checkin, True


async def confirm_checkin(*, actor: User, checkin: CheckIn, now: datetime) -> CheckIn:
    """The assigned officer confirms a late check-in: it counts from now on (idempotent).

    It takes the status it would have had on time (`ok`, or `violation` when it lies outside
    the area with no leave); a check-in that is not late is a 409 `checkin_not_late`.
    """
    async with in_transaction():
        fresh = await CheckIn.select_for_update().get(id=checkin.id)
        if fresh.confirmed_at is not None:
            return fresh
        if fresh.status is not CheckInStatus.late:
            raise Conflict("checkin_not_late")
        outside = fresh.inside_permitted_area is False and not fresh.on_approved_leave
        fresh.status = CheckInStatus.violation if outside else CheckInStatus.ok
        fresh.confirmed_at = now
        fresh.confirmed_by_id = actor.id
        await fresh.save(update_fields=["status", "confirmed_at", "confirmed_by_id", "updated_at"])
        # Its interval may have been closed as missed meanwhile: count it there too.
        await recount_closed_intervals(checkin=fresh, tz=local_zone())
    await audit.record(action="confirm", resource_type="checkin", resource_id=fresh.id)
    return fresh


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
    checkin, created = await _store_once(
        values=values, object_id=checkin_id, request_hash=request_hash
    )
    if created:
        await _count_where_closed(checkin=checkin, now=now)
    return checkin, created


def my_checkins(*, user: User) -> QuerySet[CheckIn]:
    """A subject's own check-ins."""
    return CheckIn.filter(subject_id=user.id)


async def supervision_checkins(*, supervision: Supervision) -> QuerySet[CheckIn]:
    """The check-ins of one supervision; reading them is audited as a read of the supervision."""
    await read_supervision(supervision=supervision)
    return CheckIn.filter(supervision_id=supervision.id)
