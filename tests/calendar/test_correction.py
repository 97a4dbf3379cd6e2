"""Compliance months and leave windows at local midnight, in Shanghai and New York."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from grassroots.errors import Invalid
from models.correction import (
    CheckIn,
    CheckInKind,
    CheckInStatus,
    ClosedInterval,
    Level,
    Supervision,
)
from services.correction import checkins, compliance, jobs, supervisions
from services.correction import leave as leave_service
from tests.calendar.conftest import SECOND, local
from tests.correction.conftest import FAR_OUTSIDE, INSIDE, World

STARTS_ON, ENDS_ON = date(2027, 1, 1), date(2028, 12, 31)


async def _supervise(w: World, level: str) -> Supervision:
    return await supervisions.create_supervision(
        actor=w.officer,
        client_id=w.client_id,
        subject_user_id=w.subject.id,
        officer_id=w.officer.id,
        permitted_zone_id=w.zone_id,
        level=Level(level),
        starts_on=STARTS_ON,
        ends_on=ENDS_ON,
        now=datetime.fromisoformat("2026-12-01T00:00:00+00:00"),
    )


async def _check_in(
    w: World, at: datetime, kind: str = "location", where: tuple[float, float] = INSIDE
) -> CheckIn:
    location = kind == "location"
    checkin, created = await checkins.record_checkin(
        user=w.subject,
        checkin_id=uuid.uuid4(),
        kind=CheckInKind(kind),
        occurred_at=at,
        lon=where[0] if location else None,
        lat=where[1] if location else None,
        accuracy_m=10.0 if location else None,
        hours=None,
        text=None if location else "思想汇报",
        request_hash=uuid.uuid4().hex,
        now=at + timedelta(minutes=1),
    )
    assert created
    return checkin


def _done(result: compliance.ComplianceResult, kind: str) -> dict[date, float]:
    [obligation] = [o for o in result.obligations if o.kind == kind]
    return {i.ends_on: i.done for i in obligation.intervals}


@pytest.mark.parametrize(
    ("last", "first", "thought_reports"),
    [
        ("2027-03-31", "2027-04-01", {"2027-03-31": 0.0, "2027-04-30": 1.0}),  # quarter end
        ("2027-06-30", "2027-07-01", {"2027-06-30": 0.0, "2027-07-31": 1.0}),  # half-year end
        ("2027-12-31", "2028-01-01", {"2027-12-31": 0.0, "2028-01-31": 1.0}),  # year end
        ("2028-02-29", "2028-03-01", {"2028-02-29": 0.0, "2028-03-31": 1.0}),  # leap day
        ("2027-03-14", "2027-03-15", {"2027-03-31": 1.0}),  # New York's 23-hour day
        ("2027-11-07", "2027-11-08", {"2027-11-30": 1.0}),  # New York's 25-hour day
    ],
)
async def test_check_ins_at_23_59_59_and_00_00_00_count_for_their_local_day_and_month(
    zone: str, last: str, first: str, thought_reports: dict[str, float], world: World
) -> None:
    """A strict subject: a location check-in daily and a thought report monthly."""
    s = await _supervise(world, "strict")
    await _check_in(world, local(zone, f"{last} 23:59:59"), "location")
    await _check_in(world, local(zone, f"{first} 00:00:00"), "thought_report")
    last_on, first_on = date.fromisoformat(last), date.fromisoformat(first)
    now = local(zone, "2028-06-01 12:00:00")
    before = await compliance.compliance(supervision=s, month=last_on.replace(day=1), now=now)
    after = await compliance.compliance(supervision=s, month=first_on.replace(day=1), now=now)
    location = {**_done(before, "location"), **_done(after, "location")}
    assert (location[last_on], location[first_on]) == (1.0, 0.0)
    thought = {**_done(before, "thought_report"), **_done(after, "thought_report")}
    assert thought == {date.fromisoformat(k): v for k, v in thought_reports.items()}


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        ("2027-12-31 00:00:00", "2028-01-02 00:00:00"),  # over the year end
        ("2028-02-29 00:00:00", "2028-03-01 00:00:00"),  # the leap day
        ("2027-03-14 00:00:00", "2027-03-15 00:00:00"),  # New York's 23-hour day
        ("2027-11-07 00:00:00", "2027-11-08 00:00:00"),  # New York's 25-hour day
    ],
)
async def test_approved_leave_covers_from_its_start_up_to_not_including_its_end(
    zone: str, starts: str, ends: str, world: World
) -> None:
    """Outside check-ins one second either side of the window's local midnights; two are made
    before the approval (re-judged by it) and the same instants again after it."""
    await _supervise(world, "strict")
    starts_at, ends_at = local(zone, starts), local(zone, ends)
    leave, _ = await leave_service.request_leave(
        user=world.subject,
        leave_id=uuid.uuid4(),
        starts_at=starts_at,
        ends_at=ends_at,
        destination="上海",
        reason="探亲",
        request_hash="h",
        now=starts_at - timedelta(days=2),
    )
    instants = [starts_at - SECOND, starts_at, ends_at - SECOND, ends_at]
    before = [await _check_in(world, at, where=FAR_OUTSIDE) for at in instants]
    assert [c.status for c in before] == [CheckInStatus.violation] * 4
    await leave_service.decide_leave(
        user=world.officer, leave=leave, approved=True, note=None, now=ends_at + SECOND
    )
    rejudged = [await CheckIn.get(id=c.id) for c in before]
    after = [await _check_in(world, at, where=FAR_OUTSIDE) for at in instants]
    expected = ["violation", "ok", "ok", "violation"]
    assert [str(c.status) for c in rejudged] == expected
    assert [str(c.status) for c in after] == expected
    assert [c.on_approved_leave for c in after] == [False, True, True, False]


@pytest.mark.parametrize(
    ("starts", "ends", "accepted"),
    [
        # ends at the supervision's first local midnight: wholly before it
        ("2026-12-31 20:00:00", "2027-01-01 00:00:00", False),
        ("2026-12-31 20:00:00", "2027-01-01 00:00:01", True),
        # starts in the supervision's last second, or at the midnight after it
        ("2028-12-31 23:59:59", "2029-01-01 08:00:00", True),
        ("2029-01-01 00:00:00", "2029-01-01 08:00:00", False),
    ],
)
async def test_leave_must_overlap_the_supervision_by_local_day(
    zone: str, starts: str, ends: str, accepted: bool, world: World
) -> None:
    await _supervise(world, "normal")
    kwargs: dict[str, Any] = {
        "user": world.subject,
        "leave_id": uuid.uuid4(),
        "starts_at": local(zone, starts),
        "ends_at": local(zone, ends),
        "destination": "上海",
        "reason": "探亲",
        "request_hash": "h",
        "now": local(zone, "2026-12-30 12:00:00"),
    }
    if accepted:
        leave, created = await leave_service.request_leave(**kwargs)
        assert created and str(leave.status) == "pending"
    else:
        with pytest.raises(Invalid) as caught:
            await leave_service.request_leave(**kwargs)
        assert caught.value.code == "not_under_supervision"


@pytest.mark.parametrize(
    "day", ["2027-03-31", "2027-12-31", "2028-02-29", "2027-03-14", "2027-11-07"]
)
@pytest.mark.parametrize("checked_in", [True, False])
async def test_a_day_closes_at_the_local_midnight_after_it(
    zone: str, day: str, checked_in: bool, world: World
) -> None:
    """A strict supervision starting on `day`: its first daily check-in interval is judged by
    the interval job from 00:00:00 local the next day, not at 23:59:59."""
    first_day = date.fromisoformat(day)
    s = await supervisions.create_supervision(
        actor=world.officer,
        client_id=world.client_id,
        subject_user_id=world.subject.id,
        officer_id=world.officer.id,
        permitted_zone_id=world.zone_id,
        level=Level.strict,
        starts_on=first_day,
        ends_on=date(first_day.year + 1, 3, 1),
        # Entered the day before it starts (a start far ahead of entry is refused).
        now=local(zone, f"{day} 12:00:00") - timedelta(days=1),
    )
    if checked_in:
        await _check_in(world, local(zone, f"{day} 23:59:59"))
    next_day = (first_day + timedelta(days=1)).isoformat()
    assert await jobs.close_intervals(local(zone, f"{day} 23:59:59")) == (
        "0 supervisions, 0 intervals closed, 0 missed"
    )
    summary = await jobs.close_intervals(local(zone, f"{next_day} 00:00:00"))
    assert summary == f"1 supervisions, 1 intervals closed, {0 if checked_in else 1} missed"
    [closed] = await ClosedInterval.filter(supervision_id=s.id)
    assert (closed.kind, closed.starts_on, closed.ends_on, closed.met) == (
        "location",
        first_day,
        first_day,
        checked_in,
    )


@pytest.mark.parametrize(
    ("month", "last"),
    [("2027-04-01", "2027-03-31"), ("2028-01-01", "2027-12-31"), ("2028-03-01", "2028-02-29")],
)
async def test_a_month_can_be_read_from_its_first_local_midnight(
    zone: str, month: str, last: str, world: World
) -> None:
    s = await _supervise(world, "normal")
    first_of = date.fromisoformat(month)
    with pytest.raises(Invalid) as caught:
        await compliance.compliance(
            supervision=s, month=first_of, now=local(zone, f"{last} 23:59:59")
        )
    assert caught.value.code == "month_invalid"
    result = await compliance.compliance(
        supervision=s, month=first_of, now=local(zone, f"{month} 00:00:00")
    )
    assert result.month == month[:7]
    assert result.violations == []  # nothing in the month has closed yet
