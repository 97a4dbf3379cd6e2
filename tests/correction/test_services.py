"""A month at each level, the interval-closing job, leave over a month end, reminders."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from grassroots import errors
from models.alerts import Alert, AlertStatus
from models.correction import (
    CheckInKind,
    ClosedInterval,
    EndReason,
    LeaveStatus,
    Level,
    Supervision,
)
from models.org import User
from services.correction import checkins, compliance, levels, supervisions
from services.correction import jobs as correction_jobs
from services.correction import leave as leave_requests
from services.jobs import REGISTRY, run_job
from tests.correction.conftest import FAR_OUTSIDE, INSIDE, World

TZ = ZoneInfo("Asia/Shanghai")
MARCH = date(2025, 3, 1)


def local(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=TZ)


async def supervise(
    w: World, level: str, starts_on: date = MARCH, subject: User | None = None
) -> Supervision:
    return await supervisions.create_supervision(
        actor=w.officer,
        client_id=w.client_id,
        subject_user_id=(subject or w.subject).id,
        officer_id=w.officer.id,
        permitted_zone_id=w.zone_id,
        level=Level(level),
        starts_on=starts_on,
        ends_on=date(2026, 12, 31),
        now=local(2, 20),
    )


async def copy_supervision(first: Supervision, n: int) -> None:
    """`n` more supervisions as `first` (its subject, rules and dates), each with its own id."""
    fields = {
        f: getattr(first, f)
        for f in first._meta.fields_db_projection
        if f not in {"id", "created_at", "updated_at", "closed_through"}
    }
    await Supervision.bulk_create(
        [Supervision(id=uuid.uuid4(), **fields) for _ in range(n)], batch_size=2_000
    )


async def check_in(
    w: World,
    at: datetime,
    kind: str = "location",
    *,
    where: tuple[float, float] | None = INSIDE,
    hours: float | None = None,
    text: str | None = None,
    subject: User | None = None,
) -> Any:
    lon, lat = where if where and kind == "location" else (None, None)
    checkin, created = await checkins.record_checkin(
        user=subject or w.subject,
        checkin_id=uuid.uuid4(),
        kind=CheckInKind(kind),
        occurred_at=at,
        lon=lon,
        lat=lat,
        accuracy_m=10.0,
        hours=hours,
        text=text,
        request_hash=uuid.uuid4().hex,
        now=at + timedelta(minutes=1),
    )
    assert created
    return checkin


async def officer_record(w: World, s: Supervision, at: datetime, kind: str) -> None:
    await checkins.record_officer_checkin(
        user=w.officer,
        supervision=s,
        checkin_id=uuid.uuid4(),
        kind=CheckInKind(kind),
        occurred_at=at,
        lon=None,
        lat=None,
        accuracy_m=None,
        text=None,
        request_hash=uuid.uuid4().hex,
        now=at,
    )


def by_kind(result: compliance.ComplianceResult) -> dict[str, compliance.ObligationResult]:
    return {o.kind: o for o in result.obligations}


def missed(result: compliance.ComplianceResult) -> list[tuple[str, str]]:
    return [
        (v["obligation"], v["starts_on"])
        for v in result.violations
        if v["kind"] == "missed_checkin"
    ]


async def close(now: datetime) -> str:
    return await correction_jobs.close_intervals(now.astimezone(UTC))


async def test_strict_month_daily_boundaries_in_local_time(world):
    w = world
    s = await supervise(w, "strict")
    for day in range(1, 32):
        if day in (15, 16):
            continue
        await check_in(w, local(3, day, 23, 59))
    # 00:01 local on the 16th (16:01 UTC on the 15th) counts for the 16th; the 15th stays missed.
    await check_in(w, local(3, 16, 0, 1))
    await officer_record(w, s, local(3, 5), "report")
    await officer_record(w, s, local(3, 20), "report")
    await officer_record(w, s, local(3, 21), "home_visit")
    await check_in(w, local(3, 10), "thought_report", text="本月思想汇报")
    await check_in(w, local(3, 8), "service_hours", hours=5)
    await check_in(w, local(3, 22), "service_hours", hours=3)
    await check_in(w, local(3, 12), "study", hours=8)
    result = await compliance.compliance(supervision=s, month=MARCH, now=local(4, 1, 8))
    k = by_kind(result)
    assert (k["location"].required, k["location"].done) == (31, 30)
    assert len(k["location"].intervals) == 31
    assert [
        (k[x].required, k[x].done)
        for x in ("report", "thought_report", "service_hours", "study", "home_visit")
    ] == [(2, 2), (1, 1), (8, 8), (8, 8), (1, 1)]
    assert missed(result) == [("location", "2025-03-15")]
    # The job closes March on 1 April and raises one alert for the one missed day, never twice.
    summary = await close(local(4, 1, 0, 30))
    assert "1 missed" in summary
    alerts = await Alert.filter(kind="missed_checkin")
    assert len(alerts) == 1 and alerts[0].detail["starts_on"] == "2025-03-15"
    assert (
        await ClosedInterval.filter(supervision_id=s.id).count() == 31 + 5
    )  # daily, and one each of report, thought, service, study, visit
    await close(local(4, 1, 0, 40))
    # Even once acknowledged, the same missed interval is never raised again.
    await Alert.filter(id=alerts[0].id).update(status=AlertStatus.acked, open_key=None)
    await Supervision.filter(id=s.id).update(closed_through=None)
    await close(local(4, 1, 1, 0))
    assert await Alert.filter(kind="missed_checkin").count() == 1


async def test_normal_month_weekly_boundary_sunday_2359_and_monday_0001(world):
    w = world
    s = await supervise(w, "normal")
    await check_in(w, local(3, 9, 23, 59))  # week 3..9
    await check_in(w, local(3, 10, 0, 1))  # week 10..16
    await check_in(w, local(3, 30, 12))  # week 24..30; week 17..23 is missed
    await officer_record(w, s, local(3, 5), "report")
    await check_in(w, local(3, 10), "thought_report", text="汇报")
    await check_in(w, local(3, 8), "service_hours", hours=8)
    await check_in(w, local(3, 12), "study", hours=8)
    result = await compliance.compliance(supervision=s, month=MARCH, now=local(4, 2))
    k = by_kind(result)
    # The clipped week 1..2 March is shorter than half a week: nothing is required for it.
    assert [(i.starts_on.day, i.ends_on.day, i.done) for i in k["location"].intervals] == [
        (3, 9, 1),
        (10, 16, 1),
        (17, 23, 0),
        (24, 30, 1),
    ]
    assert "home_visit" not in k  # quarterly; Q1 clipped to March is too short to require one
    assert missed(result) == [("location", "2025-03-17")]
    await close(local(4, 1, 0, 30))
    assert await Alert.filter(kind="missed_checkin").count() == 1


async def test_lenient_month_two_week_spans_and_missed_hours(world):
    w = world
    s = await supervise(w, "lenient")
    await check_in(w, local(3, 14, 23, 59))  # span 1..14
    await check_in(w, local(3, 15, 0, 1))  # span 15..28
    await check_in(w, local(3, 10), "thought_report", text="汇报")
    await check_in(w, local(3, 8), "service_hours", hours=3)
    await check_in(w, local(3, 12), "study", hours=4)
    result = await compliance.compliance(supervision=s, month=MARCH, now=local(4, 2))
    k = by_kind(result)
    assert [(i.starts_on.day, i.ends_on.day, i.met) for i in k["location"].intervals] == [
        (1, 14, True),
        (15, 28, True),
    ]
    assert (k["service_hours"].required, k["service_hours"].done) == (4, 3)
    assert "report" not in k  # one every two months: March-April is judged in April
    assert missed(result) == [("service_hours", "2025-03-01")]
    await close(local(4, 1, 0, 30))
    [alert] = await Alert.filter(kind="missed_checkin")
    assert alert.detail["obligation"] == "service_hours"
    assert alert.subject_id == s.id


async def test_open_intervals_are_not_violations_yet(world):
    w = world
    s = await supervise(w, "strict")
    result = await compliance.compliance(supervision=s, month=MARCH, now=local(3, 10, 12))
    k = by_kind(result)
    assert all(not i.closed for i in k["report"].intervals)
    assert len(missed(result)) == 9  # 1..9 March are over and empty; the 10th is still open
    assert await close(local(3, 10, 12)) and await Alert.filter(kind="missed_checkin").count() == 9


async def test_leave_spanning_a_month_end(world):
    w = world
    s = await supervise(w, "normal")
    leave, _ = await leave_requests.request_leave(
        user=w.subject,
        leave_id=uuid.uuid4(),
        starts_at=local(3, 30, 8),
        ends_at=local(4, 2, 20),
        destination="上海市",
        reason="探亲",
        request_hash="h",
        now=local(3, 25),
    )
    await leave_requests.decide_leave(
        user=w.officer, leave=leave, approved=True, note=None, now=local(3, 26)
    )
    on_leave_march = await check_in(w, local(3, 31, 10), where=FAR_OUTSIDE)
    on_leave_april = await check_in(w, local(4, 1, 10), where=FAR_OUTSIDE)
    after = await check_in(w, local(4, 3, 10), where=FAR_OUTSIDE)
    assert on_leave_march.on_approved_leave and on_leave_march.status == "ok"
    assert on_leave_april.on_approved_leave and on_leave_april.status == "ok"
    assert not after.on_approved_leave and after.status == "violation"
    march = await compliance.compliance(supervision=s, month=MARCH, now=local(4, 10))
    april = await compliance.compliance(supervision=s, month=date(2025, 4, 1), now=local(4, 10))
    assert [v for v in march.violations if v["kind"] == "outside_permitted_area"] == []
    assert [v["checkin_id"] for v in april.violations if v["kind"] == "outside_permitted_area"] == [
        str(after.id)
    ]
    # The check-in on leave still counts for its week (31 March..6 April, judged in April).
    week = next(i for i in by_kind(april)["location"].intervals if i.starts_on == date(2025, 3, 31))
    assert week.done == 3
    assert await Alert.filter(kind="outside_permitted_area").count() == 1


async def test_cancel_after_start_is_refused(world):
    w = world
    await supervise(w, "normal")
    leave, _ = await leave_requests.request_leave(
        user=w.subject,
        leave_id=uuid.uuid4(),
        starts_at=local(3, 30, 8),
        ends_at=local(4, 2, 20),
        destination="上海市",
        reason="探亲",
        request_hash="h",
        now=local(3, 25),
    )
    with pytest.raises(errors.Conflict):
        await leave_requests.cancel_leave(leave=leave, now=local(3, 31))


async def test_level_change_takes_effect_from_the_next_interval(world):
    w = world
    s = await supervise(w, "strict")
    s = await supervisions.change_level(
        actor=w.officer, supervision=s, level=Level.lenient, now=local(3, 10)
    )
    assert [e["level"] for e in s.level_history] == ["strict", "lenient"]
    assert levels.level_in_force(supervision=s, day=date(2025, 3, 10)).value == "strict"
    assert levels.level_in_force(supervision=s, day=date(2025, 3, 11)).value == "lenient"
    result = await compliance.compliance(supervision=s, month=MARCH, now=local(4, 2))
    k = by_kind(result)
    daily = [i for i in k["location"].intervals if i.level == "strict"]
    assert len(daily) == 10 and daily[-1].ends_on == date(2025, 3, 10)
    assert [(i.starts_on, i.level) for i in k["location"].intervals if i.level == "lenient"] == [
        (date(2025, 3, 15), "lenient")
    ]
    assert k["report"].required == 2  # monthly rules switch from April


async def test_reminders_for_the_interval_about_to_end(world):
    w = world
    s = await supervise(w, "normal")
    strict = await supervise(w, "strict", subject=w.subject2)
    sunday_noon = local(3, 9, 12)
    notices = await correction_jobs.checkins_due(sunday_noon.astimezone(UTC))
    keys = {n.cause_key for n in notices}
    assert f"correction:{s.id}:location:2025-03-03" in keys
    # Daily check-ins are reminded only from 18:00 local.
    assert not any(str(strict.id) in k for k in keys)
    evening = await correction_jobs.checkins_due(local(3, 9, 19).astimezone(UTC))
    assert f"correction:{strict.id}:location:2025-03-09" in {n.cause_key for n in evening}
    await check_in(w, local(3, 9, 13))
    again = await correction_jobs.checkins_due(local(3, 9, 14).astimezone(UTC))
    assert f"correction:{s.id}:location:2025-03-03" not in {n.cause_key for n in again}
    assert len({n.cause_key for n in evening}) == len(evening)
    [n] = [n for n in notices if n.cause_key.endswith("location:2025-03-03")]
    assert n.user_ids == (w.subject.id,) and n.data["type"] == "supervision"


async def test_job_is_registered_and_claims_once(world):
    w = world
    await supervise(w, "strict")
    job = REGISTRY["correction.close_intervals"]
    now = local(3, 3, 1).astimezone(UTC)
    assert await run_job(job, now=now) is not None
    assert await run_job(job, now=now) is None
    assert await Alert.filter(kind="missed_checkin").count() == 2


async def test_old_misses_are_recorded_but_only_recent_ones_alert(world):
    # A supervision entered late: it began in March, the job first runs in August.
    s = await supervise(world, "normal")
    summary = await close(local(8, 1, 0, 30))
    closed = await ClosedInterval.filter(supervision_id=s.id, met=False).count()
    alerted = await Alert.filter(kind="missed_checkin", subject_id=s.id).count()
    assert closed > 20  # every missed week and month since March is on record
    assert 0 < alerted < closed  # only intervals that ended within the alert window alert
    window_start = date(2025, 7, 31) - timedelta(days=correction_jobs.ALERT_WINDOW_DAYS)
    for alert in await Alert.filter(kind="missed_checkin", subject_id=s.id):
        assert date.fromisoformat(alert.detail["ends_on"]) >= window_start
    assert f"{alerted} missed" in summary


async def test_a_late_supervision_catches_up_in_slices_with_the_same_outcome(world):
    # Entered in August for a supervision that began in March: one slice closes only the
    # intervals of its SLICE_DAYS days, each in its own short transaction; the job's run closes
    # the whole backlog with the outcome of closing it at once (each interval once, only
    # recent misses alerted).
    s = await supervise(world, "strict")
    through = date(2025, 7, 31)
    first = await correction_jobs.close_supervision_intervals(
        supervision=s, through=through, tz=TZ, slice_days=correction_jobs.SLICE_DAYS
    )
    assert s.closed_through == MARCH + timedelta(days=correction_jobs.SLICE_DAYS - 1)
    stored = await ClosedInterval.filter(supervision_id=s.id).values_list("ends_on", flat=True)
    assert first[0] == len(stored) > 0
    assert max(stored) <= s.closed_through  # nothing past the slice
    assert not REGISTRY["correction.close_intervals"].transactional  # no run-long transaction

    await close(local(8, 1, 0, 30))
    sliced = sorted(
        await ClosedInterval.filter(supervision_id=s.id).values_list("kind", "starts_on", "met")
    )
    alerted = await Alert.filter(kind="missed_checkin", subject_id=s.id).count()
    assert (await Supervision.get(id=s.id)).closed_through == through

    # The same backlog closed in one go, for a second subject: the same intervals and alerts.
    whole = await supervise(world, "strict", subject=world.subject2)
    await correction_jobs.close_supervision_intervals(supervision=whole, through=through, tz=TZ)
    at_once = sorted(
        await ClosedInterval.filter(supervision_id=whole.id).values_list("kind", "starts_on", "met")
    )
    assert sliced == at_once and len(sliced) > 150  # daily location check-ins since March
    assert alerted == await Alert.filter(kind="missed_checkin", subject_id=whole.id).count()


async def test_a_run_stops_at_its_budget_and_the_next_run_goes_on(world, monkeypatch):
    # A clock that moves 100 s at each reading: the run starts at 0 and goes on while less
    # than RUN_BUDGET_S (240 s) has passed, so it closes two slices (at 100 s and 200 s) and
    # stops at 300 s, with the third slice still pending; the next run closes the rest.
    total = 2 * correction_jobs.CLOSE_SLICE + 10
    await copy_supervision(await supervise(world, "strict"), total - 1)
    readings = iter(range(0, 10_000, 100))
    monkeypatch.setattr(correction_jobs, "monotonic", lambda: next(readings))
    now = local(3, 2, 1)  # March 1st is closed

    cut = await close(now)

    through = date(2025, 3, 1)
    done = 2 * correction_jobs.CLOSE_SLICE
    assert cut.startswith(f"{done} supervisions, {done} intervals closed"), cut
    assert await Supervision.filter(closed_through=through).count() == done
    monkeypatch.undo()
    rest = await close(now + timedelta(minutes=5))
    assert rest.startswith(f"{total - done} supervisions"), rest
    assert await Supervision.filter(closed_through=through).count() == total
    assert await ClosedInterval.filter(starts_on=through, met=False).count() == total


# --- ending a supervision -----------------------------------------------------------------------


async def end(w: World, s: Supervision, ended_on: date, now: datetime, reason: str = "revoked"):
    return await supervisions.end_supervision(
        actor=w.officer,
        supervision=s,
        ended_on=ended_on,
        reason=EndReason(reason),
        note=None,
        now=now.astimezone(UTC),
    )


async def test_no_obligation_after_the_end_in_compliance_or_the_job(world):
    w = world
    s = await supervise(w, "strict")
    s = await end(w, s, date(2025, 3, 10), now=local(3, 12))
    assert (s.ends_on, s.planned_ends_on) == (date(2025, 3, 10), date(2026, 12, 31))
    result = await compliance.compliance(supervision=s, month=MARCH, now=local(4, 1, 8))
    for obligation in result.obligations:
        assert all(i.ends_on <= date(2025, 3, 10) for i in obligation.intervals)
    assert len(by_kind(result)["location"].intervals) == 10
    with pytest.raises(errors.Invalid):
        await compliance.compliance(supervision=s, month=date(2025, 4, 1), now=local(5, 1))
    await close(local(3, 20, 0, 30))
    closed = await ClosedInterval.filter(supervision_id=s.id)
    assert closed and max(c.ends_on for c in closed) <= date(2025, 3, 10)
    for alert in await Alert.filter(kind="missed_checkin", subject_id=s.id):
        assert date.fromisoformat(alert.detail["ends_on"]) <= date(2025, 3, 10)
    # Nothing is left for later runs.
    assert (await close(local(5, 1, 0, 30))).startswith("0 supervisions")


async def test_a_backdated_end_drops_intervals_closed_past_it(world):
    w = world
    s = await supervise(w, "strict")
    await close(local(3, 15, 0, 30))  # closes through 14 March
    assert await ClosedInterval.filter(supervision_id=s.id, ends_on__gt=date(2025, 3, 10)).exists()
    s = await end(w, s, date(2025, 3, 10), now=local(3, 15, 9))
    assert s.closed_through == date(2025, 3, 9)
    assert not await ClosedInterval.filter(
        supervision_id=s.id, ends_on__gt=date(2025, 3, 10)
    ).exists()
    await close(local(3, 16, 0, 30))
    fresh = await Supervision.get(id=s.id)
    assert fresh.closed_through == date(2025, 3, 15)
    assert await ClosedInterval.filter(supervision_id=s.id, ends_on=date(2025, 3, 10)).exists()


async def test_end_refuses_pending_leave_after_it_and_stops_reminders(world):
    w = world
    s = await supervise(w, "normal")

    async def ask(starts_at: datetime) -> Any:
        leave, _ = await leave_requests.request_leave(
            user=w.subject,
            leave_id=uuid.uuid4(),
            starts_at=starts_at.astimezone(UTC),
            ends_at=(starts_at + timedelta(hours=6)).astimezone(UTC),
            destination="上海市",
            reason="探亲",
            request_hash=uuid.uuid4().hex,
            now=local(3, 5).astimezone(UTC),
        )
        return leave

    on_last_day = await ask(local(3, 9, 8))
    after = await ask(local(3, 10, 0, 0))
    before = await correction_jobs.checkins_due(local(3, 9, 12).astimezone(UTC))
    assert any(str(s.id) in n.cause_key for n in before)
    await end(w, s, date(2025, 3, 9), now=local(3, 9, 11), reason="early_release")
    await on_last_day.refresh_from_db()
    await after.refresh_from_db()
    assert on_last_day.status == LeaveStatus.pending
    assert after.status == LeaveStatus.rejected
    # Reminders stop at once, even on the last day.
    assert await correction_jobs.checkins_due(local(3, 9, 12).astimezone(UTC)) == []
