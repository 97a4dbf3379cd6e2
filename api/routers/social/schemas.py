"""Social work's request and response schemas, and the hand-encoded shapes of the hot paths."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import Field
from pydantic_core import to_json

from api.schemas import (
    DateInput,
    Lat,
    Lon,
    LongText,
    Name,
    Output,
    StrictInput,
    UtcInput,
    UtcOutput,
)
from models.social import (
    CareRole,
    CaseStatus,
    Client,
    ClientCategory,
    CloseReason,
    RiskLevel,
    VisitKind,
)
from services.identity import mask_phone
from services.social import cadence
from services.social.sixones import TaskView

Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9 -]+$")]
IdNumber = Annotated[
    str, Field(min_length=1, max_length=32, description="18-character resident identity number")
]
Address = Annotated[str, Field(min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=1000)]


class ClientCreate(StrictInput):
    full_name: Name
    category: ClientCategory
    id_number: IdNumber | None = None
    phone: Phone | None = None
    address: Address
    home_lon: Lon | None = None
    home_lat: Lat | None = None
    risk_level: RiskLevel
    org_unit_id: uuid.UUID


class ClientSearch(StrictInput):
    id_number: IdNumber
    category: ClientCategory | None = None


class ClientUpdate(StrictInput):
    full_name: Name | None = None
    id_number: IdNumber | None = None
    phone: Phone | None = None
    address: Address | None = None
    home_lon: Lon | None = None
    home_lat: Lat | None = None
    risk_level: RiskLevel | None = None


class ClientPublic(Output):
    id: uuid.UUID
    full_name: str
    category: ClientCategory
    id_number: str | None = Field(description="Masked: first 4 and last 4 characters")
    phone: str | None = Field(description="Masked in list views")
    address: str
    home_lon: float | None
    home_lat: float | None
    risk_level: RiskLevel
    org_unit_id: uuid.UUID
    social_worker_id: uuid.UUID | None = Field(
        description="The worker who holds the case; for a closed case, who held it when it closed"
    )
    assigned_at: UtcOutput | None
    last_visit_at: UtcOutput | None
    next_visit_due: date | None = Field(description="Null for a closed or unassigned case")
    overdue: bool
    status: CaseStatus = Field(description="open, or closed (结案: kept, on no caseload)")
    closed_on: date | None = Field(description="Local date the case was closed, when closed")
    close_reason: CloseReason | None
    created_at: UtcOutput
    updated_at: UtcOutput


class WorkerAssign(StrictInput):
    user_id: uuid.UUID


class CaseClose(StrictInput):
    closed_on: DateInput = Field(
        description="Local date, not in the future nor before registration, assignment or reopening"
    )
    reason: CloseReason
    note: Note = ""


class CaseReopen(StrictInput):
    note: Note = ""


class DelegationCreate(StrictInput):
    org_unit_id: uuid.UUID
    starts_on: DateInput
    ends_on: DateInput | None = None
    note: Note = ""


class DelegationEnd(StrictInput):
    ends_on: DateInput


class DelegationPublic(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    org_unit_id: uuid.UUID
    starts_on: date
    ends_on: date | None
    note: str
    created_at: UtcOutput


class SocialWorkerAssignmentPublic(Output):
    user_id: uuid.UUID
    full_name: str
    starts_at: UtcOutput
    ends_at: UtcOutput | None
    assigned_by_id: uuid.UUID | None


class ClosurePublic(Output):
    closed_on: date
    reason: CloseReason
    note: str
    closed_at: UtcOutput
    closed_by_id: uuid.UUID | None
    reopened_at: UtcOutput | None = Field(description="Null while the case stays closed")
    reopened_by_id: uuid.UUID | None
    reopen_note: str


class ClientHistoryPublic(Output):
    client_id: uuid.UUID
    assignments: list[SocialWorkerAssignmentPublic]
    delegations: list[DelegationPublic]
    closures: list[ClosurePublic] = Field(description="Each closing (结案) and its reopening")


class CaseloadItem(Output):
    client: ClientPublic
    last_visit_at: UtcOutput | None
    next_visit_due: date | None
    overdue: bool


class ClientVisitCreate(StrictInput):
    id: uuid.UUID
    kind: VisitKind
    occurred_at: UtcInput
    lon: Lon | None = None
    lat: Lat | None = None
    accuracy_m: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)] | None = None
    notes: LongText = ""


class ClientVisitPublic(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    recorded_by_id: uuid.UUID
    kind: VisitKind
    occurred_at: UtcOutput
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    notes: str
    location_verified: bool
    distance_m: float | None
    created_at: UtcOutput


class CareMemberCreate(StrictInput):
    user_id: uuid.UUID
    role: CareRole


class CareMemberPublic(Output):
    user_id: uuid.UUID
    full_name: str
    role: CareRole
    created_at: UtcOutput


class TeamSummary(Output):
    id: uuid.UUID
    name: str
    org_unit_id: uuid.UUID
    lead_id: uuid.UUID
    anchor_month: date


class TeamMemberPublic(Output):
    user_id: uuid.UUID
    full_name: str
    is_lead: bool


class TeamDetail(TeamSummary):
    members: list[TeamMemberPublic]


class TaskPublic(Output):
    id: uuid.UUID
    team_id: uuid.UUID
    kind: str
    period: str
    starts_on: date
    due_on: date
    status: Literal["open", "done", "overdue"]
    completed_at: UtcOutput | None
    notes: str
    attendee_ids: list[uuid.UUID]


class TaskComplete(StrictInput):
    completed_at: UtcInput
    notes: LongText = ""
    attendee_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = []


class CaseloadRowPublic(Output):
    user_id: uuid.UUID
    full_name: str
    org_unit_id: uuid.UUID
    caseload: int
    overdue: int
    cap: int


class OverdueRowPublic(Output):
    client_id: uuid.UUID
    full_name: str
    category: ClientCategory
    risk_level: RiskLevel
    org_unit_id: uuid.UUID
    social_worker_id: uuid.UUID
    social_worker_name: str
    last_visit_at: UtcOutput | None
    next_visit_due: date
    days_overdue: int


class TeamYearPublic(Output):
    team_id: uuid.UUID
    team_name: str
    total: int
    done: int
    overdue: int
    open: int
    tasks: list[TaskPublic]


class SixonesReport(Output):
    year: int
    teams: list[TeamYearPublic]


# The spec names a schema whose class name another domain also uses (patrol's visits and
# assignments) by its module. These keep the module they had before the router became a package,
# so their names in the spec stay; rebuilt (annotations resolve here) to take the name, with the
# schema that embeds one of them.
for _schema in (SocialWorkerAssignmentPublic, ClientVisitCreate, ClientVisitPublic):
    _schema.__module__ = "api.routers.social"
    _schema.model_rebuild(force=True)
ClientHistoryPublic.model_rebuild(force=True)


# --- views ----------------------------------------------------------------------------------


def client_public(client: Client, *, today: date, masked_phone: bool = False) -> ClientPublic:
    """The public view of a client: identity number always masked, phone masked in lists."""
    phone = client.phone
    if phone and masked_phone:
        phone = mask_phone(phone)
    return ClientPublic(
        id=client.id,
        full_name=client.full_name,
        category=client.category,
        id_number=client.id_number_masked,
        phone=phone,
        address=client.address,
        home_lon=client.home_lon,
        home_lat=client.home_lat,
        risk_level=client.risk_level,
        org_unit_id=client.org_unit_id,
        social_worker_id=client.social_worker_id,
        assigned_at=client.assigned_at,
        last_visit_at=client.last_visit_at,
        next_visit_due=client.visit_due_on,
        overdue=cadence.is_overdue(due_on=client.visit_due_on, today=today),
        status=client.status,
        closed_on=client.closed_on,
        close_reason=client.close_reason,
        created_at=client.created_at,
        updated_at=client.updated_at,
    )


def _utc(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back text, PostgreSQL datetimes)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not UTC and value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    return value  # type: ignore[no-any-return]


_ZERO = timedelta(0)


def _id_text(value: Any) -> str | None:
    return None if value is None else str(value)


def caseload_item(row: dict[str, Any], *, today: date) -> dict[str, Any]:
    """One caseload entry, the same shape as `CaseloadItem` once encoded (tested).

    Dates and UTC datetimes stay objects: `pydantic_core.to_json` writes them in Rust (RFC 3339
    with Z) several times faster than building strings here. Ids become text here: asyncpg's
    UUID subclass would send `to_json` down a path ten times slower than `str`.
    """
    due = row["visit_due_on"]
    due_on = date.fromisoformat(due) if isinstance(due, str) else due
    last_visit_at = _utc(row["last_visit_at"])
    overdue = cadence.is_overdue(due_on=due_on, today=today)
    phone = row["phone"]
    client = {
        "id": str(row["id"]),
        "full_name": row["full_name"],
        "category": str(row["category"]),
        "id_number": row["id_number_masked"],
        "phone": mask_phone(phone) if phone else phone,
        "address": row["address"],
        "home_lon": row["home_lon"],
        "home_lat": row["home_lat"],
        "risk_level": str(row["risk_level"]),
        "org_unit_id": str(row["org_unit_id"]),
        "social_worker_id": _id_text(row["social_worker_id"]),
        "assigned_at": _utc(row["assigned_at"]),
        "last_visit_at": last_visit_at,
        "next_visit_due": due_on,
        "overdue": overdue,
        "status": str(row["status"]),
        "closed_on": row["closed_on"],  # a date, or its ISO text from SQLite: the same JSON
        "close_reason": None if row["close_reason"] is None else str(row["close_reason"]),
        "created_at": _utc(row["created_at"]),
        "updated_at": _utc(row["updated_at"]),
    }
    return {
        "client": client,
        "last_visit_at": last_visit_at,
        "next_visit_due": due_on,
        "overdue": overdue,
    }


def caseload_json(rows: list[dict[str, Any]], today: date) -> bytes:
    """A caseload as JSON in the shape of `list[CaseloadItem]` (tested), without per-item models.

    Validating 50 nested models per call would cost more than the query (see bench/b5).
    """
    return to_json([caseload_item(r, today=today) for r in rows])


def tasks_response(tasks: list[TaskView]) -> Response:
    """A task list as JSON in the shape of `TaskPublic` (tested), without per-item validation."""
    body = [
        {
            "id": str(t.id),
            "team_id": str(t.team_id),
            "kind": t.kind,
            "period": t.period,
            "starts_on": t.starts_on,
            "due_on": t.due_on,
            "status": t.status,
            "completed_at": _utc(t.completed_at),
            "notes": t.notes,
            "attendee_ids": [str(a) for a in t.attendee_ids],
        }
        for t in tasks
    ]
    return Response(content=to_json(body), media_type="application/json")
