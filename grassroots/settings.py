"""One settings object for the whole service, read from GRASSROOTS_* environment variables."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The value earlier releases signed with when GRASSROOTS_SECRET_KEY was unset. It is published,
# so it is refused everywhere: never a signing key, never a verifying key, never a key source.
DEVELOPMENT_SECRET = "grassroots-development-secret-do-not-use-in-production"
MIN_SECRET_LENGTH = 32
KEY_FILE_SUFFIX = ".secret-key"

log = logging.getLogger("grassroots.settings")


class InsecureSettings(RuntimeError):
    """The configuration is not safe to run with; the message is one line."""


class Settings(BaseSettings):
    """Every knob of the service; defaults suit a laptop with SQLite."""

    model_config = SettingsConfigDict(env_prefix="GRASSROOTS_", extra="ignore")

    database_url: str = "sqlite://./grassroots.db"
    # Unset on SQLite: a random key generated on first start, kept beside the database file
    # (prepare_secrets). Off SQLite it must be set and strong.
    secret_key: SecretStr | None = None
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
    # The notification channel registered in Xiaomi's / OPPO's console for service messages
    # (third_party_channel.<vendor>.channel_id); unset = not sent, the vendor's default channel.
    jpush_xiaomi_channel_id: str | None = None
    jpush_oppo_channel_id: str | None = None
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
    # Sign-in throttling (docs/SECURITY.md): per username and per client address, failures up
    # to the free allowance cost nothing, then each one doubles the wait before the next try.
    login_free_failures: int = Field(default=5, ge=1)
    login_address_free_failures: int = Field(default=30, ge=1)
    login_delay_base_s: float = Field(default=1.0, gt=0)
    login_delay_max_s: float = Field(default=300.0, gt=0)
    # Failures are forgotten after this long without a new one (the end of an episode).
    login_window_s: int = Field(default=3600, gt=0)
    # Peers whose X-Forwarded-For is believed (comma-separated addresses or networks).
    trusted_proxies: str = ""
    # Bearer token Prometheus sends to /metrics (an admin's access token works too).
    metrics_token: SecretStr | None = None
    # argon2id cost; tests lower these through the environment.
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536

    max_body_bytes: int = 1024 * 1024
    worker_poll_s: float = 2.0
    # `grassroots serve`: the worker's jobs in a child process (services/job_process.py); off:
    # on the API's event loop and its threads, sharing the API's interpreter lock.
    job_process: bool = True
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
    # A location check-in less precise than this proves nothing (stored `unverified`, retried).
    checkin_max_accuracy_m: float = Field(default=100.0, gt=0)
    # A check-in arriving this long after it was taken is `late`: it counts once confirmed.
    checkin_late_after_h: float = Field(default=72.0, gt=0)

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

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, None for PostgreSQL or an in-memory database."""
        if not self.is_sqlite:
            return None
        location = self.database_url.split("://", 1)[1].split("?", 1)[0]
        if not location or location == ":memory:":
            return None
        return Path(location)

    def signing_keys(self) -> list[str]:
        """The current key first, then earlier keys still accepted for verification."""
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise InsecureSettings("no signing key: call prepare_secrets() first")
        current = self.secret_key.get_secret_value()
        if current == DEVELOPMENT_SECRET:
            raise InsecureSettings("GRASSROOTS_SECRET_KEY is the published development value")
        earlier = [k.strip() for k in self.previous_secret_keys.split(",") if k.strip()]
        return [current, *(k for k in earlier if k != DEVELOPMENT_SECRET)]

    def identity_secret(self) -> str:
        """The key identity numbers are encrypted under: GRASSROOTS_IDENTITY_KEY when set, else
        one derived from the signing key (so rotating that key needs the identity key set)."""
        if self.identity_key is not None and self.identity_key.get_secret_value():
            return self.identity_key.get_secret_value()
        return derive_identity_secret(self.signing_keys()[0])

    def prepare_secrets(self) -> None:
        """Check the keys and, on SQLite without GRASSROOTS_SECRET_KEY, load or make the key file.

        Idempotent; raises InsecureSettings (a one-line message without any key) when the
        service must not start.
        """
        if self.secret_key is not None and self.secret_key.get_secret_value():
            self.check_safe_to_run()
            return
        if not self.is_sqlite:
            raise InsecureSettings(
                "GRASSROOTS_SECRET_KEY must be set to a private value "
                "when the database is not SQLite"
            )
        self.check_safe_to_run()
        path = self.sqlite_path
        if path is None:
            # An in-memory database dies with the process, and so may its key.
            self.secret_key = SecretStr(secrets.token_urlsafe(48))
            return
        self.secret_key = SecretStr(load_or_create_key_file(key_file_for(path)))

    def check_safe_to_run(self) -> None:
        """Refuse the published development value anywhere, and a missing or weak secret off
        SQLite."""
        secret = self.secret_key.get_secret_value() if self.secret_key is not None else ""
        if secret == DEVELOPMENT_SECRET:
            raise InsecureSettings(
                "GRASSROOTS_SECRET_KEY must be set to a private value: the published development "
                "value is never accepted (on SQLite, unset it to have a key generated)"
            )
        earlier = [k.strip() for k in self.previous_secret_keys.split(",")]
        if DEVELOPMENT_SECRET in earlier:
            raise InsecureSettings(
                "GRASSROOTS_PREVIOUS_SECRET_KEYS holds the published development value: remove it"
            )
        if self.is_sqlite:
            return
        if not secret:
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


def derive_identity_secret(signing_key: str) -> str:
    """The identity-number key derived from a signing key (unchanged since the first release:
    numbers stored under an explicit or generated signing key stay readable)."""
    return hmac.new(signing_key.encode(), b"grassroots/identity-key", hashlib.sha256).hexdigest()


def key_file_for(database: Path) -> Path:
    """Where the generated key of a SQLite database is kept: beside it."""
    return database.with_name(database.name + KEY_FILE_SUFFIX)


def load_or_create_key_file(path: Path) -> str:
    """The key kept in `path`, made (random, mode 0600) when the file does not exist yet.

    Two processes starting at once agree: the key is written to a private temporary file and
    linked into place, so a reader never sees a half-written key and the second writer loses
    the link and reads the first one's key.
    """
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_key_file(path)
    finally:
        temporary.unlink(missing_ok=True)
    log.warning(
        "GRASSROOTS_SECRET_KEY is not set: generated a signing key and kept it in %s "
        "(mode 0600); keep that file with the database, or set GRASSROOTS_SECRET_KEY",
        path,
    )
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureSettings(f"the key file {path} is readable by others: chmod 600 it")
    key = path.read_text(encoding="ascii").strip()
    if _weak(key):
        raise InsecureSettings(f"the key file {path} holds no usable key: remove it or fix it")
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
