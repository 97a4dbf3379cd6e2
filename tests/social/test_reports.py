"""Supervisor reports: caseloads, overdue visits and six-ones completion, as JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

from models.social import Client
from tests.social.conftest import assign, create_client, make_team


def _csv(response):
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_caseload_and_overdue_reports(client, auth, street):
    a = await create_client(
        client, auth, street.supervisor, street.street, full_name="=cmd|' /C calc'!A0"
    )
    b = await create_client(client, auth, street.supervisor, street.street, full_name="李某某")
    await create_client(
        client, auth, street.other_supervisor, street.other_street, full_name="外某"
    )
    for c in (a, b):
        await assign(client, auth, street.supervisor, c["id"], street.worker1)
    await Client.filter(id=a["id"]).update(visit_due_on=date(2025, 1, 1))
    r = await client.get("/reports/caseloads", headers=auth(street.supervisor))
    assert r.status_code == 200
    rows = {row["full_name"]: row for row in r.json()}
    assert set(rows) == {"周静", "吴敏"}  # workers of my subtree only
    assert (
        rows["周静"]["caseload"] == 2 and rows["周静"]["overdue"] == 1 and rows["周静"]["cap"] == 50
    )
    assert rows["吴敏"]["caseload"] == 0
    table = _csv(
        await client.get(
            "/reports/caseloads", params={"format": "csv"}, headers=auth(street.supervisor)
        )
    )
    assert table[0][:4] == ["社工ID", "姓名", "组织单位ID", "个案数"]
    assert sorted(row[1] for row in table[1:]) == ["吴敏", "周静"]

    r = await client.get("/reports/overdue-visits", headers=auth(street.supervisor))
    assert [row["client_id"] for row in r.json()] == [a["id"]]
    assert r.json()[0]["social_worker_name"] == "周静"
    assert r.json()[0]["days_overdue"] > 300
    table = _csv(
        await client.get(
            "/reports/overdue-visits", params={"format": "csv"}, headers=auth(street.supervisor)
        )
    )
    assert len(table) == 2
    assert table[1][1].startswith("'=")  # no formula injection into Excel
    assert table[1][2] == "刑释解教人员"
    assert (
        await client.get("/reports/overdue-visits", headers=auth(street.other_supervisor))
    ).json() == []


async def test_sixones_report(client, auth, street):
    team = await make_team(
        unit=street.street, lead=street.worker1, members=[street.worker2], anchor=date(2025, 1, 1)
    )
    tasks = (
        await client.get(
            f"/teams/{team.id}/tasks",
            params={"from": "2025-01-01", "to": "2025-01-31"},
            headers=auth(street.worker1),
        )
    ).json()
    await client.post(
        f"/tasks/{tasks[0]['id']}/complete",
        json={"completed_at": "2025-01-20T10:00:00+08:00", "notes": "", "attendee_ids": []},
        headers=auth(street.worker1),
    )
    r = await client.get("/reports/sixones", params={"year": 2025}, headers=auth(street.supervisor))
    assert r.status_code == 200
    report = r.json()
    assert report["year"] == 2025
    [row] = report["teams"]
    assert row["team_name"] == "和平桥社工站"
    assert (row["total"], row["done"], row["overdue"], row["open"]) == (29, 1, 28, 0)
    table = _csv(
        await client.get(
            "/reports/sixones",
            params={"year": 2025, "format": "csv"},
            headers=auth(street.supervisor),
        )
    )
    assert len(table) == 30
    assert table[1][2] == "一月一议事" and table[1][5] == "done"
    assert (
        await client.get(
            "/reports/sixones", params={"year": 2025}, headers=auth(street.other_supervisor)
        )
    ).json()["teams"] == []


async def test_reports_are_for_supervisors(client, auth, street):
    for path in ("/reports/caseloads", "/reports/overdue-visits", "/reports/sixones"):
        assert (await client.get(path, headers=auth(street.worker1))).status_code == 403
        assert (await client.get(path, headers=auth(street.patrol))).status_code == 403
        assert (await client.get(path, headers=auth(street.admin))).status_code == 200
    assert (
        await client.get("/reports/sixones", params={"year": 1900}, headers=auth(street.admin))
    ).status_code == 422
    assert (
        await client.get("/reports/caseloads", params={"format": "xls"}, headers=auth(street.admin))
    ).status_code == 422
