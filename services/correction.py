"""Community correction: supervisions, check-ins, leave, compliance, assessments and their jobs.

Calendar rules (levels, obligations, intervals) live in `services.correction_rules`; the permitted
area's geometry comes through `services.correction_area`. This module stores and judges.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from grassroots.db import registered_model
from grassroots.settings import get_settings
from models.alerts import Alert, AlertStatus
from models.correction import (
    Assessment,
    CheckIn,
    CheckInKind,
    CheckInStatus,
    ClosedInterval,
    EndReason,
    Grade,
    LeaveRequest,
    LeaveStatus,
    Level,
    ObligationConfig,
    Supervision,
)
from models.org import OrgUnit, Role, User
from services import alerts, audit
from services.correction_area import area_record, permitted_area
from services.correction_rules import (
    DEFAULT_RULES,
    DueObligation,
    IntervalKind,
    InvalidRules,
    ObligationKind,
    RuleSet,
    SupervisionLevel,
    Unit,
    interval_bounds_utc,
    obligations_for_month,
    rules_from_dict,
    rules_to_dict,
)
from services.errors import Conflict, Invalid, NotFound
from services.group_commit import GroupCommit
from services.jobs import job
from services.messages import register_messages
from services.notices import Notice, notice_source
from services.org import ancestor_paths
from services.scope import in_subtree, is_admin
from services.spreadsheet import excel_csv

register_messages(
    {
        "subject_invalid": (
            "矫正对象不存在、不在管辖范围内或不是矫正对象",
            "The subject does not exist, is out of scope or is not a correction subject",
        ),
        "officer_invalid": (
            "司法所工作人员不存在、不在管辖范围内或不是矫正工作人员",
            "The officer does not exist, is out of scope or is not a correction officer",
        ),
        "officer_outside_subject_area": (
            "该工作人员无权管辖此矫正对象所在的单位",
            "The officer's office does not cover the subject's org unit",
        ),
        "permitted_zone_invalid": (
            "活动范围区域不存在、不在管辖范围内或不是活动范围类型",
            "The permitted zone does not exist, is out of scope or is not a permitted area",
        ),
        "client_invalid": (
            "服务对象不存在或不是社区矫正类别",
            "The client does not exist or is not in the community-correction category",
        ),
        "supervision_dates_invalid": (
            "矫正期限无效：结束日期须不早于开始日期，且不超过十年",
            "Invalid period: the end may not precede the start and the period is at most 10 years",
        ),
        "supervision_overlaps": (
            "该矫正对象在此期间已有矫正记录",
            "The subject already has a supervision in this period",
        ),
        "supervision_ended": ("矫正期已结束", "The supervision has ended"),
        "ended_on_before_start": (
            "解除/终止日期不能早于矫正开始日期",
            "The end date may not precede the start of the supervision",
        ),
        "ended_on_after_planned_end": (
            "解除/终止日期不能晚于原定矫正期满日期",
            "The end date may not be after the planned end of the supervision",
        ),
        "ended_on_in_future": (
            "解除/终止日期不能晚于今天",
            "The end date may not be in the future",
        ),
        "case_closed": (
            "该服务对象已结案，须先重新开案",
            "The client's case is closed: reopen it first",
        ),
        "not_under_supervision": (
            "该时间不在您的矫正期内",
            "You are not under supervision at that time",
        ),
        "checkin_in_future": ("签到时间不能晚于当前时间", "The check-in time is in the future"),
        "location_required": ("定位签到须提供经纬度", "A location check-in needs lon and lat"),
        "lon_lat_together": ("经度和纬度须同时提供", "Give lon and lat together"),
        "hours_required": (
            "公益活动和教育学习须填写时长（大于 0 小时）",
            "Service and study entries need hours greater than 0",
        ),
        "hours_not_allowed": (
            "只有公益活动和教育学习可以填写时长",
            "Only service and study entries take hours",
        ),
        "text_required": ("思想汇报须填写内容", "A thought report needs its text"),
        "leave_times_invalid": (
            "请假时间无效：结束须晚于开始，且不能在过去",
            "Invalid leave: it must end after it starts and not be in the past",
        ),
        "leave_too_long": ("单次请假不能超过 90 天", "One leave may last at most 90 days"),
        "leave_overlaps": (
            "与已有的待审批或已批准请假时间重叠",
            "Overlaps a pending or approved leave",
        ),
        "leave_not_pending": ("该请假已处理或已撤销", "The leave request is no longer pending"),
        "leave_already_started": (
            "请假已开始，不能撤销",
            "The leave has already started and cannot be cancelled",
        ),
        "month_invalid": (
            "月份无效：须为 YYYY-MM，且在矫正期内、不晚于本月",
            "Invalid month: use YYYY-MM within the supervision and not after this month",
        ),
        "rules_invalid": ("义务规则配置无效: {reason}", "Invalid obligation rules: {reason}"),
    }
)

OFFICER_ROLES = (Role.officer.value, Role.supervisor.value, Role.admin.value)
SUBJECT_KINDS = (
    CheckInKind.location,
    CheckInKind.report,
    CheckInKind.thought_report,
    CheckInKind.service_hours,
    CheckInKind.study,
)
OFFICER_KINDS = (CheckInKind.report, CheckInKind.home_visit)
HOURS_KINDS = (CheckInKind.service_hours, CheckInKind.study)
FUTURE_SLACK = timedelta(minutes=5)
MAX_SUPERVISION_DAYS = 3660
MAX_LEAVE = timedelta(days=90)
CLOSE_BATCH = 500

KIND_NAMES_ZH = {
    "location": "定位签到",
    "report": "报到",
    "thought_report": "思想汇报",
    "service_hours": "公益活动",
    "study": "教育学习",
    "home_visit": "走访",
}


def _tz() -> ZoneInfo:
    return get_settings().tz


def local_date(at: datetime, tz: ZoneInfo | None = None) -> date:
    """The local calendar date of an instant."""
    return at.astimezone(tz or _tz()).date()


def month_bounds_utc(month: date, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """[first local midnight of the month, first local midnight of the next) in UTC."""
    zone = tz or _tz()
    nxt = _next_month(month)
    start = datetime.combine(month, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(nxt, time.min, tzinfo=zone).astimezone(UTC)
    return start, end


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def parse_month(text: str) -> date:
    """'2026-03' -> date(2026, 3, 1); anything else is a 422 `month_invalid`."""
    try:
        year_text, month_text = text.split("-")
        if len(year_text) != 4 or len(month_text) != 2:
            raise ValueError(text)
        return date(int(year_text), int(month_text), 1)
    except ValueError:
        raise Invalid("month_invalid") from None


# --- rules and levels ---------------------------------------------------------------------------


def _rule_set(supervision: Supervision) -> RuleSet:
    return rules_from_dict(supervision.rules)


def _history(supervision: Supervision) -> list[tuple[date, SupervisionLevel]]:
    return [
        (date.fromisoformat(entry["decided_on"]), SupervisionLevel(entry["level"]))
        for entry in supervision.level_history
    ]


def obligations_of(*, rules: Mapping[str, Any], level: str) -> list[dict[str, Any]]:
    """What a level implies under a stored rule set: [{kind, interval, required, unit}]."""
    parsed = rules_from_dict(rules)
    return [
        {
            "kind": r.kind.value,
            "interval": r.interval.value,
            "required": r.required,
            "unit": r.unit.value,
        }
        for r in parsed[SupervisionLevel(level)]
    ]


async def rules_for_org_path(*, org_path: str) -> dict[str, Any]:
    """The rule set of the nearest office on the path that configured one, else the defaults."""
    configs = await ObligationConfig.filter(org_path__in=ancestor_paths(org_path))
    if configs:
        nearest = max(configs, key=lambda c: len(c.org_path))
        return dict(nearest.rules)
    return rules_to_dict(DEFAULT_RULES)


async def put_obligation_config(*, org_unit: OrgUnit, rules: Mapping[str, Any]) -> dict[str, Any]:
    """Set an office's obligation rules (validated); new supervisions there use them."""
    try:
        parsed = rules_from_dict(rules)
    except InvalidRules as exc:
        raise Invalid("rules_invalid", params={"reason": str(exc)}) from None
    stored = rules_to_dict(parsed)
    config = await ObligationConfig.get_or_none(org_unit_id=org_unit.id)
    if config is None:
        config = await ObligationConfig.create(
            org_unit=org_unit, org_path=org_unit.path, rules=stored
        )
    else:
        config.rules = stored
        await config.save()
    await audit.record(action="update", resource_type="obligation_config", resource_id=org_unit.id)
    return stored


