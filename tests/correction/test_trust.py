"""Issue 14, community correction: what an attacker with a phone and an account tried.

Body ids in scope, bounded dates, jobs that survive a bad row, check-ins that prove something,
the assigned officer alone acting on a supervision, late check-ins and the daily hours cap.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine

from models.alerts import Alert
from models.correction import CheckIn, ClosedInterval, Level, Supervision
from models.social import Client, ClientCategory, RiskLevel
from services import jobs as worker
from services.correction import supervisions
from services.jobs import load_jobs, run_job
from tests.correction.conftest import FAR_OUTSIDE, INSIDE, World, supervision_body

TZ = ZoneInfo("Asia/Shanghai")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def checkin(kind: str = "location", at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "occurred_at": iso(at or datetime.now(UTC) - timedelta(minutes=1)),
    }
    if kind == "location":
        body["lon"], body["lat"] = extra.pop("lonlat", INSIDE)
    body.update(extra)
    return body


async def supervise(client: Any, auth: Any, w: World, **kw: Any) -> dict[str, Any]:
    r = await client.post("/supervisions", json=supervision_body(w, **kw), headers=auth(w.officer))
    assert r.status_code == 201, r.text
    return r.json()


def without_instance(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in {"instance", "trace_id", "request_id"}}


# --- (1) a client named in the body is in scope or a 404 ---------------------------------------


async def test_client_of_another_office_is_a_404_like_a_random_id(client, auth, world):
    w = world
    elsewhere = await Client.create(
        full_name="外区对象",
        category=ClientCategory.community_correction,
        address="城东街道",
        risk_level=RiskLevel.medium,
        org_unit=w.other_office,
        org_path=w.other_office.path,
    )
    answers = []
    for client_id in (elsewhere.id, uuid.uuid4()):
        body = {**supervision_body(w), "client_id": str(client_id)}
        r = await client.post("/supervisions", json=body, headers=auth(w.officer))
        assert r.status_code == 404, r.text
        answers.append(without_instance(r.json()))
    assert answers[0] == answers[1]
    assert await Supervision.all().count() == 0
    # The client's own office may place it under supervision.
    body = {**supervision_body(w, subject=w.other_subject), "client_id": str(elsewhere.id)}
    body["officer_id"] = str(w.other_officer.id)
    r = await client.post("/supervisions", json=body, headers=auth(w.supervisor))
    assert r.status_code == 201, r.text


# --- (2) bounded dates, jobs isolated per row, months in range --------------------------------


async def test_supervision_dates_out_of_bounds_are_refused(client, auth, world):
    w = world
    today = datetime.now(TZ).date()
    # Outside 1900..2200 the API's date type refuses the body; inside it, the domain's own limits.
    for starts_on, ends_on, code in (
        (date(1, 1, 1), date(2027, 1, 1), "date_out_of_range"),
        (date(1899, 12, 31), date(1900, 6, 1), "date_out_of_range"),
        (today, date(2201, 1, 1), "date_out_of_range"),
        # entered far too late, and far ahead
        (today - timedelta(days=3700), today - timedelta(days=3000), "supervision_dates_invalid"),
        (today + timedelta(days=400), today + timedelta(days=500), "supervision_dates_invalid"),
    ):
        body = supervision_body(w, starts_on=starts_on, ends_on=ends_on)
        r = await client.post("/supervisions", json=body, headers=auth(w.officer))
        assert r.status_code == 422, (starts_on, r.text)
        assert r.json()["code"] == code
    assert await Supervision.all().count() == 0


async def _bad_supervision(w: World) -> Supervision:
    """A supervision stored before dates were bounded: 0001-01-01..0001-03-31."""
    s = await supervisions.create_supervision(
        actor=w.officer,
        client_id=w.client_id,
        subject_user_id=w.subject2.id,
        officer_id=w.officer.id,
        permitted_zone_id=w.zone_id,
        level=Level.strict,
        starts_on=date(2025, 1, 1),
        ends_on=date(2025, 3, 31),
        now=datetime(2025, 1, 1, 12, tzinfo=TZ),
    )
    await Supervision.filter(id=s.id).update(starts_on=date(1, 1, 1), ends_on=date(1, 3, 31))
    supervisions.forget_supervisions(w.subject2.id)
    return await Supervision.get(id=s.id)


async def test_one_supervision_dated_year_one_stops_no_other_alert(
    app, world, caplog, make_user, auth
):
    w = world
    bad = await _bad_supervision(w)
    good = await supervisions.create_supervision(
        actor=w.officer,
        client_id=w.client_id,
        subject_user_id=w.subject.id,
        officer_id=w.officer.id,
        permitted_zone_id=w.zone_id,
        level=Level.strict,
        starts_on=date(2025, 3, 1),
        ends_on=date(2025, 12, 31),
        now=datetime(2025, 3, 1, 9, tzinfo=TZ),
    )
    before = worker.ROWS_FAILED["correction.close_intervals"]
    caplog.set_level(logging.WARNING, logger="grassroots.worker")
    # The whole job, in its one transaction, as the worker runs it.
    summary = await run_job(
        load_jobs()["correction.close_intervals"], now=datetime(2025, 3, 5, 9, tzinfo=TZ)
    )
    assert summary is not None and "1 failed" in summary, summary
    # The good supervision's four strict days are closed and missed, alerted to the officer.
    closed = await ClosedInterval.filter(supervision_id=good.id, kind="location")
    assert sorted(c.starts_on.day for c in closed) == [1, 2, 3, 4]
    assert await Alert.filter(kind="missed_checkin", subject_id=good.id).count() > 0
    # The bad one is skipped, counted and logged by id alone; nothing of it was written.
    assert await ClosedInterval.filter(supervision_id=bad.id).count() == 0
    assert (await Supervision.get(id=bad.id)).closed_through is None
    assert worker.ROWS_FAILED["correction.close_intervals"] == before + 1
    [line] = [r.getMessage() for r in caplog.records if "skipped row" in r.getMessage()]
    # The id and the exception's type, never its message (which may quote personal data).
    assert line.startswith(f"job correction.close_intervals skipped row {bad.id}: ")
    assert line.rsplit(": ", 1)[1].isidentifier()
    transport = httpx.ASGITransport(app=app)
    admin = await make_user("admin", unit=w.district)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        text = (await c.get("/metrics", headers=auth(admin))).text
    assert f'grassroots_job_rows_failed_total{{job="correction.close_intervals"}} {before + 1}' in (
        text
    )


async def test_isolated_rolls_back_only_the_failing_row(world):
    w = world
    from tortoise.transactions import in_transaction

    async def good() -> int:
        await Client.filter(id=w.client_id).update(address="好的一行")
        return 1

    async def bad() -> int:
        await Client.filter(id=w.client_id).update(full_name="坏的一行")
        raise ValueError("a message that might quote personal data")

    before = worker.ROWS_FAILED["test.rows"]
    async with in_transaction():
        assert await worker.isolated(job_name="test.rows", row_id="a", work=bad) is None
        assert await worker.isolated(job_name="test.rows", row_id="b", work=good) == 1
    row = await Client.get(id=w.client_id)
    assert row.address == "好的一行" and row.full_name == "郑某"
    assert worker.ROWS_FAILED["test.rows"] == before + 1
    assert 'grassroots_job_rows_failed_total{job="test.rows"}' in worker.render_rows_failed()


async def test_compliance_of_year_one_is_a_422_not_a_500(client, auth, world):
    w = world
    bad = await _bad_supervision(w)
    for path in (f"/supervisions/{bad.id}/compliance", f"/supervisions/{bad.id}/compliance.csv"):
        for month in ("0001-01", "9999-12", "1899-12"):
            r = await client.get(path, params={"month": month}, headers=auth(w.officer))
            assert r.status_code == 422, (path, month, r.text)
            # The API's month type refuses it before the domain's own bound is reached.
            assert r.json()["code"] == "date_out_of_range"


# --- (3) check-ins that prove something --------------------------------------------------------


@pytest.fixture
def mid_month():
    """The 15th of this month at noon, local: this week's interval is judged in this month (the
    calendar tests pin what happens at month ends)."""
    today = datetime.now(TZ).date()
    with time_machine.travel(
        datetime.combine(today.replace(day=15), time(12), tzinfo=TZ), tick=True
    ):
        yield


async def current_interval(client: Any, headers: dict[str, str], day: date) -> dict[str, Any]:
    """The subject's location interval holding `day`; a week across a month end is judged in one
    of the two months, so both are read."""
    intervals: list[dict[str, Any]] = []
    for month in sorted({day.strftime("%Y-%m"), (day + timedelta(days=7)).strftime("%Y-%m")}):
        r = await client.get("/me/compliance", params={"month": month}, headers=headers)
        if r.status_code != 200:  # a month not begun yet
            continue
        location = next(o for o in r.json()["obligations"] if o["kind"] == "location")
        intervals += location["intervals"]
    [current] = [i for i in intervals if i["starts_on"] <= day.isoformat() <= i["ends_on"]]
    return current


async def test_a_huge_accuracy_never_puts_a_far_point_inside(mid_month, client, auth, world):
    w = world
    await supervise(client, auth, w)
    h = auth(w.subject)
    r = await client.post(
        "/me/checkins", json=checkin(lonlat=FAR_OUTSIDE, accuracy_m=100000), headers=h
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["inside_permitted_area"] is False
    assert body["status"] == "unverified" and body["retry"] is True
    assert body["distance_outside_m"] > 8000
    # Inside, but too imprecise to prove it: unverified as well, and it does not count.
    r = await client.post("/me/checkins", json=checkin(accuracy_m=101), headers=h)
    assert r.json()["status"] == "unverified" and r.json()["retry"] is True
    assert r.json()["inside_permitted_area"] is True
    today = datetime.now(TZ).date()
    assert (await current_interval(client, h, today))["done"] == 0
    # A precise fix counts.
    r = await client.post("/me/checkins", json=checkin(accuracy_m=15), headers=h)
    assert r.json()["status"] == "ok" and r.json()["retry"] is False
    assert (await current_interval(client, h, today))["done"] == 1


# --- (6) the assigned officer alone acts on a supervision -------------------------------------


async def test_only_the_assigned_officer_ends_relevels_or_assesses(client, auth, world, make_user):
    from models.org import Role

    w = world
    s = await supervise(client, auth, w)
    colleague = await make_user(Role.officer, unit=w.office)  # same office, not assigned
    month = datetime.now(TZ).strftime("%Y-%m")
    today = datetime.now(TZ).date().isoformat()
    end = {"ended_on": today, "reason": "completed"}
    calls = (
        ("PATCH", f"/supervisions/{s['id']}/level", {"level": "strict"}),
        ("PUT", f"/supervisions/{s['id']}/assessments/{month}", {"grade": "good"}),
        ("POST", f"/supervisions/{s['id']}/end", end),
    )
    # The colleague still reads the supervision of its office ...
    r = await client.get(f"/supervisions/{s['id']}", headers=auth(colleague))
    assert r.status_code == 200
    # ... but acts on it no more than an officer of another office.
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=auth(colleague))
        assert r.status_code == 404, (path, r.text)
    stored = await Supervision.get(id=s["id"])
    assert stored.level == Level.normal and stored.ended_on is None
    # The supervisor of the subtree may; so may the assigned officer.
    r = await client.patch(
        f"/supervisions/{s['id']}/level", json={"level": "lenient"}, headers=auth(w.supervisor)
    )
    assert r.status_code == 200
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=auth(w.officer))
        assert r.status_code in (200, 201), (path, r.text)


# --- (12) late check-ins count once the officer confirms them ---------------------------------


async def test_a_late_checkin_counts_only_once_confirmed(mid_month, client, auth, world, make_user):
    from models.org import Role

    w = world
    s = await supervise(client, auth, w)
    h = auth(w.subject)
    taken = datetime.now(UTC) - timedelta(days=4)
    r = await client.post("/me/checkins", json=checkin(at=taken, accuracy_m=10), headers=h)
    assert r.status_code == 201 and r.json()["status"] == "late", r.text
    late = r.json()
    assert late["confirmed_at"] is None

    async def done_that_week() -> float:
        day = taken.astimezone(TZ).date()
        # A week across a month end is judged in one of the two months: look in both.
        intervals = []
        for month in sorted({day.strftime("%Y-%m"), (day + timedelta(days=7)).strftime("%Y-%m")}):
            page = await client.get(
                f"/supervisions/{s['id']}/compliance",
                params={"month": month},
                headers=auth(w.officer),
            )
            location = next(o for o in page.json()["obligations"] if o["kind"] == "location")
            intervals += location["intervals"]
        [week] = [i for i in intervals if i["starts_on"] <= day.isoformat() <= i["ends_on"]]
        return float(week["done"])

    assert await done_that_week() == 0
    colleague = await make_user(Role.officer, unit=w.office)
    path = f"/checkins/{late['id']}/confirm"
    assert (await client.post(path, headers=auth(colleague))).status_code == 404
    assert (await client.post(path, headers=auth(w.other_officer))).status_code == 404
    assert (await client.post(path, headers=auth(w.subject))).status_code == 403
    assert (
        await client.post(f"/checkins/{uuid.uuid4()}/confirm", headers=auth(w.officer))
    ).status_code == 404
    assert await done_that_week() == 0
    r = await client.post(path, headers=auth(w.officer))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok" and r.json()["confirmed_by_id"] == str(w.officer.id)
    assert await done_that_week() == 1
    again = await client.post(path, headers=auth(w.officer))
    assert again.status_code == 200 and again.json() == r.json()
    # A check-in on time has nothing to confirm.
    r = await client.post("/me/checkins", json=checkin(accuracy_m=10), headers=h)
    r = await client.post(f"/checkins/{r.json()['id']}/confirm", headers=auth(w.officer))
    assert r.status_code == 409 and r.json()["code"] == "checkin_not_late"
    # A late check-in outside the area becomes the violation it was, once confirmed.
    r = await client.post(
        "/me/checkins", json=checkin(at=taken, lonlat=FAR_OUTSIDE, accuracy_m=10), headers=h
    )
    assert r.json()["status"] == "late" and r.json()["inside_permitted_area"] is False
    r = await client.post(f"/checkins/{r.json()['id']}/confirm", headers=auth(w.supervisor))
    assert r.status_code == 200 and r.json()["status"] == "violation"


# --- (18) at most 24 hours a day ---------------------------------------------------------------


async def test_hours_are_capped_at_24_per_local_day_across_entries(client, auth, world):
    w = world
    await supervise(client, auth, w)
    h = auth(w.subject)
    noon = datetime.now(TZ).replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > datetime.now(TZ):
        noon -= timedelta(days=1)
    first = checkin("service_hours", at=noon, hours=20)
    assert (await client.post("/me/checkins", json=first, headers=h)).status_code == 201
    over = checkin("study", at=noon - timedelta(hours=2), hours=5)
    r = await client.post("/me/checkins", json=over, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "hours_over_daily_cap", r.text
    assert await CheckIn.filter(id=over["id"]).count() == 0
    fits = checkin("service_hours", at=noon - timedelta(hours=1), hours=4)
    assert (await client.post("/me/checkins", json=fits, headers=h)).status_code == 201
    # A retry of a stored entry replays it; it is not counted against itself.
    assert (await client.post("/me/checkins", json=fits, headers=h)).status_code == 200
    r = await client.post(
        "/me/checkins", json=checkin("service_hours", at=noon, hours=0.5), headers=h
    )
    assert r.status_code == 422
    # The day before is another day.
    r = await client.post(
        "/me/checkins",
        json=checkin("service_hours", at=noon - timedelta(days=1), hours=24),
        headers=h,
    )
    assert r.status_code == 201


async def test_three_times_24_hours_at_once_store_one(client, auth, world):
    w = world
    await supervise(client, auth, w)
    h = auth(w.subject)
    at = datetime.now(UTC) - timedelta(minutes=3)
    bodies = [checkin("service_hours", at=at + timedelta(seconds=i), hours=24) for i in range(3)]
    answers = await asyncio.gather(
        *(client.post("/me/checkins", json=b, headers=h) for b in bodies)
    )
    assert sorted(a.status_code for a in answers) == [201, 422, 422], [a.text for a in answers]
    assert await CheckIn.filter(kind="service_hours").count() == 1


async def test_a_late_checkin_confirmed_after_its_day_closed_as_missed_resolves_the_miss(
    client, auth, world
):
    """The worker closes a day as missed while its check-in waits, late, for the officer; the
    confirmation makes that day done and resolves its alert ("alerts resolve when their cause is
    fixed"), and that alert alone."""
    w = world
    today = datetime.now(TZ).date()
    s = await supervise(client, auth, w, level="strict", starts_on=today - timedelta(days=6))
    day = today - timedelta(days=4)
    taken = datetime.combine(day, time(12), tzinfo=TZ)
    r = await client.post(
        "/me/checkins", json=checkin(at=taken, accuracy_m=10), headers=auth(w.subject)
    )
    assert r.status_code == 201 and r.json()["status"] == "late", r.text
    late_id = r.json()["id"]
    summary = await run_job(load_jobs()["correction.close_intervals"], now=datetime.now(UTC))
    assert summary is not None and "failed" not in summary, summary
    closed = await ClosedInterval.get(supervision_id=s["id"], kind="location", starts_on=day)
    assert closed.done == 0 and closed.met is False
    key = f"missed_checkin:{s['id']}:location:{day.isoformat()}"
    missed = await Alert.get(dedup_key=key)
    assert missed.status == "open"
    others = await Alert.filter(kind="missed_checkin", subject_id=s["id"]).exclude(id=missed.id)
    assert others

    r = await client.post(f"/checkins/{late_id}/confirm", headers=auth(w.officer))
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    closed = await ClosedInterval.get(id=closed.id)
    assert closed.done == 1 and closed.met is True
    assert (await Alert.get(id=missed.id)).status == "acked"
    assert all(a.status == "open" for a in await Alert.filter(id__in=[o.id for o in others]))
    # Confirming again changes nothing; the job, run again, raises nothing anew.
    assert (await client.post(f"/checkins/{late_id}/confirm", headers=auth(w.officer))).json() == (
        r.json()
    )
    await run_job(
        load_jobs()["correction.close_intervals"], now=datetime.now(UTC) + timedelta(hours=1)
    )
    assert await Alert.filter(dedup_key=key).count() == 1


async def test_a_checkin_of_a_closed_day_counts_there_and_resolves_its_miss(client, auth, world):
    """A phone uploads yesterday's check-in after the worker closed yesterday as missed (on
    time: well within the late bound). The day becomes done and its alert resolves; so does a
    closed month's missed home visit that the officer records afterwards."""
    w = world
    today = datetime.now(TZ).date()
    s = await supervise(client, auth, w, level="strict", starts_on=today - timedelta(days=70))
    await run_job(load_jobs()["correction.close_intervals"], now=datetime.now(UTC))
    yesterday = today - timedelta(days=1)
    key = f"missed_checkin:{s['id']}:location:{yesterday.isoformat()}"
    assert (await Alert.get(dedup_key=key)).status == "open"
    taken = datetime.combine(yesterday, time(12), tzinfo=TZ)
    r = await client.post(
        "/me/checkins", json=checkin(at=taken, accuracy_m=10), headers=auth(w.subject)
    )
    assert r.status_code == 201 and r.json()["status"] == "ok", r.text
    closed = await ClosedInterval.get(supervision_id=s["id"], kind="location", starts_on=yesterday)
    assert closed.done == 1 and closed.met is True
    assert (await Alert.get(dedup_key=key)).status == "acked"
    # Last month's home visit (strict: one a month) was closed as missed.
    last_month = today.replace(day=1) - timedelta(days=1)
    visit_key = f"missed_checkin:{s['id']}:home_visit:{last_month.replace(day=1).isoformat()}"
    assert (await Alert.get(dedup_key=visit_key)).status == "open"
    body = {
        "id": str(uuid.uuid4()),
        "kind": "home_visit",
        "occurred_at": iso(datetime.combine(last_month.replace(day=10), time(10), tzinfo=TZ)),
    }
    r = await client.post(f"/supervisions/{s['id']}/checkins", json=body, headers=auth(w.officer))
    assert r.status_code == 201, r.text
    assert (await Alert.get(dedup_key=visit_key)).status == "acked"
    # The other missed days stay missed, their alerts open.
    still = await Alert.filter(kind="missed_checkin", subject_id=s["id"], status="open").count()
    assert still > 0
