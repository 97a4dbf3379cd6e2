"""Compliance: a month of one supervision judged interval by interval, its violations, its CSV,
and the officer's monthly assessment (评议考核).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

import services.correction.messages  # noqa: F401  (registers the codes raised here)
from grassroots.errors import Conflict, Invalid
from models.correction import (
    COUNTING_STATUSES,
    Assessment,
    CheckIn,
    CheckInStatus,
    Grade,
    Supervision,
)
from models.org import User
from services import audit
from services.correction.dates import local_date, local_zone, month_bounds_utc, next_month
from services.correction.levels import KIND_NAMES_ZH, history, rule_set
from services.correction.rules import (
    DueObligation,
    ObligationKind,
    Unit,
    interval_bounds_utc,
    obligations_for_month,
)
from services.correction.supervisions import supervision_for_month
from services.spreadsheet import excel_csv


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


def tally(
    due: Sequence[DueObligation], checkins: Sequence[Mapping[str, Any]], tz: ZoneInfo
) -> list[tuple[DueObligation, float, datetime]]:
    """(obligation, done, end instant) for each due interval, counting or summing hours.

    Only check-ins that prove something count: not `unverified` ones, nor `late` ones until
    the officer confirms them.
    """
    by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in checkins:
        if row["status"] not in COUNTING_STATUSES:
            continue
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


async def checkins_between(
    supervision_id: uuid.UUID, start_at: datetime, end_at: datetime
) -> list[dict[str, Any]]:
    """The check-ins of a supervision in [start_at, end_at), as the rows `tally` reads."""
    return await CheckIn.filter(
        supervision_id=supervision_id, occurred_at__gte=start_at, occurred_at__lt=end_at
    ).values("id", "kind", "occurred_at", "hours", "status", "distance_outside_m")


async def compliance(*, supervision: Supervision, month: date, now: datetime) -> ComplianceResult:
    """Obligations, intervals, violations and the assessment of one month, audited as a read."""
    tz = local_zone()
    if (
        month > local_date(now, tz).replace(day=1)
        or month > supervision.ends_on
        or next_month(month) <= supervision.starts_on
    ):
        raise Invalid("month_invalid")
    due = obligations_for_month(
        rules=rule_set(supervision),
        history=history(supervision),
        month=month,
        supervision_starts_on=supervision.starts_on,
        supervision_ends_on=supervision.ends_on,
    )
    month_start, month_end = month_bounds_utc(month, tz)
    lo, hi = month_start, month_end
    for item in due:
        start_at, end_at = interval_bounds_utc(interval=item.interval, tz=tz)
        lo, hi = min(lo, start_at), max(hi, end_at)
    rows = await checkins_between(supervision.id, lo, hi)
    results: dict[str, ObligationResult] = {}
    violations: list[dict[str, Any]] = []
    for item, done, end_at in tally(due, rows, tz):
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
        or next_month(month) <= supervision.starts_on
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


async def my_compliance(*, user: User, month: date, now: datetime) -> ComplianceResult:
    """A subject's compliance for a month of their (latest) supervision running then."""
    supervision = await supervision_for_month(user=user, month=month)
    return await compliance(supervision=supervision, month=month, now=now)
