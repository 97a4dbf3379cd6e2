"""Supervisions: placing a subject under supervision, changing the level, ending it, finding it.

A subject's supervisions are cached briefly per process (`supervision_of`): check-ins are the hot
path, and a supervision changes rarely.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

import services.correction.messages  # noqa: F401  (registers the codes raised here)
from grassroots.errors import Conflict, Invalid, NotFound
from grassroots.settings import get_settings
from models.correction import (
    ClosedInterval,
    EndReason,
    LeaveRequest,
    LeaveStatus,
    Level,
    Supervision,
)
from models.org import OrgUnit, Role, User
from models.social import CaseStatus, ClientCategory
from services import audit
from services.correction import access
from services.correction.area import area_record
from services.correction.dates import local_date, local_zone, next_month
from services.correction.levels import rules_for_org_path
from services.scope import in_subtree

MAX_SUPERVISION_DAYS = 3660


# Supervision dates are calendar days of this century or the next: a date outside them cannot be
# turned into an instant in every zone, and no real supervision runs there.
EARLIEST_ON = date(1900, 1, 1)
LATEST_ON = date(2200, 12, 31)
# A supervision is entered around its start: up to this long after it began, or before it begins.
MAX_START_PAST_DAYS = MAX_SUPERVISION_DAYS
MAX_START_AHEAD_DAYS = 366


async def _client_case(*, actor: User, client_id: uuid.UUID, today: date) -> str:
    """'open', 'closed' (the case is closed, 结案) or 'invalid' for a supervision's client.

    A client outside the caller's scope is a 404 like a missing one (`access.load_client`); only
    clients in the community_correction category are valid.
    """
    client = await access.load_client(actor=actor, client_id=client_id, today=today)
    if client.category != ClientCategory.community_correction:
        return "invalid"
    return "closed" if client.status == CaseStatus.closed else "open"


def _check_dates(*, starts_on: date, ends_on: date, today: date) -> None:
    """422 `supervision_dates_invalid` for dates out of bounds, reversed or too far apart."""
    if (
        not EARLIEST_ON <= starts_on <= LATEST_ON
        or not EARLIEST_ON <= ends_on <= LATEST_ON
        or ends_on < starts_on
        or (ends_on - starts_on).days > MAX_SUPERVISION_DAYS
        or (today - starts_on).days > MAX_START_PAST_DAYS
        or (starts_on - today).days > MAX_START_AHEAD_DAYS
    ):
        raise Invalid(
            "supervision_dates_invalid",
            errors=[{"loc": ["body", "starts_on"], "msg": "supervision_dates_invalid"}],
        )


async def create_supervision(
    *,
    actor: User,
    client_id: uuid.UUID,
    subject_user_id: uuid.UUID,
    officer_id: uuid.UUID,
    permitted_zone_id: uuid.UUID,
    level: Level,
    starts_on: date,
    ends_on: date,
    now: datetime,
) -> Supervision:
    """A new supervision with the office's rules in force; the subject may not have two at once.

    The client must be in the caller's scope (else a 404, as for a path id) and its social-work
    case open: a closed case is a 409 `case_closed`.
    """
    today = local_date(now)
    _check_dates(starts_on=starts_on, ends_on=ends_on, today=today)
    # The client first: an id out of scope answers 404 whatever else the body holds.
    case = await _client_case(actor=actor, client_id=client_id, today=today)
    people = {
        u.id: u
        for u in await User.filter(
            id__in=[subject_user_id, officer_id], is_active=True, deleted_at=None
        )
    }
    subject = people.get(subject_user_id)
    if (
        subject is None
        or not subject.has_role(Role.subject)
        or not in_subtree(user=actor, org_path=subject.org_path)
    ):
        raise Invalid(
            "subject_invalid",
            errors=[{"loc": ["body", "subject_user_id"], "msg": "subject_invalid"}],
        )
    officer = people.get(officer_id)
    if (
        officer is None
        or not officer.has_role(Role.officer)
        or not in_subtree(user=actor, org_path=officer.org_path)
    ):
        raise Invalid(
            "officer_invalid", errors=[{"loc": ["body", "officer_id"], "msg": "officer_invalid"}]
        )
    if not access.officer_covers(officer=officer, subject=subject):
        raise Invalid("officer_outside_subject_area")
    zone = await area_record(permitted_zone_id)
    if zone is None or not access.may_use_area(actor=actor, area_org_path=zone.org_path):
        raise Invalid(
            "permitted_zone_invalid",
            errors=[{"loc": ["body", "permitted_zone_id"], "msg": "permitted_zone_invalid"}],
        )
    if case == "invalid":
        raise Invalid(
            "client_invalid", errors=[{"loc": ["body", "client_id"], "msg": "client_invalid"}]
        )
    if case == "closed":
        raise Conflict("case_closed")
    rules = await rules_for_org_path(org_path=subject.org_path)
    unit = await OrgUnit.get(id=subject.org_unit_id)  # type: ignore[attr-defined]
    async with in_transaction():
        overlapping = await Supervision.filter(
            subject_id=subject.id, starts_on__lte=ends_on, ends_on__gte=starts_on
        ).exists()
        if overlapping:
            raise Conflict("supervision_overlaps")
        supervision = await Supervision.create(
            client_id=client_id,
            subject=subject,
            officer=officer,
            permitted_zone_id=permitted_zone_id,
            level=level,
            level_history=[_history_entry(decided_on=starts_on, level=level, actor=actor, now=now)],
            rules=rules,
            starts_on=starts_on,
            ends_on=ends_on,
            org_unit=unit,
            org_path=unit.path,
        )
    forget_supervisions(subject.id)
    await audit.record(action="create", resource_type="supervision", resource_id=supervision.id)
    return supervision


def _history_entry(*, decided_on: date, level: Level, actor: User, now: datetime) -> dict[str, str]:
    return {
        "decided_on": decided_on.isoformat(),
        "level": level.value,
        "decided_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "decided_by": str(actor.id),
    }


async def change_level(
    *, actor: User, supervision: Supervision, level: Level, now: datetime
) -> Supervision:
    """Record a new level; each obligation follows it from its next interval (history kept)."""
    today = local_date(now)
    if today > supervision.ends_on or supervision.ended_on is not None:
        raise Conflict("supervision_ended")
    async with in_transaction():
        fresh = await Supervision.select_for_update().get(id=supervision.id)
        if fresh.ended_on is not None:
            raise Conflict("supervision_ended")
        fresh.level_history = [
            *fresh.level_history,
            _history_entry(decided_on=today, level=level, actor=actor, now=now),
        ]
        fresh.level = level
        await fresh.save(update_fields=["level", "level_history", "updated_at"])
    forget_supervisions(fresh.subject_id)  # type: ignore[attr-defined]
    await audit.record(
        action="update",
        resource_type="supervision",
        resource_id=supervision.id,
        detail={"level": level.value},
    )
    return fresh


# Note written on pending leave refused because the supervision ended before the leave starts.
LEAVE_REFUSED_NOTE = "矫正已解除/终止 (supervision ended)"


def _same_end(
    supervision: Supervision, *, ended_on: date, reason: EndReason, note: str | None
) -> bool:
    return (
        supervision.ended_on == ended_on
        and supervision.end_reason == reason
        and (supervision.end_note or None) == (note or None)
    )


async def end_supervision(
    *,
    actor: User,
    supervision: Supervision,
    ended_on: date,
    reason: EndReason,
    note: str | None,
    now: datetime,
) -> Supervision:
    """End a supervision with `ended_on` as its last day (解除/终止), keeping the planned end.

    `ends_on` becomes `ended_on` (the effective end, so every rule that reads the period stops
    there) and the planned end moves to `planned_ends_on`. `ended_on` lies between the start and
    the planned end and is not after today (local), else a 422. Pending leave that would start
    after the end is rejected with `LEAVE_REFUSED_NOTE`. Intervals already closed past a
    backdated end are dropped and the job re-closes the clipped last one. The identical end again
    answers the stored supervision, any other end of an ended supervision is a 409
    `supervision_ended`.
    """
    if supervision.ended_on is not None:
        if not _same_end(supervision, ended_on=ended_on, reason=reason, note=note):
            raise Conflict("supervision_ended")
        return supervision
    tz = local_zone()
    if ended_on < supervision.starts_on:
        raise Invalid(
            "ended_on_before_start",
            errors=[{"loc": ["body", "ended_on"], "msg": "ended_on_before_start"}],
        )
    if ended_on > supervision.ends_on:
        raise Invalid(
            "ended_on_after_planned_end",
            errors=[{"loc": ["body", "ended_on"], "msg": "ended_on_after_planned_end"}],
        )
    if ended_on > local_date(now, tz):
        raise Invalid(
            "ended_on_in_future",
            errors=[{"loc": ["body", "ended_on"], "msg": "ended_on_in_future"}],
        )
    after_end_at = datetime.combine(ended_on + timedelta(days=1), time.min, tzinfo=tz)
    async with in_transaction():
        fresh = await Supervision.select_for_update().get(id=supervision.id)
        if fresh.ended_on is not None:  # another request ended it meanwhile
            if not _same_end(fresh, ended_on=ended_on, reason=reason, note=note):
                raise Conflict("supervision_ended")
            return fresh
        fresh.planned_ends_on = fresh.ends_on
        fresh.ends_on = ended_on
        fresh.ended_on = ended_on
        fresh.end_reason = reason
        fresh.end_note = note
        fresh.ended_at = now
        fresh.ended_by_id = actor.id
        if fresh.closed_through is not None and fresh.closed_through > ended_on:
            fresh.closed_through = ended_on - timedelta(days=1)
        await fresh.save(
            update_fields=[
                "planned_ends_on",
                "ends_on",
                "ended_on",
                "end_reason",
                "end_note",
                "ended_at",
                "ended_by_id",
                "closed_through",
                "updated_at",
            ]
        )
        await ClosedInterval.filter(supervision_id=fresh.id, ends_on__gt=ended_on).delete()
        refused = await LeaveRequest.filter(
            supervision_id=fresh.id,
            status=LeaveStatus.pending,
            starts_at__gte=after_end_at.astimezone(UTC),
        ).update(
            status=LeaveStatus.rejected,
            decided_by_id=actor.id,
            decided_at=now,
            decision_note=LEAVE_REFUSED_NOTE,
        )
    forget_supervisions(fresh.subject_id)  # type: ignore[attr-defined]
    await audit.record(
        action="end",
        resource_type="supervision",
        resource_id=fresh.id,
        detail={
            "ended_on": ended_on.isoformat(),
            "reason": reason.value,
            "planned_ends_on": (fresh.planned_ends_on or ended_on).isoformat(),
            "leave_refused": refused,
        },
    )
    return fresh


async def read_supervision(*, supervision: Supervision) -> Supervision:
    """Audit one read of a supervision and hand it back."""
    await audit.record(action="read", resource_type="supervision", resource_id=supervision.id)
    return supervision


async def my_supervision(*, user: User, now: datetime) -> Supervision:
    """The subject's current supervision (else the latest), audited; none is a 404."""
    today = local_date(now)
    found = await Supervision.filter(
        subject_id=user.id, starts_on__lte=today, ends_on__gte=today
    ).first()
    if found is None:
        found = await Supervision.filter(subject_id=user.id).order_by("-starts_on").first()
    if found is None:
        raise NotFound()
    return await read_supervision(supervision=found)


