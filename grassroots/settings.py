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
    # JPush (mainland China): both keys set = JPush devices get pushes; the endpoint replaces
    # https://api.jpush.cn for staging and tests.
    jpush_app_key: str | None = None
    jpush_master_secret: SecretStr | None = None
    jpush_endpoint: str | None = None
    # SMS on Alibaba Cloud: id, secret, sign name and at least one template = SMS is on.
    sms_access_key_id: str | None = None
    sms_access_key_secret: SecretStr | None = None
    sms_sign_name: str | None = None
    # "kind=TEMPLATE_CODE,..." with kinds alert, reminder, missed_checkin, leave_decision.
    sms_templates: str = ""
    sms_endpoint: str | None = None
    sms_daily_cap: int = Field(default=10, ge=0)
    # A reminder no device confirmed (received or read) this long after it was made is texted;
    # 0 turns the fallback off.
    sms_fallback_after_s: int = Field(default=7200, ge=0)
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
    # How long a worker holds the deliveries it claimed: a worker that died is taken over after
    # it. Keep it well above a send's timeouts (10 s), or a slow live worker is taken over too.
    delivery_lease_s: float = Field(default=120.0, gt=0)
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

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @field_validator("sms_templates")
    @classmethod
    def _known_sms_templates(cls, value: str) -> str:
        parse_sms_templates(value)
        return value

    @property
    def jpush_enabled(self) -> bool:
        """True when JPush's app key and master secret are both set."""
        return bool(self.jpush_app_key and self.jpush_master_secret)

    @property
    def sms_enabled(self) -> bool:
        """True when the SMS service's keys, a sign name and at least one template are set."""
        return bool(
            self.sms_access_key_id
            and self.sms_access_key_secret
            and self.sms_sign_name
            and self.sms_template_codes
        )

    @property
    def sms_template_codes(self) -> dict[str, str]:
        """Template code per notification kind."""
        return parse_sms_templates(self.sms_templates)

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


SMS_TEMPLATE_KINDS = ("alert", "reminder", "missed_checkin", "leave_decision")


def parse_sms_templates(spec: str) -> dict[str, str]:
    """Parse "kind=CODE,kind=CODE"; an unknown kind or a missing code is a ValueError."""
    codes: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        kind, sep, code = part.partition("=")
        kind, code = kind.strip(), code.strip()
        if not sep or not code:
            raise ValueError(f"SMS template {part.strip()!r} must look like kind=TEMPLATE_CODE")
        if kind not in SMS_TEMPLATE_KINDS:
            raise ValueError(f"unknown SMS template kind {kind!r}; known: {SMS_TEMPLATE_KINDS}")
        codes[kind] = code
    return codes


def _weak(secret: str) -> bool:
    return len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 8


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
