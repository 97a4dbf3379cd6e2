"""Community correction: supervisions, check-ins, leave, compliance and assessments.

Officers (and supervisors, admins) see the supervisions in their org subtree; a subject sees only
their own through the `/me/...` routes. The monthly compliance export is a separate path,
`GET /supervisions/{id}/compliance.csv?month=YYYY-MM` (CSV, UTF-8 with BOM, opens in Excel).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import Response as RawResponse
from pydantic import Field

from api.deps import CurrentUser, loader, roles
from api.pagination import PageParams, paginate
from api.schemas import Lat, Lon, Output, Page, StrictInput, UtcInput, UtcOutput
from grassroots import clock
from models.correction import (
    Assessment,
    CheckIn,
    CheckInKind,
    CheckInStatus,
    EndReason,
    Grade,
    LeaveRequest,
    LeaveStatus,
    Level,
    Supervision,
)
from models.org import OrgUnit, Role, User
from services import audit, correction
from services.errors import Invalid, NotFound
from services.idempotency import fingerprint
from services.scope import Access, is_admin, subtree

router = APIRouter(tags=["correction"])


class ProblemOut(Output):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": ProblemOut, "content": {"application/problem+json": {}}} for code in codes
    }


COMMON = (401, 403, 404, 422)

OFFICER_ROLES = (Role.officer, Role.supervisor, Role.admin)


def _leave_scope(qs: Any, user: User) -> Any:
    """Officers decide the leave of their own subjects; supervisors their subtree; admins all."""
    if is_admin(user):
        return qs
    if user.has_role(Role.supervisor):
        return qs.filter(org_path__startswith=user.org_path)
    return qs.filter(supervision__officer_id=user.id)


SUPERVISION_ACCESS = Access(Supervision, roles=OFFICER_ROLES, scope=subtree())
LEAVE_ACCESS = Access(LeaveRequest, roles=OFFICER_ROLES, scope=_leave_scope)
MY_LEAVE_ACCESS = Access(
    LeaveRequest, roles=[Role.subject], scope=lambda qs, user: qs.filter(subject_id=user.id)
)

OfficerUser = Annotated[User, Depends(roles(*OFFICER_ROLES))]
SubjectUser = Annotated[User, Depends(roles(Role.subject))]
LoadedSupervision = Annotated[Supervision, Depends(loader(SUPERVISION_ACCESS))]
MonthText = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="Local month, YYYY-MM")]

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
    starts_on: date
    ends_on: date


class LevelUpdate(StrictInput):
    level: Level


class SupervisionEnd(StrictInput):
    ended_on: date = Field(description="The last local day under supervision, not after today")
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
    status: CheckInStatus
    created_at: UtcOutput


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
    today = correction.local_date(now or clock.now())
    return SupervisionPublic(
        id=s.id,
        client_id=s.client_id,
        subject_user_id=s.subject_id,  # type: ignore[attr-defined]
        officer_id=s.officer_id,  # type: ignore[attr-defined]
        permitted_zone_id=s.permitted_zone_id,
        org_unit_id=s.org_unit_id,  # type: ignore[attr-defined]
        level=s.level,
        level_in_force=Level(correction.level_in_force(supervision=s, day=today).value),
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
            ObligationPublic(**o) for o in correction.obligations_of(rules=s.rules, level=s.level)
        ],
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def checkin_public(c: CheckIn) -> CheckInPublic:
    """The public view of a check-in."""
    return CheckInPublic.model_validate(c)


def leave_public(leave: LeaveRequest) -> LeavePublic:
    """The public view of a leave request."""
    return LeavePublic.model_validate(leave)


def assessment_public(a: Assessment) -> AssessmentPublic:
    """The public view of an assessment."""
    return AssessmentPublic.model_validate(a)


def compliance_public(result: correction.ComplianceResult) -> CompliancePublic:
    """The public view of a month's compliance."""
    return CompliancePublic(
        supervision_id=result.supervision_id,
        month=result.month,
        obligations=[
            ObligationCompliance(
                kind=o.kind,
                unit=o.unit,
                interval=o.interval,
                required=o.required,
                done=o.done,
                intervals=[IntervalPublic.model_validate(i) for i in o.intervals],
            )
            for o in result.obligations
        ],
        violations=[ViolationPublic.model_validate(v) for v in result.violations],
        assessment=assessment_public(result.assessment) if result.assessment else None,
    )


