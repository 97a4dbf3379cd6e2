"""The demo holds at every instant: it loads, and shows what it is meant to show, whatever the local
hour and date (issue: at 02:30 in Nantong a visit dated "today at 09:30" lay in the future)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from grassroots import clock
from models.alerts import Alert
from models.correction import CheckIn, LeaveRequest
from models.org import User
from services import demo

# Local Beijing instants where calendars break, as the issue lists them.
INSTANTS = {
    "02:30 Beijing": "2026-12-02T02:30:00+08:00",
    "07:00 Beijing on 1 July": "2027-07-01T07:00:00+08:00",
    "23:59 Beijing on a month's last day": "2027-04-30T23:59:00+08:00",
    "00:30 Beijing on 1 January (31 December in UTC)": "2027-01-01T00:30:00+08:00",
    "09:00 Beijing on 29 February": "2028-02-29T09:00:00+08:00",
}
READS = {
    "supervisor": ["/alerts", "/clients", "/zones", "/reports/overdue-visits", "/me/notifications"],
    "worker1": ["/me/caseload", "/me/tasks", "/clients", "/me/notifications", "/alerts"],
    "officer": ["/officer/subjects", "/supervisions", "/alerts", "/me/notifications"],
}


@pytest.mark.parametrize("instant", list(INSTANTS.values()), ids=list(INSTANTS))
async def test_the_demo_loads_and_shows_its_story_at(instant, db, settings, client, auth):
    moment = datetime.fromisoformat(instant)
    with time_machine.travel(moment, tick=True):
        assert await demo.load_if_empty(settings=settings)
        today = clock.today()
        assert today == moment.date()  # the local date, not UTC's
        users = {u.username: u for u in await User.filter(username__in=list(READS))}
        for username, paths in READS.items():
            for path in paths:
                answer = await client.get(path, headers=auth(users[username]))
                assert answer.status_code == 200, (username, path, answer.text)

        # An overdue home visit for the supervisor to chase.
        overdue = await client.get("/reports/overdue-visits", headers=auth(users["supervisor"]))
        assert len(overdue.json()) >= 1
        # A six-ones task of worker1's team falls due this month, still open.
        tasks = (await client.get("/me/tasks", headers=auth(users["worker1"]))).json()
        this_month = [
            t
            for t in tasks
            if date.fromisoformat(t["due_on"]).replace(day=1) == today.replace(day=1)
        ]
        assert any(t["status"] == "open" for t in this_month), tasks
        # No visit, check-in or task completion is dated after now.
        caseload = (await client.get("/me/caseload", headers=auth(users["worker1"]))).json()
        for row in caseload:
            if row.get("last_visit_at"):
                assert datetime.fromisoformat(row["last_visit_at"]) <= clock.now()
        assert not await CheckIn.filter(occurred_at__gt=datetime.now(UTC)).exists()
        # A round that missed its required checkpoint, alerted to the supervisor.
        alerts = (await client.get("/alerts", headers=auth(users["supervisor"]))).json()["items"]
        assert any(a["kind"] == "missed_checkpoint" for a in alerts), alerts
        # A violation with its alert, and an approved leave, for the officer.
        assert await CheckIn.filter(status="violation").count() == 1
        assert await Alert.filter(kind="outside_permitted_area").count() == 1
        assert await LeaveRequest.filter(status="approved").count() == 1