# --- supervisions -------------------------------------------------------------------------------


async def _client_case(client_id: uuid.UUID) -> str:
    """'open', 'closed' (the case is closed, 结案) or 'invalid' for a supervision's client.

    The Client model belongs to the social-work capability; it is looked up by name in Tortoise's
    registry, and a deployment without it accepts the id as given. Only clients in the
    community_correction category are valid.
    """
    model = registered_model("Client")
    if model is None:
        return "open"
    filters: dict[str, Any] = {"id": client_id}
    if "deleted_at" in model._meta.fields_map:
        filters["deleted_at"] = None
    client = await model.get_or_none(**filters)
    if client is None or str(getattr(client, "category", "")) != "community_correction":
        return "invalid"
    return "closed" if str(getattr(client, "status", "open")) == "closed" else "open"


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

    The client's social-work case must be open: a closed case is a 409 `case_closed`.
    """
    if ends_on < starts_on or (ends_on - starts_on).days > MAX_SUPERVISION_DAYS:
        raise Invalid("supervision_dates_invalid")
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
    if not subject.org_path.startswith(officer.org_path):
        raise Invalid("officer_outside_subject_area")
    zone = await area_record(permitted_zone_id)
    if zone is None or not (
        is_admin(actor)
        or zone.org_path.startswith(actor.org_path)
        or actor.org_path.startswith(zone.org_path)
    ):
        raise Invalid(
            "permitted_zone_invalid",
            errors=[{"loc": ["body", "permitted_zone_id"], "msg": "permitted_zone_invalid"}],
        )
    case = await _client_case(client_id)
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
    tz = _tz()
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


def level_in_force(*, supervision: Supervision, day: date) -> SupervisionLevel:
    """The level whose location rule governs `day` (levels switch at each rule's interval end)."""
    from services.correction_rules import rule_segments

    start = supervision.starts_on
    end = supervision.ends_on
    probe = min(max(day, start), end)
    segments = rule_segments(
        kind=ObligationKind.LOCATION,
        rules=_rule_set(supervision),
        history=_history(supervision),
        supervision_starts_on=start,
        supervision_ends_on=end,
    )
    for segment in segments:
        if segment.starts_on <= probe <= segment.ends_on:
            return segment.level
    return SupervisionLevel(supervision.level)


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


# --- check-ins ----------------------------------------------------------------------------------


def _leave_covers(supervision: Supervision, at: datetime) -> bool:
    """Whether an approved leave window (cached on the supervision) holds `at`."""
    return any(
        datetime.fromisoformat(window[0]) <= at < datetime.fromisoformat(window[1])
        for window in supervision.approved_leave
    )


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


# subject id -> (expires at, that subject's supervisions): check-ins are the hot path, and a
# subject's supervision changes rarely. Changes made in this process drop the entry at once;
# other processes see them within GRASSROOTS_USER_CACHE_S seconds.
_SUPERVISIONS: dict[uuid.UUID, tuple[float, list[Supervision]]] = {}


async def _supervision_of(*, subject_id: uuid.UUID, day: date) -> Supervision | None:
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
    supervision = await _supervision_of(subject_id=user.id, day=day)
    if supervision is None:
        raise Invalid("not_under_supervision")
    on_leave = _leave_covers(supervision, occurred_at)
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
        "on_approved_leave": _leave_covers(supervision, occurred_at),
        "status": CheckInStatus.ok,
        "org_path": supervision.org_path,
    }
    return await _store_once(values=values, object_id=checkin_id, request_hash=request_hash)


