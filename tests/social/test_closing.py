"""Closing (结案) and reopening a case: who may, what it ends, what a closed case no longer does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

from models.alerts import Alert
from models.audit import AuditEntry
from models.correction import Level, Supervision
from models.social import CaseAssignment, CaseClosure, Client, Delegation, Visit
from services.social import cadence, caseloads, jobs
from tests.social.conftest import assign, create_client, fill_caseload, visit_body


def today_local(settings) -> date:
    return cadence.local_today(now=datetime.now(UTC), tz=settings.tz)


def close_body(settings, **overrides):
    body = {"closed_on": today_local(settings).isoformat(), "reason": "moved_away"}
    body.update(overrides)
    return body


async def _assigned(client, auth, street, worker=None, **overrides):
    body = await create_client(client, auth, street.supervisor, street.street, **overrides)
    r = await assign(client, auth, street.supervisor, body["id"], worker or street.worker1)
    assert r.status_code == 200, r.text
    return body


async def _close(client, auth, user, client_id, body):
    return await client.post(f"/clients/{client_id}/close", json=body, headers=auth(user))


async def test_worker_closes_own_case_and_the_record_is_kept(client, auth, street, settings):
    c = await _assigned(client, auth, street, risk_level="high")
    body = close_body(settings, reason="completed", note="帮教期满，本人已稳定就业")
    r = await _close(client, auth, street.worker1, c["id"], body)
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed"
    assert closed["closed_on"] == body["closed_on"]
    assert closed["close_reason"] == "completed"
    assert closed["next_visit_due"] is None and closed["overdue"] is False
    # Who held the case when it closed stays on the record, and may still read it.
    assert closed["social_worker_id"] == str(street.worker1.id)
    for reader in (street.worker1, street.supervisor, street.admin):
        r = await client.get(f"/clients/{c['id']}", headers=auth(reader))
        assert r.status_code == 200 and r.json()["status"] == "closed"
    # Off the caseload; the assignment in the history has ended.
    assert (await client.get("/me/caseload", headers=auth(street.worker1))).json() == []
    assignment = await CaseAssignment.get(client_id=c["id"])
    assert assignment.ends_at is not None and assignment.worker_id == street.worker1.id
    r = await client.get(f"/clients/{c['id']}/history", headers=auth(street.supervisor))
    history = r.json()
    assert history["assignments"][0]["user_id"] == str(street.worker1.id)
    assert history["assignments"][0]["ends_at"] is not None
    [closure] = history["closures"]
    assert closure["closed_on"] == body["closed_on"] and closure["reason"] == "completed"
    assert closure["note"] == "帮教期满，本人已稳定就业"
    assert closure["closed_by_id"] == str(street.worker1.id)
    assert closure["reopened_at"] is None
    entry = await AuditEntry.get(action="close", resource_id=c["id"])
    assert entry.user_id == street.worker1.id
    assert entry.detail["reason"] == "completed" and entry.detail["closed_on"] == body["closed_on"]
    assert "帮教期满" not in str(entry.detail)  # free text stays out of the audit log


async def test_supervisor_closes_and_the_english_problem_reads_well(client, auth, street, settings):
    c = await _assigned(client, auth, street)
    r = await _close(client, auth, street.district_supervisor, c["id"], close_body(settings))
    assert r.status_code == 200
    r = await client.post(
        f"/clients/{c['id']}/close",
        json=close_body(settings, reason="deceased"),
        headers={**auth(street.supervisor), "Accept-Language": "en"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "case_closed"
    assert r.json()["detail"] == "The client's case is closed: reopen it first"


async def test_who_may_close(client, auth, street, settings):
    c = await _assigned(client, auth, street)
    body = close_body(settings)
    # Another worker of the street and another street's supervisor do not see the case.
    assert (await _close(client, auth, street.worker2, c["id"], body)).status_code == 404
    assert (await _close(client, auth, street.other_supervisor, c["id"], body)).status_code == 404
    # Roles that never touch clients.
    assert (await _close(client, auth, street.patrol, c["id"], body)).status_code == 403
    assert (await _close(client, auth, street.officer, c["id"], body)).status_code == 403
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await _close(client, auth, street.supervisor, missing, body)).status_code == 404
    assert (await Client.get(id=c["id"])).status == "open"
    assert not await CaseClosure.exists()


async def test_bad_closes_are_refused_and_nothing_stored(client, auth, street, settings):
    c = await _assigned(client, auth, street)
    today = today_local(settings)
    cases = [
        (close_body(settings, closed_on=str(today + timedelta(days=1))), "closed_on_in_future"),
        (close_body(settings, closed_on=str(today - timedelta(days=1))), "closed_on_too_early"),
        (close_body(settings, closed_on="0001-01-01"), "date_out_of_range"),
        (close_body(settings, closed_on="9999-12-31"), "date_out_of_range"),
        (close_body(settings, reason="bored"), "validation_error"),
        (close_body(settings, closed_on="2026-13-01"), "validation_error"),
        (close_body(settings, status="closed"), "validation_error"),
        (close_body(settings, note="长" * 1001), "validation_error"),
        ({"reason": "other"}, "validation_error"),
    ]
    for body, code in cases:
        r = await _close(client, auth, street.worker1, c["id"], body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] == code, body
    r = await _close(client, auth, street.worker1, c["id"], cases[1][0])
    assert str(today) in r.json()["detail"]  # names the earliest possible date
    stored = await Client.get(id=c["id"])
    assert stored.status == "open" and stored.closed_on is None and stored.visit_due_on is not None
    assert not await CaseClosure.exists()
    assert not await AuditEntry.filter(action="close").exists()
    assert await CaseAssignment.filter(ends_at__isnull=True).count() == 1


async def test_cannot_close_before_the_current_assignment(client, auth, street, settings):
    c = await create_client(client, auth, street.supervisor, street.street)
    registered = datetime.now(UTC) - timedelta(days=40)
    await Client.filter(id=c["id"]).update(created_at=registered)
    moved = datetime.now(UTC) - timedelta(days=10)
    stored = await Client.get(id=c["id"])
    await caseloads.assign_worker(
        actor=street.supervisor,
        client=stored,
        worker_id=street.worker1.id,
        settings=settings,
        now=moved,
    )
    assigned_on = cadence.local_today(now=moved, tz=settings.tz)
    early = close_body(settings, closed_on=str(assigned_on - timedelta(days=1)))
    r = await _close(client, auth, street.worker1, c["id"], early)
    assert r.status_code == 422 and r.json()["code"] == "closed_on_too_early"
    r = await _close(
        client, auth, street.worker1, c["id"], close_body(settings, closed_on=str(assigned_on))
    )
    assert r.status_code == 200


async def test_the_same_close_again_is_a_no_op_another_is_a_409(client, auth, street, settings):
    c = await _assigned(client, auth, street)
    body = close_body(settings, note="已迁往外省")
    first = await _close(client, auth, street.worker1, c["id"], body)
    assert first.status_code == 200
    # A phone's retry: answered with the stored case, stored once, audited once.
    again = await _close(client, auth, street.worker1, c["id"], body)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await CaseClosure.all().count() == 1
    assert await AuditEntry.filter(action="close").count() == 1
    for changed in ({**body, "reason": "deceased"}, {**body, "note": "另一说明"}):
        r = await _close(client, auth, street.supervisor, c["id"], changed)
        assert r.status_code == 409, changed
        assert r.json()["code"] == "case_closed"
    assert await CaseClosure.all().count() == 1
    closure = await CaseClosure.get()
    assert closure.reason == "moved_away" and closure.note == "已迁往外省"


async def test_concurrent_closes_store_one(client, auth, street, settings):
    c = await _assigned(client, auth, street)
    answers = await asyncio.gather(
        _close(client, auth, street.worker1, c["id"], close_body(settings, reason="moved_away")),
        _close(client, auth, street.supervisor, c["id"], close_body(settings, reason="deceased")),
    )
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert await CaseClosure.all().count() == 1
    assert await AuditEntry.filter(action="close").count() == 1


async def _supervision(street, client_id, *, starts_on: date, ends_on: date) -> Supervision:
    return await Supervision.create(
        client_id=client_id,
        subject=street.patrol,  # any user: only the dates matter here
        officer=street.officer,
        permitted_zone_id=uuid.uuid4(),
        level=Level.normal,
        rules={},
        starts_on=starts_on,
        ends_on=ends_on,
        org_unit=street.street,
        org_path=street.street.path,
    )


async def test_a_case_under_supervision_cannot_close(client, auth, street, settings):
    c = await _assigned(client, auth, street, category="community_correction")
    today = today_local(settings)
    running = await _supervision(
        street, c["id"], starts_on=today - timedelta(days=100), ends_on=today + timedelta(days=30)
    )
    r = await _close(
        client, auth, street.worker1, c["id"], close_body(settings, reason="completed")
    )
    assert r.status_code == 409
    assert r.json()["code"] == "client_under_supervision"
    assert (await Client.get(id=c["id"])).status == "open"
    assert not await CaseClosure.exists()
    # A supervision that ends on the closing day has been completed: the case may close.
    await Supervision.filter(id=running.id).update(ends_on=today)
    r = await _close(
        client, auth, street.worker1, c["id"], close_body(settings, reason="completed")
    )
    assert r.status_code == 200


async def test_a_supervision_yet_to_start_also_blocks_closing(client, auth, street, settings):
    c = await _assigned(client, auth, street, category="community_correction")
    today = today_local(settings)
    await _supervision(
        street, c["id"], starts_on=today + timedelta(days=5), ends_on=today + timedelta(days=300)
    )
    r = await _close(client, auth, street.supervisor, c["id"], close_body(settings))
    assert r.status_code == 409 and r.json()["code"] == "client_under_supervision"


async def test_closing_ends_running_delegations(client, auth, street, settings):
    c = await _assigned(client, auth, street)
    today = today_local(settings)
    await Client.filter(id=c["id"]).update(created_at=datetime.now(UTC) - timedelta(days=400))
    past = await Delegation.create(
        client_id=c["id"],
        org_unit=street.other_street,
        org_path=street.other_street.path,
        starts_on=today - timedelta(days=300),
        ends_on=today - timedelta(days=200),
    )
    running = await Delegation.create(
        client_id=c["id"],
        org_unit=street.other_street,
        org_path=street.other_street.path,
        starts_on=today - timedelta(days=20),
        ends_on=today + timedelta(days=60),
    )
    later = await Delegation.create(
        client_id=c["id"],
        org_unit=street.other_street,
        org_path=street.other_street.path,
        starts_on=today + timedelta(days=90),
        ends_on=None,
    )
    url = f"/clients/{c['id']}"
    assert (await client.get(url, headers=auth(street.other_supervisor))).status_code == 200
    r = await _close(client, auth, street.worker1, c["id"], close_body(settings))
    assert r.status_code == 200
    assert (await Delegation.get(id=past.id)).ends_on == today - timedelta(days=200)
    assert (await Delegation.get(id=running.id)).ends_on == today
    assert not await Delegation.filter(id=later.id).exists()  # never began: dropped
    entry = await AuditEntry.get(action="close")
    assert entry.detail["ended_delegation_ids"] == [str(running.id)]
    assert entry.detail["dropped_delegation_ids"] == [str(later.id)]
    # Ended today: the other street still sees it today (the delegation's last day), not after.
    assert (await client.get(url, headers=auth(street.other_supervisor))).status_code == 200
    yesterday = close_body(settings, closed_on=str(today - timedelta(days=1)))
    other = await _assigned(client, auth, street)
    await Client.filter(id=other["id"]).update(
        created_at=datetime.now(UTC) - timedelta(days=30),
        assigned_at=datetime.now(UTC) - timedelta(days=30),
    )
    await Delegation.create(
        client_id=other["id"],
        org_unit=street.other_street,
        org_path=street.other_street.path,
        starts_on=today - timedelta(days=20),
    )
    r = await _close(client, auth, street.worker1, other["id"], yesterday)
    assert r.status_code == 200
    other_url = f"/clients/{other['id']}"
    assert (await client.get(other_url, headers=auth(street.other_supervisor))).status_code == 404


async def test_a_closed_case_frees_its_place_under_the_cap(client, auth, street, settings):
    await fill_caseload(street.worker1, street.street, 49)
    leaving = await _assigned(client, auth, street, full_name="离开者")
    newcomer = await create_client(client, auth, street.supervisor, street.street, full_name="新人")
    r = await assign(client, auth, street.supervisor, newcomer["id"], street.worker1)
    assert r.status_code == 409 and r.json()["code"] == "caseload_full"
    r = await _close(client, auth, street.worker1, leaving["id"], close_body(settings))
    assert r.status_code == 200
    r = await assign(client, auth, street.supervisor, newcomer["id"], street.worker1)
    assert r.status_code == 200, r.text
    # 50 open cases again, and the caseload report counts only those.
    caseload = (await client.get("/me/caseload", headers=auth(street.worker1))).json()
    assert len(caseload) == 50 and leaving["id"] not in {e["client"]["id"] for e in caseload}
    report = (await client.get("/reports/caseloads", headers=auth(street.supervisor))).json()
    assert {r["full_name"]: r["caseload"] for r in report}["周静"] == 50


async def test_a_closed_case_takes_no_visit_assignment_delegation_or_helper(
    client, auth, street, settings
):
    c = await _assigned(client, auth, street, category="at_risk_youth")
    stored_visit = visit_body()
    r = await client.post(
        f"/clients/{c['id']}/visits", json=stored_visit, headers=auth(street.worker1)
    )
    assert r.status_code == 201
    assert (
        await _close(client, auth, street.worker1, c["id"], close_body(settings))
    ).status_code == 200
    # A new visit: 409, nothing stored; the replay of one stored before the close: 200.
    r = await client.post(
        f"/clients/{c['id']}/visits", json=visit_body(), headers=auth(street.worker1)
    )
    assert r.status_code == 409 and r.json()["code"] == "case_closed"
    assert await Visit.all().count() == 1
    r = await client.post(
        f"/clients/{c['id']}/visits", json=stored_visit, headers=auth(street.worker1)
    )
    assert r.status_code == 200
    stored = await Client.get(id=c["id"])
    assert stored.visit_due_on is None
    # Assigning (even the same worker), delegating, adding a helper: 409, nothing stored.
    for worker in (street.worker2, street.worker1):
        r = await assign(client, auth, street.supervisor, c["id"], worker)
        assert r.status_code == 409 and r.json()["code"] == "case_closed"
    assert (await Client.get(id=c["id"])).social_worker_id == street.worker1.id
    assert await CaseAssignment.filter(ends_at__isnull=True).count() == 0
    r = await client.post(
        f"/clients/{c['id']}/delegations",
        json={"org_unit_id": str(street.other_street.id), "starts_on": str(today_local(settings))},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 409 and r.json()["code"] == "case_closed"
    r = await client.post(
        f"/clients/{c['id']}/care-group",
        json={"user_id": str(street.patrol.id), "role": "volunteer"},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 409 and r.json()["code"] == "case_closed"
    assert not await Delegation.exists()
    # The record may still be corrected; it stays closed with no visit due.
    r = await client.patch(
        f"/clients/{c['id']}",
        json={"address": "外省某地", "risk_level": "high"},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 200
    assert r.json()["status"] == "closed" and r.json()["next_visit_due"] is None
    # Status is never set through an update.
    r = await client.patch(
        f"/clients/{c['id']}", json={"status": "open"}, headers=auth(street.supervisor)
    )
    assert r.status_code == 422
    assert (await Client.get(id=c["id"])).status == "closed"


async def test_a_closed_case_raises_no_overdue_alert_or_reminder(client, auth, street, settings):
    overdue = await _assigned(client, auth, street, risk_level="high")
    closed = await _assigned(client, auth, street, risk_level="high", full_name="李某某")
    long_ago = date(2026, 1, 1)
    await Client.filter(id__in=[overdue["id"], closed["id"]]).update(visit_due_on=long_ago)
    r = await _close(client, auth, street.worker1, closed["id"], close_body(settings))
    assert r.status_code == 200
    # Even a stale due date left on a closed case is ignored.
    await Client.filter(id=closed["id"]).update(visit_due_on=long_ago)
    now = datetime(2026, 1, 5, 4, tzinfo=UTC)
    assert await jobs.alert_overdue_visits(now) == "1 overdue visits alerted"
    assert [a.subject_id for a in await Alert.all()] == [uuid.UUID(overdue["id"])]
    r = await client.get("/reports/overdue-visits", headers=auth(street.supervisor))
    assert [row["client_id"] for row in r.json()] == [overdue["id"]]
    report = (await client.get("/reports/caseloads", headers=auth(street.supervisor))).json()
    mine = next(row for row in report if row["full_name"] == "周静")
    assert mine["caseload"] == 1 and mine["overdue"] == 1

    from services.notices import SOURCES

    await Client.filter(id__in=[overdue["id"], closed["id"]]).update(visit_due_on=date(2026, 5, 10))
    notices = await SOURCES["social.visits_due"](datetime(2026, 5, 9, 1, tzinfo=UTC))
    assert [n.data["id"] for n in notices] == [overdue["id"]]


async def test_list_filters_by_status(client, auth, street, settings):
    open_case = await _assigned(client, auth, street)
    closed_case = await _assigned(client, auth, street, full_name="李某某")
    await _close(client, auth, street.worker1, closed_case["id"], close_body(settings))

    async def listed(user, **params):
        r = await client.get("/clients", params=params, headers=auth(user))
        assert r.status_code == 200, r.text
        return {c["id"]: c["status"] for c in r.json()["items"]}

    both = {open_case["id"]: "open", closed_case["id"]: "closed"}
    assert await listed(street.supervisor) == both  # by default: every case, open or closed
    assert await listed(street.worker1) == both  # the worker still finds the case it closed
    assert await listed(street.supervisor, status="open") == {open_case["id"]: "open"}
    assert await listed(street.supervisor, status="closed") == {closed_case["id"]: "closed"}
    r = await client.get("/clients", params={"status": "ended"}, headers=auth(street.supervisor))
    assert r.status_code == 422


async def test_supervisor_reopens_and_the_case_waits_for_a_worker(client, auth, street, settings):
    c = await _assigned(client, auth, street, risk_level="high")
    # The last visit was long ago, before the case closed.
    await Client.filter(id=c["id"]).update(
        created_at=datetime.now(UTC) - timedelta(days=200),
        assigned_at=datetime.now(UTC) - timedelta(days=200),
        last_visit_at=datetime.now(UTC) - timedelta(days=100),
    )
    today = today_local(settings)
    closed_on = str(today - timedelta(days=60))
    r = await _close(
        client, auth, street.worker1, c["id"], close_body(settings, closed_on=closed_on)
    )
    assert r.status_code == 200
    url = f"/clients/{c['id']}/reopen"
    # The worker asks a supervisor; roles that never touch clients get 403; outside scope 404.
    for user, status in (
        (street.worker1, 403),
        (street.patrol, 403),
        (street.worker2, 404),
        (street.other_supervisor, 404),
    ):
        assert (await client.post(url, json={}, headers=auth(user))).status_code == status
    assert (await Client.get(id=c["id"])).status == "closed"
    r = await client.post(url, json={"note": "本人迁回本街道"}, headers=auth(street.supervisor))
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert reopened["status"] == "open"
    assert reopened["closed_on"] is None and reopened["close_reason"] is None
    assert reopened["social_worker_id"] is None and reopened["next_visit_due"] is None
    assert reopened["last_visit_at"] is not None  # records are kept
    # Nobody's caseload holds it; the former worker no longer sees it.
    assert (await client.get("/me/caseload", headers=auth(street.worker1))).json() == []
    assert (
        await client.get(f"/clients/{c['id']}", headers=auth(street.worker1))
    ).status_code == 404
    # Reopening an open case: 409.
    r = await client.post(url, json={}, headers=auth(street.supervisor))
    assert r.status_code == 409 and r.json()["code"] == "case_not_closed"
    # Assigned again, the next visit falls due a cadence after the assignment, not after the
    # visit from before the case closed (which would make it overdue at once).
    r = await assign(client, auth, street.supervisor, c["id"], street.worker2)
    assert r.status_code == 200
    assert r.json()["next_visit_due"] == str(today + timedelta(days=7))
    assert r.json()["overdue"] is False
    r = await client.patch(
        f"/clients/{c['id']}", json={"risk_level": "medium"}, headers=auth(street.supervisor)
    )
    assert r.json()["next_visit_due"] == str(today + timedelta(days=14))
    # The history shows the close and the reopening.
    history = (
        await client.get(f"/clients/{c['id']}/history", headers=auth(street.supervisor))
    ).json()
    [closure] = history["closures"]
    assert closure["closed_on"] == closed_on and closure["closed_by_id"] == str(street.worker1.id)
    assert closure["reopened_at"] is not None
    assert closure["reopened_by_id"] == str(street.supervisor.id)
    assert closure["reopen_note"] == "本人迁回本街道"
    assert [a["user_id"] for a in history["assignments"]] == [
        str(street.worker1.id),
        str(street.worker2.id),
    ]
    entry = await AuditEntry.get(action="reopen", resource_id=c["id"])
    assert entry.user_id == street.supervisor.id
    # Closing again cannot reach back before the reopening.
    r = await _close(
        client, auth, street.worker2, c["id"], close_body(settings, closed_on=closed_on)
    )
    assert r.status_code == 422 and r.json()["code"] == "closed_on_too_early"
    r = await _close(client, auth, street.worker2, c["id"], close_body(settings, reason="other"))
    assert r.status_code == 200
    closures = (
        await client.get(f"/clients/{c['id']}/history", headers=auth(street.supervisor))
    ).json()["closures"]
    assert [(x["reason"], x["reopened_at"] is None) for x in closures] == [
        ("moved_away", False),
        ("other", True),
    ]


async def test_reopen_without_a_body(client, auth, street, settings):
    c = await _assigned(client, auth, street)
    await _close(client, auth, street.worker1, c["id"], close_body(settings))
    r = await client.post(f"/clients/{c['id']}/reopen", headers=auth(street.admin))
    assert r.status_code == 200 and r.json()["status"] == "open"
    r = await client.post(
        f"/clients/{c['id']}/reopen",
        json={"note": "x", "status": "open"},
        headers=auth(street.admin),
    )
    assert r.status_code == 422


async def test_visit_before_a_reopening_does_not_count_but_one_after_does():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    reopened = datetime(2026, 3, 1, 2, tzinfo=UTC)
    assigned = datetime(2026, 3, 2, 2, tzinfo=UTC)
    before = datetime(2025, 12, 1, 2, tzinfo=UTC)
    after = datetime(2026, 3, 5, 2, tzinfo=UTC)
    due = cadence.visit_due_on(
        risk_level="low", last_visit_at=before, assigned_at=assigned, tz=tz, reopened_at=reopened
    )
    assert due == date(2026, 4, 1)
    due = cadence.visit_due_on(
        risk_level="low", last_visit_at=after, assigned_at=assigned, tz=tz, reopened_at=reopened
    )
    assert due == date(2026, 4, 4)
