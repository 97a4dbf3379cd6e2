"""Role grants and account changes follow the table of docs/SECURITY.md: no one grants or
changes what it does not hold, no one but an admin touches an admin, no one changes its own
roles or switches itself off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.auth import RefreshToken
from models.org import Role, User
from services.org import grantable_roles

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def world(make_unit, make_user):
    city = await make_unit("南通市")
    district = await make_unit("崇川区", city)
    street = await make_unit("和平桥街道", district)
    return {
        "city": city,
        "district": district,
        "street": street,
        "admin": await make_user(Role.admin, unit=city),
        # An admin placed inside the district supervisor's subtree: visible to it, not its to touch.
        "district_admin": await make_user(Role.admin, unit=street),
        "supervisor": await make_user(Role.supervisor, unit=district),
        "patrol": await make_user(Role.patrol, unit=street),
    }


async def patch(client, auth, actor, target, body):
    return await client.patch(f"/users/{target.id}", json=body, headers=auth(actor))


@pytest.mark.parametrize(
    "body",
    [
        {"is_active": False},
        {"roles": ["patrol"]},
        {"roles": ["admin", "patrol"]},
        {"full_name": "改名"},
        {"phone": "0513 8888 0000"},
    ],
)
async def test_a_supervisor_cannot_touch_an_admin_in_its_subtree(client, world, auth, body):
    target = world["district_admin"]
    r = await patch(client, auth, world["supervisor"], target, body)
    assert r.status_code == 403 and r.json()["code"] == "admin_account_protected"
    stored = await User.get(id=target.id)
    assert stored.is_active and stored.roles == ["admin"] and stored.full_name == target.full_name
    assert stored.token_version == 0


async def test_an_admin_may_disable_another_admin(client, world, auth):
    r = await patch(client, auth, world["admin"], world["district_admin"], {"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False


@pytest.mark.parametrize("role", ["scheduler", "officer", "admin"])
async def test_a_supervisor_cannot_grant_itself_roles_it_does_not_hold(client, world, auth, role):
    supervisor = world["supervisor"]
    r = await patch(client, auth, supervisor, supervisor, {"roles": ["supervisor", role]})
    assert r.status_code == 403 and r.json()["code"] == "role_not_grantable"
    assert (await User.get(id=supervisor.id)).roles == ["supervisor"]


@pytest.mark.parametrize("role", ["scheduler", "officer"])
async def test_a_supervisor_cannot_grant_others_roles_of_other_offices(client, world, auth, role):
    r = await patch(client, auth, world["supervisor"], world["patrol"], {"roles": ["patrol", role]})
    assert r.status_code == 403 and r.json()["code"] == "role_not_grantable"
    created = await client.post(
        "/users",
        json={
            "username": f"new_{role}",
            "password": "a-long-password-1",
            "full_name": "新用户",
            "roles": [role],
            "org_unit_id": str(world["street"].id),
        },
        headers=auth(world["supervisor"]),
    )
    assert created.status_code == 403 and created.json()["code"] == "role_not_grantable"
    assert not await User.filter(username=f"new_{role}").exists()


async def test_a_supervisor_grants_the_field_roles_of_its_subtree(client, world, auth):
    body = {"roles": ["patrol", "social_worker", "subject"]}
    r = await patch(client, auth, world["supervisor"], world["patrol"], body)
    assert r.status_code == 200 and r.json()["roles"] == ["patrol", "social_worker", "subject"]


async def test_no_one_changes_its_own_roles_or_switches_itself_off(client, world, auth):
    supervisor, admin = world["supervisor"], world["admin"]
    r = await patch(client, auth, supervisor, supervisor, {"roles": ["supervisor", "patrol"]})
    assert r.status_code == 403 and r.json()["code"] == "own_account_change"
    for actor in (supervisor, admin):
        r = await patch(client, auth, actor, actor, {"is_active": False})
        assert r.status_code == 403 and r.json()["code"] == "own_account_change"
        assert (await User.get(id=actor.id)).is_active
    r = await patch(client, auth, admin, admin, {"roles": ["admin", "scheduler"]})
    assert r.status_code == 403 and r.json()["code"] == "own_account_change"
    # Its own name and phone are its own business.
    assert (
        await patch(client, auth, supervisor, supervisor, {"full_name": "新名"})
    ).status_code == 200


async def test_disabling_ends_sessions(client, world, auth, settings):
    from services.security import hash_password

    patrol = world["patrol"]
    patrol.password_hash = await hash_password(password="patrol-password", settings=settings)
    await patrol.save()
    pair = (
        await client.post(
            "/auth/token", data={"username": patrol.username, "password": "patrol-password"}
        )
    ).json()
    r = await patch(client, auth, world["supervisor"], patrol, {"is_active": False})
    assert r.status_code == 200
    assert await RefreshToken.filter(user_id=patrol.id, revoked_at=None).count() == 0
    assert (await User.get(id=patrol.id)).token_version == 1
    me = await client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 401


def _documented_grants() -> dict[str, set[str]]:
    """The 'may grant' column of the role table in docs/SECURITY.md."""
    text = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    table = text.split("<!-- grants -->", 2)[1]
    grants: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`\w+`", cells[0]):
            grants[cells[0].strip("`")] = set(re.findall(r"`(\w+)`", cells[1]))
    return grants


def test_the_written_table_is_the_code(make_unit):
    """docs/SECURITY.md and services.org.GRANTS say the same, role by role."""
    documented = _documented_grants()
    assert set(documented) == {r.value for r in Role}
    for role in Role:
        holder = User(roles_text=User.encode_roles([role.value]))
        assert grantable_roles(holder) == documented[role.value], role
