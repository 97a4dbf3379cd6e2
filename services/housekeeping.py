"""Foundation jobs: forget old login failures and dead refresh tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from grassroots.settings import get_settings
from models.auth import LoginThrottle, RefreshToken
from services.jobs import isolated, job


@job("auth.prune", every_s=3600)
async def prune_auth_records(now: datetime) -> str:
    """Delete sign-in throttles quiet for the whole window and refresh tokens long expired."""
    settings = get_settings()

    async def prune_throttles() -> int:
        # A key quiet for the whole window starts its next episode from nothing anyway.
        return await LoginThrottle.filter(
            last_failure_at__lt=now - timedelta(seconds=settings.login_window_s)
        ).delete()

    async def prune_tokens() -> int:
        return await RefreshToken.filter(expires_at__lt=now - timedelta(days=1)).delete()

    # One set-based statement per table, each isolated: a failure on one leaves the other done.
    attempts = await isolated(job_name="auth.prune", row_id="login_throttles", work=prune_throttles)
    tokens = await isolated(job_name="auth.prune", row_id="refresh_tokens", work=prune_tokens)
    attempts, tokens = attempts or 0, tokens or 0
    return f"pruned {attempts} login throttles, {tokens} refresh tokens"
