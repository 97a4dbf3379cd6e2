"""The social domain's scope rules (services.social.access) and the rules moved out of handlers."""

from __future__ import annotations

from datetime import date

from models.org import User
from models.social import Client
from services.scope import overlaps
from services.social import access, sixones
from tests.social.conftest import assign, create_client, make_team


def test_overlaps_is_the_same_place_above_or_below_never_a_sibling():
    assert overlaps("/1/2/", "/1/2/")
    assert overlaps("/1/2/3/", "/1/")  # the client's unit lies below the helper's
    assert overlaps("/1/", "/1/2/3/")  # the helper's unit lies below the client's
    assert not overlaps("/1/2/", "/1/3/")  # sibling communities
    assert not overlaps("/1/2/", "/4/2/")  # another district


async def test_may_join_care_group_follows_the_org_tree(street):
    youth = Client(full_name="吴某某", org_path=street.street.path)
    assert access.may_join_care_group(helper=street.district_supervisor, client=youth)
    assert access.may_join_care_group(helper=street.worker1, client=youth)
    assert not access.may_join_care_group(helper=street.other_worker, client=youth)


async def test_patch_with_null_required_fields_keeps_them(client, auth, street):
    body = await create_client(client, auth, street.supervisor, street.street, risk_level="low")
    await assign(client, auth, street.supervisor, body["id"], street.worker1)
    r = await client.patch(
        f"/clients/{body['id']}",
        json={"full_name": None, "address": None, "risk_level": None, "phone": "13905131234"},
        headers=auth(street.worker1),
    )
    assert r.status_code == 200, r.text
    stored = await Client.get(id=body["id"])
    assert (stored.full_name, stored.address, stored.risk_level.value) == (
        body["full_name"],
        body["address"],
        "low",
    )
    assert stored.phone == "13905131234"
    # Optional fields sent as null are cleared.
    r = await client.patch(
        f"/clients/{body['id']}", json={"phone": None}, headers=auth(street.worker1)
    )
    assert r.status_code == 200
    assert (await Client.get(id=body["id"])).phone is None


async def test_a_task_outside_scope_is_a_404_before_its_body_is_read(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[], anchor=date(2026, 1, 1)
    )
    task = sixones.task_id(team_id=team.id, kind="monthly_meeting", period="2026-01")
    outsider: User = street.other_worker
    url = f"/tasks/{task}/complete"
    r = await client.post(url, json={"completed_at": "not a time"}, headers=auth(outsider))
    assert r.status_code == 404, r.text
    # In scope, the same bad body is the usual 422 and nothing is completed.
    r = await client.post(url, json={"completed_at": "not a time"}, headers=auth(street.worker1))
    assert r.status_code == 422, r.text
    row = await access.load_task(user=street.worker1, task_id=task, today=date(2026, 2, 1))
    assert row.completed_at is None
