"""Test fixtures: one real database per run (SQLite file, or PostgreSQL when
GRASSROOTS_TEST_DATABASE_URL is set), emptied after every test, and an HTTP client on the app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from tortoise import Tortoise, connections

from tests import timeshift  # noqa: E402

# GRASSROOTS_TEST_AT moves the whole session's clock, before anything reads the time.
TEST_AT = timeshift.start_from_env()

# Cheap password hashing and a known secret for the whole test run, before settings are read.
os.environ.setdefault("GRASSROOTS_ARGON2_TIME_COST", "1")
os.environ.setdefault("GRASSROOTS_ARGON2_MEMORY_COST_KIB", "1024")
os.environ.setdefault("GRASSROOTS_SECRET_KEY", "test-secret-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("GRASSROOTS_LOG_LEVEL", "WARNING")
# Tests change users behind the API's back; the per-process user cache has its own tests.
os.environ.setdefault("GRASSROOTS_USER_CACHE_S", "0")

from grassroots import db as db_config  # noqa: E402
from grassroots.settings import Settings, get_settings  # noqa: E402
from models.org import OrgUnit, Role, User  # noqa: E402
from services.security import issue_access_token  # noqa: E402

PG_URL = os.environ.get("GRASSROOTS_TEST_DATABASE_URL")

# Property tests judge what the code computes, never how fast an example came: on a 2-core
# machine shared with other work Hypothesis's timing checks failed examples that were right
# ("only generated 2 valid inputs after 1.35 seconds" at load average 7).
hypothesis_settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("suite")


def pytest_report_header() -> list[str]:
    database = "PostgreSQL " + PG_URL if PG_URL else "SQLite file"
    moved = f"clock moved to {TEST_AT.isoformat()}" if TEST_AT else "real clock"
    return [f"grassroots database: {database}", moved]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if PG_URL:
        return PG_URL
    return f"sqlite://{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def settings(database_url: str) -> Iterator[Settings]:
    os.environ["GRASSROOTS_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[None]:
    await Tortoise.init(config=db_config.tortoise_config(settings))
    if PG_URL:
        # The CI database is new per run; a developer's reused one is reset the same way.
        await connections.get("default").execute_script(
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
        )
    await Tortoise.generate_schemas(safe=False)
    if PG_URL:
        await partition_track_points()
    yield
    await Tortoise.close_connections()


async def partition_track_points() -> None:
    """Partition the generated track-point table as migration 0009 does on a real database."""
    from grassroots import clock
    from models.patrol import (
        TRACK_PARTITIONS_AHEAD,
        month_start,
        next_month,
        track_partitioning_sql,
    )

    now = clock.now()
    last = month_start(now)
    for _ in range(TRACK_PARTITIONS_AHEAD):
        last = next_month(last)
    # Tests date points up to a year back (retention) and a year ahead.
    first = month_start(now.replace(year=now.year - 1))
    for _ in range(12):
        last = next_month(last)
    await connections.get("default").execute_script(
        track_partitioning_sql(first_month=first, last_month=last)
    )


def _tables_referrers_first() -> list[str]:
    """Every model's table, each before the tables its foreign keys point to."""
    models = list(Tortoise.apps["models"].values())
    order: list[str] = []
    placed: set[type] = set()

    def place(model: type) -> None:
        # Depth first from the parents: a table is appended after every table it points to.
        if model in placed:
            return
        placed.add(model)
        meta = model._meta  # type: ignore[attr-defined]
        for name in (*meta.fk_fields, *meta.o2o_fields):
            parent = meta.fields_map[name].related_model
            if parent is not model:
                place(parent)
        order.append(meta.db_table)

    for model in models:
        place(model)
    return order[::-1]


async def _empty_all_tables() -> None:
    conn = connections.get("default")
    if db_config.dialect() == "postgres":
        # DELETE, not TRUNCATE: a TRUNCATE of every table (and track-point partition) gives
        # each a new file and cost 0.2-0.3 s a test here (12.0-14.0 s against 4.9-5.3 s for 32 tests
        # of tests/correction), while the tables a test fills hold a few rows. Referrers first,
        # so no foreign key is checked against a row already gone. No test reads a sequence.
        tables = _tables_referrers_first()
        await conn.execute_script("".join(f'DELETE FROM "{t}";' for t in tables))
    else:
        tables = [m._meta.db_table for m in Tortoise.apps["models"].values()]
        script = "PRAGMA foreign_keys=OFF;" + "".join(f'DELETE FROM "{t}";' for t in tables)
        await conn.execute_script(script + "PRAGMA foreign_keys=ON;")


@pytest.fixture(autouse=True)
async def clean_db(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that touches the database starts and ends with empty tables."""
    if "db" not in request.fixturenames:
        yield
        return
    yield
    await _empty_all_tables()


@pytest.fixture(scope="session")
def app(settings: Settings, db: None) -> Any:
    from api.app import create_app

    return create_app(settings, manage_db=False)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


# --- small factories -------------------------------------------------------------------------


@pytest.fixture
def make_unit(db: None) -> Callable[..., Awaitable[OrgUnit]]:
    async def make(name: str = "崇川区", parent: OrgUnit | None = None) -> OrgUnit:
        unit_id = uuid.uuid4()
        path = (parent.path if parent else "/") + f"{unit_id.hex}/"
        return await OrgUnit.create(
            id=unit_id,
            name=name,
            parent=parent,
            path=path,
            depth=(parent.depth + 1 if parent else 0),
        )

    return make


@pytest.fixture
def make_user(db: None) -> Callable[..., Awaitable[User]]:
    counter = {"n": 0}

    async def make(
        *roles: Role | str, unit: OrgUnit, username: str | None = None, full_name: str = "测试用户"
    ) -> User:
        counter["n"] += 1
        return await User.create(
            username=username or f"user{counter['n']}_{uuid.uuid4().hex[:6]}",
            password_hash="!",  # nobody signs in with it: tests use tokens from `auth`
            full_name=full_name,
            roles_text=User.encode_roles([str(getattr(r, "value", r)) for r in roles]),
            org_unit=unit,
            org_path=unit.path,
        )

    return make


@pytest.fixture
def auth(settings: Settings) -> Callable[[User], dict[str, str]]:
    def headers(user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_access_token(user_id=user.id, settings=settings)}"}

    return headers


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


# --- privacy: no identity number or mobile number ever reaches a log line ---------------------

import logging  # noqa: E402
import re  # noqa: E402

SENSITIVE_PATTERNS = {
    "identity number": re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),
    "mobile number": re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])"),
}


class _CapturingHandler(logging.Handler):
    """Keeps every log line of the run (INFO and up) with its extras, for the privacy check."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record must not break the run
            text = str(record.msg)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_KEYS}
        self.lines.append(f"{record.name}: {text} {extras}")


_STANDARD_RECORD_KEYS = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
LOG_CAPTURE = _CapturingHandler()
SERVER_LOGS: list[Path] = []  # log files of servers the tests started, scanned too


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(LOG_CAPTURE)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when any log line of it holds an identity number or a mobile number."""
    texts = list(LOG_CAPTURE.lines)
    for path in SERVER_LOGS:
        if path.exists():
            texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
    leaks = [
        f"{kind}: {line[:200]}"
        for line in texts
        for kind, pattern in SENSITIVE_PATTERNS.items()
        if pattern.search(line)
    ]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"privacy check: {len(texts)} log lines scanned, {len(leaks)} with an identity "
            "or mobile number"
        )
    if leaks:
        if reporter is not None:
            for leak in leaks[:20]:
                reporter.write_line(f"LEAK {leak}", red=True)
        session.exitstatus = 1
