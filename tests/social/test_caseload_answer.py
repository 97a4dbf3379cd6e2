"""GET /me/caseload byte for byte: the fast path against the response model's own encoding."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from api.routers.social.schemas import CaseloadItem, client_public
from models.audit import AuditEntry
from models.social import CaseStatus, Client
from services.group_commit import flush_all
from services.social import caseloads
from services.social.cadence import is_overdue, local_today
from tests.social.conftest import assign, create_client, id_number, visit_body

CATEGORIES = ("community_correction", "released_prisoner", "drug_rehab", "at_risk_youth")
RISKS = ("high", "medium", "low")


async def _expected(worker_id: Any) -> bytes:
    """The answer as the response model encodes it, built from the stored rows."""
    today = local_today(now=datetime.now(UTC), tz=ZoneInfo("Asia/Shanghai"))
    stored = await Client.filter(social_worker_id=worker_id, status=CaseStatus.open).order_by(
        "visit_due_on", "full_name"
    )
    items = [
        CaseloadItem(
            client=client_public(c, today=today, masked_phone=True),
            last_visit_at=c.last_visit_at,
            next_visit_due=c.visit_due_on,
            overdue=is_overdue(due_on=c.visit_due_on, today=today),
        )
        for c in stored
    ]
    return TypeAdapter(list[CaseloadItem]).dump_json(items)


async def _read(client: Any, auth: Any, worker: Any) -> bytes:
    r = await client.get("/me/caseload", headers=auth(worker))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.content


async def test_caseload_answer_is_the_response_models_encoding(client, auth, street):
    """Twelve clients, three of each category, with visits, overdue ones and a delegation."""
    now = datetime.now(UTC)
    ids = []
    for n in range(12):
        overrides: dict[str, Any] = {
            "full_name": f"对象{n:02d}",
            "category": CATEGORIES[n % 4],
            "risk_level": RISKS[n % 3],
        }
        if n % 2 == 0:
            overrides.update(phone="13905131234", id_number=id_number(n + 1))
        if n == 3:
            overrides.update(home_lon=121.0, home_lat=32.0)  # whole degrees: 121.0, not 121
        if n == 5:
            overrides.update(home_lon=None, home_lat=None)
        if n == 7:
            overrides.update(address='濠西路 "12" 号\\B 座')  # quotes and a backslash
        body = await create_client(client, auth, street.supervisor, street.street, **overrides)
        assert (
            await assign(client, auth, street.supervisor, body["id"], street.worker1)
        ).is_success
        ids.append(body["id"])
    # Visits: recent ones, old ones that leave the case overdue, one on a whole second.
    for n, days in ((0, 1), (1, 45), (2, 200), (4, 3), (6, 60), (9, 0)):
        occurred = now - timedelta(days=days, hours=2)
        if n == 4:
            occurred = occurred.replace(microsecond=0)
        r = await client.post(
            f"/clients/{ids[n]}/visits",
            json=visit_body(occurred_at=occurred.isoformat()),
            headers=auth(street.worker1),
        )
        assert r.status_code == 201, r.text
    r = await client.post(
        f"/clients/{ids[8]}/delegations",
        json={"org_unit_id": str(street.other_street.id), "starts_on": str(now.date())},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 201, r.text
    # Not on worker1's caseload: another worker's client and a closed case.
    theirs = await create_client(client, auth, street.supervisor, street.street, full_name="他某")
    await assign(client, auth, street.supervisor, theirs["id"], street.worker2)
    await Client.filter(id=ids[11]).update(
        status=CaseStatus.closed, closed_on=now.date(), close_reason="moved_away"
    )

    answer = await _read(client, auth, street.worker1)
    assert answer == await _expected(street.worker1.id)
    items = TypeAdapter(list[CaseloadItem]).validate_json(answer)
    assert len(items) == 11
    assert {i.client.category for i in items} == set(CATEGORIES)
    assert any(i.overdue for i in items) and not all(i.overdue for i in items)
    assert sum(i.last_visit_at is not None for i in items) == 6
    assert {i.client.phone for i in items} == {"139****1234", None}
    # The other worker sees only their own client.
    [other] = TypeAdapter(list[CaseloadItem]).validate_json(
        await _read(client, auth, street.worker2)
    )
    assert str(other.client.id) == theirs["id"]


async def test_every_change_of_a_row_shows_and_every_read_is_audited(client, auth, street):
    """Writes that leave `updated_at` alone (queryset updates) show on the next read too."""
    body = await create_client(
        client, auth, street.supervisor, street.street, full_name="甲某", phone="13905131234"
    )
    await assign(client, auth, street.supervisor, body["id"], street.worker1)
    first = await _read(client, auth, street.worker1)
    remembered = caseloads._ANSWERS[street.worker1.id]
    assert first == await _read(client, auth, street.worker1)
    assert caseloads._ANSWERS[street.worker1.id] is remembered  # the version matched
    stored = await Client.get(id=body["id"])
    changes: list[dict[str, Any]] = [
        {"home_lon": stored.home_lon + 1e-13},  # the 16th digit
        {"phone": "13905131235"},
        {"full_name": "甲某某"},
        {"visit_due_on": stored.visit_due_on - timedelta(days=30)},
        {"last_visit_at": datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC)},
        {"risk_level": "low"},
    ]
    seen = {first}
    for change in changes:
        await Client.filter(id=body["id"]).update(**change)
        answer = await _read(client, auth, street.worker1)
        assert answer == await _expected(street.worker1.id), change
        assert answer not in seen, change
        seen.add(answer)
    # Another case given to the worker, then taken away again.
    second = await create_client(client, auth, street.supervisor, street.street, full_name="乙某")
    await assign(client, auth, street.supervisor, second["id"], street.worker1)
    assert len(TypeAdapter(list[Any]).validate_json(await _read(client, auth, street.worker1))) == 2
    await assign(client, auth, street.supervisor, second["id"], street.worker2)
    assert len(TypeAdapter(list[Any]).validate_json(await _read(client, auth, street.worker1))) == 1

    await flush_all()
    reads = await AuditEntry.filter(
        user_id=street.worker1.id, action="list", resource_type="client"
    ).values_list("detail", flat=True)
    assert len(reads) == 2 + len(changes) + 2
    assert sorted(len(r["client_ids"]) for r in reads) == [1] * (len(reads) - 1) + [2]
    assert {i for r in reads for i in r["client_ids"]} == {body["id"], second["id"]}


async def test_reads_at_once_each_get_their_own_caseload(client, auth, street):
    """The versions of concurrent reads come from one query: no worker sees another's list."""
    for n, worker in enumerate((street.worker1, street.worker1, street.worker2)):
        body = await create_client(
            client, auth, street.supervisor, street.street, full_name=f"对象{n}"
        )
        await assign(client, auth, street.supervisor, body["id"], worker)
    workers = [street.worker1, street.worker2, street.other_worker]
    expected = {w.id: await _expected(w.id) for w in workers}
    for _ in range(3):  # unknown, then remembered, then remembered again
        answers = await asyncio.gather(*(_read(client, auth, w) for w in workers * 4))
        assert answers == [expected[w.id] for w in workers * 4]
    assert expected[street.other_worker.id] == b"[]"
    await flush_all()
    assert await AuditEntry.filter(action="list", resource_type="client").count() == 36
