"""One settings object for the whole service, read from GRASSROOTS_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "grassroots-development-secret-do-not-use-in-production"
MIN_SECRET_LENGTH = 32


class InsecureSettings(RuntimeError):
    """The configuration is not safe to run with; the message is one line."""


class Settings(BaseSettings):
    """Every knob of the service; defaults suit a laptop with SQLite."""

    model_config = SettingsConfigDict(env_prefix="GRASSROOTS_", extra="ignore")

    database_url: str = "sqlite://./grassroots.db"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    # Earlier signing keys, comma separated: tokens they signed stay valid until they expire.
    previous_secret_keys: str = ""
    timezone: str = "Asia/Shanghai"
    fcm_credentials: str | None = None
    fcm_endpoint: str | None = None
    quiet_hours: str = "22:00-07:00"

    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    login_max_failures: int = 10
    login_window_s: int = 15 * 60
    # argon2id cost; tests lower these through the environment.
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536

    max_body_bytes: int = 1024 * 1024
    worker_poll_s: float = 2.0
    retention_days: int = 180
    log_level: str = "INFO"
    db_pool_max: int = 10
    # Seconds a signed-in user is cached per process (0: read it on every request).
    user_cache_s: float = 2.0
    # A lost database answers 503 within these, never a hang: opening a connection, one query.
    db_connect_timeout_s: float = Field(default=3.0, gt=0)
    db_command_timeout_s: float = Field(default=10.0, gt=0)

    demo_password: str | None = Field(default=None)
    # Key for identity numbers at rest; unset derives one from secret_key (set it before rotating).
    identity_key: SecretStr | None = None
    caseload_cap: int = 50
    # A location check-in less precise than this proves nothing (stored `unverified`, retried).
    checkin_max_accuracy_m: float = Field(default=100.0, gt=0)
    # A check-in arriving this long after it was taken is `late`: it counts once confirmed.
    checkin_late_after_h: float = Field(default=72.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite."""
        return self.database_url.startswith("sqlite")

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone for calendar periods."""
        return ZoneInfo(self.timezone)

    def signing_keys(self) -> list[str]:
        """The current key first, then earlier keys still accepted for verification."""
        earlier = [k.strip() for k in self.previous_secret_keys.split(",") if k.strip()]
        return [self.secret_key.get_secret_value(), *earlier]

    def check_safe_to_run(self) -> None:
        """Refuse a missing, default or weak secret off SQLite."""
        if self.is_sqlite:
            return
        secret = self.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET:
            raise InsecureSettings(
                "GRASSROOTS_SECRET_KEY must be set to a private value "
                "when the database is not SQLite"
            )
        if _weak(secret):
            raise InsecureSettings(
                "GRASSROOTS_SECRET_KEY is too weak: "
                f"use at least {MIN_SECRET_LENGTH} random characters"
            )
        # An earlier key still verifies tokens, so a weak one is as good as a weak current key.
        if any(_weak(key) or key == DEVELOPMENT_SECRET for key in self.signing_keys()[1:]):
            raise InsecureSettings(
                "GRASSROOTS_PREVIOUS_SECRET_KEYS holds a weak or default key: "
                f"each needs at least {MIN_SECRET_LENGTH} random characters"
            )


def _weak(secret: str) -> bool:
    return len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 8


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