# --- supervisions -------------------------------------------------------------------------------


@router.post(
    "/supervisions",
    operation_id="create_supervision",
    status_code=status.HTTP_201_CREATED,
    responses=_problems(*COMMON, 409),
)
async def create_supervision(body: SupervisionCreate, user: OfficerUser) -> SupervisionPublic:
    """Place a subject under supervision; the answer lists the obligations the level implies."""
    now = clock.now()
    created = await correction.create_supervision(
        actor=user,
        client_id=body.client_id,
        subject_user_id=body.subject_user_id,
        officer_id=body.officer_id,
        permitted_zone_id=body.permitted_zone_id,
        level=body.level,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        now=now,
    )
    return supervision_public(created, now=now)


@router.get("/supervisions", operation_id="list_supervisions", responses=_problems(*COMMON))
async def list_supervisions(
    user: CurrentUser,
    page: PageParams,
    officer_id: Annotated[uuid.UUID | None, Query()] = None,
    subject_user_id: Annotated[uuid.UUID | None, Query()] = None,
    active_on: Annotated[
        date | None, Query(description="Only supervisions running that day")
    ] = None,
) -> Page[SupervisionPublic]:
    """Supervisions in my org subtree (officers, supervisors, admins)."""
    qs = SUPERVISION_ACCESS.queryset(user)
    if officer_id is not None:
        qs = qs.filter(officer_id=officer_id)
    if subject_user_id is not None:
        qs = qs.filter(subject_id=subject_user_id)
    if active_on is not None:
        qs = qs.filter(starts_on__lte=active_on, ends_on__gte=active_on)
    rows, cursor = await paginate(qs, page)
    await audit.record(
        action="list", resource_type="supervision", resource_id=None, detail={"count": len(rows)}
    )
    return Page(items=[supervision_public(s) for s in rows], next_cursor=cursor)


@router.get("/supervisions/{id}", operation_id="get_supervision", responses=_problems(*COMMON))
async def get_supervision(supervision: LoadedSupervision) -> SupervisionPublic:
    """One supervision in my subtree."""
    return supervision_public(await correction.read_supervision(supervision=supervision))


@router.patch(
    "/supervisions/{id}/level",
    operation_id="change_supervision_level",
    responses=_problems(*COMMON, 409),
)
async def change_supervision_level(
    body: LevelUpdate, user: OfficerUser, supervision: LoadedSupervision
) -> SupervisionPublic:
    """Change the level; each obligation follows it from its next interval, history is kept."""
    now = clock.now()
    updated = await correction.change_level(
        actor=user, supervision=supervision, level=body.level, now=now
    )
    return supervision_public(updated, now=now)


@router.post(
    "/supervisions/{id}/end",
    operation_id="end_supervision",
    responses=_problems(*COMMON, 409),
)
async def end_supervision(
    body: SupervisionEnd, user: OfficerUser, supervision: LoadedSupervision
) -> SupervisionPublic:
    """End a supervision early or at its planned end (解除/终止社区矫正).

    `ended_on` is the last day under supervision: no obligation, check-in or leave after it.
    The answer's `ends_on` is the effective end (`ended_on`) and `planned_ends_on` keeps the end
    planned at creation. `ended_on` may not precede `starts_on` (422 `ended_on_before_start`),
    follow the planned end (422 `ended_on_after_planned_end`) or today's local date (422
    `ended_on_in_future`). Pending leave starting after the end is rejected. The identical end
    again answers 200 with the stored supervision, another end of an ended one is a 409
    `supervision_ended`.
    """
    now = clock.now()
    ended = await correction.end_supervision(
        actor=user,
        supervision=supervision,
        ended_on=body.ended_on,
        reason=body.reason,
        note=body.note,
        now=now,
    )
    return supervision_public(ended, now=now)


