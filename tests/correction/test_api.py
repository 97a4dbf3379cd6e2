"""Supervisions, check-ins, leave and scope through the HTTP API."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from models.alerts import Alert
from models.audit import AuditEntry
from models.correction import CheckIn, LeaveRequest, Supervision
from models.social import Client
from services.correction import dates, supervisions
from services.correction import jobs as correction_jobs
from tests.correction.conftest import FAR_OUTSIDE, INSIDE, World, supervision_body


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def make_supervision(client: Any, auth: Any, w: World, **kw: Any) -> dict[str, Any]:
    r = await client.post("/supervisions", json=supervision_body(w, **kw), headers=auth(w.officer))
    assert r.status_code == 201, r.text
    return r.json()


def checkin(
    kind: str = "location",
    at: datetime | None = None,
    lonlat: tuple[float, float] | None = INSIDE,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "occurred_at": iso(at or datetime.now(UTC)),
    }
    if lonlat is not None:
        body["lon"], body["lat"] = lonlat
    body.update(extra)
    return body


async def test_create_supervision_lists_the_obligations_of_its_level(client, auth, world):
    s = await make_supervision(client, auth, world, level="strict")
    kinds = {o["kind"]: o for o in s["obligations"]}
    assert kinds["location"]["interval"] == "day"
    assert kinds["report"]["required"] == 2
    assert kinds["service_hours"] == {
        "kind": "service_hours",
        "interval": "month",
        "required": 8.0,
        "unit": "hours",
    }
    assert s["level"] == "strict" and s["level_in_force"] == "strict"
    assert s["level_history"][0]["level"] == "strict"
    assert await AuditEntry.filter(resource_type="supervision", action="create").count() == 1


async def test_create_supervision_refuses_bad_input_and_overlap(client, auth, world):
    w = world
    h = auth(w.officer)
    bad = [
        {**supervision_body(w), "ends_on": "2024-12-31"},
        {**supervision_body(w), "subject_user_id": str(w.officer.id)},
        {**supervision_body(w), "officer_id": str(w.subject.id)},
        {**supervision_body(w), "permitted_zone_id": str(uuid.uuid4())},
        {**supervision_body(w), "subject_user_id": str(w.other_subject.id)},
        {**supervision_body(w), "level": "harsh"},
        {**supervision_body(w), "extra": 1},
    ]
    for body in bad:
        r = await client.post("/supervisions", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await Supervision.all().count() == 0
    await make_supervision(client, auth, w)
    r = await client.post("/supervisions", json=supervision_body(w), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "supervision_overlaps"


async def test_scope_other_office_404_patrol_403_subject_403(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w)
    assert (
        await client.get(f"/supervisions/{s['id']}", headers=auth(w.officer))
    ).status_code == 200
    assert (
        await client.get(f"/supervisions/{s['id']}", headers=auth(w.supervisor))
    ).status_code == 200
    assert (
        await client.get(f"/supervisions/{s['id']}", headers=auth(w.other_officer))
    ).status_code == 404
    assert (await client.get(f"/supervisions/{s['id']}", headers=auth(w.patrol))).status_code == 403
    assert (
        await client.get(f"/supervisions/{s['id']}", headers=auth(w.subject))
    ).status_code == 403
    r = await client.get("/supervisions", headers=auth(w.other_officer))
    assert r.json()["items"] == []
    assert (
        await client.post("/supervisions", json=supervision_body(w), headers=auth(w.patrol))
    ).status_code == 403
    month = datetime.now(UTC).strftime("%Y-%m")
    for path in (
        f"/supervisions/{s['id']}/compliance?month={month}",
        f"/supervisions/{s['id']}/compliance.csv?month={month}",
        f"/supervisions/{s['id']}/leave-requests",
        f"/supervisions/{s['id']}/checkins",
    ):
        assert (await client.get(path, headers=auth(w.other_officer))).status_code == 404, path
        assert (await client.get(path, headers=auth(w.patrol))).status_code == 403, path
    # Reads are audited.
    assert await AuditEntry.filter(resource_type="supervision", action="read").count() >= 2


async def test_subject_sees_only_their_own(client, auth, world):
    w = world
    await make_supervision(client, auth, w)
    other = await make_supervision(client, auth, w, subject=w.subject2)
    r = await client.get("/me/supervision", headers=auth(w.subject))
    assert r.status_code == 200 and r.json()["subject_user_id"] == str(w.subject.id)
    assert (await client.get("/me/supervision", headers=auth(w.other_subject))).status_code == 404
    c = checkin()
    assert (await client.post("/me/checkins", json=c, headers=auth(w.subject2))).status_code == 201
    mine = (await client.get("/me/checkins", headers=auth(w.subject))).json()["items"]
    assert mine == []
    # A subject may not record on a supervision, its own or another's.
    r = await client.post(
        f"/supervisions/{other['id']}/checkins", json=checkin("report"), headers=auth(w.subject)
    )
    assert r.status_code == 403
    # The same client id from another subject is a conflict, never a second record.
    r = await client.post("/me/checkins", json=c, headers=auth(w.subject))
    assert r.status_code == 409
    assert await CheckIn.all().count() == 1


async def test_checkin_inside_outside_accuracy_and_single_alert(client, auth, world):
    w = world
    await make_supervision(client, auth, w)
    h = auth(w.subject)
    r = await client.post("/me/checkins", json=checkin(), headers=h)
    assert r.status_code == 201
    body = r.json()
    assert body["inside_permitted_area"] is True and body["status"] == "ok"
    assert body["on_approved_leave"] is False
    assert body["retry"] is False
    # About 95 m east of the edge: inside with an accuracy of 99 m, outside with 20 m; with
    # 150 m (worse than the 100 m bound) it proves nothing and the app is asked to retry.
    edge = (120.901, 32.0)
    r = await client.post("/me/checkins", json=checkin(lonlat=edge, accuracy_m=99), headers=h)
    assert r.json()["inside_permitted_area"] is True and r.json()["status"] == "ok"
    r = await client.post("/me/checkins", json=checkin(lonlat=edge, accuracy_m=150), headers=h)
    assert r.json()["status"] == "unverified" and r.json()["retry"] is True
    c = checkin(lonlat=edge, accuracy_m=20)
    r = await client.post("/me/checkins", json=c, headers=h)
    assert r.status_code == 201
    assert r.json()["inside_permitted_area"] is False and r.json()["status"] == "violation"
    assert 80 < r.json()["distance_outside_m"] < 110
    alerts = await Alert.filter(kind="outside_permitted_area")
    assert len(alerts) == 1
    assert str(w.officer.id) in {str(x.user_id) for x in await alerts[0].recipients.all()}
    assert "lon" not in alerts[0].detail and "lat" not in alerts[0].detail
    # Replay: same body answers 200 with the stored record and raises nothing new.
    r2 = await client.post("/me/checkins", json=c, headers=h)
    assert r2.status_code == 200 and r2.json() == r.json()
    assert await Alert.filter(kind="outside_permitted_area").count() == 1
    r3 = await client.post("/me/checkins", json={**c, "accuracy_m": 21}, headers=h)
    assert r3.status_code == 409 and r3.json()["code"] == "id_conflict"
    # A second outside check-in is its own violation and its own alert.
    r = await client.post("/me/checkins", json=checkin(lonlat=FAR_OUTSIDE), headers=h)
    assert r.json()["status"] == "violation"
    assert await Alert.filter(kind="outside_permitted_area").count() == 2
    # The officer's view shows the subject outside with open alerts.
    r = await client.get("/officer/subjects", headers=auth(w.officer))
    [row] = r.json()["items"]
    assert row["status"] == "outside" and row["checked_in"] and row["open_alerts"] == 2


async def test_checkin_bad_input_is_refused_and_nothing_stored(client, auth, world):
    w = world
    await make_supervision(client, auth, w)
    h = auth(w.subject)
    now = datetime.now(UTC)
    bad = [
        checkin(at=now + timedelta(minutes=10)),
        checkin(lonlat=None),
        checkin(lonlat=(181.0, 32.0)),
        checkin(lonlat=(120.0, 91.0)),
        {**checkin(lonlat=None), "lon": 120.88},
        checkin("service_hours", lonlat=None, hours=-1),
        checkin("service_hours", lonlat=None, hours=25),
        checkin("service_hours", lonlat=None),
        checkin("study", lonlat=None, hours=0),
        checkin("location", hours=2),
        checkin("thought_report", lonlat=None),
        checkin("home_visit"),
        {**checkin(), "occurred_at": "2025-03-01T10:00:00"},
        {**checkin(), "subject_id": str(w.subject2.id)},
        checkin(at=datetime(2020, 1, 1, tzinfo=UTC)),
    ]
    for body in bad:
        r = await client.post("/me/checkins", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
    assert await CheckIn.all().count() == 0
    assert (
        await client.post("/me/checkins", json=checkin(), headers=auth(w.officer))
    ).status_code == 403
    assert (
        await client.post("/me/checkins", json=checkin(), headers=auth(w.subject2))
    ).status_code == 422
    ok = checkin(at=now + timedelta(minutes=4))
    assert (await client.post("/me/checkins", json=ok, headers=h)).status_code == 201


async def test_officer_records_report_and_home_visit(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w)
    for kind in ("report", "home_visit"):
        r = await client.post(
            f"/supervisions/{s['id']}/checkins",
            json=checkin(kind, text="走访家中"),
            headers=auth(w.officer),
        )
        assert r.status_code == 201, r.text
        assert r.json()["recorded_by_id"] == str(w.officer.id)
        assert r.json()["subject_id"] == str(w.subject.id)
    r = await client.post(
        f"/supervisions/{s['id']}/checkins", json=checkin("location"), headers=auth(w.officer)
    )
    assert r.status_code == 422
    r = await client.post(
        f"/supervisions/{s['id']}/checkins", json=checkin("report"), headers=auth(w.other_officer)
    )
    assert r.status_code == 404
    listed = (await client.get(f"/supervisions/{s['id']}/checkins", headers=auth(w.officer))).json()
    assert len(listed["items"]) == 2


async def test_leave_flow_overlap_decision_scope_and_cancel(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w)
    await make_supervision(client, auth, w, subject=w.subject2)
    h = auth(w.subject)
    now = datetime.now(UTC)
    leave = {
        "id": str(uuid.uuid4()),
        "starts_at": iso(now + timedelta(days=2)),
        "ends_at": iso(now + timedelta(days=4)),
        "destination": "上海市",
        "reason": "探亲",
    }
    r = await client.post("/me/leave-requests", json=leave, headers=h)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert (await client.post("/me/leave-requests", json=leave, headers=h)).status_code == 200
    overlap = {
        **leave,
        "id": str(uuid.uuid4()),
        "starts_at": iso(now + timedelta(days=3)),
        "ends_at": iso(now + timedelta(days=5)),
    }
    r = await client.post("/me/leave-requests", json=overlap, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "leave_overlaps"
    for bad in (
        {
            **leave,
            "id": str(uuid.uuid4()),
            "starts_at": iso(now + timedelta(days=9)),
            "ends_at": iso(now + timedelta(days=8)),
        },
        {
            **leave,
            "id": str(uuid.uuid4()),
            "starts_at": iso(now - timedelta(days=3)),
            "ends_at": iso(now - timedelta(days=1)),
        },
        {**leave, "id": str(uuid.uuid4()), "destination": ""},
    ):
        r = await client.post("/me/leave-requests", json=bad, headers=h)
        assert r.status_code == 422, r.text
    assert await LeaveRequest.all().count() == 1
    # Only the supervising officer decides; another office's officer sees nothing.
    decision = {"approved": True, "note": "同意"}
    r = await client.post(
        f"/leave-requests/{leave['id']}/decision", json=decision, headers=auth(w.other_officer)
    )
    assert r.status_code == 404
    r = await client.post(
        f"/leave-requests/{leave['id']}/decision", json=decision, headers=auth(w.subject)
    )
    assert r.status_code == 403
    r = await client.post(
        f"/leave-requests/{leave['id']}/decision", json=decision, headers=auth(w.officer)
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = await client.post(
        f"/leave-requests/{leave['id']}/decision", json=decision, headers=auth(w.officer)
    )
    assert r.status_code == 409
    listed = (
        await client.get(f"/supervisions/{s['id']}/leave-requests", headers=auth(w.officer))
    ).json()
    assert [x["id"] for x in listed["items"]] == [leave["id"]]
    assert [
        x["id"] for x in (await client.get("/me/leave-requests", headers=h)).json()["items"]
    ] == [leave["id"]]
    assert (await client.get("/me/leave-requests", headers=auth(w.subject2))).json()["items"] == []
    # Another subject cannot cancel it; its owner can, before it starts.
    assert (
        await client.post(f"/me/leave-requests/{leave['id']}/cancel", headers=auth(w.subject2))
    ).status_code == 404
    r = await client.post(f"/me/leave-requests/{leave['id']}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await Supervision.get(id=s["id"])).approved_leave == []


async def test_leave_approval_turns_an_outside_checkin_compliant(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w)
    h = auth(w.subject)
    now = datetime.now(UTC)
    c = checkin(lonlat=FAR_OUTSIDE, at=now - timedelta(minutes=30))
    r = await client.post("/me/checkins", json=c, headers=h)
    assert r.json()["status"] == "violation"
    leave = {
        "id": str(uuid.uuid4()),
        "starts_at": iso(now - timedelta(hours=2)),
        "ends_at": iso(now + timedelta(days=1)),
        "destination": "南京市",
        "reason": "就医",
    }
    assert (await client.post("/me/leave-requests", json=leave, headers=h)).status_code == 201
    r = await client.post(
        f"/leave-requests/{leave['id']}/decision", json={"approved": True}, headers=auth(w.officer)
    )
    assert r.status_code == 200
    stored = await CheckIn.get(id=c["id"])
    assert stored.status == "ok" and stored.on_approved_leave
    month = now.astimezone(UTC).strftime("%Y-%m")
    # A later outside check-in inside the window is compliant from the start.
    r = await client.post("/me/checkins", json=checkin(lonlat=FAR_OUTSIDE), headers=h)
    assert r.json()["status"] == "ok" and r.json()["on_approved_leave"] is True
    assert r.json()["inside_permitted_area"] is False
    comp = (
        await client.get(
            f"/me/compliance?month={datetime.now(UTC).astimezone(__import__('zoneinfo').ZoneInfo('Asia/Shanghai')).strftime('%Y-%m')}",
            headers=h,
        )
    ).json()
    assert not [v for v in comp["violations"] if v["kind"] == "outside_permitted_area"]
    assert month
    row = (await client.get("/officer/subjects", headers=auth(w.officer))).json()["items"][0]
    assert row["on_leave"] is True and row["status"] == "on_leave"
    assert s


async def test_level_change_keeps_history_and_scope(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w, level="strict")
    r = await client.patch(
        f"/supervisions/{s['id']}/level", json={"level": "lenient"}, headers=auth(w.officer)
    )
    assert r.status_code == 200
    body = r.json()
    assert body["level"] == "lenient"
    assert [e["level"] for e in body["level_history"]] == ["strict", "lenient"]
    # Daily check-ins: the change applies from tomorrow, so today is still strict.
    assert body["level_in_force"] == "strict"
    assert {o["kind"]: o["interval"] for o in body["obligations"]}["location"] == "two_weeks"
    r = await client.patch(
        f"/supervisions/{s['id']}/level", json={"level": "normal"}, headers=auth(w.other_officer)
    )
    assert r.status_code == 404
    r = await client.patch(
        f"/supervisions/{s['id']}/level", json={"level": "normal"}, headers=auth(w.patrol)
    )
    assert r.status_code == 403


async def test_assessment_put_and_csv_export(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w)
    h = auth(w.officer)
    r = await client.put(
        f"/supervisions/{s['id']}/assessments/2025-03",
        json={"grade": "good", "remark": "表现良好"},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["grade"] == "good"
    r = await client.put(
        f"/supervisions/{s['id']}/assessments/2025-03",
        json={"grade": "warning", "remark": "迟交汇报"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["grade"] == "warning"
    for month in ("2024-12", "2999-01", "2025-13"):
        r = await client.put(
            f"/supervisions/{s['id']}/assessments/{month}", json={"grade": "good"}, headers=h
        )
        assert r.status_code == 422, month
    r = await client.put(
        f"/supervisions/{s['id']}/assessments/2025-03", json={"grade": "excellent"}, headers=h
    )
    assert r.status_code == 422
    comp = (await client.get(f"/supervisions/{s['id']}/compliance?month=2025-03", headers=h)).json()
    assert comp["assessment"]["grade"] == "warning" and comp["assessment"]["remark"] == "迟交汇报"
    r = await client.get(f"/supervisions/{s['id']}/compliance.csv?month=2025-03", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8-sig")
    assert "定位签到" in text and "warning" in text and "missed_checkin" in text
    assert (
        await client.get(f"/supervisions/{s['id']}/compliance?month=2025-3", headers=h)
    ).status_code == 422


async def test_obligation_rules_per_office(client, auth, world):
    w = world
    h = auth(w.officer)
    r = await client.get(f"/org-units/{w.office.id}/obligation-rules", headers=h)
    assert r.status_code == 200
    rules = r.json()["rules"]
    rules["strict"] = [x for x in rules["strict"] if x["kind"] != "home_visit"]
    r = await client.put(
        f"/org-units/{w.office.id}/obligation-rules", json={"rules": rules}, headers=h
    )
    assert r.status_code == 200, r.text
    s = await make_supervision(client, auth, w, level="strict")
    assert "home_visit" not in {o["kind"] for o in s["obligations"]}
    broken = {
        **rules,
        "strict": [{"kind": "location", "interval": "day", "required": -1, "unit": "count"}],
    }
    r = await client.put(
        f"/org-units/{w.office.id}/obligation-rules", json={"rules": broken}, headers=h
    )
    assert r.status_code == 422 and r.json()["code"] == "rules_invalid"
    r = await client.get(
        f"/org-units/{w.office.id}/obligation-rules", headers=auth(w.other_officer)
    )
    assert r.status_code == 404


# --- ending a supervision (解除/终止社区矫正) -----------------------------------------------------


def _today() -> date:
    return dates.local_date(datetime.now(UTC))


async def _end(client: Any, auth: Any, user: Any, sid: str, **body: Any) -> Any:
    return await client.post(f"/supervisions/{sid}/end", json=body, headers=auth(user))


async def test_end_keeps_the_planned_end_history_and_audits(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w, level="strict")
    await client.patch(
        f"/supervisions/{s['id']}/level", json={"level": "normal"}, headers=auth(w.officer)
    )
    assert s["planned_ends_on"] == s["ends_on"] == "2030-12-31" and s["ended_on"] is None
    yesterday = (_today() - timedelta(days=1)).isoformat()
    body = {"ended_on": yesterday, "reason": "deceased", "note": "死亡证明已核实"}
    r = await _end(client, auth, w.officer, s["id"], **body)
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["ends_on"] == ended["ended_on"] == yesterday
    assert ended["planned_ends_on"] == "2030-12-31"
    assert ended["end_reason"] == "deceased" and ended["end_note"] == "死亡证明已核实"
    assert ended["ended_by_id"] == str(w.officer.id) and ended["ended_at"].endswith("Z")
    assert [e["level"] for e in ended["level_history"]] == ["strict", "normal"]
    entry = await AuditEntry.get(resource_type="supervision", action="end")
    assert str(entry.resource_id) == s["id"]
    # The identical end again (a phone's retry) is a no-op, another end a conflict.
    again = await _end(client, auth, w.officer, s["id"], **body)
    assert again.status_code == 200 and again.json()["ended_at"] == ended["ended_at"]
    for other in (
        {**body, "reason": "revoked"},
        {**body, "note": None},
        {**body, "ended_on": "2026-01-05"},
    ):
        r = await _end(client, auth, w.officer, s["id"], **other)
        assert r.status_code == 409 and r.json()["code"] == "supervision_ended"
    assert await AuditEntry.filter(resource_type="supervision", action="end").count() == 1
    # An ended supervision takes no new level.
    r = await client.patch(
        f"/supervisions/{s['id']}/level", json={"level": "strict"}, headers=auth(w.officer)
    )
    assert r.status_code == 409 and r.json()["code"] == "supervision_ended"
    got = (await client.get(f"/supervisions/{s['id']}", headers=auth(w.supervisor))).json()
    assert got["ended_on"] == yesterday and got["planned_ends_on"] == "2030-12-31"


async def test_end_refuses_bad_dates_and_roles_and_stores_nothing(client, auth, world):
    w = world
    start = _today() - timedelta(days=10)
    s = await make_supervision(client, auth, w, starts_on=start, ends_on=start + timedelta(days=30))
    tomorrow = _today() + timedelta(days=1)
    for ended_on, code in (
        (start - timedelta(days=1), "ended_on_before_start"),
        (start + timedelta(days=31), "ended_on_after_planned_end"),
        (tomorrow, "ended_on_in_future"),
    ):
        r = await _end(
            client, auth, w.officer, s["id"], ended_on=ended_on.isoformat(), reason="other"
        )
        assert r.status_code == 422 and r.json()["code"] == code, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    for bad in (
        {"ended_on": _today().isoformat(), "reason": "escaped"},
        {"ended_on": _today().isoformat()},
        {"ended_on": _today().isoformat(), "reason": "other", "ends_on": "2030-01-01"},
        {"ended_on": _today().isoformat(), "reason": "other", "note": "x" * 1001},
    ):
        r = await client.post(f"/supervisions/{s['id']}/end", json=bad, headers=auth(w.officer))
        assert r.status_code == 422, bad
    ok = {"ended_on": _today().isoformat(), "reason": "transferred_out"}
    assert (await _end(client, auth, w.other_officer, s["id"], **ok)).status_code == 404
    assert (await _end(client, auth, w.patrol, s["id"], **ok)).status_code == 403
    assert (await _end(client, auth, w.subject, s["id"], **ok)).status_code == 403
    stored = await Supervision.get(id=s["id"])
    assert stored.ended_on is None and stored.planned_ends_on is None
    assert stored.ends_on == start + timedelta(days=30)
    assert not await AuditEntry.filter(resource_type="supervision", action="end").exists()
    # The supervisor of the district may end it, on today.
    r = await _end(client, auth, w.supervisor, s["id"], **ok)
    assert r.status_code == 200 and r.json()["ends_on"] == _today().isoformat()


async def test_after_the_end_no_checkin_leave_or_reminder_and_lists_show_it_ended(
    client, auth, world
):
    w = world
    s = await make_supervision(client, auth, w)
    h = auth(w.subject)
    # A check-in first, so the subject's supervision sits in the per-process cache.
    assert (await client.post("/me/checkins", json=checkin(), headers=h)).status_code == 201
    now = datetime.now(UTC)
    pending = {
        "id": str(uuid.uuid4()),
        "starts_at": iso(now + timedelta(days=3)),
        "ends_at": iso(now + timedelta(days=4)),
        "destination": "上海市",
        "reason": "探亲",
    }
    assert (await client.post("/me/leave-requests", json=pending, headers=h)).status_code == 201
    yesterday = _today() - timedelta(days=1)
    r = await _end(
        client, auth, w.officer, s["id"], ended_on=yesterday.isoformat(), reason="revoked"
    )
    assert r.status_code == 200, r.text
    r = await client.post("/me/checkins", json=checkin(), headers=h)
    assert r.status_code == 422 and r.json()["code"] == "not_under_supervision"
    r = await client.post(
        f"/supervisions/{s['id']}/checkins",
        json=checkin("report", lonlat=None),
        headers=auth(w.officer),
    )
    assert r.status_code == 422 and r.json()["code"] == "not_under_supervision"
    assert await CheckIn.all().count() == 1
    # Pending leave that would start after the end is refused by the end.
    leave = await LeaveRequest.get(id=pending["id"])
    assert leave.status == "rejected" and leave.decided_by_id == w.officer.id
    assert leave.decision_note == supervisions.LEAVE_REFUSED_NOTE
    later = {**pending, "id": str(uuid.uuid4())}
    r = await client.post("/me/leave-requests", json=later, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "not_under_supervision"
    mine = (await client.get("/me/supervision", headers=h)).json()
    assert mine["ended_on"] == yesterday.isoformat() and mine["end_reason"] == "revoked"
    subjects = (await client.get("/officer/subjects", headers=auth(w.officer))).json()["items"]
    assert [(i["supervision_id"], i["status"], i["end_reason"]) for i in subjects] == [
        (s["id"], "ended", "revoked")
    ]
    assert subjects[0]["ended_on"] == yesterday.isoformat()
    assert await correction_jobs.checkins_due(datetime.now(UTC)) == []


async def test_a_closed_case_takes_no_new_supervision(client, auth, world):
    w = world
    await Client.filter(id=w.client_id).update(status="closed", closed_on=_today())
    r = await client.post("/supervisions", json=supervision_body(w), headers=auth(w.officer))
    assert r.status_code == 409 and r.json()["code"] == "case_closed"
    assert await Supervision.all().count() == 0
    assert not await AuditEntry.filter(resource_type="supervision").exists()


async def test_ending_the_supervision_lets_the_case_close(client, auth, world):
    w = world
    s = await make_supervision(client, auth, w)
    close = {"closed_on": _today().isoformat(), "reason": "completed", "note": "矫正期满"}
    r = await client.post(f"/clients/{w.client_id}/close", json=close, headers=auth(w.supervisor))
    assert r.status_code == 409 and r.json()["code"] == "client_under_supervision"
    r = await _end(
        client, auth, w.officer, s["id"], ended_on=_today().isoformat(), reason="early_release"
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/clients/{w.client_id}/close", json=close, headers=auth(w.supervisor))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
