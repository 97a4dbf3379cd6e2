"""Foundation jobs: forget old login failures and dead refresh tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from grassroots.settings import get_settings
from models.auth import LoginAttempt, RefreshToken
from services.jobs import isolated, job


@job("auth.prune", every_s=3600)
async def prune_auth_records(now: datetime) -> str:
    """Delete login failures outside the throttle window and refresh tokens long expired."""
    settings = get_settings()

    async def prune_attempts() -> int:
        return await LoginAttempt.filter(
            created_at__lt=now - timedelta(seconds=settings.login_window_s)
        ).delete()

    async def prune_tokens() -> int:
        return await RefreshToken.filter(expires_at__lt=now - timedelta(days=1)).delete()

    # One set-based statement per table, each isolated: a failure on one leaves the other done.
    attempts = await isolated(job_name="auth.prune", row_id="login_attempts", work=prune_attempts)
    tokens = await isolated(job_name="auth.prune", row_id="refresh_tokens", work=prune_tokens)
    attempts, tokens = attempts or 0, tokens or 0
    return f"pruned {attempts} login failures, {tokens} refresh tokens"
