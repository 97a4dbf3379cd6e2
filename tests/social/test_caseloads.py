"""Caseloads: assignment, the cap, transfer history, delegations and GET /me/caseload."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models.social import CaseAssignment, Client, Delegation
from tests.social.conftest import assign, create_client, fill_caseload


async def test_caseload_cap_is_a_409_and_changes_nothing(client, auth, street):
    await fill_caseload(street.worker1, street.street, 49)
    first = await create_client(client, auth, street.supervisor, street.street)
    r = await assign(client, auth, street.supervisor, first["id"], street.worker1)
    assert r.status_code == 200
    assert await Client.filter(social_worker_id=street.worker1.id).count() == 50
    second = await create_client(client, auth, street.supervisor, street.street, full_name="李某某")
    r = await assign(client, auth, street.supervisor, second["id"], street.worker1)
    assert r.status_code == 409
    assert r.json()["code"] == "caseload_full"
    assert (await Client.get(id=second["id"])).social_worker_id is None
    assert await CaseAssignment.filter(client_id=second["id"]).count() == 0
    # Reassigning a client the worker already holds is a no-op, not a cap breach.
    r = await assign(client, auth, street.supervisor, first["id"], street.worker1)
    assert r.status_code == 200
    # A worker at the cap cannot register one more client either.
    r = await client.post(
        "/clients",
        json={
            "full_name": "王某某",
            "category": "drug_rehab",
            "address": "某路",
            "risk_level": "low",
            "org_unit_id": str(street.street.id),
        },
        headers=auth(street.worker1),
    )
    assert r.status_code == 409
    assert await Client.filter(full_name="王某某").count() == 0


async def test_transfer_keeps_history(client, auth, street):
    body = await create_client(client, auth, street.supervisor, street.street)
    assert (
        await assign(client, auth, street.supervisor, body["id"], street.worker1)
    ).status_code == 200
    r = await assign(client, auth, street.supervisor, body["id"], street.worker2)
    assert r.status_code == 200
    assert r.json()["social_worker_id"] == str(street.worker2.id)
    # The old worker lost access, the new one has it.
    assert (
        await client.get(f"/clients/{body['id']}", headers=auth(street.worker1))
    ).status_code == 404
    r = await client.get(f"/clients/{body['id']}/history", headers=auth(street.worker2))
    assert r.status_code == 200
    history = r.json()["assignments"]
    assert [h["user_id"] for h in history] == [str(street.worker1.id), str(street.worker2.id)]
    assert [h["full_name"] for h in history] == ["周静", "吴敏"]
    assert history[0]["ends_at"] is not None and history[1]["ends_at"] is None
    assert history[0]["ends_at"] == history[1]["starts_at"]
    assert history[1]["assigned_by_id"] == str(street.supervisor.id)


async def test_delegation_to_another_unit(client, auth, street):
    body = await create_client(
        client, auth, street.supervisor, street.street, category="community_correction"
    )
    await assign(client, auth, street.supervisor, body["id"], street.worker1)
    url = f"/clients/{body['id']}/delegations"
    today = date.today()
    # Before the delegation the other street's supervisor cannot see the client.
    assert (
        await client.get(f"/clients/{body['id']}", headers=auth(street.other_supervisor))
    ).status_code == 404
    r = await client.post(
        url,
        json={
            "org_unit_id": str(street.other_street.id),
            "starts_on": str(today - timedelta(days=1)),
            "ends_on": str(today + timedelta(days=60)),
            "note": "暂住城东，委托帮教",
        },
        headers=auth(street.worker1),
    )
    # The worker alone may not disclose the client to another unit: its supervisor delegates.
    assert r.status_code == 403, r.text
    assert (
        await client.get(f"/clients/{body['id']}", headers=auth(street.other_supervisor))
    ).status_code == 404
    r = await client.post(
        url,
        json={
            "org_unit_id": str(street.other_street.id),
            "starts_on": str(today - timedelta(days=1)),
            "ends_on": str(today + timedelta(days=60)),
            "note": "暂住城东，委托帮教",
        },
        headers=auth(street.supervisor),
    )
    assert r.status_code == 201, r.text
    delegation_id = r.json()["id"]
    assert (
        await client.get(f"/clients/{body['id']}", headers=auth(street.other_supervisor))
    ).status_code == 200
    # Overlapping delegation, bad range, unknown unit, own unit: refused.
    r = await client.post(
        url,
        json={"org_unit_id": str(street.district.id), "starts_on": str(today + timedelta(days=30))},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 409
    r = await client.post(
        url,
        json={
            "org_unit_id": str(street.other_street.id),
            "starts_on": str(today + timedelta(days=100)),
            "ends_on": str(today + timedelta(days=90)),
        },
        headers=auth(street.supervisor),
    )
    assert r.status_code == 422
    r = await client.post(
        url,
        json={
            "org_unit_id": "00000000-0000-0000-0000-000000000001",
            "starts_on": str(today + timedelta(days=100)),
        },
        headers=auth(street.supervisor),
    )
    assert r.status_code == 422
    r = await client.post(
        url,
        json={"org_unit_id": str(street.street.id), "starts_on": str(today + timedelta(days=100))},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 422
    assert await Delegation.all().count() == 1
    # Ending it takes the other supervisor's view away again; history keeps it.
    r = await client.post(
        f"{url}/{delegation_id}/end",
        json={"ends_on": str(today - timedelta(days=1))},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 200
    assert (
        await client.get(f"/clients/{body['id']}", headers=auth(street.other_supervisor))
    ).status_code == 404
    r = await client.get(f"/clients/{body['id']}/history", headers=auth(street.supervisor))
    assert [d["org_unit_id"] for d in r.json()["delegations"]] == [str(street.other_street.id)]
    assert r.json()["delegations"][0]["note"] == "暂住城东，委托帮教"


async def test_my_caseload_most_urgent_first(client, auth, street):
    high = await create_client(
        client, auth, street.supervisor, street.street, full_name="高某", risk_level="high"
    )
    low = await create_client(
        client, auth, street.supervisor, street.street, full_name="低某", risk_level="low"
    )
    other = await create_client(client, auth, street.supervisor, street.street, full_name="他某")
    for c in (low, high):
        await assign(client, auth, street.supervisor, c["id"], street.worker1)
    await assign(client, auth, street.supervisor, other["id"], street.worker2)
    # An old visit makes the low-risk client overdue.
    old = (datetime.now(UTC) - timedelta(days=45)).isoformat()
    r = await client.post(
        f"/clients/{low['id']}/visits",
        json={
            "id": "6a1c0b1e-2222-4000-8000-000000000001",
            "kind": "office",
            "occurred_at": old,
            "notes": "",
        },
        headers=auth(street.worker1),
    )
    assert r.status_code == 201
    r = await client.get("/me/caseload", headers=auth(street.worker1))
    assert r.status_code == 200
    items = r.json()
    assert [i["client"]["full_name"] for i in items] == ["低某", "高某"]
    assert items[0]["overdue"] is True and items[1]["overdue"] is False
    assert items[0]["last_visit_at"].endswith("Z")
    assert items[1]["last_visit_at"] is None
    assert items[1]["next_visit_due"] == str(
        datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
        + timedelta(days=7)
    )


async def test_caseload_fast_path_matches_the_public_schema(client, auth, street):
    from pydantic import TypeAdapter

    from api.routers.social.schemas import CaseloadItem, client_public
    from services.social.cadence import local_today

    for i, risk in enumerate(["high", "medium", "low"]):
        c = await create_client(
            client,
            auth,
            street.supervisor,
            street.street,
            full_name=f"对象{i}",
            risk_level=risk,
            phone="13905131234",
        )
        await assign(client, auth, street.supervisor, c["id"], street.worker1)
    r = await client.get("/me/caseload", headers=auth(street.worker1))
    items = TypeAdapter(list[CaseloadItem]).validate_python(r.json())
    today = local_today(now=datetime.now(UTC), tz=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    for item in items:
        stored = await Client.get(id=item.client.id)
        expected = client_public(stored, today=today, masked_phone=True)
        assert item.client.model_dump(mode="json") == expected.model_dump(mode="json")
        assert item.client.phone == "139****1234"
