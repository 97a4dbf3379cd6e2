"""The signed-in user."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import Field

from api.deps import CurrentUser, SettingsDep
from api.schemas import Output, StrictInput
from services import auth

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


class PasswordChange(StrictInput):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Annotated[str, Field(min_length=8, max_length=256)]


@router.post("/me/password", operation_id="change_my_password", status_code=204)
async def change_my_password(
    body: PasswordChange, user: CurrentUser, settings: SettingsDep
) -> Response:
    """Change my password (the current one is checked): every access and refresh token issued
    before, on every device, stops working; sign in again with the new one."""
    await auth.change_password(
        user=user,
        current_password=body.current_password,
        new_password=body.new_password,
        settings=settings,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