# --- leave --------------------------------------------------------------------------------------


async def request_leave(
    *,
    user: User,
    leave_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    destination: str,
    reason: str,
    request_hash: str,
    now: datetime,
) -> tuple[LeaveRequest, bool]:
    """A subject's leave request, pending until the officer decides."""
    existing = await LeaveRequest.get_or_none(id=leave_id)
    if existing is not None:
        if existing.request_hash != request_hash:
            raise Conflict("id_conflict")
        return existing, False
    if ends_at <= starts_at or ends_at <= now:
        raise Invalid(
            "leave_times_invalid",
            errors=[{"loc": ["body", "ends_at"], "msg": "leave_times_invalid"}],
        )
    if ends_at - starts_at > MAX_LEAVE:
        raise Invalid("leave_too_long")
    day = local_date(starts_at)
    # The end is exclusive: a leave ending at local midnight ends on the day before it.
    last_day = local_date(ends_at - timedelta(microseconds=1))
    supervision = (
        await Supervision.filter(subject_id=user.id, starts_on__lte=last_day, ends_on__gte=day)
        .order_by("starts_on")
        .first()
    )
    if supervision is None:
        raise Invalid("not_under_supervision")
    try:
        async with in_transaction():
            await Supervision.select_for_update().get(id=supervision.id)  # serialise overlap checks
            overlapping = await LeaveRequest.filter(
                supervision_id=supervision.id,
                status__in=[LeaveStatus.pending, LeaveStatus.approved],
                starts_at__lt=ends_at,
                ends_at__gt=starts_at,
            ).exists()
            if overlapping:
                raise Conflict("leave_overlaps")
            leave = await LeaveRequest.create(
                id=leave_id,
                supervision_id=supervision.id,
                subject_id=user.id,
                starts_at=starts_at,
                ends_at=ends_at,
                destination=destination,
                reason=reason,
                org_path=supervision.org_path,
                request_hash=request_hash,
            )
            await audit.record(action="create", resource_type="leave_request", resource_id=leave.id)
    except IntegrityError:
        again = await LeaveRequest.get_or_none(id=leave_id)
        if again is None:
            raise
        if again.request_hash != request_hash:
            raise Conflict("id_conflict") from None
        return again, False
    return leave, True


