"""Six-ones periods, due dates, status and reminders at the instants where they turn over."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from grassroots.errors import Invalid
from models.alerts import Alert
from models.org import Role
from services.social import jobs as social_jobs
from services.social import sixones
from services.social.sixones_rules import TaskKind, period_containing, reminder_dates, task_status
from tests.calendar.conftest import SECOND, local
from tests.social.conftest import make_team

K = TaskKind


@pytest.mark.parametrize(
    ("kind", "anchor", "day", "period", "starts_on", "due_on"),
    [
        # month end
        (K.MONTHLY_MEETING, "2027-01-01", "2027-04-30", "2027-04", "2027-04-01", "2027-04-30"),
        (K.MONTHLY_MEETING, "2027-01-01", "2027-05-01", "2027-05", "2027-05-01", "2027-05-31"),
        # 29 February 2028 ends the Jan-Feb training
        (
            K.BIMONTHLY_TRAINING,
            "2027-01-01",
            "2028-02-28",
            "2028-01/2028-02",
            "2028-01-01",
            "2028-02-29",
        ),
        (
            K.BIMONTHLY_TRAINING,
            "2027-01-01",
            "2028-02-29",
            "2028-01/2028-02",
            "2028-01-01",
            "2028-02-29",
        ),
        (
            K.BIMONTHLY_TRAINING,
            "2027-01-01",
            "2028-03-01",
            "2028-03/2028-04",
            "2028-03-01",
            "2028-04-30",
        ),
        (K.MONTHLY_MEETING, "2027-01-01", "2028-02-29", "2028-02", "2028-02-01", "2028-02-29"),
        # quarter end
        (K.QUARTERLY_DISCUSSION, "2027-01-01", "2027-03-31", "2027-Q1", "2027-01-01", "2027-03-31"),
        (K.QUARTERLY_DISCUSSION, "2027-01-01", "2027-04-01", "2027-Q2", "2027-04-01", "2027-06-30"),
        # half-year end
        (
            K.SEMIANNUAL_ASSESSMENT,
            "2027-01-01",
            "2027-06-30",
            "2027-H1",
            "2027-01-01",
            "2027-06-30",
        ),
        (
            K.SEMIANNUAL_ASSESSMENT,
            "2027-01-01",
            "2027-07-01",
            "2027-H2",
            "2027-07-01",
            "2027-12-31",
        ),
        # year end
        (K.ANNUAL_REVIEW, "2027-01-01", "2027-12-31", "2027", "2027-01-01", "2027-12-31"),
        (K.ANNUAL_REVIEW, "2027-01-01", "2028-01-01", "2028", "2028-01-01", "2028-12-31"),
        (K.QUARTERLY_DISCUSSION, "2027-01-01", "2028-01-01", "2028-Q1", "2028-01-01", "2028-03-31"),
        # the exchange rolls from the anchor month, across the year end and over 29 February
        (K.EXCHANGE, "2027-11-01", "2028-01-31", "2027-11/2028-01", "2027-11-01", "2028-01-31"),
        (K.EXCHANGE, "2027-11-01", "2028-02-01", "2028-02/2028-04", "2028-02-01", "2028-04-30"),
        (K.EXCHANGE, "2027-12-01", "2028-02-29", "2027-12/2028-02", "2027-12-01", "2028-02-29"),
        (K.EXCHANGE, "2027-12-01", "2028-03-01", "2028-03/2028-05", "2028-03-01", "2028-05-31"),
    ],
)
def test_period_holding_the_last_and_the_first_day(
    kind: TaskKind, anchor: str, day: str, period: str, starts_on: str, due_on: str
) -> None:
    found = period_containing(
        kind=kind, day=date.fromisoformat(day), anchor_month=date.fromisoformat(anchor)
    )
    assert found is not None
    assert (found.period, found.starts_on, found.due_on) == (
        period,
        date.fromisoformat(starts_on),
        date.fromisoformat(due_on),
    )


def test_no_exchange_before_the_anchor_month() -> None:
    assert (
        period_containing(kind=K.EXCHANGE, day=date(2027, 10, 31), anchor_month=date(2027, 11, 1))
        is None
    )


@pytest.mark.parametrize(
    ("due_on", "early", "late"),
    [
        ("2027-03-31", "2027-03-24", "2027-03-30"),
        ("2027-06-30", "2027-06-23", "2027-06-29"),
        ("2027-12-31", "2027-12-24", "2027-12-30"),
        ("2028-02-29", "2028-02-22", "2028-02-28"),
    ],
)
def test_reminder_dates(due_on: str, early: str, late: str) -> None:
    assert reminder_dates(due_on=date.fromisoformat(due_on)) == (
        date.fromisoformat(early),
        date.fromisoformat(late),
    )


@pytest.mark.parametrize(
    ("today", "completed_on", "status"),
    [
        ("2028-02-29", None, "open"),
        ("2028-03-01", None, "overdue"),
        ("2028-03-01", "2028-03-01", "done"),  # late, still done
        ("2028-02-28", "2028-02-28", "done"),
    ],
)
def test_task_status_turns_overdue_the_day_after_the_due_date(
    today: str, completed_on: str | None, status: str
) -> None:
    done_on = date.fromisoformat(completed_on) if completed_on else None
    got = task_status(
        due_on=date(2028, 2, 29), completed_on_or_none=done_on, today=date.fromisoformat(today)
    )
    assert got == status


# Tasks that fall due at month, quarter, half-year and year ends and on 29 February 2028, for a
# team anchored in January 2027.
DUE = [
    ("2027-04-30", K.MONTHLY_MEETING, "2027-04"),
    ("2027-03-31", K.QUARTERLY_DISCUSSION, "2027-Q1"),
    ("2027-06-30", K.SEMIANNUAL_ASSESSMENT, "2027-H1"),
    ("2027-12-31", K.ANNUAL_REVIEW, "2027"),
    ("2028-02-29", K.BIMONTHLY_TRAINING, "2028-01/2028-02"),
]
DAY_AFTER = {
    "2027-04-30": "2027-05-01",
    "2027-03-31": "2027-04-01",
    "2027-06-30": "2027-07-01",
    "2027-12-31": "2028-01-01",
    "2028-02-29": "2028-03-01",
}


async def _team(make_unit: Any, make_user: Any) -> Any:
    unit = await make_unit("和平桥街道")
    lead = await make_user(Role.social_worker, unit=unit)
    team = await make_team(unit=unit, lead=lead, members=[], anchor=date(2027, 1, 1))
    return team, lead


@pytest.mark.parametrize(("due_on", "kind", "period"), DUE)
async def test_my_tasks_turn_overdue_at_local_midnight(
    zone: str,
    due_on: str,
    kind: TaskKind,
    period: str,
    client: Any,
    auth: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    """GET /me/tasks takes today from the one clock, in the deployment's zone."""
    _, lead = await _team(make_unit, make_user)
    query = {"from": due_on, "to": due_on}
    statuses = {}
    for label, instant in (
        ("last second", local(zone, f"{due_on} 23:59:59")),
        ("midnight", local(zone, f"{DAY_AFTER[due_on]} 00:00:00")),
    ):
        with time_machine.travel(instant, tick=False):
            r = await client.get("/me/tasks", params=query, headers=auth(lead))
        assert r.status_code == 200, r.text
        mine = [t for t in r.json() if t["kind"] == kind.value]
        assert [(t["period"], t["due_on"]) for t in mine] == [(period, due_on)]
        statuses[label] = mine[0]["status"]
    assert statuses == {"last second": "open", "midnight": "overdue"}


