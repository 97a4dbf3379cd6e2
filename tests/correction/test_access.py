"""The path rules of placing a subject under supervision (services.correction.access)."""

from __future__ import annotations

from typing import Any

import pytest

from geo.measure import area_m2
from geo.validation import parse_area
from grassroots.errors import NotFound
from models.correction import Supervision
from models.org import OrgUnit, Role
from models.patrol import Zone
from services.correction import access
from services.scope import overlaps
from tests.correction.conftest import SQUARE, World, supervision_body


async def _area(unit: OrgUnit) -> str:
    zone = await Zone.create(
        name="活动范围",
        kind="permitted_area",
        org_unit=unit,
        org_path=unit.path,
        geometry=SQUARE,
        area_m2=area_m2(geom=parse_area(geojson=SQUARE)),
    )
    return str(zone.id)


def test_overlaps_is_either_path_containing_the_other():
    assert overlaps("/a/b/", "/a/")
    assert overlaps("/a/", "/a/b/")
    assert overlaps("/a/", "/a/")
    assert not overlaps("/a/b/", "/a/c/")


async def test_an_area_above_below_or_on_the_callers_office_may_be_used(
    client, auth, make_user: Any, world
):
    w: World = world
    third = await make_user(Role.subject, unit=w.community)
    cases = [
        (w.officer, w.subject, await _area(w.district)),  # above the officer's office
        (w.officer, w.subject2, await _area(w.office)),  # the officer's own office
        (w.supervisor, third, await _area(w.office)),  # below the supervisor's district
    ]
    for actor, subject, zone_id in cases:
        body = {**supervision_body(w, subject=subject), "permitted_zone_id": zone_id}
        r = await client.post("/supervisions", json=body, headers=auth(actor))
        assert r.status_code == 201, r.text


async def test_an_area_of_a_sibling_office_is_refused_and_nothing_is_stored(client, auth, world):
    w: World = world
    body = {**supervision_body(w), "permitted_zone_id": await _area(w.other_office)}
    r = await client.post("/supervisions", json=body, headers=auth(w.officer))
    assert r.status_code == 422 and r.json()["code"] == "permitted_zone_invalid"
    assert await Supervision.all().count() == 0


async def test_an_officer_whose_office_does_not_hold_the_subject_is_refused(client, auth, world):
    w: World = world
    body = {**supervision_body(w), "officer_id": str(w.other_officer.id)}
    r = await client.post("/supervisions", json=body, headers=auth(w.supervisor))
    assert r.status_code == 422 and r.json()["code"] == "officer_outside_subject_area"
    assert await Supervision.all().count() == 0


async def test_an_office_outside_the_callers_subtree_is_not_found(make_user: Any, world):
    w: World = world
    assert (await access.load_office(org_unit_id=w.office.id, user=w.officer)).id == w.office.id
    admin = await make_user(Role.admin, unit=w.other_office)
    assert (await access.load_office(org_unit_id=w.office.id, user=admin)).id == w.office.id
    with pytest.raises(NotFound):  # an ancestor office lies outside the officer's subtree
        await access.load_office(org_unit_id=w.district.id, user=w.officer)
    with pytest.raises(NotFound):
        await access.load_office(org_unit_id=w.other_office.id, user=w.officer)
