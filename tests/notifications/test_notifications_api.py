"""Devices, the inbox and reminder campaigns over HTTP, and the fan-out jobs without FCM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.alerts import Alert
from models.notifications import (
    Delivery,
    DeliveryStatus,
    Device,
    Notification,
    NotificationKind,
    Reminder,
    ReminderFiring,
    ReminderStatus,
)
from models.org import Role, Team, TeamMember
from notifications.inbox import Message, dedup_key, fan_out
from services import alerts, jobs, notices, reminders
from services.notify import jobs as notify_jobs
from services.notify.jobs import fan_out_alerts, store_notices

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKEN = "fcm-token-" + "a" * 140


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def iso(value: datetime) -> str:
    return value.isoformat()


@pytest.fixture
async def world(make_unit, make_user):
    city = await make_unit("崇川区")
    street = await make_unit("和平桥街道", parent=city)
    other_street = await make_unit("城东街道", parent=city)
    return {
        "city": city,
        "street": street,
        "other_street": other_street,
        "scheduler": await make_user(Role.scheduler, unit=street),
        "other_scheduler": await make_user(Role.scheduler, unit=other_street),
        "patrol": await make_user(Role.patrol, unit=street),
        "worker": await make_user(Role.social_worker, unit=street),
        "outsider": await make_user(Role.patrol, unit=other_street),
    }


# --- devices ---------------------------------------------------------------------------------


async def test_device_upsert_answers_201_then_200(client, world, auth):
    patrol = world["patrol"]
    body = {"platform": "android", "app_version": "1.2.0", "locale": "zh-CN"}
    first = await client.put(f"/me/devices/{TOKEN}", json=body, headers=auth(patrol))
    assert first.status_code == 201, first.text
    assert "token" not in first.json()
    seen = first.json()["last_seen_at"]
    again = await client.put(
        f"/me/devices/{TOKEN}", json={**body, "app_version": "1.3.0"}, headers=auth(patrol)
    )
    assert again.status_code == 200
    assert again.json()["app_version"] == "1.3.0"
    assert again.json()["last_seen_at"] >= seen
    assert await Device.filter(token=TOKEN).count() == 1


async def test_a_token_that_moves_leaves_its_first_owner(client, world, auth):
    patrol, worker = world["patrol"], world["worker"]
    await client.put(f"/me/devices/{TOKEN}", json={"platform": "ios"}, headers=auth(patrol))
    device = await Device.get(token=TOKEN)
    note = await Notification.create(
        user=patrol, kind=NotificationKind.notice, title="t", body="b", dedup_key="k"
    )
    queued = await Delivery.create(
        notification=note,
        device=device,
        user_id=patrol.id,
        status=DeliveryStatus.queued,
        next_attempt_at=datetime.now(UTC),
    )
    moved = await client.put(f"/me/devices/{TOKEN}", json={"platform": "ios"}, headers=auth(worker))
    assert moved.status_code == 201
    assert (await Device.get(token=TOKEN)).user_id == worker.id
    assert await Device.filter(user_id=patrol.id).count() == 0
    # The first owner's pending push must not reach the new owner's phone.
    await queued.refresh_from_db()
    assert queued.status == DeliveryStatus.failed
    assert queued.last_error == "device_moved"


async def test_delete_device_is_204_and_leaves_others_alone(client, world, auth):
    patrol, worker = world["patrol"], world["worker"]
    await client.put(f"/me/devices/{TOKEN}", json={"platform": "web"}, headers=auth(patrol))
    not_mine = await client.delete(f"/me/devices/{TOKEN}", headers=auth(worker))
    assert not_mine.status_code == 204
    assert await Device.filter(token=TOKEN).exists()
    mine = await client.delete(f"/me/devices/{TOKEN}", headers=auth(patrol))
    assert mine.status_code == 204
    assert not await Device.filter(token=TOKEN).exists()


@pytest.mark.parametrize(
    "path_token, body",
    [
        (TOKEN, {"platform": "blackberry"}),
        (TOKEN, {"platform": "android", "extra": 1}),
        ("x" * 513, {"platform": "android"}),
        ("bad token!", {"platform": "android"}),
    ],
)
async def test_bad_device_input_is_422(client, world, auth, path_token, body):
    r = await client.put(f"/me/devices/{path_token}", json=body, headers=auth(world["patrol"]))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await Device.all().count() == 0


async def test_devices_need_a_signed_in_user(client):
    r = await client.put(f"/me/devices/{TOKEN}", json={"platform": "android"})
    assert r.status_code == 401


# --- inbox -----------------------------------------------------------------------------------


async def _notify(user_ids, *, title, at, dedup=None):
    return await fan_out(
        message=Message(kind=NotificationKind.notice, title=title, body="正文", data={"type": "x"}),
        user_ids=user_ids,
        dedup=dedup or f"test:{title}",
        now=at,
        push=False,
        quiet=None,
    )


async def test_inbox_newest_first_paginated_and_unread(client, world, auth):
    patrol = world["patrol"]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(5):
        await _notify([patrol.id], title=f"第{n}条", at=start + timedelta(minutes=n))
    await _notify([world["worker"].id], title="别人的", at=start)
    first = await client.get("/me/notifications?limit=2", headers=auth(patrol))
    assert first.status_code == 200
    page = first.json()
    assert [n["title"] for n in page["items"]] == ["第4条", "第3条"]
    assert page["items"][0]["data"]["type"] == "x"
    assert page["items"][0]["created_at"].endswith("Z")
    rest = await client.get(
        f"/me/notifications?limit=10&cursor={page['next_cursor']}", headers=auth(patrol)
    )
    assert [n["title"] for n in rest.json()["items"]] == ["第2条", "第1条", "第0条"]
    newest = page["items"][0]["id"]
    read = await client.post(f"/me/notifications/{newest}/read", headers=auth(patrol))
    assert read.status_code == 204
    again = await client.post(f"/me/notifications/{newest}/read", headers=auth(patrol))
    assert again.status_code == 204
    unread = await client.get("/me/notifications?unread=true", headers=auth(patrol))
    titles = [n["title"] for n in unread.json()["items"]]
    assert "第4条" not in titles and len(titles) == 4
    everything = await client.get("/me/notifications", headers=auth(patrol))
    assert everything.json()["items"][0]["read_at"] is not None


async def test_reading_someone_elses_notification_is_404(client, world, auth):
    await _notify([world["worker"].id], title="别人的", at=datetime.now(UTC))
    theirs = await Notification.get(user_id=world["worker"].id)
    r = await client.post(f"/me/notifications/{theirs.id}/read", headers=auth(world["patrol"]))
    assert r.status_code == 404
    await theirs.refresh_from_db()
    assert theirs.read_at is None
    missing = await client.post(
        f"/me/notifications/{uuid.uuid4()}/read", headers=auth(world["patrol"])
    )
    assert missing.status_code == 404


async def test_fan_out_is_once_per_cause(world):
    at = datetime.now(UTC)
    first = await _notify([world["patrol"].id], title="一次", at=at, dedup="cause:1")
    both = [world["patrol"].id, world["worker"].id]
    second = await _notify(both, title="一次", at=at, dedup="cause:1")
    assert (first.notifications, second.notifications) == (1, 1)  # only the worker is new
    assert await Notification.filter(dedup_key="cause:1").count() == 2


# --- reminders: creation and validation ------------------------------------------------------


def reminder_body(**overrides):
    body = {
        "title": "月度例会提醒",
        "body": "请参加本月社工例会",
        "audience": {"roles": ["social_worker"]},
        "first_at": iso(datetime.now(UTC) + timedelta(hours=1)),
    }
    body.update(overrides)
    return body


async def test_scheduler_creates_lists_and_reads_a_reminder(client, world, auth):
    scheduler = world["scheduler"]
    first_at = local(2030, 1, 31, 9, 0)
    r = await client.post(
        "/reminders",
        json=reminder_body(first_at=iso(first_at), rrule="FREQ=MONTHLY;INTERVAL=2"),
        headers=auth(scheduler),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["next_at"] == "2030-01-31T01:00:00Z"
    assert created["rrule"] == "FREQ=MONTHLY;INTERVAL=2"
    # Every second month on the 31st: 31 September and 31 November do not exist (RFC 5545).
    assert created["upcoming"] == [
        "2030-01-31T01:00:00Z",
        "2030-03-31T01:00:00Z",
        "2030-05-31T01:00:00Z",
        "2030-07-31T01:00:00Z",
        "2031-01-31T01:00:00Z",
    ]
    assert created["skips"] == ["2030-09", "2030-11"]
    listed = await client.get("/reminders", headers=auth(scheduler))
    assert [x["id"] for x in listed.json()["items"]] == [created["id"]]
    assert listed.json()["items"][0]["upcoming"] == created["upcoming"]
    read = await client.get(f"/reminders/{created['id']}", headers=auth(scheduler))
    assert read.json()["skips"] == created["skips"]
    other = await client.get("/reminders", headers=auth(world["other_scheduler"]))
    assert other.json()["items"] == []
    hidden = await client.get(f"/reminders/{created['id']}", headers=auth(world["other_scheduler"]))
    assert hidden.status_code == 404
    deliveries = await client.get(f"/reminders/{created['id']}/deliveries", headers=auth(scheduler))
    assert deliveries.status_code == 200 and deliveries.json() == []


async def test_upcoming_follows_the_rule_and_ends_with_the_series(client, world, auth):
    scheduler = world["scheduler"]
    first_at = local(2030, 1, 31, 9, 0)
    last_day = await client.post(
        "/reminders",
        json=reminder_body(first_at=iso(first_at), rrule="FREQ=MONTHLY;BYMONTHDAY=-1"),
        headers=auth(scheduler),
    )
    assert last_day.status_code == 201, last_day.text
    assert [at[:10] for at in last_day.json()["upcoming"]] == [
        "2030-01-31",
        "2030-02-28",
        "2030-03-31",
        "2030-04-30",
        "2030-05-31",
    ]
    assert last_day.json()["skips"] == []
    twice = await client.post(
        "/reminders",
        json=reminder_body(
            first_at=iso(first_at), rrule="FREQ=WEEKLY", until=iso(first_at + timedelta(days=7))
        ),
        headers=auth(scheduler),
    )
    assert twice.json()["upcoming"] == ["2030-01-31T01:00:00Z", "2030-02-07T01:00:00Z"]
    once = await client.post(
        "/reminders", json=reminder_body(first_at=iso(first_at)), headers=auth(scheduler)
    )
    assert once.json()["upcoming"] == ["2030-01-31T01:00:00Z"]
    await client.delete(f"/reminders/{once.json()['id']}", headers=auth(scheduler))
    cancelled = await client.get(f"/reminders/{once.json()['id']}", headers=auth(scheduler))
    assert cancelled.json()["upcoming"] == [] and cancelled.json()["skips"] == []


async def test_a_leap_day_reminder_skips_the_other_years(client, world, auth):
    r = await client.post(
        "/reminders",
        json=reminder_body(first_at=iso(local(2032, 2, 29, 9, 0)), rrule="FREQ=YEARLY;COUNT=3"),
        headers=auth(world["scheduler"]),
    )
    assert r.status_code == 201, r.text
    assert [at[:10] for at in r.json()["upcoming"]] == ["2032-02-29", "2036-02-29", "2040-02-29"]
    assert r.json()["skips"] == ["2033", "2034", "2035", "2037", "2038", "2039"]


async def test_a_reminder_stored_with_a_date_until_still_reads_and_fires(client, world, auth):
    """Rows from before DATE UNTIL was refused (and from before month ends were skipped)."""
    scheduler = world["scheduler"]
    stored = await Reminder.create(
        created_by=scheduler,
        org_path=world["street"].path,
        title="月报",
        body="请提交月报",
        audience={"user_ids": [str(world["patrol"].id)]},
        first_at=local(2031, 1, 31, 9, 0),
        rrule="FREQ=MONTHLY;UNTIL=20310531",
        next_at=local(2031, 2, 28, 9, 0),  # what the old month-end clamping had stored
    )
    r = await client.get(f"/reminders/{stored.id}", headers=auth(scheduler))
    assert r.status_code == 200, r.text
    assert [at[:10] for at in r.json()["upcoming"]] == ["2031-02-28", "2031-03-31", "2031-05-31"]
    assert await reminders.fire_reminder(reminder=stored, now=local(2031, 2, 28, 9, 0)) == 1
    await stored.refresh_from_db()
    assert stored.next_at == local(2031, 3, 31, 9, 0)


async def test_a_date_until_with_a_date_time_start_is_422(client, world, auth):
    r = await client.post(
        "/reminders",
        json=reminder_body(rrule="FREQ=DAILY;UNTIL=20991231"),
        headers={**auth(world["scheduler"]), "Accept-Language": "en"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "invalid_rrule"
    assert "UTC date-time" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "rrule"]
    assert await Reminder.all().count() == 0
    fine = await client.post(
        "/reminders",
        json=reminder_body(rrule="FREQ=DAILY;UNTIL=20991231T160000Z"),
        headers=auth(world["scheduler"]),
    )
    assert fine.status_code == 201, fine.text


async def test_patrol_member_may_not_create_reminders(client, world, auth):
    r = await client.post("/reminders", json=reminder_body(), headers=auth(world["patrol"]))
    assert r.status_code == 403
    listed = await client.get("/reminders", headers=auth(world["patrol"]))
    assert listed.status_code == 403
    assert await Reminder.all().count() == 0


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"rrule": "FREQ=SOMETIMES"}, "invalid_rrule"),
        ({"rrule": "FREQ=HOURLY"}, "invalid_rrule"),
        ({"rrule": "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2"}, "invalid_rrule"),
        ({"audience": {}}, "audience_empty"),
        ({"audience": {"roles": ["officer"]}}, "audience_empty"),
        ({"first_at": iso(datetime.now(UTC) - timedelta(days=1))}, "first_at_in_past"),
        ({"body": "很长的提醒" * 300}, "payload_too_large"),
        (
            {"rrule": "FREQ=DAILY", "until": iso(datetime.now(UTC) - timedelta(days=1))},
            "until_before_first_at",
        ),
    ],
)
async def test_bad_reminders_are_422_and_nothing_is_stored(client, world, auth, overrides, code):
    r = await client.post(
        "/reminders", json=reminder_body(**overrides), headers=auth(world["scheduler"])
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert r.json()["detail"]
    assert await Reminder.all().count() == 0


async def test_a_rule_that_never_meets_first_at_is_422(client, world, auth):
    # Every 7 days from a Tuesday, on Mondays: valid RFC 5545, but it never occurs.
    r = await client.post(
        "/reminders",
        json=reminder_body(
            first_at=iso(local(2030, 1, 1, 9, 0)), rrule="FREQ=DAILY;INTERVAL=7;BYDAY=MO"
        ),
        headers={**auth(world["scheduler"]), "Accept-Language": "en"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_rrule" and "does not occur" in r.json()["detail"]
    assert await Reminder.all().count() == 0


async def test_invalid_rrule_says_why_in_english(client, world, auth):
    r = await client.post(
        "/reminders",
        json=reminder_body(rrule="FREQ=MONTHLY;BYDAY=9MO"),
        headers={**auth(world["scheduler"]), "Accept-Language": "en"},
    )
    assert r.status_code == 422
    assert "BYDAY" in r.json()["detail"]


async def test_audience_outside_scope_is_422(client, world, auth):
    scheduler = world["scheduler"]
    cases = [
        {"user_ids": [str(world["outsider"].id)]},
        {"user_ids": [str(uuid.uuid4())]},
        {"org_unit_id": str(world["other_street"].id)},
        {"org_unit_id": str(world["city"].id)},
    ]
    team = await Team.create(
        name="城东社工队",
        org_unit=world["other_street"],
        org_path=world["other_street"].path,
        lead=world["outsider"],
        anchor_month=datetime(2026, 1, 1).date(),
    )
    cases.append({"team_ids": [str(team.id)]})
    for audience in cases:
        r = await client.post(
            "/reminders", json=reminder_body(audience=audience), headers=auth(scheduler)
        )
        assert r.status_code == 422, audience
        assert r.json()["code"] == "audience_outside_scope"
    assert await Reminder.all().count() == 0


async def test_recurring_reminder_with_past_start_begins_at_the_next_occurrence(world):
    now = local(2030, 5, 10, 12, 0)
    reminder = await reminders.create_reminder(
        user=world["scheduler"],
        title="周报",
        body="请提交周报",
        audience=reminders.Audience(user_ids=(world["patrol"].id,)),
        first_at=local(2030, 5, 1, 9, 0),
        rrule="FREQ=WEEKLY",
        until=None,
        now=now,
    )
    assert reminder.next_at == local(2030, 5, 15, 9, 0)


# --- reminders: firing -----------------------------------------------------------------------


async def test_firing_resolves_teams_roles_and_units_once_per_occurrence(world, make_user):
    street = world["street"]
    member = await make_user(Role.patrol, unit=street)
    team = await Team.create(
        name="和平桥社工队",
        org_unit=street,
        org_path=street.path,
        lead=world["worker"],
        anchor_month=datetime(2026, 1, 1).date(),
    )
    await TeamMember.create(team=team, user=member)
    now = datetime.now(UTC)
    reminder = await reminders.create_reminder(
        user=world["scheduler"],
        title="队伍例会",
        body="今晚开会",
        audience=reminders.Audience(team_ids=(team.id,)),
        first_at=now,
        rrule=None,
        until=None,
        now=now,
    )
    assert await reminders.fire_reminder(reminder=reminder, now=now) == 2
    # A second worker holding a stale copy of the row fires nothing.
    assert await reminders.fire_reminder(reminder=reminder, now=now) == 0
    summary = await reminders.fire_due_reminders(now + timedelta(seconds=1))
    assert summary.startswith("fired 0")
    inboxes = set(await Notification.all().values_list("user_id", flat=True))
    assert inboxes == {member.id, world["worker"].id}
    await reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.finished and reminder.next_at is None
    # Without FCM credentials no deliveries are made: the inbox is the record.
    assert await Delivery.all().count() == 0


async def test_month_end_rules_fire_on_the_last_day_or_skip_the_month(world):
    first_at = local(2031, 1, 31, 9, 0)
    expected = {
        "FREQ=MONTHLY;BYMONTHDAY=-1": [(2031, 2, 28), (2031, 3, 31), (2031, 4, 30), (2031, 5, 31)],
        # The 31st only where it exists (RFC 5545 skips dates that do not exist).
        "FREQ=MONTHLY": [(2031, 3, 31), (2031, 5, 31), (2031, 7, 31), (2031, 8, 31)],
    }
    for rule, days in expected.items():
        reminder = await reminders.create_reminder(
            user=world["scheduler"],
            title="月末提醒",
            body="请提交月报",
            audience=reminders.Audience(user_ids=(world["patrol"].id,)),
            first_at=first_at,
            rrule=rule,
            until=None,
            now=first_at - timedelta(days=1),
        )
        fired_on = []
        for _ in days:
            await reminder.refresh_from_db()
            at = reminder.next_at
            assert await reminders.fire_reminder(reminder=reminder, now=at) == 1
            await reminder.refresh_from_db()
            fired_on.append(reminder.next_at.astimezone(SHANGHAI))
        assert [(d.year, d.month, d.day) for d in fired_on] == days, rule
        assert all((d.hour, d.minute) == (9, 0) for d in fired_on)
        occurrences = await ReminderFiring.filter(reminder_id=reminder.id).count()
        assert occurrences == len(days)


async def test_a_cancelled_reminder_fires_no_more(client, world, auth):
    scheduler = world["scheduler"]
    r = await client.post(
        "/reminders", json=reminder_body(rrule="FREQ=DAILY"), headers=auth(scheduler)
    )
    reminder_id = r.json()["id"]
    other = await client.delete(f"/reminders/{reminder_id}", headers=auth(world["other_scheduler"]))
    assert other.status_code == 404
    gone = await client.delete(f"/reminders/{reminder_id}", headers=auth(scheduler))
    assert gone.status_code == 204
    reminder = await Reminder.get(id=reminder_id)
    assert reminder.status == ReminderStatus.cancelled and reminder.next_at is None
    summary = await reminders.fire_due_reminders(datetime.now(UTC) + timedelta(days=3))
    assert summary.startswith("fired 0")
    assert await Notification.all().count() == 0


# --- automatic notices and alerts ------------------------------------------------------------


async def test_notice_sources_are_stored_once_per_cause_and_user(world):
    patrol, worker = world["patrol"], world["worker"]
    calls = {"n": 0}

    async def due_tasks(now):
        calls["n"] += 1
        return [
            notices.Notice(
                user_ids=(patrol.id, worker.id),
                title="六个一任务 7 天后到期",
                body="一月一议事",
                cause_key="task:abc:7d",
                data={"type": "task", "id": "abc"},
            ),
            notices.Notice(
                user_ids=(worker.id, uuid.uuid4()),  # an unknown user is skipped, not an error
                title="走访将到期",
                body="请安排走访",
                cause_key="visit:xyz:due",
                data={"type": "client", "id": "xyz"},
            ),
        ]

    async def broken(now):
        raise RuntimeError("source down")

    notices.SOURCES["test.tasks"] = due_tasks
    notices.SOURCES["test.broken"] = broken
    try:
        now = datetime.now(UTC)
        assert await store_notices(now) == "stored 3 notices"
        assert await store_notices(now + timedelta(minutes=1)) == "stored 0 notices"
    finally:
        del notices.SOURCES["test.tasks"], notices.SOURCES["test.broken"]
    assert calls["n"] == 2
    rows = await Notification.filter(kind=NotificationKind.notice).order_by("title")
    assert len(rows) == 3
    assert {r.data["type"] for r in rows} == {"task", "client"}
    assert all(r.data["source"] == "test.tasks" for r in rows)


async def test_alerts_fan_out_to_their_recipients_once(world):
    alert = await alerts.raise_alert(
        kind="zone_exit",
        subject_type="round",
        subject_id=uuid.uuid4(),
        org_unit=world["street"],
        recipients=[world["patrol"], world["scheduler"]],
        title="巡防队员离开责任区",
        dedup_key="round:1",
        urgent=True,
    )
    assert alert is not None
    now = datetime.now(UTC)
    assert await fan_out_alerts(now) == "notified 1 alerts to 2 inboxes"
    assert await fan_out_alerts(now) == "notified 0 alerts to 0 inboxes"
    assert (await Alert.get(id=alert.id)).notified
    rows = await Notification.filter(kind=NotificationKind.alert)
    assert {r.user_id for r in rows} == {world["patrol"].id, world["scheduler"].id}
    for row in rows:
        assert row.urgent
        assert row.data == {
            "type": "alert",
            "id": str(alert.id),
            "kind": "zone_exit",
            "notification_id": str(row.id),
        }


async def test_an_alert_whose_fan_out_fails_waits_alone_for_the_next_run(world, monkeypatch):
    raised = []
    for n in range(3):
        alert = await alerts.raise_alert(
            kind="zone_exit",
            subject_type="round",
            subject_id=uuid.uuid4(),
            org_unit=world["street"],
            recipients=[world["patrol"]],
            title=f"巡防队员离开责任区 {n}",
            dedup_key=f"round:{n}",
        )
        assert alert is not None
        raised.append(alert)
    bad = raised[1]
    real_fan_out = notify_jobs.fan_out

    async def failing_for_one(**kwargs):
        if kwargs["dedup"] == dedup_key("alert", str(bad.id)):
            raise RuntimeError("inbox down for this one")
        return await real_fan_out(**kwargs)

    monkeypatch.setattr(notify_jobs, "fan_out", failing_for_one)
    failed_before = jobs.ROWS_FAILED["notifications.alerts"]
    now = datetime.now(UTC)
    assert await fan_out_alerts(now) == ("notified 2 alerts to 2 inboxes, 1 left for the next run")
    assert jobs.ROWS_FAILED["notifications.alerts"] == failed_before + 1
    # Its savepoint rolled back alone: no inbox row of it, the others' rows committed.
    flags = {a.id: (await Alert.get(id=a.id)).notified for a in raised}
    assert flags == {raised[0].id: True, bad.id: False, raised[2].id: True}
    assert await Notification.filter(kind=NotificationKind.alert).count() == 2
    monkeypatch.setattr(notify_jobs, "fan_out", real_fan_out)
    assert await fan_out_alerts(now) == "notified 1 alerts to 1 inboxes"
    assert await Notification.filter(kind=NotificationKind.alert).count() == 3