async def _refresh_leave_cache(supervision_id: uuid.UUID) -> Supervision:
    """Rewrite the approved-leave windows cached on a supervision (inside a transaction)."""
    supervision = await Supervision.select_for_update().get(id=supervision_id)
    rows = (
        await LeaveRequest.filter(supervision_id=supervision_id, status=LeaveStatus.approved)
        .order_by("starts_at")
        .values_list("starts_at", "ends_at", "id")
    )
    supervision.approved_leave = [
        [s.astimezone(UTC).isoformat(), e.astimezone(UTC).isoformat(), str(i)] for s, e, i in rows
    ]
    await supervision.save(update_fields=["approved_leave", "updated_at"])
    forget_supervisions(supervision.subject_id)  # type: ignore[attr-defined]
    return supervision


async def decide_leave(
    *, user: User, leave: LeaveRequest, approved: bool, note: str | None, now: datetime
) -> LeaveRequest:
    """Approve or reject a pending leave; approval makes outside check-ins in it compliant."""
    async with in_transaction():
        updated = await LeaveRequest.filter(id=leave.id, status=LeaveStatus.pending).update(
            status=LeaveStatus.approved if approved else LeaveStatus.rejected,
            decided_by_id=user.id,
            decided_at=now,
            decision_note=note,
        )
        if updated != 1:
            raise Conflict("leave_not_pending")
        if approved:
            await _refresh_leave_cache(leave.supervision_id)  # type: ignore[attr-defined]
            # Check-ins already made in the window were outside without leave when judged.
            await CheckIn.filter(
                supervision_id=leave.supervision_id,  # type: ignore[attr-defined]
                occurred_at__gte=leave.starts_at,
                occurred_at__lt=leave.ends_at,
                recorded_by_id=leave.subject_id,
            ).update(on_approved_leave=True)
            await CheckIn.filter(
                supervision_id=leave.supervision_id,  # type: ignore[attr-defined]
                occurred_at__gte=leave.starts_at,
                occurred_at__lt=leave.ends_at,
                status=CheckInStatus.violation,
            ).update(status=CheckInStatus.ok)
    await audit.record(
        action="decide",
        resource_type="leave_request",
        resource_id=leave.id,
        detail={"approved": approved},
    )
    await leave.refresh_from_db()
    return leave


