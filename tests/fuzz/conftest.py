"""A real uvicorn server on a fresh database, seeded with one user per role, for fuzzing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.side_db import side_database

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fuzz-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

SEED = """
import asyncio, json
from tortoise import Tortoise
from grassroots import db
from grassroots.settings import get_settings
from services import demo
from services.security import issue_access_token
from models.org import User

async def main():
    s = get_settings()
    await Tortoise.init(config=db.tortoise_config(s))
    await demo.load_if_empty(settings=s)
    tokens = {}
    for user in await User.all():
        tokens[user.username] = issue_access_token(user_id=user.id, settings=s)
    await Tortoise.close_connections()
    print(json.dumps(tokens))

asyncio.run(main())
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The server the stateless fuzzing hammers."""
    yield from _fuzz_server(tmp_path_factory, "fuzz")


@pytest.fixture(scope="session")
def stateful_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A server of its own for stateful fuzzing, untouched by what the stateless run changed."""
    yield from _fuzz_server(tmp_path_factory, "stateful")


def _fuzz_server(
    tmp_path_factory: pytest.TempPathFactory, label: str, extra_env: dict[str, str] | None = None
) -> Iterator[dict]:
    with side_database(label, tmp_path_factory.mktemp(label)) as url:
        yield from _serve(tmp_path_factory, url, extra_env)


def _serve(
    tmp_path_factory: pytest.TempPathFactory, url: str, extra_env: dict[str, str] | None
) -> Iterator[dict]:
    env = (
        dict(os.environ)
        | {
            "GRASSROOTS_DATABASE_URL": url,
            "GRASSROOTS_SECRET_KEY": SECRET,
            "GRASSROOTS_DEMO_PASSWORD": "fuzz-demo-password",
            "GRASSROOTS_INPROCESS_WORKER": "0",
            "GRASSROOTS_LOG_LEVEL": "WARNING",
        }
        | (extra_env or {})
    )
    subprocess.run(
        [sys.executable, "-m", "grassroots.cli", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    seeded = subprocess.run(
        [sys.executable, "-c", SEED],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tokens = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = _free_port()
    from tests.conftest import SERVER_LOGS

    log_path = tmp_path_factory.mktemp("fuzzlog") / "server.log"
    SERVER_LOGS.append(log_path)
    log = log_path.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError("fuzz server did not start") from None
            time.sleep(0.2)
    yield {"url": base, "tokens": tokens, "log": str(log_path)}
    server.terminate()
    server.wait(timeout=15)
    log.close()
