"""Sign-in, refresh rotation, throttling and token checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from models.auth import RefreshToken
from models.org import Role, User
from services.security import hash_password, issue_access_token


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


async def test_password_flow_issues_a_bearer_pair(client, alice):
    r = await sign_in(client)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    me = await client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"


async def test_password_hash_is_argon2id_and_never_returned(client, alice):
    assert alice.password_hash.startswith("$argon2id$")
    r = await sign_in(client)
    assert "argon2" not in r.text and "correct horse" not in r.text


async def test_wrong_password_and_unknown_user_answer_alike(client, alice):
    wrong = await sign_in(client, password="nope")
    unknown = await sign_in(client, username="nobody", password="nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_disabled_user_cannot_sign_in(client, alice):
    alice.is_active = False
    await alice.save()
    assert (await sign_in(client)).status_code == 401


async def test_refresh_rotates_and_works_once(client, alice):
    first = (await sign_in(client)).json()
    r = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    again = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401 and again.json()["code"] == "invalid_refresh_token"
    # Reuse revoked the whole family: the newer token is dead too.
    later = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert later.status_code == 401


async def test_refresh_tokens_are_stored_hashed(client, alice):
    pair = (await sign_in(client)).json()
    stored = await RefreshToken.all().values_list("token_hash", flat=True)
    assert stored and pair["refresh_token"] not in stored


async def test_refresh_for_a_disabled_user_fails(client, alice):
    pair = (await sign_in(client)).json()
    alice.is_active = False
    await alice.save()
    r = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-jwt", "Basic abc"])
async def test_missing_or_malformed_tokens_are_401(client, alice, header):
    headers = {"Authorization": header} if header else {}
    r = await client.get("/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


async def test_expired_token_is_401(client, alice, settings):
    token = issue_access_token(
        user_id=alice.id, settings=settings, now=datetime.now(UTC) - timedelta(minutes=16)
    )
    r = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_token_of_disabled_or_deleted_user_is_401(client, alice, auth):
    headers = auth(alice)
    alice.is_active = False
    await alice.save()
    assert (await client.get("/me", headers=headers)).status_code == 401
    alice.is_active, alice.deleted_at = True, datetime.now(UTC)
    await alice.save()
    assert (await client.get("/me", headers=headers)).status_code == 401


async def test_token_signed_with_another_key_is_401(client, alice):
    forged = jwt.encode(
        {"sub": str(alice.id), "typ": "access", "exp": int(datetime.now(UTC).timestamp()) + 600},
        "some-other-key-that-is-long-enough-0123456789",
        algorithm="HS256",
    )
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401


async def test_key_rotation_keeps_old_tokens_valid(client, alice, settings, monkeypatch):
    old_token = issue_access_token(user_id=alice.id, settings=settings)
    old_key = settings.secret_key.get_secret_value()
    from pydantic import SecretStr

    monkeypatch.setattr(
        settings, "secret_key", SecretStr("a-brand-new-signing-key-0123456789-xyzXYZ")
    )
    monkeypatch.setattr(settings, "previous_secret_keys", old_key)
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {old_token}"})
    ).status_code == 200
    monkeypatch.setattr(settings, "previous_secret_keys", "")
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {old_token}"})
    ).status_code == 401


async def test_refresh_token_is_not_an_access_token(client, alice):
    pair = (await sign_in(client)).json()
    r = await client.get("/me", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert r.status_code == 401


async def test_user_cache_serves_repeat_requests_and_forgets_on_change(
    client, alice, auth, settings, monkeypatch, make_user
):
    from services import user_cache

    monkeypatch.setattr(settings, "user_cache_s", 60.0)
    user_cache.clear()
    headers = auth(alice)
    assert (await client.get("/me", headers=headers)).status_code == 200
    # A change behind the API's back is seen only after the TTL...
    await User.filter(id=alice.id).update(full_name="改名")
    assert (await client.get("/me", headers=headers)).json()["full_name"] == "周静"
    # ...but a change through the API is seen at once.
    admin = await make_user(Role.admin, unit=await alice.org_unit)
    r = await client.patch(f"/users/{alice.id}", json={"is_active": False}, headers=auth(admin))
    assert r.status_code == 200
    assert (await client.get("/me", headers=headers)).status_code == 401
    user_cache.clear()


# --- sign-out and revocation ----------------------------------------------------------------


def bearer(pair):
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_logout_revokes_the_refresh_family(client, alice):
    pair = (await sign_in(client)).json()
    rotated = (
        await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).json()
    other_login = (await sign_in(client)).json()
    r = await client.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 204 and r.content == b""
    again = await client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401 and again.json()["code"] == "invalid_refresh_token"
    # Only that login ends: the phone signed in separately keeps its session.
    other = await client.post("/auth/refresh", json={"refresh_token": other_login["refresh_token"]})
    assert other.status_code == 200
    # An unknown or repeated sign-out is a no-op, not an oracle.
    assert (
        await client.post("/auth/logout", json={"refresh_token": "no-such-token"})
    ).status_code == 204
    assert (
        await client.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    ).status_code == 204


async def test_password_change_kills_every_earlier_token(client, alice):
    phone = (await sign_in(client)).json()
    tablet = (await sign_in(client)).json()
    body = {"current_password": "correct horse", "new_password": "battery staple 2"}
    r = await client.post("/me/password", json=body, headers=bearer(phone))
    assert r.status_code == 204
    for pair in (phone, tablet):
        assert (await client.get("/me", headers=bearer(pair))).status_code == 401
        refreshed = await client.post(
            "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refreshed.status_code == 401
    assert (await sign_in(client)).status_code == 401
    fresh = await sign_in(client, password="battery staple 2")
    assert fresh.status_code == 200
    assert (await client.get("/me", headers=bearer(fresh.json()))).status_code == 200


async def test_password_change_checks_the_current_password(client, alice):
    pair = (await sign_in(client)).json()
    wrong = {"current_password": "not it", "new_password": "battery staple 2"}
    r = await client.post("/me/password", json=wrong, headers=bearer(pair))
    assert r.status_code == 422 and r.json()["code"] == "wrong_current_password"
    same = {"current_password": "correct horse", "new_password": "correct horse"}
    r = await client.post("/me/password", json=same, headers=bearer(pair))
    assert r.status_code == 422 and r.json()["code"] == "password_unchanged"
    short = {"current_password": "correct horse", "new_password": "short"}
    assert (await client.post("/me/password", json=short, headers=bearer(pair))).status_code == 422
    # Nothing changed: the token and the password still work.
    assert (await client.get("/me", headers=bearer(pair))).status_code == 200
    assert (await sign_in(client)).status_code == 200


async def test_password_change_guesses_count_on_the_sign_in_throttle(client, alice, settings):
    pair = (await sign_in(client)).json()
    wrong = {"current_password": "guess", "new_password": "battery staple 2"}
    answers = [
        (await client.post("/me/password", json=wrong, headers=bearer(pair))).status_code
        for _ in range(settings.login_free_failures + 1)
    ]
    assert answers[:-1] == [422] * settings.login_free_failures and answers[-1] == 429


async def test_deactivation_kills_tokens_even_after_reactivation(client, alice, make_user, auth):
    admin = await make_user(Role.admin, unit=await alice.org_unit)
    admin_headers = auth(admin)
    pair = (await sign_in(client)).json()
    off = await client.patch(f"/users/{alice.id}", json={"is_active": False}, headers=admin_headers)
    assert off.status_code == 200
    on = await client.patch(f"/users/{alice.id}", json={"is_active": True}, headers=admin_headers)
    assert on.status_code == 200
    # Switched on again, the account needs a new sign-in: the old tokens stay dead.
    assert (await client.get("/me", headers=bearer(pair))).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401
    assert (await sign_in(client)).status_code == 200


async def test_a_password_change_is_seen_at_once_through_the_user_cache(
    client, alice, settings, monkeypatch
):
    from services import user_cache

    monkeypatch.setattr(settings, "user_cache_s", 60.0)
    user_cache.clear()
    pair = (await sign_in(client)).json()
    assert (await client.get("/me", headers=bearer(pair))).status_code == 200  # now cached
    body = {"current_password": "correct horse", "new_password": "battery staple 2"}
    assert (await client.post("/me/password", json=body, headers=bearer(pair))).status_code == 204
    assert (await client.get("/me", headers=bearer(pair))).status_code == 401
    user_cache.clear()


async def test_a_token_of_an_older_version_is_refused(client, alice, settings):
    await User.filter(id=alice.id).update(token_version=3)
    old = issue_access_token(user_id=alice.id, settings=settings, token_version=2)
    current = issue_access_token(user_id=alice.id, settings=settings, token_version=3)
    assert (await client.get("/me", headers={"Authorization": f"Bearer {old}"})).status_code == 401
    assert (
        await client.get("/me", headers={"Authorization": f"Bearer {current}"})
    ).status_code == 200
