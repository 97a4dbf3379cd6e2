"""A small correction world: two offices, officers, subjects and a permitted area in memory."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from geo.measure import area_m2
from geo.validation import parse_area
from models.org import OrgUnit, Role, User
from models.patrol import Zone
from models.social import Client, ClientCategory, RiskLevel

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 31.98], [120.90, 31.98], [120.90, 32.02], [120.86, 32.02], [120.86, 31.98]]
    ],
}
INSIDE = (120.88, 32.0)
FAR_OUTSIDE = (121.0, 32.0)  # about 9.5 km east of the square


@dataclass
class World:
    district: OrgUnit
    office: OrgUnit
    community: OrgUnit
    other_office: OrgUnit
    officer: User
    other_officer: User
    supervisor: User
    subject: User
    subject2: User
    other_subject: User
    patrol: User
    zone_id: uuid.UUID
    client_id: uuid.UUID = uuid.UUID(int=0)  # a community-correction client of social work


@pytest.fixture
async def world(make_unit: Any, make_user: Any) -> World:
    district = await make_unit("崇川区")
    office = await make_unit("和平桥街道", parent=district)
    community = await make_unit("濠西社区", parent=office)
    other_office = await make_unit("城东街道", parent=district)
    zone = await Zone.create(
        name="活动范围",
        kind="permitted_area",
        org_unit=office,
        org_path=office.path,
        geometry=SQUARE,
        area_m2=area_m2(geom=parse_area(geojson=SQUARE)),
    )
    zone_id = zone.id
    return World(
        district=district,
        office=office,
        community=community,
        other_office=other_office,
        officer=await make_user(Role.officer, unit=office, full_name="孙涛"),
        other_officer=await make_user(Role.officer, unit=other_office),
        supervisor=await make_user(Role.supervisor, unit=district),
        subject=await make_user(Role.subject, unit=community, full_name="郑某"),
        subject2=await make_user(Role.subject, unit=community, full_name="钱某"),
        other_subject=await make_user(Role.subject, unit=other_office),
        patrol=await make_user(Role.patrol, unit=office),
        zone_id=zone_id,
        client_id=(
            await Client.create(
                full_name="郑某",
                category=ClientCategory.community_correction,
                address="和平桥街道",
                risk_level=RiskLevel.medium,
                org_unit=community,
                org_path=community.path,
            )
        ).id,
    )


def supervision_body(
    w: World,
    *,
    subject: User | None = None,
    level: str = "normal",
    starts_on: date = date(2025, 1, 1),
    ends_on: date = date(2030, 12, 31),
) -> dict[str, Any]:
    return {
        "client_id": str(w.client_id),
        "subject_user_id": str((subject or w.subject).id),
        "officer_id": str(w.officer.id),
        "permitted_zone_id": str(w.zone_id),
        "level": level,
        "starts_on": starts_on.isoformat(),
        "ends_on": ends_on.isoformat(),
    }
