"""Zones, checkpoints and shifts through the API: geometry errors, import, scope, the index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from models.audit import AuditEntry
from models.org import Role
from models.patrol import Checkpoint, Zone
from tests.patrol.world import ZONE_GEOJSON, build_world, iso


@pytest.fixture
async def world(client, make_unit, make_user, auth):
    return await build_world(client, make_unit, make_user, auth)


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[120.86, 32.0], [120.87, 32.01], [120.87, 32.0], [120.86, 32.01], [120.86, 32.0]]
    ],
}


async def test_zone_output_and_area(client, auth, world):
    zone = world.zone
    assert zone["kind"] == "patrol" and zone["name"] == "濠河东责任区"
    # 0.01° x 0.008° at 32°N: about 944 m x 888 m.
    assert zone["area_m2"] == pytest.approx(838_500, rel=0.01)
    assert zone["geometry"]["type"] == "Polygon"
    assert await AuditEntry.filter(
        action="create", resource_type="zone", resource_id=zone["id"]
    ).exists()


@pytest.mark.parametrize(
    ("geometry", "fault"),
    [
        (BOWTIE, "self_intersection"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[120.86, 32.0], [120.87, 32.0], [120.87, 32.01], [120.86, 32.01]]],
            },
            "ring_not_closed",
        ),
        (
            {"type": "Polygon", "coordinates": [[[120.86, 32.0], [120.87, 32.0], [120.86, 32.0]]]},
            "too_few_points",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[190.0, 32.0], [120.87, 32.0], [120.87, 32.01], [190.0, 32.0]]],
            },
            "out_of_range",
        ),
        ({"type": "Point", "coordinates": [120.86, 32.0]}, "wrong_type"),
    ],
)
async def test_invalid_geometry_is_a_located_422(client, auth, world, geometry, fault):
    body = {
        "name": "坏区域",
        "kind": "patrol",
        "org_unit_id": str(world.street.id),
        "geometry": geometry,
    }
    r = await client.post("/zones", headers=auth(world.supervisor), json=body)
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "invalid_geometry"
    assert problem["errors"][0]["fault"] == fault
    assert problem["detail"].startswith("几何图形无效")
    r = await client.post(
        "/zones", headers={**auth(world.supervisor), "Accept-Language": "en"}, json=body
    )
    assert r.json()["detail"].startswith("Invalid geometry")
    if fault == "self_intersection":
        assert "120.865,32.005" in r.json()["detail"]  # where the edges cross
    assert await Zone.filter(name="坏区域").count() == 0


async def test_import_creates_or_rejects_each_feature(client, auth, world):
    collection = {
        "type": "FeatureCollection",
        "name": "chongchuan_zones",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "北濠河", "kind": "patrol"},
                "geometry": ZONE_GEOJSON,
            },
            {"type": "Feature", "properties": {"name": "坏的"}, "geometry": BOWTIE},
            {"type": "Feature", "properties": {}, "geometry": ZONE_GEOJSON},
            {
                "type": "Feature",
                "properties": {"name": "某社区", "kind": "permitted_area"},
                "geometry": {"type": "MultiPolygon", "coordinates": [ZONE_GEOJSON["coordinates"]]},
            },
            {
                "type": "Feature",
                "properties": {"name": "x", "kind": "castle"},
                "geometry": ZONE_GEOJSON,
            },
        ],
    }
    r = await client.post(
        "/zones/import",
        headers=auth(world.supervisor),
        params={"org_unit_id": str(world.street.id)},
        json=collection,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert [z["name"] for z in out["created"]] == ["北濠河", "某社区"]
    assert [(x["index"], x["reason"].split(":")[0]) for x in out["rejected"]] == [
        (1, "invalid_geometry"),
        (2, "invalid_name"),
        (4, "invalid_kind"),
    ]
    assert out["rejected"][0]["fault"] == "self_intersection"
    # Outside the caller's subtree: nothing created.
    r = await client.post(
        "/zones/import",
        headers=auth(world.supervisor),
        params={"org_unit_id": str(world.district.id)},
        json=collection,
    )
    assert r.status_code == 422
    assert await Zone.all().count() == 3


async def test_contains_kind_and_index_refresh(client, auth, world):
    h = auth(world.supervisor)
    r = await client.get("/zones", headers=h, params={"contains": "120.865,32.004"})
    assert [z["id"] for z in r.json()["items"]] == [world.zone["id"]]
    r = await client.get("/zones", headers=h, params={"contains": "120.9,32.004"})
    assert r.json()["items"] == []
    # Reshaping the zone is seen by the cached index at once.
    moved = {
        "type": "Polygon",
        "coordinates": [
            [[120.88, 32.0], [120.92, 32.0], [120.92, 32.01], [120.88, 32.01], [120.88, 32.0]]
        ],
    }
    r = await client.patch(f"/zones/{world.zone['id']}", headers=h, json={"geometry": moved})
    assert r.status_code == 200 and r.json()["area_m2"] > world.zone["area_m2"]
    r = await client.get("/zones", headers=h, params={"contains": "120.9,32.004"})
    assert [z["id"] for z in r.json()["items"]] == [world.zone["id"]]
    r = await client.get("/zones", headers=h, params={"kind": "permitted_area"})
    assert r.json()["items"] == []
    r = await client.get("/zones", headers=h, params={"contains": "abc"})
    assert r.status_code == 400
    # Deleted: gone from lists, reads and the index.
    assert (await client.delete(f"/zones/{world.zone['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/zones/{world.zone['id']}", headers=h)).status_code == 404
    r = await client.get("/zones", headers=h, params={"contains": "120.9,32.004"})
    assert r.json()["items"] == []


async def test_zone_scope_by_role(client, auth, world, make_user):
    body = {
        "name": "城东社区矫正活动区",
        "kind": "permitted_area",
        "org_unit_id": str(world.street.id),
        "geometry": ZONE_GEOJSON,
    }
    permitted = (await client.post("/zones", headers=auth(world.supervisor), json=body)).json()
    officer = await make_user(Role.officer, unit=world.street)
    far_officer = await make_user(Role.officer, unit=world.other)
    worker = await make_user(Role.social_worker, unit=world.street)
    stranger = await make_user(Role.patrol, unit=world.street)
    admin = await make_user(Role.admin, unit=world.district)

    async def visible(user):
        r = await client.get("/zones", headers=auth(user))
        return {z["id"] for z in r.json()["items"]} if r.status_code == 200 else r.status_code

    assert await visible(world.supervisor) == {world.zone["id"], permitted["id"]}
    assert await visible(admin) == {world.zone["id"], permitted["id"]}
    assert await visible(officer) == {permitted["id"]}
    assert await visible(far_officer) == set()
    assert await visible(world.patrol) == {world.zone["id"]}
    assert await visible(stranger) == set()
    assert await visible(worker) == 403
    assert (
        await client.get(f"/zones/{world.zone['id']}", headers=auth(officer))
    ).status_code == 404
    assert (await client.get(f"/zones/{permitted['id']}", headers=auth(officer))).status_code == 200
    # Writes: managers only, in their subtree.
    r = await client.patch(
        f"/zones/{world.zone['id']}", headers=auth(world.patrol), json={"name": "x"}
    )
    assert r.status_code == 403
    far_sup = await make_user(Role.supervisor, unit=world.other)
    r = await client.patch(f"/zones/{world.zone['id']}", headers=auth(far_sup), json={"name": "x"})
    assert r.status_code == 404
    r = await client.post("/zones", headers=auth(far_sup), json=body)
    assert r.status_code == 422 and r.json()["code"] == "org_unit_outside_scope"
    r = await client.post(
        f"/zones/{world.zone['id']}/checkpoints",
        headers=auth(officer),
        json={"name": "C", "lon": 120.865, "lat": 32.004, "required": False},
    )
    assert r.status_code == 403


async def test_checkpoint_bounds(client, auth, world):
    h = auth(world.supervisor)
    url = f"/zones/{world.zone['id']}/checkpoints"
    for radius in (4, 501):
        r = await client.post(
            url,
            headers=h,
            json={"name": "C", "lon": 120.865, "lat": 32.004, "radius_m": radius, "required": True},
        )
        assert r.status_code == 422
    r = await client.post(url, headers=h, json={"name": "C", "lon": 120.865, "lat": 32.004})
    assert r.status_code == 201 and r.json()["radius_m"] == 30 and r.json()["required"] is True
    assert len(r.json()["code"]) >= 16
    assert await Checkpoint.filter(zone_id=world.zone["id"]).count() == 3


async def test_assignments(client, auth, world, make_user):
    h = auth(world.supervisor)
    url = f"/zones/{world.zone['id']}/assignments"
    now = datetime.now(UTC)
    shift = {
        "user_id": str(world.patrol.id),
        "starts_at": iso(now),
        "ends_at": iso(now + timedelta(hours=8)),
    }
    r = await client.post(url, headers=h, json={**shift, "ends_at": iso(now - timedelta(hours=1))})
    assert r.status_code == 422 and r.json()["code"] == "invalid_time_range"
    r = await client.post(url, headers=h, json={**shift, "ends_at": iso(now + timedelta(hours=25))})
    assert r.status_code == 422 and r.json()["code"] == "shift_too_long"
    r = await client.post(url, headers=h, json={**shift, "user_id": str(world.supervisor.id)})
    assert r.status_code == 422 and r.json()["code"] == "user_not_patrol"
    far = await make_user(Role.patrol, unit=world.other)
    far_sup = await make_user(Role.supervisor, unit=world.other)
    r = await client.post(url, headers=h, json={**shift, "user_id": str(far.id)})
    assert r.status_code == 422
    r = await client.post(url, headers=auth(far_sup), json=shift)
    assert r.status_code == 404
    r = await client.post(url, headers=h, json={**shift, "user_id": str(uuid.uuid4())})
    assert r.status_code == 422
    # My shifts carry the zone and checkpoints, never the codes.
    r = await client.get("/me/assignments", headers=auth(world.patrol))
    assert r.status_code == 200
    mine = r.json()
    assert len(mine) == 1
    assert mine[0]["zone"]["geometry"]["type"] == "Polygon"
    assert {c["name"] for c in mine[0]["checkpoints"]} == {"A 岗亭", "B 查报站"}
    assert all(c["code"] is None for c in mine[0]["checkpoints"])
    r = await client.get(
        "/me/assignments",
        headers=auth(world.patrol),
        params={"from": iso(now + timedelta(days=2)), "to": iso(now + timedelta(days=3))},
    )
    assert r.json() == []
    r = await client.get(url, headers=h)
    assert len(r.json()["items"]) == 2
