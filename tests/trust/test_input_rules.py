"""The generic input rules (issue 14: 10, 11, 13, 18): every one a 422 with a stable code,
never a 500, and nothing stored."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from models.patrol import Zone
from models.social import Client
from tests.trust.world import ZONE_GEOJSON, World, build_world

HUGE = int("9" * 401)  # JSON has no limit on an integer's digits; float() of it overflows


@pytest.fixture
async def world(app: Any, settings: Any) -> AsyncIterator[World]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield await build_world(client=client, settings=settings)


async def _send(w: World, principal: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return await w.client.request(method, f"/api/v1{path}", headers=w.headers[principal], **kwargs)


def _code(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return str(r.json()["code"])


def _huge_polygon() -> dict[str, Any]:
    geometry = copy.deepcopy(ZONE_GEOJSON)
    geometry["coordinates"][0][1][0] = HUGE
    return geometry


async def test_a_401_digit_coordinate_is_422_for_zones_and_import(world: World) -> None:
    body = {"name": "巨数", "org_unit_id": str(world.unit.id), "geometry": _huge_polygon()}
    r = await _send(world, "admin", "POST", "/zones", json=body)
    assert r.status_code == 422 and _code(r) == "integer_out_of_range"
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "巨数"}, "geometry": _huge_polygon()}
        ],
    }
    r = await _send(
        world, "admin", "POST", "/zones/import", json=collection,
        params={"org_unit_id": str(world.unit.id)},
    )  # fmt: skip
    assert r.status_code == 422 and _code(r) == "integer_out_of_range"
    assert await Zone.all().count() == 0


async def test_a_401_digit_obligation_required_is_422(world: World) -> None:
    rules = {"rules": {"normal": [{"kind": "report", "required": HUGE}]}}
    r = await _send(
        world, "admin", "PUT", f"/org-units/{world.unit.id}/obligation-rules", json=rules
    )
    assert r.status_code == 422 and _code(r) == "integer_out_of_range"


async def test_zone_import_refuses_odd_kinds_by_index_and_a_retry_never_duplicates(
    world: World,
) -> None:
    good = {"type": "Feature", "properties": {"name": "东片"}, "geometry": ZONE_GEOJSON}
    collection = {
        "type": "FeatureCollection",
        "features": [
            good,
            {**good, "properties": {"name": "列表", "kind": ["patrol"]}},
            {**good, "properties": {"name": "对象", "kind": {"a": 1}}},
        ],
    }
    params = {"org_unit_id": str(world.unit.id)}
    first = await _send(world, "admin", "POST", "/zones/import", json=collection, params=params)
    assert first.status_code == 200, first.text
    assert [x["index"] for x in first.json()["rejected"]] == [1, 2]
    assert {x["reason"] for x in first.json()["rejected"]} == {"invalid_kind"}
    again = await _send(world, "admin", "POST", "/zones/import", json=collection, params=params)
    assert again.status_code == 200
    assert [z["id"] for z in again.json()["created"]] == [z["id"] for z in first.json()["created"]]
    assert await Zone.filter(deleted_at__isnull=True).count() == 1


async def test_a_lone_surrogate_or_nul_is_422_and_nothing_is_stored(world: World) -> None:
    feature = {"type": "Feature", "properties": {"name": "坏\ud800"}, "geometry": ZONE_GEOJSON}
    good = {"type": "Feature", "properties": {"name": "好"}, "geometry": ZONE_GEOJSON}
    # Sent as raw JSON (`\ud800` escaped): httpx would refuse to encode a lone surrogate.
    raw = json.dumps({"type": "FeatureCollection", "features": [good, feature]})
    assert "\\ud800" in raw
    r = await world.client.post(
        "/api/v1/zones/import",
        content=raw.encode(),
        params={"org_unit_id": str(world.unit.id)},
        headers={**world.headers["admin"], "content-type": "application/json"},
    )
    assert r.status_code == 422 and _code(r) == "invalid_text", r.text
    assert await Zone.all().count() == 0
    before = await Client.all().count()
    body = {
        "full_name": "空\u0000字",
        "category": "at_risk_youth",
        "address": "濠西路 1 号",
        "risk_level": "low",
        "org_unit_id": str(world.unit.id),
    }
    r = await _send(world, "supervisor", "POST", "/clients", json=body)
    assert r.status_code == 422 and _code(r) == "invalid_text"
    assert await Client.all().count() == before
    # In a query string (any string parameter of any list) and in the sign-in form.
    r = await _send(world, "admin", "GET", "/audit", params={"resource_type": "a\u0000b"})
    assert r.status_code == 422 and _code(r) == "invalid_text"
    r = await world.client.post(
        "/api/v1/auth/token", data={"username": "m_admin\u0000", "password": "x"}
    )
    assert r.status_code == 422 and _code(r) == "invalid_text"


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01"])
async def test_zone_report_for_a_day_outside_1900_2200_is_422(world: World, day: str) -> None:
    zone = await world.new_zone()
    r = await _send(world, "admin", "GET", f"/zones/{zone['id']}/report", params={"date": day})
    assert r.status_code == 422 and _code(r) == "date_out_of_range"
    ok = await _send(
        world, "admin", "GET", f"/zones/{zone['id']}/report", params={"date": "2026-11-02"}
    )
    assert ok.status_code == 200


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "2026-13"])
async def test_compliance_for_a_month_outside_the_calendar_is_422(world: World, month: str) -> None:
    supervision = await world.supervision()
    r = await _send(world, "subject", "GET", "/me/compliance", params={"month": month})
    assert r.status_code == 422 and _code(r) in {"date_out_of_range", "invalid_month"}
    r = await _send(
        world, "officer", "GET", f"/supervisions/{supervision['id']}/compliance",
        params={"month": month},
    )  # fmt: skip
    assert r.status_code == 422


async def test_every_date_field_is_bounded(world: World) -> None:
    client = await world.new_client()
    for ends_on in ("0001-01-01", "9999-12-31"):
        body = {
            "org_unit_id": str(world.units["community2"].id),
            "starts_on": "2026-11-01",
            "ends_on": ends_on,
        }
        r = await _send(world, "supervisor", "POST", f"/clients/{client.id}/delegations", json=body)
        assert r.status_code == 422 and _code(r) == "date_out_of_range", r.text
    body = {**await world.supervision_body(), "starts_on": "0001-01-01"}
    r = await _send(world, "officer", "POST", "/supervisions", json=body)
    assert r.status_code == 422 and _code(r) == "date_out_of_range"


async def test_unix_epoch_numbers_are_not_times_nor_dates(world: World) -> None:
    client = await world.own_client()
    now = datetime.now(UTC)
    visit = {"id": str(uuid.uuid4()), "kind": "phone", "notes": "电话回访"}
    r = await _send(
        world, "social_worker", "POST", f"/clients/{client.id}/visits",
        json={**visit, "occurred_at": int(now.timestamp())},
    )  # fmt: skip
    assert r.status_code == 422 and _code(r) == "invalid_time"
    r = await _send(world, "admin", "GET", "/users", params={"updated_since": "1700000000"})
    assert r.status_code == 422 and _code(r) == "invalid_time"
    r = await _send(
        world, "supervisor", "POST", f"/clients/{client.id}/delegations",
        json={"org_unit_id": str(world.units["community2"].id), "starts_on": 20000},
    )  # fmt: skip
    assert r.status_code == 422 and _code(r) == "invalid_date"
    # The same visit with an RFC 3339 string is stored.
    r = await _send(
        world, "social_worker", "POST", f"/clients/{client.id}/visits",
        json={**visit, "occurred_at": (now - timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    assert r.status_code == 201, r.text
