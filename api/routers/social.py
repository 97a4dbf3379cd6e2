"""Social work: clients, caseloads, visits, care groups, teams, six-ones and supervisor reports."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import Field
from pydantic_core import to_json

from api.deps import CurrentUser, SettingsDep
from api.pagination import PageParams, PageQuery, paginate
from api.schemas import (
    Lat,
    Lon,
    LongText,
    Name,
    Output,
    Page,
    StrictInput,
    UtcInput,
    UtcOutput,
)
from grassroots import clock
from models.org import Team, User
from models.social import (
    CareGroupMember,
    CareRole,
    CaseClosure,
    CaseStatus,
    Client,
    ClientCategory,
    CloseReason,
    Delegation,
    RiskLevel,
    Visit,
    VisitKind,
)
from services import social
from services.idempotency import fingerprint
from services.identity import mask_phone

PROBLEM = {"content": {"application/problem+json": {}}}
router = APIRouter(
    tags=["social"],
    responses={
        401: {"description": "Not signed in", **PROBLEM},
        403: {"description": "The role may not do this", **PROBLEM},
        404: {"description": "Not found or outside scope", **PROBLEM},
        422: {"description": "Invalid input", **PROBLEM},
    },
)
CONFLICT = {409: {"description": "Conflicts with the stored state", **PROBLEM}}
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}

Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9 -]+$")]
IdNumber = Annotated[
    str, Field(min_length=1, max_length=32, description="18-character resident identity number")
]
Address = Annotated[str, Field(min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=1000)]
Format = Annotated[Literal["json", "csv"], Query(description="`csv` gives a UTF-8 CSV with BOM")]


async def today_local(settings: SettingsDep) -> date:
    """Today's date in the deployment's time zone."""
    return social.local_today(now=clock.now(), tz=settings.tz)


Today = Annotated[date, Depends(today_local)]


async def scoped_client(id: uuid.UUID, user: CurrentUser, today: Today) -> Client:  # noqa: A002
    """The client of the path in the caller's scope (its read is audited), else 403/404."""
    return await social.load_client(user=user, client_id=id, today=today)


ScopedClient = Annotated[Client, Depends(scoped_client)]


# --- schemas --------------------------------------------------------------------------------


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
    closed_on: date = Field(
        description="Local date, not in the future nor before registration, assignment or reopening"
    )
    reason: CloseReason
    note: Note = ""


class CaseReopen(StrictInput):
    note: Note = ""


class DelegationCreate(StrictInput):
    org_unit_id: uuid.UUID
    starts_on: date
    ends_on: date | None = None
    note: Note = ""


class DelegationEnd(StrictInput):
    ends_on: date


class DelegationPublic(Output):
    id: uuid.UUID
    client_id: uuid.UUID
    org_unit_id: uuid.UUID
    starts_on: date
    ends_on: date | None
    note: str
    created_at: UtcOutput


class AssignmentPublic(Output):
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
    assignments: list[AssignmentPublic]
    delegations: list[DelegationPublic]
    closures: list[ClosurePublic] = Field(description="Each closing (结案) and its reopening")


class CaseloadItem(Output):
    client: ClientPublic
    last_visit_at: UtcOutput | None
    next_visit_due: date | None
    overdue: bool


class VisitCreate(StrictInput):
    id: uuid.UUID
    kind: VisitKind
    occurred_at: UtcInput
    lon: Lon | None = None
    lat: Lat | None = None
    accuracy_m: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)] | None = None
    notes: LongText = ""


class VisitPublic(Output):
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
        overdue=social.is_overdue(due_on=client.visit_due_on, today=today),
        status=client.status,
        closed_on=client.closed_on,
        close_reason=client.close_reason,
        created_at=client.created_at,
        updated_at=client.updated_at,
    )


def delegation_public(d: Delegation) -> DelegationPublic:
    """The public view of a delegation."""
    return DelegationPublic(
        id=d.id,
        client_id=d.client_id,
        org_unit_id=d.org_unit_id,
        starts_on=d.starts_on,
        ends_on=d.ends_on,
        note=d.note,
        created_at=d.created_at,
    )


def closure_public(c: CaseClosure) -> ClosurePublic:
    """The public view of one closing of a case."""
    return ClosurePublic.model_validate(c)


def visit_public(v: Visit) -> VisitPublic:
    """The public view of a visit."""
    return VisitPublic.model_validate(v)


