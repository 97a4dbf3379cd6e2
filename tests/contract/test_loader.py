"""The load-or-404 dependency declares `id` in the spec and still answers as before.

Declared as a UUID string, read as text: the role decides first (403), then a malformed, unknown
or out-of-scope id is a 404 (never a 422, which would tell a prober that the id's shape matters).
"""

from __future__ import annotations

import uuid

import pytest

from models.org import Role

pytestmark = pytest.mark.usefixtures("db")


@pytest.mark.parametrize("object_id", ["not-a-uuid", "0" * 40, str(uuid.uuid4())])
async def test_a_malformed_or_unknown_id_is_404_for_a_permitted_role(
    client, make_unit, make_user, auth, object_id
):
    unit = await make_unit()
    scheduler = await make_user(Role.scheduler, unit=unit)
    for path in (f"/reminders/{object_id}", f"/reminders/{object_id}/deliveries"):
        r = await client.get(path, headers=auth(scheduler))
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "not_found"


@pytest.mark.parametrize("object_id", ["not-a-uuid", str(uuid.uuid4())])
async def test_the_role_decides_before_the_id(client, make_unit, make_user, auth, object_id):
    unit = await make_unit()
    patrol = await make_user(Role.patrol, unit=unit)
    r = await client.get(f"/reminders/{object_id}", headers=auth(patrol))
    assert r.status_code == 403, r.text
    r = await client.get(f"/supervisions/{object_id}", headers=auth(patrol))
    assert r.status_code == 403, r.text


async def test_no_token_is_401_whatever_the_id(client):
    r = await client.get("/reminders/not-a-uuid")
    assert r.status_code == 401, r.text


async def test_an_object_outside_the_scope_is_404(client, make_unit, make_user, auth):
    district = await make_unit("崇川区")
    mine, other = await make_unit("和平桥街道", district), await make_unit("城东街道", district)
    scheduler = await make_user(Role.scheduler, unit=mine)
    stranger = await make_user(Role.scheduler, unit=other)
    member = await make_user(Role.patrol, unit=mine)
    r = await client.post(
        "/reminders",
        headers=auth(scheduler),
        json={
            "title": "月度例会",
            "body": "周五下午",
            "audience": {"user_ids": [str(member.id)]},
            "first_at": "2099-01-01T01:00:00Z",
        },
    )
    assert r.status_code == 201, r.text
    reminder_id = r.json()["id"]
    assert (
        await client.get(f"/reminders/{reminder_id}", headers=auth(scheduler))
    ).status_code == 200
    r = await client.get(f"/reminders/{reminder_id}", headers=auth(stranger))
    assert r.status_code == 404, r.text
