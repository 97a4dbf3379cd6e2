"""Sign-in and token refresh (public: no bearer token needed)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from pydantic import Field

from api.deps import SettingsDep, client_address
from api.schemas import CleanText, Output, StrictInput
from services import auth

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenOut(Output):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class RefreshIn(StrictInput):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


@router.post("/token", operation_id="auth_token", response_model=TokenOut)
async def auth_token(
    request: Request,
    settings: SettingsDep,
    username: Annotated[CleanText, Form(min_length=1, max_length=64)],
    password: Annotated[CleanText, Form(min_length=1, max_length=256)],
) -> TokenOut:
    """OAuth2 password flow: a 15-minute access token and a one-use refresh token."""
    pair = await auth.sign_in(
        username=username, password=password, address=client_address(request), settings=settings
    )
    return TokenOut(**vars(pair))


@router.post("/refresh", operation_id="auth_refresh", response_model=TokenOut)
async def auth_refresh(body: RefreshIn, settings: SettingsDep) -> TokenOut:
    """Trade a refresh token (once) for a new pair."""
    pair = await auth.refresh(refresh_token=body.refresh_token, settings=settings)
    return TokenOut(**vars(pair))
