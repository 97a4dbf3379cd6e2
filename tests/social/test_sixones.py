"""The six-ones schedule via the API: kinds over several years, anchors, leap years, completion."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from models.alerts import Alert, AlertRecipient
from models.social import TeamTask
from services.notices import SOURCES
from services.social import cadence, jobs, sixones
from tests.social.conftest import make_team

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _tasks(client, auth, user, team, start, end):
    r = await client.get(
        f"/teams/{team.id}/tasks", params={"from": start, "to": end}, headers=auth(user)
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_full_year_is_29_tasks(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2020, 1, 1)
    )
    for year in (2021, 2022, 2024, 2027):
        tasks = await _tasks(client, auth, street.worker1, team, f"{year}-01-01", f"{year}-12-31")
        assert len(tasks) == 29
        assert Counter(t["kind"] for t in tasks) == {
            "monthly_meeting": 12,
            "bimonthly_training": 6,
            "exchange": 4,
            "quarterly_discussion": 4,
            "semiannual_assessment": 2,
            "annual_review": 1,
        }
        periods = {(t["kind"], t["period"]): t["due_on"] for t in tasks}
        assert periods[("monthly_meeting", f"{year}-02")] == (
            f"{year}-02-29" if year % 4 == 0 else f"{year}-02-28"
        )
        assert periods[("bimonthly_training", f"{year}-11/{year}-12")] == f"{year}-12-31"
        assert periods[("exchange", f"{year}-01/{year}-03")] == f"{year}-03-31"
        assert periods[("quarterly_discussion", f"{year}-Q2")] == f"{year}-06-30"
        assert periods[("semiannual_assessment", f"{year}-H1")] == f"{year}-06-30"
        assert periods[("annual_review", f"{year}")] == f"{year}-12-31"
        # Every due date is the last day of its month, and the list is in due order.
        for t in tasks:
            due = date.fromisoformat(t["due_on"])
            assert (due + timedelta(days=1)).day == 1
        assert [t["due_on"] for t in tasks] == sorted(t["due_on"] for t in tasks)
    # Several years at once: 3 x 29.
    assert len(await _tasks(client, auth, street.worker1, team, "2021-01-01", "2023-12-31")) == 87


async def test_leap_years_and_month_ends(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[], anchor=date(2023, 12, 1)
    )
    feb = await _tasks(client, auth, street.worker1, team, "2024-02-01", "2024-02-29")
    assert [(t["kind"], t["period"], t["due_on"]) for t in feb] == [
        ("monthly_meeting", "2024-02", "2024-02-29"),
        ("bimonthly_training", "2024-01/2024-02", "2024-02-29"),
        ("exchange", "2023-12/2024-02", "2024-02-29"),
    ]
    # A range ending the day before a month end holds nothing due that month.
    assert await _tasks(client, auth, street.worker1, team, "2024-04-01", "2024-04-29") == []
    april = await _tasks(client, auth, street.worker1, team, "2024-04-30", "2024-04-30")
    assert [t["period"] for t in april] == ["2024-04", "2024-03/2024-04"]
    feb_2100 = await _tasks(client, auth, street.worker1, team, "2100-02-01", "2100-02-28")
    assert feb_2100[0]["due_on"] == "2100-02-28"  # 2100 is not a leap year


async def test_team_anchored_in_april(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[], anchor=date(2025, 4, 1)
    )
    tasks = await _tasks(client, auth, street.worker1, team, "2025-01-01", "2028-12-31")
    exchanges = [t["period"] for t in tasks if t["kind"] == "exchange"]
    assert exchanges[:5] == [
        "2025-04/2025-06",
        "2025-07/2025-09",
        "2025-10/2025-12",
        "2026-01/2026-03",
        "2026-04/2026-06",
    ]
    assert len(exchanges) == 15  # Apr 2025 .. Dec 2028: 45 months
    # Nothing falls due before the anchor month: the team's schedule starts there.
    assert min(t["due_on"] for t in tasks) == "2025-04-30"
    year_2025 = [t for t in tasks if t["due_on"].startswith("2025")]
    assert Counter(t["kind"] for t in year_2025) == {
        "monthly_meeting": 9,
        "bimonthly_training": 5,
        "exchange": 3,
        "quarterly_discussion": 3,
        "semiannual_assessment": 2,
        "annual_review": 1,
    }
    for year in ("2026", "2027", "2028"):
        assert len([t for t in tasks if t["due_on"].startswith(year)]) == 29
    # A team anchored in February: its exchanges run Feb-Apr, May-Jul, Aug-Oct, Nov-Jan.
    feb_team = await make_team(
        unit=street.street, lead=street.worker1, members=[], anchor=date(2026, 2, 1), name="二队"
    )
    ex = [
        t["period"]
        for t in await _tasks(client, auth, street.worker1, feb_team, "2026-01-01", "2027-12-31")
        if t["kind"] == "exchange"
    ]
    assert ex == [
        "2026-02/2026-04",
        "2026-05/2026-07",
        "2026-08/2026-10",
        "2026-11/2027-01",
        "2027-02/2027-04",
        "2027-05/2027-07",
        "2027-08/2027-10",
    ]


async def test_ids_are_stable_and_status_follows_local_today(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2020, 1, 1)
    )
    first = await _tasks(client, auth, street.worker1, team, "2020-01-01", "2030-12-31")
    second = await _tasks(client, auth, street.worker2, team, "2020-01-01", "2030-12-31")
    assert [t["id"] for t in first] == [t["id"] for t in second]
    assert len({t["id"] for t in first}) == len(first) == 29 * 11
    for t in first[:5]:
        assert t["id"] == str(sixones.task_id(team_id=team.id, kind=t["kind"], period=t["period"]))
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    for t in first:
        due = date.fromisoformat(t["due_on"])
        assert t["status"] == ("overdue" if due < today else "open"), t
    # /me/tasks gives the same tasks to each member, nothing to an outsider.
    r = await client.get(
        "/me/tasks", params={"from": "2026-01-01", "to": "2026-12-31"}, headers=auth(street.worker2)
    )
    assert len(r.json()) == 29
    r = await client.get("/me/tasks", headers=auth(street.other_worker))
    assert r.json() == []
    # Default range: the current local year.
    r = await client.get("/me/tasks", headers=auth(street.worker1))
    assert len(r.json()) == 29 and all(t["due_on"].startswith(str(today.year)) for t in r.json())


def test_status_at_the_local_day_boundary():
    row = TeamTask(
        id=uuid.uuid4(),
        team_id=uuid.uuid4(),
        kind="monthly_meeting",
        period="2026-03",
        starts_on=date(2026, 3, 1),
        due_on=date(2026, 3, 31),
        attendee_ids=[],
        notes="",
    )
    # 17:00 UTC on 31 March is already 1 April in Shanghai.
    late = cadence.local_today(now=datetime(2026, 3, 31, 17, 0, tzinfo=UTC), tz=SHANGHAI)
    early = cadence.local_today(now=datetime(2026, 3, 31, 15, 0, tzinfo=UTC), tz=SHANGHAI)
    assert sixones.task_view(row, today=early, tz=SHANGHAI).status == "open"
    assert sixones.task_view(row, today=late, tz=SHANGHAI).status == "overdue"
    # Completed at 23:30 local on the due day (15:30 UTC), seen later: done.
    row.completed_at = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
    assert sixones.task_view(row, today=late, tz=SHANGHAI).status == "done"


async def test_bad_ranges(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[], anchor=date(2020, 1, 1)
    )
    for params in [
        {"from": "2026-12-31", "to": "2026-01-01"},
        {"from": "2000-01-01", "to": "2030-01-01"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "x"},
    ]:
        r = await client.get(f"/teams/{team.id}/tasks", params=params, headers=auth(street.worker1))
        assert r.status_code == 422, params


async def test_complete_a_task(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2025, 1, 1)
    )
    other = await make_team(
        unit=street.other_street,
        lead=street.other_worker,
        members=[],
        anchor=date(2025, 1, 1),
        name="城东",
    )
    tasks = await _tasks(client, auth, street.worker1, team, "2025-03-01", "2025-03-31")
    meeting = next(t for t in tasks if t["kind"] == "monthly_meeting")
    body = {
        "completed_at": "2025-03-20T15:00:00+08:00",
        "notes": "个案研讨：3 例",
        "attendee_ids": [str(street.worker1.id), str(street.worker2.id)],
    }
    url = f"/tasks/{meeting['id']}/complete"
    # Another team's social worker: not found; patrol: forbidden.
    assert (await client.post(url, json=body, headers=auth(street.other_worker))).status_code == 404
    assert (
        await client.post(url, json=body, headers=auth(street.other_supervisor))
    ).status_code == 404
    assert (await client.post(url, json=body, headers=auth(street.patrol))).status_code == 403
    assert (
        await client.post(
            f"/tasks/{uuid.uuid4()}/complete", json=body, headers=auth(street.worker1)
        )
    ).status_code == 404
    # Bad bodies: nothing stored.
    for bad in [
        {**body, "attendee_ids": [str(street.other_worker.id)]},
        {**body, "completed_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        {**body, "completed_at": "2025-02-27T10:00:00+08:00"},
        {**body, "completed_at": "2025-03-20T15:00:00"},
        {**body, "extra": True},
    ]:
        r = await client.post(url, json=bad, headers=auth(street.worker2))
        assert r.status_code == 422, bad
    assert (await TeamTask.get(id=meeting["id"])).completed_at is None
    r = await client.post(url, json=body, headers=auth(street.worker2))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "done"
    assert done["completed_at"] == "2025-03-20T07:00:00Z"
    assert done["notes"] == "个案研讨：3 例"
    # The same body again: 200, unchanged; another body: 409.
    r = await client.post(url, json=body, headers=auth(street.worker1))
    assert r.status_code == 200 and r.json() == done
    r = await client.post(url, json={**body, "notes": "改"}, headers=auth(street.worker1))
    assert r.status_code == 409
    assert r.json()["code"] == "task_already_completed"
    listed = await _tasks(client, auth, street.worker1, team, "2025-03-01", "2025-03-31")
    assert next(t for t in listed if t["id"] == meeting["id"])["status"] == "done"
    # A supervisor in scope completes one too; the other team's member cannot see this team at all.
    training = next(t for t in tasks if t["kind"] == "exchange")
    r = await client.post(
        f"/tasks/{training['id']}/complete",
        json={**body, "attendee_ids": []},
        headers=auth(street.district_supervisor),
    )
    assert r.status_code == 200
    assert (
        await client.get(f"/teams/{team.id}", headers=auth(street.other_worker))
    ).status_code == 404
    assert (
        await client.get(f"/teams/{other.id}/tasks", headers=auth(street.worker1))
    ).status_code == 404


async def test_a_task_never_listed_can_be_completed_by_its_id(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[], anchor=date(2025, 1, 1)
    )
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    period = f"{today.year:04d}-{today.month:02d}"
    task_id = sixones.task_id(team_id=team.id, kind="monthly_meeting", period=period)
    assert await TeamTask.all().count() == 0
    r = await client.post(
        f"/tasks/{task_id}/complete",
        json={"completed_at": datetime.now(UTC).isoformat(), "notes": "", "attendee_ids": []},
        headers=auth(street.worker1),
    )
    assert r.status_code == 200, r.text
    assert r.json()["period"] == period


async def test_teams_views(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2025, 1, 1)
    )
    await make_team(
        unit=street.other_street,
        lead=street.other_worker,
        members=[],
        anchor=date(2025, 1, 1),
        name="城东",
    )
    r = await client.get("/teams", headers=auth(street.worker2))
    assert [t["id"] for t in r.json()["items"]] == [str(team.id)]
    assert (
        len((await client.get("/teams", headers=auth(street.district_supervisor))).json()["items"])
        == 2
    )
    assert len((await client.get("/teams", headers=auth(street.supervisor))).json()["items"]) == 1
    assert (await client.get("/teams", headers=auth(street.patrol))).status_code == 403
    r = await client.get(f"/teams/{team.id}", headers=auth(street.worker2))
    assert r.status_code == 200
    members = r.json()["members"]
    assert members[0] == {"user_id": str(street.worker1.id), "full_name": "周静", "is_lead": True}
    assert {m["full_name"] for m in members} == {"周静", "吴敏"}


async def test_overdue_task_job_alerts_lead_and_supervisors_once(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2026, 1, 1)
    )
    # 31 Jan 20:00 Shanghai: nothing is overdue yet.
    assert (
        await jobs.alert_overdue_tasks(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
        == "0 overdue tasks alerted"
    )
    # 1 Feb 00:30 Shanghai (still 31 Jan in UTC): the January meeting is overdue.
    now = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    assert await jobs.alert_overdue_tasks(now) == "1 overdue tasks alerted"
    alert = await Alert.get(kind="overdue_task")
    assert alert.subject_id == sixones.task_id(
        team_id=team.id, kind="monthly_meeting", period="2026-01"
    )
    recipients = set(await AlertRecipient.filter(alert=alert).values_list("user_id", flat=True))
    assert recipients == {street.worker1.id, street.supervisor.id, street.district_supervisor.id}
    assert await jobs.alert_overdue_tasks(now + timedelta(days=1)) == "0 overdue tasks alerted"
    # The alert's subject is a real task that can be completed; completed tasks never alert.
    r = await client.post(
        f"/tasks/{alert.subject_id}/complete",
        json={"completed_at": "2026-01-30T10:00:00+08:00", "notes": "", "attendee_ids": []},
        headers=auth(street.worker1),
    )
    assert r.status_code == 200
    # Completing the task fixes the alert's cause: it is resolved for everyone.
    assert (await Alert.get(id=alert.id)).status == "acked"
    # By 1 April: February's meeting and training, March's meeting, exchange and Q1 discussion.
    summary = await jobs.alert_overdue_tasks(datetime(2026, 4, 1, 1, 0, tzinfo=UTC))
    assert summary == "5 overdue tasks alerted"


async def test_task_reminders_seven_and_one_day_before(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2026, 1, 1)
    )
    source = SOURCES["social.sixones_tasks"]
    meeting = sixones.task_id(team_id=team.id, kind="monthly_meeting", period="2026-05")
    # 24 May local: seven days before 31 May.
    notices = await source(datetime(2026, 5, 24, 1, 0, tzinfo=UTC))
    assert [n.cause_key for n in notices] == [f"task:{meeting}:7d"]
    assert set(notices[0].user_ids) == {street.worker1.id, street.worker2.id}
    assert notices[0].data["id"] == str(meeting)
    # 30 May local: one day before.
    keys = {n.cause_key for n in await source(datetime(2026, 5, 30, 1, 0, tzinfo=UTC))}
    assert keys == {f"task:{meeting}:1d"}
    # June has six tasks due on the 30th; once the meeting is done it is no longer reminded.
    assert len(await source(datetime(2026, 6, 23, 1, 0, tzinfo=UTC))) == 5
    june = sixones.task_id(team_id=team.id, kind="monthly_meeting", period="2026-06")
    await client.get(
        f"/teams/{team.id}/tasks",
        params={"from": "2026-06-01", "to": "2026-06-30"},
        headers=auth(street.worker1),
    )
    await TeamTask.filter(id=june).update(completed_at=datetime(2026, 6, 20, tzinfo=UTC))
    keys = {n.cause_key for n in await source(datetime(2026, 6, 23, 1, 0, tzinfo=UTC))}
    assert f"task:{june}:7d" not in keys and len(keys) == 4
    # Nothing on an ordinary day.
    assert await source(datetime(2026, 5, 10, 1, 0, tzinfo=UTC)) == []


async def test_task_list_matches_the_public_schema(client, auth, street):
    from pydantic import TypeAdapter

    from api.routers.social.schemas import TaskPublic

    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2025, 1, 1)
    )
    tasks = await _tasks(client, auth, street.worker1, team, "2025-01-01", "2025-01-31")
    body = {
        "completed_at": "2025-01-20T10:00:00+08:00",
        "notes": "记录",
        "attendee_ids": [str(street.worker2.id)],
    }
    done = await client.post(
        f"/tasks/{tasks[0]['id']}/complete", json=body, headers=auth(street.worker1)
    )
    listed = await _tasks(client, auth, street.worker1, team, "2025-01-01", "2025-12-31")
    parsed = TypeAdapter(list[TaskPublic]).validate_python(listed)
    assert listed[0] == done.json() == TaskPublic.model_validate(parsed[0]).model_dump(mode="json")
    assert [t.model_dump(mode="json") for t in parsed] == listed
    # /me/tasks reads teams and completion in one query: same answer for each member.
    for user in (street.worker1, street.worker2):
        r = await client.get(
            "/me/tasks", params={"from": "2025-01-01", "to": "2025-12-31"}, headers=auth(user)
        )
        assert r.json() == listed
