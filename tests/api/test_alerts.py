"""raise_alert stores one open alert per cause; alerts are visible and acknowledged in scope."""

from __future__ import annotations

import uuid

import pytest

from models.alerts import Alert, AlertStatus
from models.org import Role
from services.alerts import raise_alert, was_raised
from services.org import supervisors_for


@pytest.fixture
async def world(make_unit, make_user):
    city = await make_unit("南通市")
    district = await make_unit("崇川区", city)
    street = await make_unit("和平桥街道", district)
    other = await make_unit("海门区", city)
    return {
        "street": street,
        "district": district,
        "supervisor": await make_user(Role.supervisor, unit=district),
        "street_supervisor": await make_user(Role.supervisor, unit=street),
        "other_supervisor": await make_user(Role.supervisor, unit=other),
        "officer": await make_user(Role.officer, unit=street),
        "patrol": await make_user(Role.patrol, unit=street),
        "other_patrol": await make_user(Role.patrol, unit=street),
    }


async def _raise(world, key="round-1:exit-1", recipients=None):
    return await raise_alert(
        kind="zone_exit",
        subject_type="round",
        subject_id=uuid.uuid4(),
        org_unit=world["street"],
        recipients=recipients or [world["patrol"]],
        title="巡防队员离开责任区",
        dedup_key=key,
    )


async def test_identical_open_alert_is_raised_once(world):
    first = await _raise(world)
    second = await _raise(world)
    assert first is not None and second is None
    assert await Alert.all().count() == 1
    assert await was_raised(kind="zone_exit", dedup_key="round-1:exit-1")


async def test_after_ack_the_same_cause_may_alert_again(client, world, auth):
    first = await _raise(world)
    r = await client.post(f"/alerts/{first.id}/ack", headers=auth(world["street_supervisor"]))
    assert r.status_code == 200 and r.json()["status"] == "acked"
    again = await _raise(world)
    assert again is not None


async def test_recipient_and_supervisors_see_it_others_do_not(client, world, auth):
    alert = await _raise(world)

    async def ids(user):
        r = await client.get("/alerts", params={"status": "open"}, headers=auth(user))
        assert r.status_code == 200
        return [a["id"] for a in r.json()["items"]]

    assert await ids(world["patrol"]) == [str(alert.id)]
    assert await ids(world["supervisor"]) == [str(alert.id)]
    assert await ids(world["officer"]) == []  # a patrol alert is not a correction officer's
    assert await ids(world["other_patrol"]) == []
    assert await ids(world["other_supervisor"]) == []
    r = await client.post(f"/alerts/{alert.id}/ack", headers=auth(world["other_supervisor"]))
    assert r.status_code == 404


async def test_second_ack_is_409(client, world, auth):
    alert = await _raise(world)
    assert (
        await client.post(f"/alerts/{alert.id}/ack", headers=auth(world["supervisor"]))
    ).status_code == 200
    r = await client.post(f"/alerts/{alert.id}/ack", headers=auth(world["supervisor"]))
    assert r.status_code == 409 and r.json()["code"] == "alert_already_acked"
    stored = await Alert.get(id=alert.id)
    assert stored.status == AlertStatus.acked and stored.acked_by_id == world["supervisor"].id


async def test_status_filter(client, world, auth):
    a = await _raise(world, key="a")
    await _raise(world, key="b")
    await client.post(f"/alerts/{a.id}/ack", headers=auth(world["supervisor"]))
    r = await client.get("/alerts", params={"status": "acked"}, headers=auth(world["supervisor"]))
    assert [x["id"] for x in r.json()["items"]] == [str(a.id)]


async def test_supervisors_for_a_place_are_its_ancestors_supervisors(world):
    found = await supervisors_for(org_path=world["street"].path)
    assert [u.id for u in found] == [world["street_supervisor"].id, world["supervisor"].id]


async def test_once_means_never_again_even_after_ack(client, world, auth):
    async def raise_once():
        return await raise_alert(
            kind="missed_checkin",
            subject_type="supervision",
            subject_id=uuid.uuid4(),
            org_unit=world["street"],
            recipients=[world["officer"]],
            title="矫正对象未按期完成报到",
            dedup_key="s1:report:2026-11-01",
            once=True,
        )

    first = await raise_once()
    assert first is not None
    assert (
        await client.post(f"/alerts/{first.id}/ack", headers=auth(world["officer"]))
    ).status_code == 200
    assert await raise_once() is None
    assert await Alert.filter(kind="missed_checkin").count() == 1


async def test_raised_keys_finds_which_causes_were_alerted(world):
    from services.alerts import raised_keys

    await _raise(world, key="a")
    assert await raised_keys(kind="zone_exit", dedup_keys=["a", "b"]) == {"a"}


async def test_a_recipient_reads_but_does_not_resolve_for_the_supervisor(client, world, auth):
    alert = await _raise(world)
    r = await client.post(f"/alerts/{alert.id}/ack", headers=auth(world["patrol"]))
    assert r.status_code == 403 and r.json()["code"] == "alert_not_yours_to_resolve"
    r = await client.post(f"/alerts/{alert.id}/read", headers=auth(world["patrol"]))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "open" and body["read_at"] is not None
    again = await client.post(f"/alerts/{alert.id}/read", headers=auth(world["patrol"]))
    assert again.json()["read_at"] == body["read_at"]  # the first read stands
    r = await client.get("/alerts", headers=auth(world["supervisor"]))
    [seen] = r.json()["items"]
    assert seen["status"] == "open" and seen["read_at"] is None
    mine = await client.get("/alerts", headers=auth(world["patrol"]))
    assert mine.json()["items"][0]["read_at"] == body["read_at"]


async def _overdue_visit(world, worker):
    return await raise_alert(
        kind="overdue_visit",
        subject_type="client",
        subject_id=uuid.uuid4(),
        org_unit=world["street"],
        recipients=[worker, world["street_supervisor"]],
        title="走访逾期",
        dedup_key="c1:2026-11-01",
    )


async def test_worker_cannot_resolve_its_own_overdue_visit_alert(client, world, auth, make_user):
    worker = await make_user(Role.social_worker, unit=world["street"])
    alert = await _overdue_visit(world, worker)
    r = await client.post(f"/alerts/{alert.id}/ack", headers=auth(worker))
    assert r.status_code == 403
    assert (await Alert.get(id=alert.id)).status == AlertStatus.open
    r = await client.post(f"/alerts/{alert.id}/ack", headers=auth(world["street_supervisor"]))
    assert r.status_code == 200 and r.json()["status"] == "acked"


async def test_officers_do_not_read_social_work_alerts_of_their_subtree(
    client, world, auth, make_user
):
    worker = await make_user(Role.social_worker, unit=world["street"])
    alert = await _overdue_visit(world, worker)
    r = await client.get("/alerts", headers=auth(world["officer"]))
    assert r.json()["items"] == []
    r = await client.post(f"/alerts/{alert.id}/read", headers=auth(world["officer"]))
    assert r.status_code == 404
    r = await client.get("/alerts", headers=auth(world["supervisor"]))
    assert [a["id"] for a in r.json()["items"]] == [str(alert.id)]
