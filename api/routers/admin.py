"""Org units, users and teams (admin everywhere; supervisor inside its subtree)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import Field, field_validator

from api.deps import CurrentUser, SettingsDep, loader, roles
from api.pagination import PageParams, paginate
from api.schemas import DateInput, Name, Output, Page, StrictInput, UtcOutput
from models.org import OrgUnit, Role, Team, User
from services import audit, org

router = APIRouter(tags=["admin"])

USER_ACCESS = org.USER_ACCESS
ORG_ACCESS = org.ORG_ACCESS

Username = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[str, Field(min_length=8, max_length=256)]
Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9 -]+$")]
RoleList = Annotated[list[Role], Field(min_length=1, max_length=len(Role))]


class OrgUnitCreate(StrictInput):
    name: Name
    parent_id: uuid.UUID | None = None


class OrgUnitPublic(Output):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    depth: int


class UserCreate(StrictInput):
    username: Username
    password: Password
    full_name: Name
    phone: Phone | None = None
    roles: RoleList
    org_unit_id: uuid.UUID

    @field_validator("roles")
    @classmethod
    def _unique(cls, value: list[Role]) -> list[Role]:
        return list(dict.fromkeys(value))


class UserUpdate(StrictInput):
    full_name: Name | None = None
    phone: Phone | None = None
    roles: RoleList | None = None
    is_active: bool | None = None


class UserPublic(Output):
    id: uuid.UUID
    username: str
    full_name: str
    phone: str | None
    roles: list[str]
    org_unit_id: uuid.UUID
    is_active: bool
    created_at: UtcOutput


class TeamCreate(StrictInput):
    name: Name
    org_unit_id: uuid.UUID
    lead_id: uuid.UUID
    member_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = []
    anchor_month: DateInput | None = Field(
        default=None,
        description="First month of the rolling 3-month exchange (default: this month)",
    )


class TeamPublic(Output):
    id: uuid.UUID
    name: str
    org_unit_id: uuid.UUID
    lead_id: uuid.UUID
    member_ids: list[uuid.UUID]
    anchor_month: date


@router.post("/org-units", operation_id="create_org_unit", status_code=status.HTTP_201_CREATED)
async def create_org_unit(
    body: OrgUnitCreate,
    user: Annotated[User, Depends(roles(Role.admin, Role.supervisor))],
) -> OrgUnitPublic:
    """A new org unit under a parent in my subtree (a new root: admins only)."""
    unit = await org.create_org_unit(user=user, name=body.name, parent_id=body.parent_id)
    return OrgUnitPublic.model_validate(unit)


@router.get("/org-units", operation_id="list_org_units")
async def list_org_units(
    user: CurrentUser,
    page: PageParams,
    parent_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[OrgUnitPublic]:
    """Org units in my subtree, optionally the children of one unit."""
    rows, cursor = await paginate(org.org_units(viewer=user, parent_id=parent_id), page)
    return Page(items=[OrgUnitPublic.model_validate(u) for u in rows], next_cursor=cursor)


@router.get("/org-units/{id}", operation_id="get_org_unit")
async def get_org_unit(unit: Annotated[OrgUnit, Depends(loader(ORG_ACCESS))]) -> OrgUnitPublic:
    """One org unit in my subtree."""
    return OrgUnitPublic.model_validate(unit)


@router.post("/users", operation_id="create_user", status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate,
    settings: SettingsDep,
    user: Annotated[User, Depends(roles(Role.admin, Role.supervisor))],
) -> UserPublic:
    """A new user in my subtree, with roles I may grant."""
    created = await org.create_user(
        actor=user,
        username=body.username,
        password=body.password,
        full_name=body.full_name,
        phone=body.phone,
        roles=[r.value for r in body.roles],
        org_unit_id=body.org_unit_id,
        settings=settings,
    )
    return UserPublic.model_validate(created)


@router.get("/users", operation_id="list_users")
async def list_users(
    user: CurrentUser,
    page: PageParams,
    role: Annotated[Role | None, Query()] = None,
    org_unit_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[UserPublic]:
    """Users in my subtree, by role and org unit."""
    qs = org.users(viewer=user, role=role, org_unit_id=org_unit_id)
    rows, cursor = await paginate(qs, page)
    return Page(items=[UserPublic.model_validate(u) for u in rows], next_cursor=cursor)


@router.get("/users/{id}", operation_id="get_user")
async def get_user(target: Annotated[User, Depends(loader(USER_ACCESS))]) -> UserPublic:
    """One user in my subtree (the read is audited: it is a person's record)."""
    await audit.record(action="read", resource_type="user", resource_id=target.id)
    return UserPublic.model_validate(target)


@router.patch("/users/{id}", operation_id="update_user")
async def update_user(
    body: UserUpdate,
    user: Annotated[User, Depends(roles(Role.admin, Role.supervisor))],
    target: Annotated[User, Depends(loader(USER_ACCESS))],
) -> UserPublic:
    """Rename, change roles (that I may grant) or disable a user in my subtree."""
    updated = await org.update_user(
        actor=user,
        target=target,
        full_name=body.full_name,
        phone=body.phone,
        roles=None if body.roles is None else [r.value for r in body.roles],
        is_active=body.is_active,
    )
    return UserPublic.model_validate(updated)


async def team_public(team: Team) -> TeamPublic:
    """The public view of a team with its members."""
    return TeamPublic(
        id=team.id,
        name=team.name,
        org_unit_id=team.org_unit_id,  # type: ignore[attr-defined]
        lead_id=team.lead_id,  # type: ignore[attr-defined]
        member_ids=await org.team_member_ids(team=team),
        anchor_month=team.anchor_month,
    )


@router.post("/teams", operation_id="create_team", status_code=status.HTTP_201_CREATED)
async def create_team(
    body: TeamCreate,
    response: Response,
    user: Annotated[User, Depends(roles(Role.admin, Role.supervisor))],
) -> TeamPublic:
    """A social-work team in my subtree; the six-ones schedule runs per team."""
    team = await org.create_team(
        actor=user,
        name=body.name,
        org_unit_id=body.org_unit_id,
        lead_id=body.lead_id,
        member_ids=body.member_ids,
        anchor_month=body.anchor_month,
    )
    response.headers["Location"] = f"/api/v1/teams/{team.id}"
    return await team_public(team)
