"""Org units, users and teams inside the caller's scope; nobody grants what it may not."""

from __future__ import annotations

import uuid

import pytest

from models.audit import AuditEntry
from models.org import OrgUnit, Role, Team, User


@pytest.fixture
async def world(make_unit, make_user):
    city = await make_unit("南通市")
    chongchuan = await make_unit("崇川区", city)
    haimen = await make_unit("海门区", city)
    street = await make_unit("和平桥街道", chongchuan)
    return {
        "city": city,
        "chongchuan": chongchuan,
        "haimen": haimen,
        "street": street,
        "admin": await make_user(Role.admin, unit=city),
        "supervisor": await make_user(Role.supervisor, unit=chongchuan),
        "other_supervisor": await make_user(Role.supervisor, unit=haimen),
        "patrol": await make_user(Role.patrol, unit=street),
        "scheduler": await make_user(Role.scheduler, unit=chongchuan),
    }


async def test_supervisor_creates_a_unit_in_its_subtree(client, world, auth):
    r = await client.post(
        "/org-units",
        json={"name": "濠西社区", "parent_id": str(world["street"].id)},
        headers=auth(world["supervisor"]),
    )
    assert r.status_code == 201
    created = await OrgUnit.get(id=r.json()["id"])
    assert (
        created.path.startswith(world["street"].path) and created.depth == world["street"].depth + 1
    )


async def test_supervisor_cannot_create_outside_its_subtree_or_a_root(client, world, auth):
    outside = await client.post(
        "/org-units",
        json={"name": "x", "parent_id": str(world["haimen"].id)},
        headers=auth(world["supervisor"]),
    )
    assert outside.status_code == 422 and outside.json()["code"] == "org_unit_outside_scope"
    root = await client.post("/org-units", json={"name": "x"}, headers=auth(world["supervisor"]))
    assert root.status_code == 403
    assert await OrgUnit.filter(name="x").count() == 0


async def test_admin_creates_a_root(client, world, auth):
    r = await client.post("/org-units", json={"name": "如皋市"}, headers=auth(world["admin"]))
    assert r.status_code == 201 and r.json()["parent_id"] is None


