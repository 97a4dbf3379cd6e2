"""Foundation jobs: forget old login failures and dead refresh tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from grassroots.settings import get_settings
from models.auth import LoginAttempt, RefreshToken
from services.jobs import job


@job("auth.prune", every_s=3600)
async def prune_auth_records(now: datetime) -> str:
    """Delete login failures outside the throttle window and refresh tokens long expired."""
    settings = get_settings()
    attempts = await LoginAttempt.filter(
        created_at__lt=now - timedelta(seconds=settings.login_window_s)
    ).delete()
    tokens = await RefreshToken.filter(expires_at__lt=now - timedelta(days=1)).delete()
    return f"pruned {attempts} login failures, {tokens} refresh tokens"
