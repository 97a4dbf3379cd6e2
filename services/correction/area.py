"""The permitted area of a supervision: a Zone of kind `permitted_area`, kept prepared in memory.

The Zone model belongs to the patrol capability; this adapter is the one place the correction
code reads it.

Check-ins are judged on every request, so the parsed geometry is cached per zone id and version
(the zone's `updated_at`); the version is re-read at most every `VERSION_TTL_S` seconds, so an
edited area is used within that time without a query on every check-in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.measure import LocalProjection, to_local
from geo.validation import InvalidGeometry, parse_area
from models.patrol import Zone

PERMITTED_AREA_KIND = "permitted_area"
VERSION_TTL_S = 15.0


@dataclass(frozen=True)
class AreaRecord:
    """What the adapter needs of a zone: its kind, owner path, GeoJSON and version."""

    zone_id: uuid.UUID
    kind: str
    org_path: str
    geometry: Mapping[str, Any]
    version: str


@dataclass(frozen=True)
class PermittedArea:
    """A parsed, prepared area with its local metric projection for distances."""

    zone_id: uuid.UUID
    version: str
    org_path: str
    geom: Polygon | MultiPolygon
    local: Polygon | MultiPolygon
    projection: LocalProjection

    def distance_outside_m(self, *, lon: float, lat: float) -> float:
        """Meters from the point to the area, 0 inside or on its edge."""
        if shapely.intersects_xy(self.geom, lon, lat):
            return 0.0
        x_m, y_m = self.projection.forward(lons=[lon], lats=[lat])
        return float(self.local.distance(Point(float(x_m[0]), float(y_m[0]))))


@dataclass
class _CacheEntry:
    area: PermittedArea | None
    checked_at: float = field(default_factory=time.monotonic)


_CACHE: dict[uuid.UUID, _CacheEntry] = {}


async def _version(zone_id: uuid.UUID) -> str | None:
    """The zone's current version, or None when it is gone or not a permitted area."""
    zone = (
        await Zone.filter(id=zone_id, kind=PERMITTED_AREA_KIND, deleted_at=None)
        .only("id", "updated_at")
        .first()
    )
    return zone.updated_at.isoformat() if zone is not None else None


async def area_record(zone_id: uuid.UUID) -> AreaRecord | None:
    """The permitted-area zone with this id, or None when missing, deleted or of another kind."""
    zone = await Zone.get_or_none(id=zone_id, kind=PERMITTED_AREA_KIND, deleted_at=None)
    if zone is None:
        return None
    return AreaRecord(
        zone_id=zone.id,
        kind=str(zone.kind),
        org_path=str(zone.org_path),
        geometry=zone.geometry,
        version=zone.updated_at.isoformat(),
    )


def _build(record: AreaRecord) -> PermittedArea | None:
    """Parse and prepare a zone's geometry; a stored geometry that does not parse gives None."""
    try:
        geom = parse_area(geojson=record.geometry)
    except InvalidGeometry:
        return None
    shapely.prepare(geom)
    projection = LocalProjection.around(geom=geom)
    local = to_local(geom=geom, projection=projection)
    shapely.prepare(local)
    return PermittedArea(
        zone_id=record.zone_id,
        version=record.version,
        org_path=record.org_path,
        geom=geom,
        local=local,
        projection=projection,
    )


async def permitted_area(zone_id: uuid.UUID) -> PermittedArea | None:
    """The prepared permitted area for a zone id (cached per version), or None when gone."""
    now = time.monotonic()
    entry = _CACHE.get(zone_id)
    if entry is not None and now - entry.checked_at < VERSION_TTL_S:
        return entry.area
    if entry is not None and entry.area is not None:
        version = await _version(zone_id)
        if version == entry.area.version:
            entry.checked_at = now
            return entry.area
    record = await area_record(zone_id)
    area = _build(record) if record is not None else None
    _CACHE[zone_id] = _CacheEntry(area=area, checked_at=now)
    return area