async def test_patrol_may_not_create_units_or_users(client, world, auth):
    r = await client.post(
        "/org-units",
        json={"name": "x", "parent_id": str(world["street"].id)},
        headers=auth(world["patrol"]),
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.post(
        "/users", json=_user_body(world["street"], ["patrol"]), headers=auth(world["patrol"])
    )
    assert r.status_code == 403


def _user_body(unit, roles, username="newuser"):
    return {
        "username": username,
        "password": "long-enough-pass",
        "full_name": "赵伟",
        "roles": roles,
        "org_unit_id": str(unit.id),
    }


async def test_supervisor_creates_a_patrol_member_and_never_returns_the_hash(client, world, auth):
    r = await client.post(
        "/users", json=_user_body(world["street"], ["patrol"]), headers=auth(world["supervisor"])
    )
    assert r.status_code == 201, r.text
    assert "password" not in r.text and "argon2" not in r.text
    assert r.json()["roles"] == ["patrol"]
    assert await AuditEntry.filter(
        resource_type="user", resource_id=r.json()["id"], action="create"
    ).exists()


async def test_supervisor_cannot_mint_an_admin(client, world, auth):
    r = await client.post(
        "/users", json=_user_body(world["street"], ["admin"]), headers=auth(world["supervisor"])
    )
    assert r.status_code == 403 and r.json()["code"] == "role_not_grantable"
    assert not await User.filter(username="newuser").exists()


async def test_supervisor_cannot_promote_to_admin(client, world, auth):
    r = await client.patch(
        f"/users/{world['patrol'].id}",
        json={"roles": ["patrol", "admin"]},
        headers=auth(world["supervisor"]),
    )
    assert r.status_code == 403
    assert (await User.get(id=world["patrol"].id)).roles == ["patrol"]


async def test_user_in_another_district_is_out_of_reach(client, world, auth):
    r = await client.post(
        "/users", json=_user_body(world["haimen"], ["patrol"]), headers=auth(world["supervisor"])
    )
    assert r.status_code == 422
    r = await client.get(
        f"/users/{world['other_supervisor'].id}", headers=auth(world["supervisor"])
    )
    assert r.status_code == 404
    r = await client.patch(
        f"/users/{world['other_supervisor'].id}",
        json={"is_active": False},
        headers=auth(world["supervisor"]),
    )
    assert r.status_code == 404


async def test_duplicate_username_is_409(client, world, auth):
    body = _user_body(world["street"], ["patrol"])
    assert (
        await client.post("/users", json=body, headers=auth(world["supervisor"]))
    ).status_code == 201
    r = await client.post("/users", json=body, headers=auth(world["supervisor"]))
    assert r.status_code == 409 and r.json()["code"] == "username_taken"


async def test_list_users_is_scoped_and_filtered(client, world, auth):
    r = await client.get("/users", headers=auth(world["supervisor"]))
    ids = {u["id"] for u in r.json()["items"]}
    assert str(world["patrol"].id) in ids and str(world["other_supervisor"].id) not in ids
    assert str(world["admin"].id) not in ids  # the admin sits above the supervisor's subtree
    r = await client.get("/users", params={"role": "patrol"}, headers=auth(world["admin"]))
    assert [u["id"] for u in r.json()["items"]] == [str(world["patrol"].id)]
    r = await client.get("/users", params={"role": "wizard"}, headers=auth(world["admin"]))
    assert r.status_code == 422


async def test_patrol_may_not_list_users(client, world, auth):
    assert (await client.get("/users", headers=auth(world["patrol"]))).status_code == 403


async def test_disabling_a_user_ends_its_access(client, world, auth):
    headers = auth(world["patrol"])
    r = await client.patch(
        f"/users/{world['patrol'].id}", json={"is_active": False}, headers=auth(world["supervisor"])
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.get("/me", headers=headers)).status_code == 401


async def test_mass_assignment_of_user_fields_is_refused(client, world, auth):
    body = _user_body(world["street"], ["patrol"]) | {"is_active": False, "password_hash": "x"}
    r = await client.post("/users", json=body, headers=auth(world["supervisor"]))
    assert r.status_code == 422
    assert not await User.filter(username="newuser").exists()


async def test_team_with_lead_and_members(client, world, make_user, auth):
    lead = await make_user(Role.social_worker, unit=world["street"])
    member = await make_user(Role.social_worker, unit=world["street"])
    r = await client.post(
        "/teams",
        json={
            "name": "和平桥社工站",
            "org_unit_id": str(world["street"].id),
            "lead_id": str(lead.id),
            "member_ids": [str(member.id)],
            "anchor_month": "2026-05-17",
        },
        headers=auth(world["supervisor"]),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body["member_ids"]) == {str(lead.id), str(member.id)}
    assert body["anchor_month"] == "2026-05-01"


async def test_team_with_a_member_out_of_scope_is_refused(client, world, make_user, auth):
    lead = await make_user(Role.social_worker, unit=world["street"])
    stranger = await make_user(Role.social_worker, unit=world["haimen"])
    r = await client.post(
        "/teams",
        json={
            "name": "t",
            "org_unit_id": str(world["street"].id),
            "lead_id": str(lead.id),
            "member_ids": [str(stranger.id), str(uuid.uuid4())],
        },
        headers=auth(world["supervisor"]),
    )
    assert r.status_code == 422 and r.json()["code"] == "user_outside_scope"
    assert await Team.all().count() == 0


async def test_org_units_list_is_the_callers_subtree(client, world, auth):
    r = await client.get("/org-units", headers=auth(world["supervisor"]))
    names = {u["name"] for u in r.json()["items"]}
    assert names == {"崇川区", "和平桥街道"}
    r = await client.get(f"/org-units/{world['haimen'].id}", headers=auth(world["supervisor"]))
    assert r.status_code == 404


async def test_reading_a_person_is_audited(client, world, auth):
    r = await client.get(f"/users/{world['patrol'].id}", headers=auth(world["supervisor"]))
    assert r.status_code == 200
    entry = await AuditEntry.get(
        resource_type="user", resource_id=str(world["patrol"].id), action="read"
    )
    assert entry.user_id == world["supervisor"].id