async def cancel_leave(*, leave: LeaveRequest, now: datetime) -> LeaveRequest:
    """The subject withdraws a pending or approved leave that has not started."""
    if leave.starts_at <= now:
        raise Conflict("leave_already_started")
    async with in_transaction():
        updated = await LeaveRequest.filter(
            id=leave.id, status__in=[LeaveStatus.pending, LeaveStatus.approved]
        ).update(status=LeaveStatus.cancelled, cancelled_at=now)
        if updated != 1:
            raise Conflict("leave_not_pending")
        await _refresh_leave_cache(leave.supervision_id)  # type: ignore[attr-defined]
    await audit.record(action="cancel", resource_type="leave_request", resource_id=leave.id)
    await leave.refresh_from_db()
    return leave


# --- compliance ---------------------------------------------------------------------------------


@dataclass
class IntervalResult:
    """One obligation interval: what was required, what was done, and whether it is over."""

    starts_on: date
    ends_on: date
    required: float
    done: float
    met: bool
    closed: bool
    level: str


@dataclass
class ObligationResult:
    """One obligation kind over a month; `done` credits each interval up to its requirement."""

    kind: str
    unit: str
    interval: str
    required: float = 0.0
    done: float = 0.0
    intervals: list[IntervalResult] = field(default_factory=list)


@dataclass
class ComplianceResult:
    """A month of one supervision."""

    supervision_id: uuid.UUID
    month: str
    obligations: list[ObligationResult]
    violations: list[dict[str, Any]]
    assessment: Assessment | None


def _tally(
    due: Sequence[DueObligation], checkins: Sequence[Mapping[str, Any]], tz: ZoneInfo
) -> list[tuple[DueObligation, float, datetime]]:
    """(obligation, done, end instant) for each due interval, counting or summing hours."""
    by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in checkins:
        by_kind[str(row["kind"])].append(row)
    out: list[tuple[DueObligation, float, datetime]] = []
    for item in due:
        start_at, end_at = interval_bounds_utc(interval=item.interval, tz=tz)
        done = 0.0
        for row in by_kind.get(item.rule.kind.value, ()):
            if start_at <= row["occurred_at"] < end_at:
                done += float(row["hours"] or 0.0) if item.rule.unit is Unit.HOURS else 1.0
        out.append((item, done, end_at))
    return out


async def _checkins_between(
    supervision_id: uuid.UUID, start_at: datetime, end_at: datetime
) -> list[dict[str, Any]]:
    return await CheckIn.filter(
        supervision_id=supervision_id, occurred_at__gte=start_at, occurred_at__lt=end_at
    ).values("id", "kind", "occurred_at", "hours", "status", "distance_outside_m")


async def compliance(*, supervision: Supervision, month: date, now: datetime) -> ComplianceResult:
    """Obligations, intervals, violations and the assessment of one month, audited as a read."""
    tz = _tz()
    if (
        month > local_date(now, tz).replace(day=1)
        or month > supervision.ends_on
        or _next_month(month) <= supervision.starts_on
    ):
        raise Invalid("month_invalid")
    due = obligations_for_month(
        rules=_rule_set(supervision),
        history=_history(supervision),
        month=month,
        supervision_starts_on=supervision.starts_on,
        supervision_ends_on=supervision.ends_on,
    )
    month_start, month_end = month_bounds_utc(month, tz)
    lo, hi = month_start, month_end
    for item in due:
        start_at, end_at = interval_bounds_utc(interval=item.interval, tz=tz)
        lo, hi = min(lo, start_at), max(hi, end_at)
    rows = await _checkins_between(supervision.id, lo, hi)
    results: dict[str, ObligationResult] = {}
    violations: list[dict[str, Any]] = []
    for item, done, end_at in _tally(due, rows, tz):
        kind = item.rule.kind.value
        result = results.setdefault(
            kind,
            ObligationResult(
                kind=kind, unit=item.rule.unit.value, interval=item.rule.interval.value
            ),
        )
        closed = end_at <= now
        met = done >= item.rule.required
        result.required += item.rule.required
        result.done += min(done, item.rule.required)
        result.intervals.append(
            IntervalResult(
                starts_on=item.interval.starts_on,
                ends_on=item.interval.ends_on,
                required=item.rule.required,
                done=done,
                met=met,
                closed=closed,
                level=item.level.value,
            )
        )
        if closed and not met:
            violations.append(
                {
                    "kind": "missed_checkin",
                    "obligation": kind,
                    "starts_on": item.interval.starts_on.isoformat(),
                    "ends_on": item.interval.ends_on.isoformat(),
                    "required": item.rule.required,
                    "done": done,
                    "at": end_at,
                }
            )
    for row in rows:
        if (
            row["status"] == CheckInStatus.violation
            and month_start <= row["occurred_at"] < month_end
        ):
            violations.append(
                {
                    "kind": "outside_permitted_area",
                    "checkin_id": str(row["id"]),
                    "distance_outside_m": row["distance_outside_m"],
                    "at": row["occurred_at"],
                }
            )
    violations.sort(key=lambda v: v["at"])
    assessment = await Assessment.get_or_none(
        supervision_id=supervision.id, month=month.strftime("%Y-%m")
    )
    await audit.record(
        action="read",
        resource_type="supervision",
        resource_id=supervision.id,
        detail={"view": "compliance", "month": month.strftime("%Y-%m")},
    )
    ordered = [results[k.value] for k in ObligationKind if k.value in results]
    return ComplianceResult(
        supervision_id=supervision.id,
        month=month.strftime("%Y-%m"),
        obligations=ordered,
        violations=violations,
        assessment=assessment,
    )


