"""Clients: registering, finding and correcting them, and their case (assign, close, delegate)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api.deps import CurrentUser, SettingsDep
from api.pagination import PageParams, PageQuery, paginate
from api.routers.social.dependencies import ScopedClient, Today
from api.routers.social.schemas import (
    CaseClose,
    CaseReopen,
    ClientCreate,
    ClientHistoryPublic,
    ClientPublic,
    ClientSearch,
    ClientUpdate,
    ClosurePublic,
    DelegationCreate,
    DelegationEnd,
    DelegationPublic,
    SocialWorkerAssignmentPublic,
    WorkerAssign,
    client_public,
)
from api.schemas import Page
from models.social import CaseStatus, ClientCategory, RiskLevel
from services.social import caseloads, clients, closing

router = APIRouter(tags=["social"])


@router.post("/clients", operation_id="create_client", status_code=status.HTTP_201_CREATED)
async def create_client(
    body: ClientCreate, user: CurrentUser, settings: SettingsDep, today: Today
) -> ClientPublic:
    """Register a client in my subtree (a social worker who registers one takes the case)."""
    client = await clients.create_client(
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
    qs = await clients.list_clients(
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
    qs = await clients.list_clients(
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
    await clients.audit_list_read(clients=rows)
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
    updated = await clients.update_client(
        user=user, client=client, changes=body.model_dump(exclude_unset=True), settings=settings
    )
    return client_public(updated, today=today)


@router.put("/clients/{id}/social-worker", operation_id="assign_social_worker")
async def assign_social_worker(
    body: WorkerAssign, client: ScopedClient, user: CurrentUser, settings: SettingsDep, today: Today
) -> ClientPublic:
    """Give the case to a social worker (409 `caseload_full` at the cap); history is kept."""
    updated = await caseloads.assign_worker(
        actor=user, client=client, worker_id=body.user_id, settings=settings
    )
    return client_public(updated, today=today)


@router.post("/clients/{id}/close", operation_id="close_client")
async def close_client(
    body: CaseClose, client: ScopedClient, user: CurrentUser, settings: SettingsDep, today: Today
) -> ClientPublic:
    """Close the case (结案): off the caseload, no visits due, records kept.

    The client's worker or a supervisor of its unit. The identical close again answers 200;
    another close of a closed case is a 409 `case_closed`; a case under a community-correction
    supervision that runs past `closed_on` is a 409 `client_under_supervision`.
    """
    closed = await closing.close_case(
        actor=user,
        client=client,
        closed_on=body.closed_on,
        reason=body.reason,
        note=body.note,
        settings=settings,
    )
    return client_public(closed, today=today)


@router.post("/clients/{id}/reopen", operation_id="reopen_client")
async def reopen_client(
    client: ScopedClient, user: CurrentUser, today: Today, body: CaseReopen | None = None
) -> ClientPublic:
    """Reopen a closed case (supervisors): it is open again, with no worker until one is assigned.

    An open case is a 409 `case_not_closed`.
    """
    reopened = await closing.reopen_case(
        actor=user, client=client, note=body.note if body is not None else ""
    )
    return client_public(reopened, today=today)


@router.get("/clients/{id}/history", operation_id="get_client_history")
async def get_client_history(client: ScopedClient) -> ClientHistoryPublic:
    """Who held the case when, where it was delegated, and when it was closed and reopened."""
    history = await closing.client_history(client=client)
    return ClientHistoryPublic(
        client_id=client.id,
        assignments=[SocialWorkerAssignmentPublic.model_validate(a) for a in history.assignments],
        delegations=[DelegationPublic.model_validate(d) for d in history.delegations],
        closures=[ClosurePublic.model_validate(c) for c in history.closures],
    )


@router.post(
    "/clients/{id}/delegations",
    operation_id="create_delegation",
    status_code=status.HTTP_201_CREATED,
)
async def create_delegation(
    body: DelegationCreate, client: ScopedClient, user: CurrentUser
) -> DelegationPublic:
    """Delegate the client's supervision to another org unit for a period (委托帮教)."""
    delegation = await caseloads.create_delegation(
        actor=user,
        client=client,
        org_unit_id=body.org_unit_id,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        note=body.note,
    )
    return DelegationPublic.model_validate(delegation)


@router.post("/clients/{id}/delegations/{delegation_id}/end", operation_id="end_delegation")
async def end_delegation(
    body: DelegationEnd, delegation_id: uuid.UUID, client: ScopedClient, user: CurrentUser
) -> DelegationPublic:
    """End a delegation on a date."""
    delegation = await caseloads.end_delegation(
        actor=user, client=client, delegation_id=delegation_id, ends_on=body.ends_on
    )
    return DelegationPublic.model_validate(delegation)
