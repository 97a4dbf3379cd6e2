"""Sign-in throttling: counted before the password check, per username and per address, a
growing delay with Retry-After, the owner told once per episode, forwarded addresses believed
only from trusted proxies."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from models.auth import LoginThrottle
from models.notifications import Notification
from models.org import Role, User
from services.auth import throttle_delay_s
from services.security import hash_password


@pytest.fixture
async def alice(make_unit, settings):
    unit = await make_unit()
    return await User.create(
        username="alice",
        password_hash=await hash_password(password="correct horse", settings=settings),
        full_name="周静",
        roles_text=User.encode_roles([Role.social_worker.value]),
        org_unit=unit,
        org_path=unit.path,
    )


async def sign_in(client, username="alice", password="correct horse", **kw):
    return await client.post("/auth/token", data={"username": username, "password": password}, **kw)


async def wait_out(key: str) -> None:
    """Let the key's current wait pass (as if its Retry-After had elapsed)."""
    await LoginThrottle.filter(key=key).update(
        next_allowed_at=datetime.now(UTC) - timedelta(seconds=1)
    )


def test_the_delay_grows_from_the_base_to_the_ceiling(settings):
    free = settings.login_free_failures
    delays = [throttle_delay_s(failures=n, free=free, settings=settings) for n in range(1, 20)]
    assert delays[: free - 1] == [0.0] * (free - 1)
    assert delays[free - 1 : free + 3] == [1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == settings.login_delay_max_s
    assert delays == sorted(delays)


async def test_failures_beyond_the_allowance_wait_a_growing_delay(client, alice, settings):
    for _ in range(settings.login_free_failures):
        assert (await sign_in(client, password="bad")).status_code == 401
    waits = []
    for _ in range(3):
        refused = await sign_in(client)  # even the right password waits its turn
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        waits.append(int(refused.headers["Retry-After"]))
        await wait_out("user:alice")
        assert (await sign_in(client, password="bad")).status_code == 401
    assert waits == [1, 2, 4]
    await wait_out("user:alice")
    # The right password after the wait: signed in, and the username's episode is over.
    assert (await sign_in(client)).status_code == 200
    assert not await LoginThrottle.filter(key="user:alice").exists()
    assert (await sign_in(client, password="bad")).status_code == 401


async def test_a_quiet_window_ends_the_episode(client, alice, settings):
    for _ in range(settings.login_free_failures):
        await sign_in(client, password="bad")
    assert (await sign_in(client)).status_code == 429
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.login_window_s + 1)
    await LoginThrottle.filter(key="user:alice").update(last_failure_at=long_ago)
    assert (await sign_in(client, password="bad")).status_code == 401
    row = await LoginThrottle.get(key="user:alice")
    assert row.failures == 1


async def test_thirty_concurrent_wrong_passwords_are_counted_before_the_check(
    client, alice, settings
):
    answers = await asyncio.gather(*(sign_in(client, password=f"bad{n}") for n in range(30)))
    counted = Counter(r.status_code for r in answers)
    assert counted == {401: settings.login_free_failures, 429: 30 - settings.login_free_failures}
    assert all("Retry-After" in r.headers for r in answers if r.status_code == 429)


async def test_one_address_guessing_many_usernames_is_slowed(client, alice, settings, monkeypatch):
    monkeypatch.setattr(settings, "login_address_free_failures", 4)
    for n in range(4):
        assert (await sign_in(client, username=f"ghost{n}", password="bad")).status_code == 401
    assert (await sign_in(client)).status_code == 429
    # The usernames it tried were not charged for the refused attempt.
    assert not await LoginThrottle.filter(key="user:alice").exists()


@pytest.fixture
async def proxied(app, settings):
    """A client behind a trusted proxy at 127.0.0.1 (the test transport's peer address)."""
    from api.app import create_app

    behind = settings.model_copy(update={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    transport = httpx.ASGITransport(app=create_app(behind, manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


def from_address(address: str) -> dict[str, dict[str, str]]:
    return {"headers": {"X-Forwarded-For": address}}


async def test_one_username_is_slowed_across_addresses(proxied, alice, settings):
    for n in range(settings.login_free_failures):
        r = await sign_in(proxied, password="bad", **from_address(f"203.0.113.{n}"))
        assert r.status_code == 401
    r = await sign_in(proxied, password="bad", **from_address("198.51.100.7"))
    assert r.status_code == 429


async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    client, proxied, alice, settings, monkeypatch
):
    monkeypatch.setattr(settings, "login_address_free_failures", 3)
    # Behind the trusted proxy, each forwarded client has its own allowance.
    for n in range(5):
        r = await sign_in(
            proxied, username=f"ghost{n}", password="bad", **from_address(f"203.0.113.{n}")
        )
        assert r.status_code == 401
    assert await LoginThrottle.filter(key="addr:203.0.113.0").exists()
    # The rightmost untrusted hop is the client: a forged hop in front of it changes nothing.
    chain = "6.6.6.6, 203.0.113.9, 10.1.2.3"
    await sign_in(proxied, username="ghost9", password="bad", **from_address(chain))
    assert await LoginThrottle.filter(key="addr:203.0.113.9").exists()
    assert not await LoginThrottle.filter(key="addr:6.6.6.6").exists()
    # Without the setting, the header is the client's own word and is ignored.
    await LoginThrottle.all().delete()
    for n in range(3):
        r = await sign_in(
            client, username=f"ghost{n}", password="bad", **from_address(f"198.51.100.{n}")
        )
        assert r.status_code == 401
    r = await sign_in(client, username="ghost8", password="bad", **from_address("198.51.100.99"))
    assert r.status_code == 429
    assert await LoginThrottle.filter(key="addr:127.0.0.1").exists()


async def test_the_owner_is_told_once_per_episode(client, alice, settings, auth):
    for _ in range(settings.login_free_failures - 1):
        await sign_in(client, password="bad")
    assert await Notification.filter(user_id=alice.id).count() == 0
    await sign_in(client, password="bad")  # the allowance is used up: now it is guessing
    for _ in range(3):
        await wait_out("user:alice")
        assert (await sign_in(client, password="bad")).status_code == 401
    inbox = (await client.get("/me/notifications", headers=auth(alice))).json()["items"]
    assert len(inbox) == 1
    assert inbox[0]["data"]["type"] == "login_guessing"
    assert "bad" not in str(inbox[0])
    # A new episode (after a quiet window) is told again.
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.login_window_s + 1)
    await LoginThrottle.filter(key="user:alice").update(last_failure_at=long_ago)
    for _ in range(settings.login_free_failures):
        await sign_in(client, password="bad")
    assert await Notification.filter(user_id=alice.id).count() == 2