@router.get("/me/supervision", operation_id="get_my_supervision", responses=_problems(*COMMON))
async def get_my_supervision(user: SubjectUser) -> SupervisionPublic:
    """My current supervision (else my latest)."""
    now = clock.now()
    return supervision_public(await correction.my_supervision(user=user, now=now), now=now)


# --- check-ins ----------------------------------------------------------------------------------


@router.post(
    "/me/checkins",
    operation_id="create_my_checkin",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": CheckInPublic, "description": "Replay of a stored check-in"},
        **_problems(*COMMON, 409),
    },
)
async def create_my_checkin(
    body: CheckInCreate, user: SubjectUser, response: Response
) -> CheckInPublic:
    """Check in; a position is judged against the permitted area (with its accuracy) and leave."""
    checkin, created = await correction.record_checkin(
        user=user,
        checkin_id=body.id,
        kind=CheckInKind(body.kind),
        occurred_at=body.occurred_at,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        hours=body.hours,
        text=body.text,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return checkin_public(checkin)


@router.get("/me/checkins", operation_id="list_my_checkins", responses=_problems(*COMMON))
async def list_my_checkins(user: SubjectUser, page: PageParams) -> Page[CheckInPublic]:
    """My check-ins, newest first."""
    rows, cursor = await paginate(CheckIn.filter(subject_id=user.id), page)
    return Page(items=[checkin_public(c) for c in rows], next_cursor=cursor)


@router.post(
    "/supervisions/{id}/checkins",
    operation_id="create_officer_checkin",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": CheckInPublic, "description": "Replay of a stored record"},
        **_problems(*COMMON, 409),
    },
)
async def create_officer_checkin(
    body: OfficerCheckInCreate,
    user: OfficerUser,
    supervision: LoadedSupervision,
    response: Response,
) -> CheckInPublic:
    """Record an in-person report (报到) or a home visit for a subject I supervise."""
    checkin, created = await correction.record_officer_checkin(
        user=user,
        supervision=supervision,
        checkin_id=body.id,
        kind=CheckInKind(body.kind),
        occurred_at=body.occurred_at,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        text=body.text,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return checkin_public(checkin)


@router.get(
    "/supervisions/{id}/checkins",
    operation_id="list_supervision_checkins",
    responses=_problems(*COMMON),
)
async def list_supervision_checkins(
    supervision: LoadedSupervision, page: PageParams
) -> Page[CheckInPublic]:
    """Check-ins of one supervision, newest first."""
    await correction.read_supervision(supervision=supervision)
    rows, cursor = await paginate(CheckIn.filter(supervision_id=supervision.id), page)
    return Page(items=[checkin_public(c) for c in rows], next_cursor=cursor)


# --- leave --------------------------------------------------------------------------------------


@router.post(
    "/me/leave-requests",
    operation_id="create_my_leave_request",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": LeavePublic, "description": "Replay of a stored request"},
        **_problems(*COMMON, 409),
    },
)
async def create_my_leave_request(
    body: LeaveCreate, user: SubjectUser, response: Response
) -> LeavePublic:
    """Ask for leave to be outside the permitted area; pending until the officer decides."""
    leave, created = await correction.request_leave(
        user=user,
        leave_id=body.id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        destination=body.destination,
        reason=body.reason,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return leave_public(leave)


@router.get(
    "/me/leave-requests", operation_id="list_my_leave_requests", responses=_problems(*COMMON)
)
async def list_my_leave_requests(user: SubjectUser, page: PageParams) -> Page[LeavePublic]:
    """My leave requests, newest first."""
    rows, cursor = await paginate(LeaveRequest.filter(subject_id=user.id), page)
    return Page(items=[leave_public(x) for x in rows], next_cursor=cursor)


@router.post(
    "/me/leave-requests/{id}/cancel",
    operation_id="cancel_my_leave_request",
    responses=_problems(*COMMON, 409),
)
async def cancel_my_leave_request(
    leave: Annotated[LeaveRequest, Depends(loader(MY_LEAVE_ACCESS))],
) -> LeavePublic:
    """Withdraw my pending or approved leave before it starts."""
    return leave_public(await correction.cancel_leave(leave=leave, now=clock.now()))


@router.post(
    "/leave-requests/{id}/decision",
    operation_id="decide_leave_request",
    responses=_problems(*COMMON, 409),
)
async def decide_leave_request(
    body: LeaveDecision,
    user: OfficerUser,
    leave: Annotated[LeaveRequest, Depends(loader(LEAVE_ACCESS))],
) -> LeavePublic:
    """Approve or reject a pending leave of a subject I supervise."""
    decided = await correction.decide_leave(
        user=user, leave=leave, approved=body.approved, note=body.note, now=clock.now()
    )
    return leave_public(decided)


@router.get(
    "/supervisions/{id}/leave-requests",
    operation_id="list_supervision_leave_requests",
    responses=_problems(*COMMON),
)
async def list_supervision_leave_requests(
    supervision: LoadedSupervision, page: PageParams
) -> Page[LeavePublic]:
    """Leave requests of one supervision, newest first."""
    await correction.read_supervision(supervision=supervision)
    rows, cursor = await paginate(LeaveRequest.filter(supervision_id=supervision.id), page)
    return Page(items=[leave_public(x) for x in rows], next_cursor=cursor)


# --- compliance and assessment ------------------------------------------------------------------


@router.get(
    "/supervisions/{id}/compliance",
    operation_id="get_supervision_compliance",
    responses=_problems(*COMMON),
)
async def get_supervision_compliance(
    supervision: LoadedSupervision, month: MonthText
) -> CompliancePublic:
    """A month's obligations by interval, its violations and its assessment."""
    result = await correction.compliance(
        supervision=supervision, month=correction.parse_month(month), now=clock.now()
    )
    return compliance_public(result)


@router.get(
    "/supervisions/{id}/compliance.csv",
    operation_id="export_supervision_compliance_csv",
    response_class=RawResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The month as CSV (UTF-8 with BOM): intervals, then violations",
        },
        **_problems(*COMMON),
    },
)
async def export_supervision_compliance_csv(
    supervision: LoadedSupervision, month: MonthText
) -> RawResponse:
    """The month's compliance as CSV that Excel opens (UTF-8 with BOM)."""
    result = await correction.compliance(
        supervision=supervision, month=correction.parse_month(month), now=clock.now()
    )
    return RawResponse(
        content=correction.compliance_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="compliance-{supervision.id}-{month}.csv"'
        },
    )