async def supervision_for_month(*, user: User, month: date) -> Supervision:
    """The subject's latest supervision running in a local month; none is a 404."""
    supervision = (
        await Supervision.filter(
            subject_id=user.id, starts_on__lt=next_month(month), ends_on__gte=month
        )
        .order_by("-starts_on")
        .first()
    )
    if supervision is None:
        raise NotFound()
    return supervision


def supervisions_visible(
    *,
    user: User,
    officer_id: uuid.UUID | None,
    subject_user_id: uuid.UUID | None,
    active_on: date | None,
) -> QuerySet[Supervision]:
    """The supervisions in the caller's scope, filtered by officer, subject and running day."""
    qs = access.SUPERVISION_ACCESS.queryset(user)
    if officer_id is not None:
        qs = qs.filter(officer_id=officer_id)
    if subject_user_id is not None:
        qs = qs.filter(subject_id=subject_user_id)
    if active_on is not None:
        qs = qs.filter(starts_on__lte=active_on, ends_on__gte=active_on)
    return qs


async def record_list(*, count: int) -> None:
    """Audit one list of supervisions (how many were shown, never which)."""
    await audit.record(
        action="list", resource_type="supervision", resource_id=None, detail={"count": count}
    )


# subject id -> (expires at, that subject's supervisions): check-ins are the hot path, and a
# subject's supervision changes rarely. Changes made in this process drop the entry at once;
# other processes see them within GRASSROOTS_USER_CACHE_S seconds.
_SUPERVISIONS: dict[uuid.UUID, tuple[float, list[Supervision]]] = {}


async def supervision_of(*, subject_id: uuid.UUID, day: date) -> Supervision | None:
    """The subject's supervision in force on a local day, from the short per-process cache."""
    ttl_s = get_settings().user_cache_s
    now = monotonic()
    hit = _SUPERVISIONS.get(subject_id)
    if hit is None or hit[0] <= now or ttl_s <= 0:
        rows = await Supervision.filter(subject_id=subject_id).order_by("starts_on")
        if len(_SUPERVISIONS) > 50_000:
            _SUPERVISIONS.clear()
        hit = (now + ttl_s, list(rows))
        if ttl_s > 0:
            _SUPERVISIONS[subject_id] = hit
    return next((s for s in hit[1] if s.starts_on <= day <= s.ends_on), None)


def forget_supervisions(subject_id: uuid.UUID) -> None:
    """Drop the cached supervisions of a subject after a change."""
    _SUPERVISIONS.pop(subject_id, None)
