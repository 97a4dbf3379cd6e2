"""Foundation jobs: forget old login failures and dead refresh tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from grassroots.settings import get_settings
from models.auth import LoginThrottle, RefreshToken
from services.jobs import job


@job("auth.prune", every_s=3600)
async def prune_auth_records(now: datetime) -> str:
    """Delete sign-in throttles quiet for the whole window and refresh tokens long expired."""
    settings = get_settings()
    # A key quiet for the whole window starts its next episode from nothing anyway.
    attempts = await LoginThrottle.filter(
        last_failure_at__lt=now - timedelta(seconds=settings.login_window_s)
    ).delete()
    tokens = await RefreshToken.filter(expires_at__lt=now - timedelta(days=1)).delete()
    return f"pruned {attempts} login throttles, {tokens} refresh tokens"