def task_public(t: social.TaskView) -> TaskPublic:
    """The public view of a six-ones task."""
    return TaskPublic.model_validate(t)


def team_summary(team: Team) -> TeamSummary:
    """The short view of a team."""
    return TeamSummary(
        id=team.id,
        name=team.name,
        org_unit_id=team.org_unit_id,  # type: ignore[attr-defined]
        lead_id=team.lead_id,
        anchor_month=team.anchor_month,  # type: ignore[attr-defined]
    )


def csv_response(content: bytes, *, filename: str) -> Response:
    """A CSV download that Excel opens with Chinese intact."""
    return Response(
        content=content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- clients --------------------------------------------------------------------------------


@router.post(
    "/clients",
    operation_id="create_client",
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
)
async def create_client(
    body: ClientCreate, user: CurrentUser, settings: SettingsDep, today: Today
) -> ClientPublic:
    """Register a client in my subtree (a social worker who registers one takes the case)."""
    client = await social.create_client(
        user=user,
        full_name=body.full_name,
        category=body.category,
        id_number=body.id_number,
        phone=body.phone,
        address=body.address,
        home_lon=body.home_lon,
        home_lat=body.home_lat,
        risk_level=body.risk_level,
        org_unit_id=body.org_unit_id,
        settings=settings,
    )
    return client_public(client, today=today)


@router.get("/clients", operation_id="list_clients")
async def list_clients(
    user: CurrentUser,
    settings: SettingsDep,
    today: Today,
    page: PageParams,
    category: Annotated[ClientCategory | None, Query()] = None,
    org_unit_id: Annotated[uuid.UUID | None, Query()] = None,
    social_worker_id: Annotated[uuid.UUID | None, Query()] = None,
    risk_level: Annotated[RiskLevel | None, Query()] = None,
    status: Annotated[
        CaseStatus | None,
        Query(description="`open` or `closed`; without it, both (closed records are kept)"),
    ] = None,
) -> Page[ClientPublic]:
    """Clients I may see, filtered; phones are masked here (search by identity number: POST)."""
    qs = await social.list_clients(
        user=user,
        today=today,
        category=category,
        org_unit_id=org_unit_id,
        social_worker_id=social_worker_id,
        risk_level=risk_level,
        id_number=None,
        status=status,
        settings=settings,
    )
    return await _client_page(qs, page, today=today)


@router.post("/clients/search", operation_id="search_clients")
async def search_clients(
    body: ClientSearch, user: CurrentUser, settings: SettingsDep, today: Today, page: PageParams
) -> Page[ClientPublic]:
    """Clients I may see with exactly this identity number (in the body: URLs end up in logs)."""
    qs = await social.list_clients(
        user=user,
        today=today,
        category=body.category,
        org_unit_id=None,
        social_worker_id=None,
        risk_level=None,
        id_number=body.id_number,
        settings=settings,
    )
    return await _client_page(qs, page, today=today)


async def _client_page(qs: Any, page: PageQuery, *, today: date) -> Page[ClientPublic]:
    rows, cursor = await paginate(qs, page)
    await social.audit_list_read(clients=rows)
    return Page(
        items=[client_public(c, today=today, masked_phone=True) for c in rows], next_cursor=cursor
    )


@router.get("/clients/{id}", operation_id="get_client")
async def get_client(client: ScopedClient, today: Today) -> ClientPublic:
    """One client in my caseload, care group or subtree."""
    return client_public(client, today=today)


@router.patch("/clients/{id}", operation_id="update_client")
async def update_client(
    body: ClientUpdate, client: ScopedClient, user: CurrentUser, settings: SettingsDep, today: Today
) -> ClientPublic:
    """Change a client's contact, home or risk level (supervisor or the client's worker)."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("full_name", "address", "risk_level"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    updated = await social.update_client(
        user=user, client=client, changes=changes, settings=settings
    )
    return client_public(updated, today=today)


@router.put("/clients/{id}/social-worker", operation_id="assign_social_worker", responses=CONFLICT)
async def assign_social_worker(
    body: WorkerAssign, client: ScopedClient, user: CurrentUser, settings: SettingsDep, today: Today
) -> ClientPublic:
    """Give the case to a social worker (409 `caseload_full` at the cap); history is kept."""
    updated = await social.assign_worker(
        actor=user, client=client, worker_id=body.user_id, settings=settings
    )
    return client_public(updated, today=today)


@router.post("/clients/{id}/close", operation_id="close_client", responses=CONFLICT)
async def close_client(
    body: CaseClose, client: ScopedClient, user: CurrentUser, settings: SettingsDep, today: Today
) -> ClientPublic:
    """Close the case (结案): off the caseload, no visits due, records kept.

    The client's worker or a supervisor of its unit. The identical close again answers 200;
    another close of a closed case is a 409 `case_closed`; a case under a community-correction
    supervision that runs past `closed_on` is a 409 `client_under_supervision`.
    """
    closed = await social.close_case(
        actor=user,
        client=client,
        closed_on=body.closed_on,
        reason=body.reason,
        note=body.note,
        settings=settings,
    )
    return client_public(closed, today=today)


@router.post("/clients/{id}/reopen", operation_id="reopen_client", responses=CONFLICT)
async def reopen_client(
    client: ScopedClient, user: CurrentUser, today: Today, body: CaseReopen | None = None
) -> ClientPublic:
    """Reopen a closed case (supervisors): it is open again, with no worker until one is assigned.

    An open case is a 409 `case_not_closed`.
    """
    reopened = await social.reopen_case(
        actor=user, client=client, note=body.note if body is not None else ""
    )
    return client_public(reopened, today=today)


@router.get("/clients/{id}/history", operation_id="get_client_history")
async def get_client_history(client: ScopedClient) -> ClientHistoryPublic:
    """Who held the case when, where it was delegated, and when it was closed and reopened."""
    history = await social.client_history(client=client)
    return ClientHistoryPublic(
        client_id=client.id,
        assignments=[AssignmentPublic.model_validate(a) for a in history.assignments],
        delegations=[delegation_public(d) for d in history.delegations],
        closures=[closure_public(c) for c in history.closures],
    )


@router.post(
    "/clients/{id}/delegations",
    operation_id="create_delegation",
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
)
async def create_delegation(
    body: DelegationCreate, client: ScopedClient, user: CurrentUser
) -> DelegationPublic:
    """Delegate the client's supervision to another org unit for a period (委托帮教)."""
    delegation = await social.create_delegation(
        actor=user,
        client=client,
        org_unit_id=body.org_unit_id,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        note=body.note,
    )
    return delegation_public(delegation)


@router.post("/clients/{id}/delegations/{delegation_id}/end", operation_id="end_delegation")
async def end_delegation(
    body: DelegationEnd, delegation_id: uuid.UUID, client: ScopedClient, user: CurrentUser
) -> DelegationPublic:
    """End a delegation on a date."""
    delegation = await social.end_delegation(
        actor=user, client=client, delegation_id=delegation_id, ends_on=body.ends_on
    )
    return delegation_public(delegation)


# --- visits ---------------------------------------------------------------------------------


@router.post(
    "/clients/{id}/visits",
    operation_id="create_visit",
    status_code=status.HTTP_201_CREATED,
    responses={**CONFLICT, 200: {"description": "Replay of a stored visit"}},
)
async def create_visit(
    body: VisitCreate,
    response: Response,
    client: ScopedClient,
    user: CurrentUser,
    settings: SettingsDep,
) -> VisitPublic:
    """Record a visit (same id and body again: 200 with the stored visit)."""
    visit, created = await social.record_visit(
        user=user,
        client=client,
        visit_id=body.id,
        kind=body.kind,
        occurred_at=body.occurred_at,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        notes=body.notes,
        request_hash=fingerprint(body, owner=f"{user.id}:{client.id}"),
        settings=settings,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return visit_public(visit)


@router.get("/clients/{id}/visits", operation_id="list_visits")
async def list_visits(client: ScopedClient, page: PageParams) -> Page[VisitPublic]:
    """The client's visits, newest first."""
    rows, cursor = await paginate(
        social.client_visits(client=client), page, order_field="occurred_at"
    )
    return Page(items=[visit_public(v) for v in rows], next_cursor=cursor)


# --- care groups ----------------------------------------------------------------------------


def care_member_public(member: CareGroupMember, full_name: str) -> CareMemberPublic:
    """The public view of a care-group member."""
    return CareMemberPublic(
        user_id=member.user_id, full_name=full_name, role=member.role, created_at=member.created_at
    )


@router.post(
    "/clients/{id}/care-group",
    operation_id="add_care_group_member",
    status_code=status.HTTP_201_CREATED,
    responses={**CONFLICT, 200: {"description": "Already a member with this role"}},
)
async def add_care_group_member(
    body: CareMemberCreate, response: Response, client: ScopedClient, user: CurrentUser
) -> CareMemberPublic:
    """Add a helper to an at-risk youth's care group (关爱小组)."""
    member, created = await social.add_care_member(
        actor=user, client=client, user_id=body.user_id, role=body.role
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    helper = await User.get(id=member.user_id)
    return care_member_public(member, helper.full_name)


@router.get("/clients/{id}/care-group", operation_id="list_care_group")
async def list_care_group(client: ScopedClient) -> list[CareMemberPublic]:
    """The client's care group."""
    return [care_member_public(m, name) for m, name in await social.care_group(client=client)]


@router.delete(
    "/clients/{id}/care-group/{user_id}",
    operation_id="remove_care_group_member",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def remove_care_group_member(
    user_id: uuid.UUID, client: ScopedClient, user: CurrentUser
) -> Response:
    """Remove a helper from the care group."""
    await social.remove_care_member(actor=user, client=client, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- me -------------------------------------------------------------------------------------


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
    overdue = social.is_overdue(due_on=due_on, today=today)
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


@router.get("/me/caseload", operation_id="get_my_caseload", response_model=list[CaseloadItem])
async def get_my_caseload(user: CurrentUser, today: Today) -> Response:
    """My clients with their last visit and when the next is due, most urgent first."""
    rows = await social.my_caseload(user=user)
    # Encoded here rather than through the response model: the app polls this list and
    # validating 50 nested models per call would cost more than the query (see bench/b5).
    body = to_json([caseload_item(r, today=today) for r in rows])
    return Response(content=body, media_type="application/json")


async def task_range(
    today: Today,
    from_on: Annotated[
        date | None, Query(alias="from", description="First due date (local)")
    ] = None,
    to_on: Annotated[date | None, Query(alias="to", description="Last due date (local)")] = None,
) -> tuple[date, date]:
    """`?from=&to=` (due dates, inclusive), by default the current local year."""
    default_from, default_to = social.default_range(today=today)
    return from_on or default_from, to_on or default_to


TaskRange = Annotated[tuple[date, date], Depends(task_range)]


def tasks_response(tasks: list[social.TaskView]) -> Response:
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


@router.get("/me/tasks", operation_id="list_my_tasks", response_model=list[TaskPublic])
async def list_my_tasks(
    user: CurrentUser, settings: SettingsDep, today: Today, span: TaskRange
) -> Response:
    """Six-ones tasks of the teams I lead or belong to, due in the range."""
    tasks = await social.my_tasks(
        user=user, from_on=span[0], to_on=span[1], today=today, tz=settings.tz
    )
    return tasks_response(tasks)


# --- teams and tasks ------------------------------------------------------------------------


@router.get("/teams", operation_id="list_teams")
async def list_teams(user: CurrentUser, page: PageParams) -> Page[TeamSummary]:
    """Teams I belong to or, for supervisors, in my subtree."""
    rows, cursor = await paginate(social.visible_teams(user), page)
    return Page(items=[team_summary(t) for t in rows], next_cursor=cursor)


@router.get("/teams/{id}", operation_id="get_team")
async def get_team(id: uuid.UUID, user: CurrentUser) -> TeamDetail:  # noqa: A002
    """One team with its members."""
    team = await social.load_team(user=user, team_id=id)
    members = await social.team_members(team=team)
    return TeamDetail(
        **team_summary(team).model_dump(),
        members=[
            TeamMemberPublic(user_id=u.id, full_name=u.full_name, is_lead=lead)
            for u, lead in members
        ],
    )


@router.get("/teams/{id}/tasks", operation_id="list_team_tasks", response_model=list[TaskPublic])
async def list_team_tasks(
    id: uuid.UUID,
    user: CurrentUser,
    settings: SettingsDep,
    today: Today,
    span: TaskRange,  # noqa: A002
) -> Response:
    """The team's six-ones tasks due in the range, with their status in local time."""
    team = await social.load_team(user=user, team_id=id)
    tasks = await social.tasks_for_teams(
        teams=[team], from_on=span[0], to_on=span[1], today=today, tz=settings.tz
    )
    return tasks_response(tasks)


@router.post("/tasks/{id}/complete", operation_id="complete_task", responses=CONFLICT)
async def complete_task(
    id: uuid.UUID,
    body: TaskComplete,
    user: CurrentUser,
    settings: SettingsDep,
    today: Today,  # noqa: A002
) -> TaskPublic:
    """Mark a task of my team done (same body again: 200; a different one: 409)."""
    task = await social.load_task(user=user, task_id_=id, today=today)
    done = await social.complete_task(
        user=user,
        task=task,
        completed_at=body.completed_at,
        notes=body.notes,
        attendee_ids=body.attendee_ids,
        request_hash=fingerprint(body),
        tz=settings.tz,
    )
    return task_public(social.task_view(done, today=today, tz=settings.tz))


# --- reports --------------------------------------------------------------------------------


@router.get(
    "/reports/caseloads",
    operation_id="report_caseloads",
    responses=CSV,
    response_model=list[CaseloadRowPublic],
)
async def report_caseloads(
    user: CurrentUser,
    settings: SettingsDep,
    today: Today,
    format: Format = "json",  # noqa: A002
) -> Any:
    """Caseload size and overdue visits of every social worker in my subtree."""
    rows = await social.caseload_report(user=user, today=today, settings=settings)
    if format == "csv":
        return csv_response(
            social.to_csv(
                header=["社工ID", "姓名", "组织单位ID", "个案数", "逾期走访", "上限"],
                rows=[
                    [r.user_id, r.full_name, r.org_unit_id, r.caseload, r.overdue, r.cap]
                    for r in rows
                ],
            ),
            filename="caseloads.csv",
        )
    return [CaseloadRowPublic.model_validate(r) for r in rows]


@router.get(
    "/reports/overdue-visits",
    operation_id="report_overdue_visits",
    responses=CSV,
    response_model=list[OverdueRowPublic],
)
async def report_overdue_visits(
    user: CurrentUser,
    today: Today,
    format: Format = "json",  # noqa: A002
) -> Any:
    """Clients in my subtree whose visit is overdue, longest overdue first."""
    rows = await social.overdue_visits_report(user=user, today=today)
    if format == "csv":
        return csv_response(
            social.to_csv(
                header=[
                    "服务对象ID",
                    "姓名",
                    "类别",
                    "风险等级",
                    "组织单位ID",
                    "社工ID",
                    "社工",
                    "上次走访",
                    "应走访日期",
                    "逾期天数",
                ],
                rows=[
                    [
                        r.client_id,
                        r.full_name,
                        social.CATEGORY_NAMES_ZH[ClientCategory(r.category)],
                        r.risk_level,
                        r.org_unit_id,
                        r.social_worker_id,
                        r.social_worker_name,
                        r.last_visit_at,
                        r.next_visit_due,
                        r.days_overdue,
                    ]
                    for r in rows
                ],
            ),
            filename="overdue-visits.csv",
        )
    return [OverdueRowPublic.model_validate(r) for r in rows]


@router.get(
    "/reports/sixones",
    operation_id="report_sixones",
    responses=CSV,
    response_model=SixonesReport,
)
async def report_sixones(
    user: CurrentUser,
    settings: SettingsDep,
    today: Today,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    """Six-ones completion per team and period for a year (default: this year)."""
    year = year or today.year
    teams = await social.sixones_report(user=user, year=year, today=today, tz=settings.tz)
    if format == "csv":
        return csv_response(
            social.to_csv(
                header=["团队ID", "团队", "任务", "周期", "截止日期", "状态", "完成时间"],
                rows=[
                    [
                        t.team_id,
                        t.team_name,
                        social.KIND_NAMES_ZH[social.TaskKind(task.kind)],
                        task.period,
                        task.due_on,
                        task.status,
                        task.completed_at,
                    ]
                    for t in teams
                    for task in t.tasks
                ],
            ),
            filename=f"sixones-{year}.csv",
        )
    return SixonesReport(
        year=year,
        teams=[
            TeamYearPublic(
                team_id=t.team_id,
                team_name=t.team_name,
                total=t.total,
                done=t.done,
                overdue=t.overdue,
                open=t.open,
                tasks=[task_public(x) for x in t.tasks],
            )
            for t in teams
        ],
    )