def compliance_csv(result: ComplianceResult) -> bytes:
    """The month as CSV that Excel opens (UTF-8 with BOM): one row per interval, then violations."""
    rows: list[Sequence[object]] = []
    rows.append(["月份 month", result.month])
    if result.assessment is not None:
        rows.append(["评议 grade", result.assessment.grade.value, result.assessment.remark])
    rows.append([])
    rows.append(
        [
            "义务 obligation",
            "kind",
            "开始 starts_on",
            "结束 ends_on",
            "要求 required",
            "完成 done",
            "达标 met",
            "已结束 closed",
            "等级 level",
        ]
    )
    for obligation in result.obligations:
        for interval in obligation.intervals:
            rows.append(
                [
                    KIND_NAMES_ZH.get(obligation.kind, obligation.kind),
                    obligation.kind,
                    interval.starts_on.isoformat(),
                    interval.ends_on.isoformat(),
                    f"{interval.required:g}",
                    f"{interval.done:g}",
                    "是" if interval.met else "否",
                    "是" if interval.closed else "否",
                    interval.level,
                ]
            )
    rows.append([])
    rows.append(["违规 violation", "kind", "时间 at (UTC)", "说明 detail"])
    for violation in result.violations:
        at = violation["at"].astimezone(UTC).isoformat().replace("+00:00", "Z")
        if violation["kind"] == "missed_checkin":
            detail = (
                f"{violation['obligation']} {violation['starts_on']}..{violation['ends_on']} "
                f"{violation['done']:g}/{violation['required']:g}"
            )
            name = "未按期完成"
        else:
            detail = f"{violation['distance_outside_m']} m"
            name = "超出活动范围"
        rows.append([name, violation["kind"], at, detail])
    return excel_csv(rows=rows)


async def put_assessment(
    *, user: User, supervision: Supervision, month: date, grade: Grade, remark: str, now: datetime
) -> tuple[Assessment, bool]:
    """Set the officer's assessment of a month (replaces an earlier one for the same month)."""
    if (
        month > local_date(now).replace(day=1)
        or month > supervision.ends_on
        or _next_month(month) <= supervision.starts_on
    ):
        raise Invalid("month_invalid")
    key = month.strftime("%Y-%m")
    async with in_transaction():
        existing = await Assessment.filter(supervision_id=supervision.id, month=key).first()
        if existing is None:
            try:
                assessment = await Assessment.create(
                    supervision=supervision,
                    month=key,
                    grade=grade,
                    remark=remark,
                    assessed_by_id=user.id,
                    assessed_at=now,
                )
            except IntegrityError:
                raise Conflict("conflict") from None
            created = True
        else:
            existing.grade = grade
            existing.remark = remark
            existing.assessed_by_id = user.id
            existing.assessed_at = now
            await existing.save()
            assessment, created = existing, False
    await audit.record(
        action="create" if created else "update",
        resource_type="assessment",
        resource_id=assessment.id,
        detail={"supervision_id": str(supervision.id), "month": key},
    )
    return assessment, created