@router.get("/me/compliance", operation_id="get_my_compliance", responses=_problems(*COMMON))
async def get_my_compliance(user: SubjectUser, month: MonthText) -> CompliancePublic:
    """My compliance for a month of my supervision."""
    first = correction.parse_month(month)
    supervision = (
        await Supervision.filter(
            subject_id=user.id, starts_on__lt=correction._next_month(first), ends_on__gte=first
        )
        .order_by("-starts_on")
        .first()
    )
    if supervision is None:
        raise NotFound()
    result = await correction.compliance(
        supervision=supervision, month=first, now=clock.now()
    )
    return compliance_public(result)


@router.put(
    "/supervisions/{id}/assessments/{month}",
    operation_id="put_supervision_assessment",
    responses={201: {"model": AssessmentPublic, "description": "Created"}, **_problems(*COMMON)},
)
async def put_supervision_assessment(
    body: AssessmentPut,
    user: OfficerUser,
    supervision: LoadedSupervision,
    month: Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="Local month, YYYY-MM")],
    response: Response,
) -> AssessmentPublic:
    """The monthly assessment (评议考核) of a subject: 201 when new, 200 when replaced."""
    assessment, created = await correction.put_assessment(
        user=user,
        supervision=supervision,
        month=correction.parse_month(month),
        grade=body.grade,
        remark=body.remark,
        now=clock.now(),
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return assessment_public(assessment)


# --- officer overview and office rules ----------------------------------------------------------


@router.get("/officer/subjects", operation_id="list_officer_subjects", responses=_problems(*COMMON))
async def list_officer_subjects(user: OfficerUser, page: PageParams) -> Page[SubjectTodayPublic]:
    """Subjects under my supervision today with their status and open alert counts.

    Officers see the supervisions they are the officer of; supervisors and admins their subtree.
    A supervision ended in the last 30 days is listed too, with status `ended`.
    """
    now = clock.now()
    today = correction.local_date(now)
    qs = SUPERVISION_ACCESS.queryset(user).filter(correction.officer_list_filter(today=today))
    if not user.has_role(Role.supervisor, Role.admin):
        qs = qs.filter(officer_id=user.id)
    rows, cursor = await paginate(qs, page, updated_field=None)
    items = await correction.subjects_today(supervisions=rows, now=now)
    return Page(
        items=[
            SubjectTodayPublic(
                supervision_id=i.supervision.id,
                subject_user_id=i.supervision.subject_id,  # type: ignore[attr-defined]
                subject_name=i.subject_name,
                level=Level(i.level),
                status=i.status,  # type: ignore[arg-type]
                ended_on=i.supervision.ended_on,
                end_reason=i.supervision.end_reason,
                checked_in=i.checked_in,
                outside=i.outside,
                on_leave=i.on_leave,
                overdue=i.overdue,
                open_alerts=i.open_alerts,
                last_checkin_at=i.last_checkin_at,
            )
            for i in items
        ],
        next_cursor=cursor,
    )


async def _office(org_unit_id: uuid.UUID, user: User) -> OrgUnit:
    unit = await OrgUnit.get_or_none(id=org_unit_id)
    if unit is None or not (is_admin(user) or unit.path.startswith(user.org_path)):
        raise NotFound()
    return unit


def _rules_public(unit: OrgUnit, rules: dict[str, Any]) -> ObligationRulesPublic:
    return ObligationRulesPublic(
        org_unit_id=unit.id,
        rules={level: [ObligationPublic(**r) for r in entries] for level, entries in rules.items()},
    )


@router.get(
    "/org-units/{id}/obligation-rules",
    operation_id="get_obligation_rules",
    responses=_problems(*COMMON),
)
async def get_obligation_rules(
    user: OfficerUser, org_unit_id: Annotated[uuid.UUID, Path(alias="id")]
) -> ObligationRulesPublic:
    """The rules new supervisions here get: the office's, an ancestor's or the defaults."""
    unit = await _office(org_unit_id, user)
    return _rules_public(unit, await correction.rules_for_org_path(org_path=unit.path))


@router.put(
    "/org-units/{id}/obligation-rules",
    operation_id="put_obligation_rules",
    responses=_problems(*COMMON),
)
async def put_obligation_rules(
    body: ObligationRulesPut,
    user: OfficerUser,
    org_unit_id: Annotated[uuid.UUID, Path(alias="id")],
) -> ObligationRulesPublic:
    """Set this office's rules per level; running supervisions keep the rules they started with."""
    unit = await _office(org_unit_id, user)
    if not isinstance(body.rules, dict):
        raise Invalid("rules_invalid", params={"reason": "not an object"})
    stored = await correction.put_obligation_config(org_unit=unit, rules=body.rules)
    return _rules_public(unit, stored)
