"""Request and response bodies of community correction, and the views that need more than
`model_validate` (a supervision's level in force and obligations, a subject's status today).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from api.schemas import DateInput, Lat, Lon, Output, StrictInput, UtcInput, UtcOutput
from grassroots import clock
from models.correction import (
    CheckIn,
    CheckInKind,
    CheckInStatus,
    EndReason,
    Grade,
    LeaveStatus,
    Level,
    Supervision,
)
from models.org import OrgUnit
from services.correction import dates, levels
from services.correction.overview import SubjectToday

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Accuracy = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
Hours = Annotated[
    float, Field(ge=0, le=24, allow_inf_nan=False, description="Hours in this one entry, 0..24")
]


# --- schemas ------------------------------------------------------------------------------------


class ObligationPublic(Output):
    kind: str
    interval: str
    required: float
    unit: str


class LevelChange(Output):
    level: Level
    decided_on: date
    decided_at: str
    decided_by: uuid.UUID


class SupervisionCreate(StrictInput):
    client_id: uuid.UUID
    subject_user_id: uuid.UUID
    officer_id: uuid.UUID
    permitted_zone_id: uuid.UUID
    level: Level
    starts_on: DateInput
    ends_on: DateInput


class LevelUpdate(StrictInput):
    level: Level


class SupervisionEnd(StrictInput):
    ended_on: DateInput = Field(description="The last local day under supervision, not after today")
    reason: EndReason
    note: Annotated[str, Field(max_length=1000)] | None = None


class SupervisionPublic(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    subject_user_id: uuid.UUID
    officer_id: uuid.UUID
    permitted_zone_id: uuid.UUID
    org_unit_id: uuid.UUID
    level: Level = Field(description="The level last decided")
    level_in_force: Level = Field(description="The level whose location rule governs today")
    level_history: list[LevelChange]
    starts_on: date
    ends_on: date = Field(
        description="The effective last day: the planned end, or `ended_on` once ended"
    )
    planned_ends_on: date = Field(description="The end planned at creation, kept when ended")
    ended_on: date | None = Field(description="The last day of a supervision that was ended")
    end_reason: EndReason | None
    end_note: str | None
    ended_at: UtcOutput | None
    ended_by_id: uuid.UUID | None
    obligations: list[ObligationPublic] = Field(description="What the decided level implies")
    created_at: UtcOutput
    updated_at: UtcOutput


class CheckInCreate(StrictInput):
    id: uuid.UUID
    kind: Literal["location", "report", "thought_report", "service_hours", "study"]
    occurred_at: UtcInput
    lon: Lon | None = None
    lat: Lat | None = None
    accuracy_m: Accuracy | None = None
    hours: Hours | None = None
    text: Text | None = None


class OfficerCheckInCreate(StrictInput):
    id: uuid.UUID
    kind: Literal["report", "home_visit"]
    occurred_at: UtcInput
    lon: Lon | None = None
    lat: Lat | None = None
    accuracy_m: Accuracy | None = None
    text: Text | None = None


class CheckInPublic(Output):
    id: uuid.UUID
    supervision_id: uuid.UUID
    subject_id: uuid.UUID
    recorded_by_id: uuid.UUID
    kind: CheckInKind
    occurred_at: UtcOutput
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    hours: float | None
    text: str | None
    inside_permitted_area: bool | None
    distance_outside_m: float | None
    on_approved_leave: bool
    status: CheckInStatus = Field(
        description="ok; violation (outside, no leave); unverified (proves nothing: too "
        "imprecise, or no area to judge by); late (taken more than "
        "GRASSROOTS_CHECKIN_LATE_AFTER_H before it arrived: counts once the officer confirms)"
    )
    retry: bool = Field(
        default=False,
        description="True when the position was too imprecise to count: the app should take "
        "another fix and send a new check-in (a new id)",
    )
    confirmed_at: UtcOutput | None = None
    confirmed_by_id: uuid.UUID | None = None
    created_at: UtcOutput


def checkin_public(checkin: CheckIn) -> CheckInPublic:
    """The public view of a check-in, telling the app to retry one that proves nothing."""
    public = CheckInPublic.model_validate(checkin)
    # Unverified with a judged position means the fix was too imprecise (a retry may succeed);
    # unverified without one means no area to judge by (a retry would not help).
    public.retry = (
        checkin.status == CheckInStatus.unverified and checkin.inside_permitted_area is not None
    )
    return public


class LeaveCreate(StrictInput):
    id: uuid.UUID
    starts_at: UtcInput
    ends_at: UtcInput
    destination: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class LeaveDecision(StrictInput):
    approved: bool
    note: Annotated[str, Field(max_length=2000)] | None = None


class LeavePublic(Output):
    id: uuid.UUID
    supervision_id: uuid.UUID
    subject_id: uuid.UUID
    starts_at: UtcOutput
    ends_at: UtcOutput
    destination: str
    reason: str
    status: LeaveStatus
    decided_by_id: uuid.UUID | None
    decided_at: UtcOutput | None
    decision_note: str | None
    created_at: UtcOutput


class IntervalPublic(Output):
    starts_on: date
    ends_on: date
    required: float
    done: float
    met: bool
    closed: bool = Field(description="True once the interval has ended")
    level: Level


class ObligationCompliance(Output):
    kind: str
    unit: str
    interval: str
    required: float
    done: float = Field(description="Sum over intervals, each credited up to its requirement")
    intervals: list[IntervalPublic]


class ViolationPublic(Output):
    kind: Literal["missed_checkin", "outside_permitted_area"]
    at: UtcOutput
    obligation: str | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    required: float | None = None
    done: float | None = None
    checkin_id: uuid.UUID | None = None
    distance_outside_m: float | None = None


class AssessmentPut(StrictInput):
    grade: Grade = Field(description="good 良好, pass 合格, warning 警告, fail 不合格")
    remark: Annotated[str, Field(max_length=2000)] = ""


class AssessmentPublic(Output):
    id: uuid.UUID
    supervision_id: uuid.UUID
    month: str
    grade: Grade
    remark: str
    assessed_by_id: uuid.UUID
    assessed_at: UtcOutput


class CompliancePublic(Output):
    supervision_id: uuid.UUID
    month: str
    obligations: list[ObligationCompliance]
    violations: list[ViolationPublic]
    assessment: AssessmentPublic | None


class SubjectTodayPublic(Output):
    supervision_id: uuid.UUID
    subject_user_id: uuid.UUID
    subject_name: str
    level: Level
    status: Literal["ended", "outside", "on_leave", "overdue", "checked_in", "pending"]
    ended_on: date | None
    end_reason: EndReason | None
    checked_in: bool
    outside: bool
    on_leave: bool
    overdue: bool
    open_alerts: int
    last_checkin_at: UtcOutput | None


class ObligationRulesPublic(Output):
    org_unit_id: uuid.UUID
    rules: dict[str, list[ObligationPublic]]


class ObligationRulesPut(StrictInput):
    rules: Annotated[
        dict[str, Annotated[list[dict[str, Any]], Field(max_length=20)]], Field(max_length=3)
    ]


# --- views --------------------------------------------------------------------------------------


def supervision_public(s: Supervision, *, now: datetime | None = None) -> SupervisionPublic:
    """The public view of a supervision with the obligations its decided level implies."""
    today = dates.local_date(now or clock.now())
    return SupervisionPublic(
        id=s.id,
        client_id=s.client_id,
        subject_user_id=s.subject_id,  # type: ignore[attr-defined]
        officer_id=s.officer_id,  # type: ignore[attr-defined]
        permitted_zone_id=s.permitted_zone_id,
        org_unit_id=s.org_unit_id,  # type: ignore[attr-defined]
        level=s.level,
        level_in_force=Level(levels.level_in_force(supervision=s, day=today).value),
        level_history=[LevelChange.model_validate(e) for e in s.level_history],
        starts_on=s.starts_on,
        ends_on=s.ends_on,
        planned_ends_on=s.planned_ends_on or s.ends_on,
        ended_on=s.ended_on,
        end_reason=s.end_reason,
        end_note=s.end_note,
        ended_at=s.ended_at,
        ended_by_id=s.ended_by_id,
        obligations=[
            ObligationPublic(**o) for o in levels.obligations_of(rules=s.rules, level=s.level)
        ],
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def subject_today_public(item: SubjectToday) -> SubjectTodayPublic:
    """One line of the officer's list."""
    return SubjectTodayPublic(
        supervision_id=item.supervision.id,
        subject_user_id=item.supervision.subject_id,  # type: ignore[attr-defined]
        subject_name=item.subject_name,
        level=Level(item.level),
        status=item.status,  # type: ignore[arg-type]
        ended_on=item.supervision.ended_on,
        end_reason=item.supervision.end_reason,
        checked_in=item.checked_in,
        outside=item.outside,
        on_leave=item.on_leave,
        overdue=item.overdue,
        open_alerts=item.open_alerts,
        last_checkin_at=item.last_checkin_at,
    )


def rules_public(unit: OrgUnit, rules: dict[str, Any]) -> ObligationRulesPublic:
    """An office's rule set per level."""
    return ObligationRulesPublic(
        org_unit_id=unit.id,
        rules={level: [ObligationPublic(**r) for r in entries] for level, entries in rules.items()},
    )
