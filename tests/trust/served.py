"""A served deployment for the attack replay: the real `grassroots` commands on a fresh database,
and an HTTP client that records every answer of the run.

SQLite: a temporary file, and no GRASSROOTS_SECRET_KEY (the README's quick start: the key is
generated beside the database). PostgreSQL (GRASSROOTS_TEST_DATABASE_URL set): a database of
its own, created here and dropped at the end, with a random strong key (off SQLite the service
refuses to start without one).
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.side_db import PG_BASE, psql

ROOT = Path(__file__).resolve().parents[2]
# Variables of the test session that a deployment does not have: the README's server reads
# neither a signing key (SQLite) nor the tests' user-cache switch.
NOT_INHERITED = {"GRASSROOTS_SECRET_KEY", "GRASSROOTS_USER_CACHE_S", "GRASSROOTS_DATABASE_URL"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """One database, its environment, and the `grassroots serve` process currently running."""

    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    pg_name: str | None = None
    log_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None
    base: str = ""

    def __post_init__(self) -> None:
        # One port for the deployment's life: a restart answers where the phones already call.
        self.base = f"http://127.0.0.1:{_free_port()}"
        self.log_path = self.directory / "server.log"
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env["GRASSROOTS_LOG_LEVEL"] = "INFO"
        if os.environ.get("GRASSROOTS_TEST_DATABASE_URL"):
            self.pg_name = f"gr_replay_{os.getpid()}"
            psql(f'DROP DATABASE IF EXISTS "{self.pg_name}"')
            psql(f'CREATE DATABASE "{self.pg_name}"')
            env["GRASSROOTS_DATABASE_URL"] = f"{PG_BASE}/{self.pg_name}"
            env["GRASSROOTS_SECRET_KEY"] = secrets.token_urlsafe(40)
        else:
            env["GRASSROOTS_DATABASE_URL"] = f"sqlite://{self.directory / 'grassroots.db'}"
        self.env = env

    def command(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `grassroots ARGS` against this deployment's database; its output is logged too."""
        done = subprocess.run(
            [sys.executable, "-m", "grassroots.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.env,
            timeout=120,
        )
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(done.stdout + done.stderr)
        return done

    def start(self, *, worker: bool) -> None:
        """`grassroots serve --port P` (with the worker inside unless told otherwise)."""
        port = self.base.rsplit(":", 1)[1]
        args = ["serve", "--port", port] + ([] if worker else ["--no-worker"])
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grassroots.cli", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(self.log_path.read_text()[-3000:]) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, as an operator stops it."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def signing_key(self) -> str:
        """The deployment's signing key: given (PostgreSQL) or generated beside the database."""
        if self.pg_name:
            return self.env["GRASSROOTS_SECRET_KEY"]
        from grassroots.settings import key_file_for

        return key_file_for(self.directory / "grassroots.db").read_text().strip()

    def query(self, sql: str) -> list[tuple[str, ...]]:
        """Rows of a read-only query, as someone holding a copy of the database reads them."""
        if self.pg_name:
            done = subprocess.run(
                ["psql", f"{PG_BASE}/{self.pg_name}", "-tA", "-F", "\t", "-c", sql],
                check=True,
                capture_output=True,
                text=True,
            )
            return [tuple(line.split("\t")) for line in done.stdout.splitlines() if line]
        with sqlite3.connect(self.directory / "grassroots.db") as connection:
            return [tuple(str(v) for v in row) for row in connection.execute(sql)]

    def drop(self) -> None:
        """Stop the server and drop the PostgreSQL database (a SQLite file goes with tmp_path)."""
        self.stop()
        if self.pg_name:
            psql(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


@dataclass
class Recorded:
    """What the run sent and got, for the end-of-run checks."""

    answers: list[tuple[str, str, int]] = field(default_factory=list)

    async def hook(self, response: httpx.Response) -> None:
        request = response.request
        self.answers.append((request.method, request.url.path, response.status_code))

    def server_errors(self) -> list[tuple[str, str, int]]:
        """Every answer of the run that was a 5xx."""
        return [a for a in self.answers if a[2] >= 500]


def recording_client(deployment: Deployment, recorded: Recorded) -> httpx.AsyncClient:
    """An HTTP client on the served deployment that records every response."""
    return httpx.AsyncClient(
        base_url=deployment.base,
        timeout=30,
        event_hooks={"response": [recorded.hook]},
        limits=httpx.Limits(max_connections=40),
    )
