"""The signed-in user."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import CurrentUser, SettingsDep
from api.schemas import Output

router = APIRouter(tags=["me"])


class MeOut(Output):
    id: uuid.UUID
    username: str
    full_name: str
    roles: list[str]
    org_unit_id: uuid.UUID
    timezone: str


@router.get("/me", operation_id="get_me", response_model=MeOut)
async def get_me(user: CurrentUser, settings: SettingsDep) -> MeOut:
    """Who I am, my roles, my org unit and the time zone my calendar runs in."""
    return MeOut(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=user.roles,
        org_unit_id=user.org_unit_id,  # type: ignore[attr-defined]
        timezone=user.timezone or settings.timezone,
    )
