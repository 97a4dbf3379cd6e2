"""Visit cadence and overdue at local midnight: the due date, the caseload view, the report and
the overdue alert."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from grassroots.settings import get_settings
from models.alerts import Alert
from models.org import Role
from models.social import Client, RiskLevel, VisitKind
from services.social import cadence, visits
from services.social import jobs as social_jobs
from tests.calendar.conftest import SECOND, ZONES, local, utc
from tests.social.conftest import HOME


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(
    ("risk", "wall", "due_on"),
    [
        ("high", "2027-12-31 23:59:59", "2028-01-07"),  # year end
        ("high", "2028-01-01 00:00:00", "2028-01-08"),
        ("low", "2028-01-30 23:59:59", "2028-02-29"),  # onto 29 February
        ("low", "2028-01-31 00:00:00", "2028-03-01"),
        ("medium", "2027-03-14 23:59:59", "2027-03-28"),  # New York's 23-hour day
        ("medium", "2027-03-15 00:00:00", "2027-03-29"),
        ("medium", "2027-11-07 23:59:59", "2027-11-21"),  # New York's 25-hour day
        ("medium", "2027-11-08 00:00:00", "2027-11-22"),
        ("high", "2027-06-30 23:59:59", "2027-07-07"),  # half-year end
        ("high", "2027-07-01 00:00:00", "2027-07-08"),
    ],
)
def test_visit_due_counts_from_the_local_day_of_the_last_visit(
    zone: str, risk: str, wall: str, due_on: str
) -> None:
    got = cadence.visit_due_on(
        risk_level=risk,
        last_visit_at=local(zone, wall),
        assigned_at=local(zone, "2027-01-01 12:00:00"),
        tz=ZoneInfo(zone),
    )
    assert got == date.fromisoformat(due_on)


@pytest.mark.parametrize(
    ("zone", "due_on"),
    # 16:00 UTC on 30 June is already 1 July in Shanghai, still noon on 30 June in New York.
    [("Asia/Shanghai", date(2027, 7, 15)), ("America/New_York", date(2027, 7, 14))],
)
def test_assignment_counts_from_its_local_day(zone: str, due_on: date) -> None:
    got = cadence.visit_due_on(
        risk_level=RiskLevel.medium,
        last_visit_at=None,
        assigned_at=utc("2027-06-30T16:00:00"),
        tz=ZoneInfo(zone),
    )
    assert got == due_on


@pytest.mark.parametrize(
    ("today", "overdue"),
    [(date(2028, 2, 28), False), (date(2028, 2, 29), False), (date(2028, 3, 1), True)],
)
def test_a_visit_is_overdue_from_the_day_after_it_was_due(today: date, overdue: bool) -> None:
    assert cadence.is_overdue(due_on=date(2028, 2, 29), today=today) is overdue


async def test_recorded_visit_at_the_last_second_of_the_year(
    zone: str, make_unit: Any, make_user: Any
) -> None:
    """A visit at 23:59:59 on 31 December local moves the due date from that day, not the next."""
    unit = await make_unit("和平桥街道")
    worker = await make_user(Role.social_worker, unit=unit)
    assigned_at = local(zone, "2027-12-01 09:00:00")
    client = await Client.create(
        full_name="张某某",
        category="released_prisoner",
        address="濠西路",
        risk_level="high",
        home_lon=HOME[0],
        home_lat=HOME[1],
        org_unit=unit,
        org_path=unit.path,
        social_worker_id=worker.id,
        assigned_at=assigned_at,
        visit_due_on=date(2027, 12, 8),
    )
    due = {}
    for wall in ("2027-12-31 23:59:59", "2028-01-01 00:00:00"):
        occurred_at = local(zone, wall)
        await visits.record_visit(
            user=worker,
            client=client,
            visit_id=uuid.uuid4(),
            kind=VisitKind.home,
            occurred_at=occurred_at,
            lon=HOME[0],
            lat=HOME[1],
            accuracy_m=10.0,
            notes="",
            request_hash=uuid.uuid4().hex,
            settings=get_settings(),
            now=occurred_at + SECOND,
        )
        await client.refresh_from_db()
        due[wall] = client.visit_due_on
    assert due == {"2027-12-31 23:59:59": date(2028, 1, 7), "2028-01-01 00:00:00": date(2028, 1, 8)}


async def _due_client(unit: Any, worker: Any, due_on: date) -> Client:
    return await Client.create(
        full_name="李某",
        category="drug_rehab",
        address="某路",
        risk_level="low",
        org_unit=unit,
        org_path=unit.path,
        social_worker_id=worker.id,
        assigned_at=datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")),
        visit_due_on=due_on,
    )


@pytest.mark.parametrize(
    ("due_on", "day_after"),
    [
        ("2028-02-29", "2028-03-01"),
        ("2027-12-31", "2028-01-01"),
        ("2027-03-14", "2027-03-15"),
        ("2027-11-07", "2027-11-08"),
    ],
)
async def test_caseload_view_and_report_turn_overdue_at_local_midnight(
    zone: str,
    due_on: str,
    day_after: str,
    client: Any,
    auth: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    unit = await make_unit("和平桥街道")
    worker = await make_user(Role.social_worker, unit=unit)
    supervisor = await make_user(Role.supervisor, unit=unit)
    await _due_client(unit, worker, date.fromisoformat(due_on))
    seen = {}
    for wall in (f"{due_on} 23:59:59", f"{day_after} 00:00:00"):
        with time_machine.travel(local(zone, wall), tick=False):
            mine = await client.get("/me/caseload", headers=auth(worker))
            report = await client.get("/reports/caseloads", headers=auth(supervisor))
        assert mine.status_code == 200, mine.text
        assert report.status_code == 200, report.text
        [item] = mine.json()
        assert item["next_visit_due"] == due_on
        [row] = [r for r in report.json() if r["user_id"] == str(worker.id)]
        seen[wall] = (item["overdue"], row["overdue"])
    assert seen == {f"{due_on} 23:59:59": (False, 0), f"{day_after} 00:00:00": (True, 1)}


async def test_overdue_visit_alert_starts_at_local_midnight(
    zone: str, make_unit: Any, make_user: Any
) -> None:
    unit = await make_unit("和平桥街道")
    worker = await make_user(Role.social_worker, unit=unit)
    case = await _due_client(unit, worker, date(2028, 2, 29))
    await social_jobs.alert_overdue_visits(local(zone, "2028-02-29 23:59:59"))
    assert not await Alert.filter(kind="overdue_visit", subject_id=case.id).exists()
    await social_jobs.alert_overdue_visits(local(zone, "2028-03-01 00:00:00"))
    alert = await Alert.get(kind="overdue_visit", subject_id=case.id)
    assert alert.detail["due_on"] == "2028-02-29"


@pytest.mark.parametrize(
    ("wall", "due"),
    [
        ("2028-02-27 23:59:59", False),
        ("2028-02-28 00:00:00", True),
        ("2028-02-29 23:59:59", True),
        ("2028-03-01 00:00:00", False),
    ],
)
async def test_visit_reminder_on_the_day_before_and_the_day(
    zone: str, wall: str, due: bool, make_unit: Any, make_user: Any
) -> None:
    unit = await make_unit("和平桥街道")
    worker = await make_user(Role.social_worker, unit=unit)
    case = await _due_client(unit, worker, date(2028, 2, 29))
    notices = await social_jobs.visit_due_notices(local(zone, wall))
    assert [n.cause_key for n in notices] == ([f"visit:{case.id}:2028-02-29"] if due else [])
