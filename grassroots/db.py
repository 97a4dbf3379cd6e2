"""Tortoise ORM configuration, migrations and connection helpers."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url

from grassroots.settings import Settings

MODEL_MODULES = ["models"]
MIGRATIONS_MODULE = "models.migrations"


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """The Tortoise config dict for the configured database."""
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        connection = _postgres_connection(url, settings)
    else:
        connection = _sqlite_connection(url, settings)
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _postgres_connection(url: str, settings: Settings) -> dict[str, Any]:
    """asyncpg with a bounded pool, parsed from a postgres:// URL."""
    expanded = expand_db_url(url.replace("postgresql://", "postgres://", 1))
    expanded["credentials"].setdefault("minsize", 1)
    expanded["credentials"]["maxsize"] = settings.db_pool_max
    # asyncpg waits 60 s to connect and forever for a query by default: a partitioned database
    # would hang every request. These bound both, and Tortoise hands them to asyncpg.
    expanded["credentials"]["timeout"] = settings.db_connect_timeout_s
    expanded["credentials"]["command_timeout"] = settings.db_command_timeout_s
    expanded["credentials"]["reset"] = keep_session
    return expanded


def _sqlite_connection(url: str, settings: Settings) -> dict[str, Any]:
    """Tortoise's SQLite settings on the engine whose transactions begin IMMEDIATE
    (`grassroots.sqlite`), waiting for another process's write lock as long as a query may take."""
    expanded = expand_db_url(url)
    expanded["engine"] = "grassroots.sqlite"
    # Every credential but the path is a PRAGMA to Tortoise (a URL's own query wins).
    expanded["credentials"].setdefault("busy_timeout", int(settings.db_command_timeout_s * 1000))
    return expanded


async def keep_session(connection: Any) -> None:
    """Return a pooled connection as it is, without asyncpg's reset query.

    Tortoise takes a pool connection for every statement outside a transaction, and asyncpg's
    default reset on release (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) is a second round
    trip for each of them: a fifth of a caseload read (bench/b5). This code never sets session
    state (no SET, LISTEN, advisory locks or cursors outside a transaction), and asyncpg still
    rolls back a transaction left open before it calls this.
    """


async def migrate(settings: Settings) -> None:
    """Apply every committed migration to the configured database."""
    from tortoise.migrations.api.migrate import migrate as run_migrations

    await run_migrations(config=tortoise_config(settings))
    await Tortoise.close_connections()


async def ping() -> bool:
    """True when the database answers a trivial query."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False
    return True


def dialect() -> str:
    """'postgres' or 'sqlite', for the few places that need dialect-specific SQL."""
    return "postgres" if "asyncpg" in type(connections.get("default")).__module__ else "sqlite"


def registered_model(name: str) -> Any | None:
    """A model of another capability by name when it is registered, else None."""
    apps = getattr(Tortoise, "apps", None)
    if apps is None or "models" not in apps:
        return None
    return apps["models"].get(name)


def pool_figures() -> dict[str, int]:
    """Connections of this process's database client: in_use, idle and max.

    PostgreSQL: asyncpg's pool as it stands (0s before it is opened). SQLite: Tortoise's one
    connection behind a lock, in use while the lock is held.
    """
    try:
        client: Any = connections.get("default")
    except Exception:  # noqa: BLE001 - not initialised yet: nothing to count
        return {"in_use": 0, "idle": 0, "max": 0}
    pool = getattr(client, "_pool", None)
    if pool is not None:
        size, idle = pool.get_size(), pool.get_idle_size()
        return {"in_use": size - idle, "idle": idle, "max": pool.get_max_size()}
    if getattr(client, "_connection", None) is not None:
        lock = getattr(client, "_lock", None)
        busy = 1 if lock is not None and lock.locked() else 0
        return {"in_use": busy, "idle": 1 - busy, "max": 1}
    return {"in_use": 0, "idle": 0, "max": 0}
