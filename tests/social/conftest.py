"""Factories for the social-work tests: a street with a supervisor, two workers and a team."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from models.org import OrgUnit, Role, Team, TeamMember, User
from models.social import Client, RiskLevel
from services.identity import check_character

HOME = (120.8650, 32.0110)  # 和平桥 area of 崇川区, Nantong


def id_number(serial: int = 1, born: str = "19900307") -> str:
    """A checksum-valid fake identity number (area 320602, 崇川区)."""
    first = f"320602{born}{serial:03d}"
    return first + check_character(first)


def wrong_check_digit(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


@dataclass
class Street:
    district: OrgUnit
    street: OrgUnit
    other_street: OrgUnit
    admin: User
    district_supervisor: User
    supervisor: User
    other_supervisor: User
    worker1: User
    worker2: User
    other_worker: User
    patrol: User
    officer: User


@pytest.fixture
async def street(make_unit: Any, make_user: Any) -> Street:
    district = await make_unit("崇川区")
    street = await make_unit("和平桥街道", parent=district)
    other = await make_unit("城东街道", parent=district)
    return Street(
        district=district,
        street=street,
        other_street=other,
        admin=await make_user(Role.admin, unit=district, full_name="王建国"),
        district_supervisor=await make_user(Role.supervisor, unit=district, full_name="陈明"),
        supervisor=await make_user(Role.supervisor, unit=street, full_name="刘芳"),
        other_supervisor=await make_user(Role.supervisor, unit=other, full_name="黄磊"),
        worker1=await make_user(Role.social_worker, unit=street, full_name="周静"),
        worker2=await make_user(Role.social_worker, unit=street, full_name="吴敏"),
        other_worker=await make_user(Role.social_worker, unit=other, full_name="郭亮"),
        patrol=await make_user(Role.patrol, unit=street, full_name="李强"),
        officer=await make_user(Role.officer, unit=street, full_name="孙涛"),
    )


def client_body(unit: OrgUnit, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "full_name": "张某某",
        "category": "released_prisoner",
        "address": "崇川区和平桥街道濠西路 12 号",
        "home_lon": HOME[0],
        "home_lat": HOME[1],
        "risk_level": "medium",
        "org_unit_id": str(unit.id),
    }
    body.update(overrides)
    return body


async def create_client(
    client: Any, auth: Any, user: User, unit: OrgUnit, **overrides: Any
) -> dict[str, Any]:
    r = await client.post("/clients", json=client_body(unit, **overrides), headers=auth(user))
    assert r.status_code == 201, r.text
    return r.json()


def visit_body(**overrides: Any) -> dict[str, Any]:
    """A home visit an hour ago at the client's home, verified; `overrides` change fields."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": "home",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "lon": HOME[0],
        "lat": HOME[1],
        "accuracy_m": 15,
        "notes": "入户走访，情况稳定",
    }
    body.update(overrides)
    return body


async def fill_caseload(worker: User, unit: OrgUnit, n: int) -> None:
    """Give `worker` n open low-risk cases with no visit due for a month, straight in the table."""
    now = datetime.now(UTC)
    await Client.bulk_create(
        [
            Client(
                full_name=f"对象{i}",
                category="drug_rehab",
                address="某路",
                risk_level=RiskLevel.low,
                org_unit=unit,
                org_path=unit.path,
                social_worker_id=worker.id,
                assigned_at=now,
                visit_due_on=date.today() + timedelta(days=30),
            )
            for i in range(n)
        ]
    )


async def assign(client: Any, auth: Any, actor: User, client_id: str, worker: User) -> Any:
    return await client.put(
        f"/clients/{client_id}/social-worker", json={"user_id": str(worker.id)}, headers=auth(actor)
    )


async def make_team(
    *, unit: OrgUnit, lead: User, members: list[User], anchor: date, name: str = "和平桥社工站"
) -> Team:
    team = await Team.create(
        id=uuid.uuid4(),
        name=name,
        org_unit=unit,
        org_path=unit.path,
        lead=lead,
        anchor_month=anchor,
    )
    for m in [lead, *members]:
        await TeamMember.create(team=team, user=m)
    return team
