"""The console script as an operator uses it: migrate, create-admin, refuse insecure settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(args, *, env_extra=None, stdin="", timeout=120):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "grassroots.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def sqlite_env(tmp_path):
    return {"GRASSROOTS_DATABASE_URL": f"sqlite://{tmp_path / 'cli.db'}"}


def test_create_admin_reads_the_password_from_stdin_and_can_sign_in(sqlite_env, tmp_path):
    done = run(["create-admin", "root"], env_extra=sqlite_env, stdin="a-strong-password\n")
    assert done.returncode == 0, done.stderr
    assert "a-strong-password" not in done.stdout + done.stderr
    again = run(["create-admin", "root"], env_extra=sqlite_env, stdin="a-strong-password\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    check = """
import asyncio
from tortoise import Tortoise
from grassroots import db
from grassroots.settings import get_settings
from services.auth import sign_in
async def main():
    s = get_settings()
    await Tortoise.init(config=db.tortoise_config(s))
    pair = await sign_in(username="root", password="a-strong-password", address="cli", settings=s)
    print("ok" if pair.access_token else "no")
    await Tortoise.close_connections()
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ) | sqlite_env,
        timeout=120,
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_create_admin_refuses_a_short_password(sqlite_env):
    done = run(["create-admin", "root"], env_extra=sqlite_env, stdin="short\n")
    assert done.returncode == 2


@pytest.mark.parametrize(
    "secret, reason",
    [
        (None, "must be set"),
        ("grassroots-development-secret-do-not-use-in-production", "must be set"),
        ("short", "too weak"),
        ("a" * 40, "too weak"),
    ],
)
def test_postgres_without_a_strong_secret_refuses_to_start(secret, reason):
    env = {"GRASSROOTS_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/never_used"}
    if secret is None:
        env["GRASSROOTS_SECRET_KEY"] = ""
        os_env = {k: v for k, v in os.environ.items() if k != "GRASSROOTS_SECRET_KEY"}
        done = subprocess.run(
            [sys.executable, "-m", "grassroots.cli", "serve"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=os_env | {"GRASSROOTS_DATABASE_URL": env["GRASSROOTS_DATABASE_URL"]},
            timeout=60,
        )
    else:
        done = run(["serve"], env_extra=env | {"GRASSROOTS_SECRET_KEY": secret})
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and reason in lines[0]
    if secret:
        assert secret not in done.stderr


def test_migrate_then_demo_loader_on_sqlite(sqlite_env):
    done = run(["migrate"], env_extra=sqlite_env)
    assert done.returncode == 0, done.stderr
    load = """
import asyncio
from tortoise import Tortoise
from grassroots import db
from grassroots.settings import get_settings
from services import demo
from models.org import User
async def main():
    s = get_settings()
    await Tortoise.init(config=db.tortoise_config(s))
    first = await demo.load_if_empty(settings=s)
    second = await demo.load_if_empty(settings=s)
    print(first, second, await User.all().count())
    await Tortoise.close_connections()
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", load],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ) | sqlite_env | {"GRASSROOTS_DEMO_PASSWORD": "demo-password-1"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    first, second, count = out.stdout.split()
    assert (first, second) == ("True", "False") and int(count) >= 11
    assert "demo-password-1" in out.stderr  # printed once for the operator


@pytest.mark.parametrize(
    "previous",
    ["short", "grassroots-development-secret-do-not-use-in-production", "b" * 40],
)
def test_postgres_refuses_a_weak_previous_key(previous):
    """An earlier key still verifies tokens: a weak one there is refused like a weak current key."""
    strong = "k3Y-" + "".join(chr(65 + (i * 7) % 26) for i in range(40))
    env = {
        "GRASSROOTS_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/never_used",
        "GRASSROOTS_SECRET_KEY": strong,
        "GRASSROOTS_PREVIOUS_SECRET_KEYS": f"{strong}x,{previous}",
    }
    done = run(["serve"], env_extra=env)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "GRASSROOTS_PREVIOUS_SECRET_KEYS" in lines[0]
    assert previous not in done.stderr and strong not in done.stderr
