"""A database of its own for a test whose servers or workers run in other processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BASE = "postgres://postgres@127.0.0.1:5432"


def psql(sql: str) -> None:
    command = ["psql", f"{PG_BASE}/postgres", "-q", "-c", sql]
    subprocess.run(command, check=True, capture_output=True)


@contextmanager
def side_database(label: str, sqlite_dir: Path) -> Iterator[str]:
    """The URL of a fresh database: on the PostgreSQL run `gr_{label}_{pid}`, dropped afterwards
    (each run used to leave its own behind); else a SQLite file in `sqlite_dir`."""
    if not os.environ.get("GRASSROOTS_TEST_DATABASE_URL"):
        yield f"sqlite://{sqlite_dir / f'{label}.db'}"
        return
    name = f"gr_{label}_{os.getpid()}"
    psql(f'DROP DATABASE IF EXISTS "{name}"')
    psql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    done = subprocess.run(
        [
            "psql",
            f"{PG_BASE}/postgres",
            "-Atq",
            "-c",
            f"SELECT count(*) FROM pg_database WHERE datname = '{name}'",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() == "1"