@pytest.mark.parametrize(("due_on", "kind", "period"), DUE)
async def test_overdue_task_alert_starts_at_local_midnight(
    zone: str, due_on: str, kind: TaskKind, period: str, make_unit: Any, make_user: Any
) -> None:
    team, _ = await _team(make_unit, make_user)
    tid = sixones.task_id(team_id=team.id, kind=kind.value, period=period)
    await social_jobs.alert_overdue_tasks(local(zone, f"{due_on} 23:59:59"))
    assert not await Alert.filter(kind="overdue_task", subject_id=tid).exists()
    await social_jobs.alert_overdue_tasks(local(zone, f"{DAY_AFTER[due_on]} 00:00:00"))
    alert = await Alert.get(kind="overdue_task", subject_id=tid)
    assert alert.detail["due_on"] == due_on


# (local instant, the reminder lead the 2028-02-29 training gets then, or None)
TRAINING_REMINDERS = [
    ("2028-02-21 23:59:59", None),
    ("2028-02-22 00:00:00", "7d"),
    ("2028-02-27 23:59:59", "7d"),  # a worker that was down sends it late, before the next
    ("2028-02-28 00:00:00", "1d"),
    ("2028-02-29 23:59:59", "1d"),
    ("2028-03-01 00:00:00", None),
]


@pytest.mark.parametrize(("wall", "lead"), TRAINING_REMINDERS)
async def test_task_reminders_7_and_1_days_before_at_local_midnight(
    zone: str, wall: str, lead: str | None, make_unit: Any, make_user: Any
) -> None:
    team, _ = await _team(make_unit, make_user)
    tid = sixones.task_id(
        team_id=team.id, kind=K.BIMONTHLY_TRAINING.value, period="2028-01/2028-02"
    )
    notices = await social_jobs.sixones_task_notices(local(zone, wall))
    leads = [
        n.cause_key.rsplit(":", 1)[1] for n in notices if n.cause_key.startswith(f"task:{tid}:")
    ]
    assert leads == ([lead] if lead else [])


@pytest.mark.parametrize(
    ("wall", "accepted"),
    [("2027-03-31 23:59:59", False), ("2027-04-01 00:00:00", True)],
)
async def test_a_task_cannot_be_completed_before_its_period_begins(
    zone: str, wall: str, accepted: bool, make_unit: Any, make_user: Any
) -> None:
    """The Q2 discussion starts at 00:00 local on 1 April."""
    team, lead = await _team(make_unit, make_user)
    period = period_containing(
        kind=K.QUARTERLY_DISCUSSION, day=date(2027, 4, 1), anchor_month=team.anchor_month
    )
    assert period is not None
    row = (await sixones.materialise([(team, period)]))[
        sixones.task_id(team_id=team.id, kind=period.kind.value, period=period.period)
    ]
    completed_at = local(zone, wall)
    kwargs: dict[str, Any] = {
        "user": lead,
        "task": row,
        "completed_at": completed_at,
        "notes": "季度讨论",
        "attendee_ids": [],
        "request_hash": "h",
        "now": completed_at + SECOND,
    }
    tz = ZoneInfo(zone)
    if not accepted:
        with pytest.raises(Invalid) as caught:
            await sixones.complete_task(tz=tz, **kwargs)
        assert caught.value.code == "completed_before_period"
        return
    done = await sixones.complete_task(tz=tz, **kwargs)
    view = sixones.task_view(done, today=date(2027, 7, 1), tz=tz)
    assert (view.period, view.status) == ("2027-Q2", "done")
