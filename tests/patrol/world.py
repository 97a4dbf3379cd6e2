"""Test data for the patrol API: a zone by 濠河, its people, and a believable 30-minute track."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry import LineString, Polygon, shape

from models.org import OrgUnit, Role, User

# A 944 m x 888 m rectangle near 濠河, 崇川区.
WEST, EAST, SOUTH, NORTH = 120.860, 120.870, 32.000, 32.008
ZONE_GEOJSON = {
    "type": "Polygon",
    "coordinates": [[[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH], [WEST, NORTH], [WEST, SOUTH]]],
}
INSET = 0.001  # the walked loop lies ~100 m inside the edges
CHECKPOINT_B = (120.8605, 32.0075)  # near the NW corner, ~70 m off the loop: never passed


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def loop_position(fraction: float) -> tuple[float, float]:
    """A point on the inner loop (counter-clockwise from the SW corner), fraction 0..1."""
    w, e, s, n = WEST + INSET, EAST - INSET, SOUTH + INSET, NORTH - INSET
    sides = [((w, s), (e, s)), ((e, s), (e, n)), ((e, n), (w, n)), ((w, n), (w, s))]
    lengths = [
        math.hypot((b[0] - a[0]) * math.cos(math.radians(32.004)), b[1] - a[1]) for a, b in sides
    ]
    target = (fraction % 1.0) * sum(lengths)
    for (a, b), length in zip(sides, lengths, strict=True):
        if target <= length:
            k = target / length
            return a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k
        target -= length
    return sides[-1][1]


@dataclass
class Track:
    """Points of a 30-minute round, every 10 s, with the indices of the planted faults."""

    started_at: datetime
    points: list[dict[str, Any]]
    excursion: range = range(60, 70)
    jump: int = 100
    poor: int = 120
    mock: int = 130
    bad: set[int] = field(default_factory=lambda: {100, 120, 130})


def make_track(started_at: datetime) -> Track:
    """181 points: one loop inside the zone, a 90 s excursion, a GPS jump, a poor fix, a mock."""
    points = []
    for i in range(181):
        lon, lat = loop_position(i / 180)
        point: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "ts": iso(started_at + timedelta(seconds=30 + 10 * i)),
            "lon": lon,
            "lat": lat,
            "accuracy_m": 8.0,
            "speed_mps": 1.5,
        }
        points.append(point)
    track = Track(started_at=started_at, points=points)
    for i in track.excursion:
        points[i]["lon"] = EAST + 0.0012  # ~113 m east of the zone's edge
    points[track.jump]["lon"] += 0.03  # 2.8 km in 10 s: jitter
    points[track.poor]["accuracy_m"] = 150.0
    points[track.mock].update(lon=CHECKPOINT_B[0], lat=CHECKPOINT_B[1], is_mock=True)
    return track


def checkpoint_a() -> tuple[float, float]:
    """On the loop where point 20 passes, nudged 10 m north."""
    lon, lat = loop_position(20 / 180)
    return lon, lat + 0.00009


# --- independent reference computations ----------------------------------------------------------

GEOD = pyproj.Geod(ellps="WGS84")


def haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def aeqd(lon: float, lat: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m")
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def reference(track: Track, checkpoints: dict[str, tuple[float, float, float]]) -> dict[str, Any]:
    """Distance, in-zone ratio, exits, coverage and visits computed without geo/."""
    good = [p for i, p in enumerate(track.points) if i not in track.bad]
    good.sort(key=lambda p: p["ts"])
    distance = sum(
        haversine(a["lon"], a["lat"], b["lon"], b["lat"])
        for a, b in zip(good, good[1:], strict=False)
    )
    zone = shape(ZONE_GEOJSON)
    to_m = aeqd((WEST + EAST) / 2, (SOUTH + NORTH) / 2).transform
    zone_m = shapely.transform(zone, lambda c: np.column_stack(to_m(c[:, 0], c[:, 1])))
    times = [datetime.fromisoformat(p["ts"].replace("Z", "+00:00")).timestamp() for p in good]
    outside = []
    for p in good:
        x, y = to_m(p["lon"], p["lat"])
        outside.append(zone_m.distance(shapely.Point(x, y)) > max(p["accuracy_m"], 20.0))
    total = times[-1] - times[0]
    inside_s = sum(
        t2 - t1 for t1, t2, out in zip(times, times[1:], outside, strict=False) if not out
    )
    exits, run_start, run_last = 0, None, None
    for t, out in zip(times, outside, strict=True):
        if out:
            run_start = t if run_start is None else run_start
            run_last = t
        else:
            if run_start is not None and run_last is not None and run_last - run_start >= 60:
                exits += 1
            run_start = run_last = None
    line = LineString([to_m(p["lon"], p["lat"]) for p in good])
    coverage = zone_m.intersection(line.buffer(50, quad_segs=64)).area / zone_m.area
    visits = {}
    for name, (lon, lat, radius) in checkpoints.items():
        visits[name] = next(
            (
                p["ts"]
                for p in good
                if haversine(p["lon"], p["lat"], lon, lat) <= radius + min(p["accuracy_m"], 50)
            ),
            None,
        )
    return {
        "distance_m": distance,
        "in_zone_ratio": inside_s / total,
        "zone_exits": exits,
        "coverage_ratio": coverage,
        "visits": visits,
    }


# --- people and zone through the API -------------------------------------------------------------


@dataclass
class World:
    district: OrgUnit
    street: OrgUnit
    other: OrgUnit
    supervisor: User
    patrol: User
    other_patrol: User
    zone: dict[str, Any]
    checkpoint_a: dict[str, Any]
    checkpoint_b: dict[str, Any]


async def build_world(client: Any, make_unit: Any, make_user: Any, auth: Any) -> World:
    district = await make_unit("崇川区")
    street = await make_unit("和平桥街道", parent=district)
    other = await make_unit("城东街道", parent=district)
    supervisor = await make_user(Role.supervisor, unit=street, full_name="刘芳")
    patrol = await make_user(Role.patrol, unit=street, full_name="李强")
    other_patrol = await make_user(Role.patrol, unit=street, full_name="赵伟")
    h = auth(supervisor)
    r = await client.post(
        "/zones",
        headers=h,
        json={
            "name": "濠河东责任区",
            "kind": "patrol",
            "org_unit_id": str(street.id),
            "geometry": ZONE_GEOJSON,
        },
    )
    assert r.status_code == 201, r.text
    zone = r.json()
    a_lon, a_lat = checkpoint_a()
    r = await client.post(
        f"/zones/{zone['id']}/checkpoints",
        headers=h,
        json={"name": "A 岗亭", "lon": a_lon, "lat": a_lat, "required": True},
    )
    assert r.status_code == 201, r.text
    cp_a = r.json()
    r = await client.post(
        f"/zones/{zone['id']}/checkpoints",
        headers=h,
        json={
            "name": "B 查报站",
            "lon": CHECKPOINT_B[0],
            "lat": CHECKPOINT_B[1],
            "radius_m": 30,
            "required": True,
        },
    )
    assert r.status_code == 201, r.text
    cp_b = r.json()
    now = datetime.now(UTC)
    for member in (patrol, other_patrol):
        r = await client.post(
            f"/zones/{zone['id']}/assignments",
            headers=h,
            json={
                "user_id": str(member.id),
                "starts_at": iso(now - timedelta(hours=2)),
                "ends_at": iso(now + timedelta(hours=6)),
            },
        )
        assert r.status_code == 201, r.text
    return World(district, street, other, supervisor, patrol, other_patrol, zone, cp_a, cp_b)


async def start_round(
    client: Any, auth: Any, world: World, started_at: datetime, member: User | None = None
) -> dict[str, Any]:
    r = await client.post(
        "/rounds",
        headers=auth(member or world.patrol),
        json={
            "id": str(uuid.uuid4()),
            "zone_id": world.zone["id"],
            "started_at": iso(started_at),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def zone_polygon() -> Polygon:
    geom = shape(ZONE_GEOJSON)
    assert isinstance(geom, Polygon)
    return geom
