"""Sign-in, token refresh and sign-out (public: no bearer token needed)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response, status
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


@router.post(
    "/token",
    operation_id="auth_token",
    response_model=TokenOut,
    responses={429: {"description": "Too many failed attempts: wait `Retry-After` seconds"}},
)
async def auth_token(
    request: Request,
    settings: SettingsDep,
    username: Annotated[CleanText, Form(min_length=1, max_length=64)],
    password: Annotated[CleanText, Form(min_length=1, max_length=256)],
) -> TokenOut:
    """OAuth2 password flow: a 15-minute access token and a one-use refresh token.

    Failed attempts are throttled per username and per client address: after a free allowance
    each failure doubles the wait before the next try (429 with `Retry-After`)."""
    pair = await auth.sign_in(
        username=username, password=password, address=client_address(request), settings=settings
    )
    return TokenOut(**vars(pair))


@router.post("/refresh", operation_id="auth_refresh", response_model=TokenOut)
async def auth_refresh(body: RefreshIn, settings: SettingsDep) -> TokenOut:
    """Trade a refresh token (once) for a new pair."""
    pair = await auth.refresh(refresh_token=body.refresh_token, settings=settings)
    return TokenOut(**vars(pair))


@router.post("/logout", operation_id="auth_logout", status_code=status.HTTP_204_NO_CONTENT)
async def auth_logout(body: RefreshIn) -> Response:
    """Sign out: the refresh token's whole family is revoked (an unknown token changes nothing;
    access tokens already issued run out within their 15 minutes)."""
    await auth.sign_out(refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