# --- officer overview ---------------------------------------------------------------------------


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
    tz = _tz()
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
        if row["recorded_by_id"] == row["subject_id"]:
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
        on_leave = _leave_covers(s, now)
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


# --- worker: closing intervals ------------------------------------------------------------------


def _months_between(first: date, last: date) -> Iterable[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = _next_month(month)


async def close_supervision_intervals(
    *, supervision: Supervision, through: date, tz: ZoneInfo
) -> tuple[int, int]:
    """Close every interval ending after `closed_through` up to `through`; alert each missed one.

    Returns (closed, missed). The stored outcome and the alert's dedup key both name the
    supervision, the kind and the interval, so nothing is closed or raised twice.
    """
    from_on = (
        supervision.closed_through + timedelta(days=1)
        if supervision.closed_through is not None
        else supervision.starts_on
    )
    to_on = min(through, supervision.ends_on)
    if to_on < from_on:
        supervision.closed_through = through
        await supervision.save(update_fields=["closed_through", "updated_at"])
        return 0, 0
    rules = _rule_set(supervision)
    history = _history(supervision)
    due: list[DueObligation] = []
    for month in _months_between(from_on, to_on):
        for item in obligations_for_month(
            rules=rules,
            history=history,
            month=month,
            supervision_starts_on=supervision.starts_on,
            supervision_ends_on=supervision.ends_on,
        ):
            if from_on <= item.interval.ends_on <= to_on:
                due.append(item)
    closed = missed = 0
    if due:
        lo = min(interval_bounds_utc(interval=d.interval, tz=tz)[0] for d in due)
        hi = max(interval_bounds_utc(interval=d.interval, tz=tz)[1] for d in due)
        rows = await _checkins_between(supervision.id, lo, hi)
        unit: OrgUnit | None = None
        for item, done, _end in _tally(due, rows, tz):
            met = done >= item.rule.required
            kind = item.rule.kind.value
            exists = await ClosedInterval.filter(
                supervision_id=supervision.id, kind=kind, starts_on=item.interval.starts_on
            ).exists()
            if not exists:
                await ClosedInterval.create(
                    supervision=supervision,
                    kind=kind,
                    starts_on=item.interval.starts_on,
                    ends_on=item.interval.ends_on,
                    required=item.rule.required,
                    done=done,
                    met=met,
                )
                closed += 1
            if met or item.interval.ends_on < through - timedelta(days=ALERT_WINDOW_DAYS):
                # An old miss (a supervision entered late, or a worker long down) is recorded
                # for compliance but not alerted: a flood of stale alerts helps no officer.
                continue
            key = f"{supervision.id}:{kind}:{item.interval.starts_on.isoformat()}"
            unit = unit or await OrgUnit.get(id=supervision.org_unit_id)  # type: ignore[attr-defined]
            raised = await alerts.raise_alert(
                kind="missed_checkin",
                subject_type="supervision",
                subject_id=supervision.id,
                org_unit=unit,
                recipients=[supervision.officer_id],  # type: ignore[attr-defined]
                title=f"矫正对象未按期完成{KIND_NAMES_ZH.get(kind, kind)}",
                dedup_key=key,
                detail={
                    "obligation": kind,
                    "starts_on": item.interval.starts_on.isoformat(),
                    "ends_on": item.interval.ends_on.isoformat(),
                    "required": item.rule.required,
                    "done": done,
                },
                once=True,
            )
            missed += raised is not None
    supervision.closed_through = through
    await supervision.save(update_fields=["closed_through", "updated_at"])
    return closed, missed


# Misses of intervals that ended longer ago than this are recorded without an alert.
ALERT_WINDOW_DAYS = 35


@job("correction.close_intervals", every_s=300)
async def close_intervals(now: datetime) -> str:
    """Close the obligation intervals that ended before today (local) and alert the missed ones."""
    tz = _tz()
    through = local_date(now, tz) - timedelta(days=1)
    pending = (
        await Supervision.filter(
            Q(starts_on__lte=through),
            Q(closed_through__isnull=True)
            | (Q(closed_through__lt=through) & Q(closed_through__lt=F("ends_on"))),
        )
        .order_by("id")
        .limit(CLOSE_BATCH)
    )
    closed = missed = 0
    for supervision in pending:
        c, m = await close_supervision_intervals(supervision=supervision, through=through, tz=tz)
        closed += c
        missed += m
    return f"{len(pending)} supervisions, {closed} intervals closed, {missed} missed"


# --- reminders ----------------------------------------------------------------------------------

SUBJECT_OBLIGATIONS = (
    ObligationKind.LOCATION,
    ObligationKind.REPORT,
    ObligationKind.THOUGHT_REPORT,
    ObligationKind.SERVICE_HOURS,
    ObligationKind.STUDY,
)
# How long before an interval's end the subject is reminded, by interval length.
REMIND_BEFORE_DAYS = {
    IntervalKind.DAY: 0,
    IntervalKind.WEEK: 1,
    IntervalKind.TWO_WEEKS: 2,
}
REMIND_BEFORE_DAYS_DEFAULT = 3
DAILY_REMINDER_FROM = time(18, 0)
NOTICE_BATCH = 5000


@notice_source("correction.checkins_due")
async def checkins_due(now: datetime) -> list[Notice]:
    """Subjects' obligations whose interval ends soon and is not yet met (one notice each)."""
    tz = _tz()
    local_now = now.astimezone(tz)
    today = local_now.date()
    # An ended supervision reminds no one, even on its last day.
    supervisions = await Supervision.filter(
        starts_on__lte=today, ends_on__gte=today, ended_on__isnull=True
    ).limit(NOTICE_BATCH)
    wanted: list[tuple[Supervision, DueObligation]] = []
    for s in supervisions:
        rules, history = _rule_set(s), _history(s)
        this_month = today.replace(day=1)
        for month in (this_month, _next_month(this_month)):
            if month > s.ends_on:
                continue
            for item in obligations_for_month(
                rules=rules,
                history=history,
                month=month,
                supervision_starts_on=s.starts_on,
                supervision_ends_on=s.ends_on,
            ):
                if item.rule.kind not in SUBJECT_OBLIGATIONS:
                    continue
                if not item.interval.starts_on <= today <= item.interval.ends_on:
                    continue
                lead = REMIND_BEFORE_DAYS.get(item.rule.interval, REMIND_BEFORE_DAYS_DEFAULT)
                if (item.interval.ends_on - today).days > lead:
                    continue
                if (
                    item.rule.interval is IntervalKind.DAY
                    and local_now.time() < DAILY_REMINDER_FROM
                ):
                    continue
                wanted.append((s, item))
    if not wanted:
        return []
    lo = min(interval_bounds_utc(interval=i.interval, tz=tz)[0] for _, i in wanted)
    rows = await CheckIn.filter(
        supervision_id__in=list({s.id for s, _ in wanted}), occurred_at__gte=lo
    ).values("supervision_id", "kind", "occurred_at", "hours")
    by_supervision: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_supervision[row["supervision_id"]].append(row)
    notices: list[Notice] = []
    for s, item in wanted:
        [(_, done, _end)] = _tally([item], by_supervision.get(s.id, []), tz)
        if done >= item.rule.required:
            continue
        name = KIND_NAMES_ZH.get(item.rule.kind.value, item.rule.kind.value)
        remaining = item.rule.required - done
        amount = f"{remaining:g} 小时" if item.rule.unit is Unit.HOURS else f"{remaining:g} 次"
        notices.append(
            Notice(
                user_ids=(s.subject_id,),  # type: ignore[attr-defined]
                title=f"请按时完成{name}",
                body=f"本期（{item.interval.starts_on:%m月%d日}至{item.interval.ends_on:%m月%d日}）"
                f"还需完成{name} {amount}。",
                cause_key=f"correction:{s.id}:{item.rule.kind.value}:{item.interval.starts_on.isoformat()}",
                data={"type": "supervision", "id": str(s.id), "kind": item.rule.kind.value},
                collapse_key=f"correction:{s.id}:{item.rule.kind.value}",
                ttl_s=12 * 3600,
            )
        )
    return notices
