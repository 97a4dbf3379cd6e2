"""Visits: idempotency, location verification, cadence in local time, the overdue alert job."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from models.alerts import Alert, AlertRecipient
from models.social import Client, Visit
from services.alerts import acknowledge
from services.social import cadence, jobs
from tests.social.conftest import HOME, assign, create_client, visit_body

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _assigned(client, auth, street, **overrides):
    body = await create_client(client, auth, street.supervisor, street.street, **overrides)
    await assign(client, auth, street.supervisor, body["id"], street.worker1)
    return body


async def test_home_visit_location_verification(client, auth, street):
    c = await _assigned(client, auth, street)
    url = f"/clients/{c['id']}/visits"
    # ~111 m north of home: verified.
    r = await client.post(url, json=visit_body(lat=HOME[1] + 0.001), headers=auth(street.worker1))
    assert r.status_code == 201, r.text
    assert r.json()["location_verified"] is True
    assert 105 < r.json()["distance_m"] < 118
    # ~333 m away: not verified, distance still given.
    r = await client.post(url, json=visit_body(lat=HOME[1] + 0.003), headers=auth(street.worker1))
    assert r.json()["location_verified"] is False
    assert 325 < r.json()["distance_m"] < 340
    # Near but with poor accuracy, or no accuracy, or not a home visit: not verified.
    r = await client.post(url, json=visit_body(accuracy_m=150), headers=auth(street.worker1))
    assert r.json()["location_verified"] is False
    assert r.json()["distance_m"] == 0
    r = await client.post(url, json=visit_body(accuracy_m=None), headers=auth(street.worker1))
    assert r.json()["location_verified"] is False
    r = await client.post(url, json=visit_body(kind="office"), headers=auth(street.worker1))
    assert r.json()["location_verified"] is False
    # Exactly at the accuracy bound is still good.
    r = await client.post(url, json=visit_body(accuracy_m=100), headers=auth(street.worker1))
    assert r.json()["location_verified"] is True
    # No position at all.
    r = await client.post(url, json=visit_body(lon=None, lat=None), headers=auth(street.worker1))
    assert r.json()["location_verified"] is False and r.json()["distance_m"] is None


async def test_client_without_home_is_never_verified(client, auth, street):
    c = await _assigned(client, auth, street, home_lon=None, home_lat=None)
    r = await client.post(
        f"/clients/{c['id']}/visits", json=visit_body(), headers=auth(street.worker1)
    )
    assert r.status_code == 201
    assert r.json()["location_verified"] is False


async def test_bad_visits_are_refused_and_nothing_stored(client, auth, street):
    c = await _assigned(client, auth, street)
    url = f"/clients/{c['id']}/visits"
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    r = await client.post(url, json=visit_body(occurred_at=future), headers=auth(street.worker1))
    assert r.status_code == 422
    assert r.json()["code"] == "visit_in_future"
    for bad in [
        {"lon": 200},
        {"lat": 91},
        {"lat": None},
        {"kind": "email"},
        {"occurred_at": "2026-01-05T10:00:00"},
        {"accuracy_m": -1},
        {"id": "not-a-uuid"},
        {"extra": 1},
    ]:
        r = await client.post(url, json=visit_body(**bad), headers=auth(street.worker1))
        assert r.status_code == 422, bad
    # A few minutes of clock skew is fine.
    soon = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()
    assert (
        await client.post(url, json=visit_body(occurred_at=soon), headers=auth(street.worker1))
    ).status_code == 201
    assert await Visit.all().count() == 1
    # Another worker's client: 404, nothing stored.
    r = await client.post(url, json=visit_body(), headers=auth(street.worker2))
    assert r.status_code == 404
    assert await Visit.all().count() == 1


async def test_visit_is_idempotent_by_client_made_id(client, auth, street):
    c = await _assigned(client, auth, street)
    url = f"/clients/{c['id']}/visits"
    body = visit_body()
    first = await client.post(url, json=body, headers=auth(street.worker1))
    assert first.status_code == 201
    again = await client.post(url, json=body, headers=auth(street.worker1))
    assert again.status_code == 200
    assert again.json() == first.json()
    changed = await client.post(url, json={**body, "notes": "改了"}, headers=auth(street.worker1))
    assert changed.status_code == 409
    assert changed.json()["code"] == "id_conflict"
    assert await Visit.all().count() == 1


async def test_visits_list_is_paginated_newest_first(client, auth, street):
    c = await _assigned(client, auth, street)
    url = f"/clients/{c['id']}/visits"
    base = datetime.now(UTC) - timedelta(days=10)
    for i in range(5):
        r = await client.post(
            url,
            json=visit_body(occurred_at=(base + timedelta(days=i)).isoformat()),
            headers=auth(street.worker1),
        )
        assert r.status_code == 201
    r = await client.get(url, params={"limit": 2}, headers=auth(street.worker1))
    page1 = r.json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    r = await client.get(
        url, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=auth(street.worker1)
    )
    page2 = r.json()
    r = await client.get(
        url, params={"limit": 2, "cursor": page2["next_cursor"]}, headers=auth(street.worker1)
    )
    page3 = r.json()
    times = [v["occurred_at"] for p in (page1, page2, page3) for v in p["items"]]
    assert len(times) == 5 and times == sorted(times, reverse=True)
    assert page3["next_cursor"] is None


async def test_cadence_counts_from_the_latest_visit_not_the_latest_recorded(client, auth, street):
    c = await _assigned(client, auth, street, risk_level="high")
    url = f"/clients/{c['id']}/visits"
    recent = datetime.now(UTC) - timedelta(days=1)
    older = datetime.now(UTC) - timedelta(days=5)
    await client.post(
        url, json=visit_body(occurred_at=recent.isoformat()), headers=auth(street.worker1)
    )
    await client.post(
        url, json=visit_body(occurred_at=older.isoformat()), headers=auth(street.worker1)
    )
    stored = await Client.get(id=c["id"])
    assert stored.last_visit_at == recent.replace(microsecond=stored.last_visit_at.microsecond)
    assert stored.visit_due_on == recent.astimezone(SHANGHAI).date() + timedelta(days=7)


def test_due_date_and_overdue_use_local_time():
    # 20:00 UTC on 1 March is 04:00 on 2 March in Shanghai: a high-risk visit is due on 9 March.
    visited = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    due = cadence.visit_due_on(
        risk_level="high", last_visit_at=visited, assigned_at=None, tz=SHANGHAI
    )
    assert due == date(2026, 3, 9)
    # In UTC it would already be overdue on 9 March (1 March + 7 = 8 March).
    assert cadence.visit_due_on(
        risk_level="high", last_visit_at=visited, assigned_at=None, tz=ZoneInfo("UTC")
    ) == date(2026, 3, 8)
    # 10:00 UTC on 9 March is 18:00 in Shanghai: due today, not overdue.
    today = cadence.local_today(now=datetime(2026, 3, 9, 10, 0, tzinfo=UTC), tz=SHANGHAI)
    assert not cadence.is_overdue(due_on=due, today=today)
    # 16:30 UTC on 9 March is 00:30 on 10 March in Shanghai: overdue, though still 9 March in UTC.
    today = cadence.local_today(now=datetime(2026, 3, 9, 16, 30, tzinfo=UTC), tz=SHANGHAI)
    assert cadence.is_overdue(due_on=due, today=today)
    # Cadence by risk level, from the assignment when there is no visit.
    assigned = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    for risk, days in [("high", 7), ("medium", 14), ("low", 30)]:
        assert cadence.visit_due_on(
            risk_level=risk, last_visit_at=None, assigned_at=assigned, tz=SHANGHAI
        ) == date(2026, 3, 1) + timedelta(days=days)
    assert (
        cadence.visit_due_on(risk_level="low", last_visit_at=None, assigned_at=None, tz=SHANGHAI)
        is None
    )


async def test_overdue_visit_job_alerts_worker_and_supervisors_once(client, auth, street):
    c = await _assigned(client, auth, street, risk_level="high")
    visited = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # due 9 March, Shanghai
    r = await client.post(
        f"/clients/{c['id']}/visits",
        json=visit_body(occurred_at=visited.isoformat()),
        headers=auth(street.worker1),
    )
    assert r.status_code == 201
    # Due today in Shanghai (though "tomorrow" relative to the UTC date of the visit + 7): no alert.
    assert (
        await jobs.alert_overdue_visits(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
        == "0 overdue visits alerted"
    )
    assert await Alert.all().count() == 0
    # Just after local midnight: overdue.
    now = datetime(2026, 3, 9, 16, 30, tzinfo=UTC)
    assert await jobs.alert_overdue_visits(now) == "1 overdue visits alerted"
    alert = await Alert.get(kind="overdue_visit")
    assert alert.subject_id == uuid.UUID(c["id"])
    assert "张某某" not in alert.title
    recipients = set(await AlertRecipient.filter(alert=alert).values_list("user_id", flat=True))
    assert recipients == {street.worker1.id, street.supervisor.id, street.district_supervisor.id}
    # Again, and after an acknowledgement: never twice for the same due date.
    assert await jobs.alert_overdue_visits(now + timedelta(hours=1)) == "0 overdue visits alerted"
    await acknowledge(alert=alert, user=street.supervisor)
    assert await jobs.alert_overdue_visits(now + timedelta(hours=2)) == "0 overdue visits alerted"
    assert await Alert.all().count() == 1
    # A new visit moves the due date; when that one passes too, a new alert.
    later = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    await client.post(
        f"/clients/{c['id']}/visits",
        json=visit_body(occurred_at=later.isoformat()),
        headers=auth(street.worker1),
    )
    assert (
        await jobs.alert_overdue_visits(datetime(2026, 3, 17, 17, 0, tzinfo=UTC))
        == "1 overdue visits alerted"
    )
    assert await Alert.all().count() == 2


async def test_overdue_job_through_the_worker_registry(client, auth, street):
    from services.jobs import load_jobs, run_job

    registry = load_jobs()
    assert {"social.overdue_visits", "social.overdue_tasks"} <= set(registry)
    c = await _assigned(client, auth, street, risk_level="low")
    await Client.filter(id=c["id"]).update(visit_due_on=date(2026, 1, 1))
    summary = await run_job(
        registry["social.overdue_visits"], now=datetime(2026, 1, 2, 12, tzinfo=UTC)
    )
    assert summary == "1 overdue visits alerted"


async def test_visit_due_notices(client, auth, street):
    from services.notices import SOURCES

    c = await _assigned(client, auth, street, risk_level="high")
    await Client.filter(id=c["id"]).update(visit_due_on=date(2026, 5, 10))
    source = SOURCES["social.visits_due"]
    assert await source(datetime(2026, 5, 7, 1, tzinfo=UTC)) == []
    notices = await source(datetime(2026, 5, 9, 1, tzinfo=UTC))
    assert len(notices) == 1
    assert notices[0].user_ids == (street.worker1.id,)
    assert notices[0].cause_key == f"visit:{c['id']}:2026-05-10"
    assert "张某某" not in notices[0].body
    assert notices[0].data == {"type": "client", "id": c["id"]}


async def test_a_care_group_visit_neither_clears_overdue_nor_moves_the_due_date(
    client, auth, street
):
    c = await _assigned(client, auth, street, risk_level="high", category="at_risk_youth")
    url = f"/clients/{c['id']}/visits"
    visited = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # due 8 March, Shanghai
    r = await client.post(
        url, json=visit_body(occurred_at=visited.isoformat()), headers=auth(street.worker1)
    )
    assert r.status_code == 201
    assert await jobs.alert_overdue_visits(datetime(2026, 3, 9, 16, 30, tzinfo=UTC)) == (
        "1 overdue visits alerted"
    )
    r = await client.post(
        f"/clients/{c['id']}/care-group",
        json={"user_id": str(street.patrol.id), "role": "volunteer"},
        headers=auth(street.worker1),
    )
    assert r.status_code == 201, r.text
    # The volunteer's visit is kept in the file, but the worker still owes the visit.
    r = await client.post(
        url,
        json=visit_body(occurred_at=datetime(2026, 3, 10, 2, 0, tzinfo=UTC).isoformat()),
        headers=auth(street.patrol),
    )
    assert r.status_code == 201, r.text
    stored = await Client.get(id=c["id"])
    assert stored.visit_due_on == date(2026, 3, 8)
    assert stored.last_visit_at == visited
    assert (await Alert.get(kind="overdue_visit")).status == "open"
    # The worker's own visit moves the due date and closes the alert: its cause is fixed.
    r = await client.post(url, json=visit_body(), headers=auth(street.worker1))
    assert r.status_code == 201
    stored = await Client.get(id=c["id"])
    assert stored.visit_due_on is not None and stored.visit_due_on > date(2026, 3, 8)
    assert (await Alert.get(kind="overdue_visit")).status == "acked"


async def test_a_visit_by_the_supervisor_of_the_delegated_unit_counts(client, auth, street):
    c = await _assigned(client, auth, street, risk_level="high")
    today = datetime.now(UTC).date()
    r = await client.post(
        f"/clients/{c['id']}/delegations",
        json={"org_unit_id": str(street.other_street.id), "starts_on": str(today)},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/clients/{c['id']}/visits", json=visit_body(), headers=auth(street.other_supervisor)
    )
    assert r.status_code == 201, r.text
    assert (await Client.get(id=c["id"])).last_visit_at is not None
