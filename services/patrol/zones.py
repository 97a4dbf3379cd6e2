"""Zones: create, reshape, retire and import them from GeoJSON; which zones a user lists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from geo.measure import area_m2
from geo.validation import InvalidGeometry, parse_area, to_geojson
from grassroots import clock
from grassroots.errors import BadRequest, Invalid
from grassroots.messages import register_messages
from models.org import OrgUnit, User
from models.patrol import Zone, ZoneKind
from services import audit
from services.org import org_unit_in_scope
from services.patrol import access, geometry
from services.text import is_clean_text

register_messages(
    {
        "invalid_geometry": ("几何图形无效", "The geometry is invalid"),
        "invalid_contains": (
            "contains 须为 经度,纬度",
            "contains must be LON,LAT within range",
        ),
    }
)

# --- zones ---------------------------------------------------------------------------------------


def _geometry_error(exc: InvalidGeometry, loc: Sequence[str | int]) -> Invalid:
    """The 422 `invalid_geometry` problem naming the fault and its place."""
    return Invalid(
        "invalid_geometry",
        message_en=f"Invalid geometry: {exc.message_en}",
        message_zh=f"几何图形无效：{exc.message_zh}",
        errors=[
            {
                "loc": list(loc),
                "msg": exc.message_en,
                "msg_zh": exc.message_zh,
                "fault": exc.fault,
                "lon": exc.lon,
                "lat": exc.lat,
            }
        ],
    )


def validated_area(
    *, geojson: Any, loc: Sequence[str | int] = ("body", "geometry")
) -> tuple[dict[str, Any], float]:
    """Normalised GeoJSON and area in m² of an area, or a 422 `invalid_geometry`."""
    try:
        geom = parse_area(geojson=geojson)
    except InvalidGeometry as exc:
        raise _geometry_error(exc, loc) from None
    return to_geojson(geom=geom), area_m2(geom=geom)


async def create_zone(
    *, user: User, name: str, kind: ZoneKind, org_unit_id: uuid.UUID, geometry: Any
) -> Zone:
    """A zone in the caller's subtree, its geometry validated."""
    geojson, area = validated_area(geojson=geometry)
    unit = await org_unit_in_scope(
        user=user, org_unit_id=org_unit_id, code="org_unit_outside_scope"
    )
    zone = await _store_zone(unit=unit, name=name, kind=kind, geojson=geojson, area=area)
    return zone


async def _store_zone(
    *, unit: OrgUnit, name: str, kind: ZoneKind, geojson: dict[str, Any], area: float
) -> Zone:
    zone = await Zone.create(
        name=name, kind=kind, org_unit=unit, org_path=unit.path, geometry=geojson, area_m2=area
    )
    await audit.record(action="create", resource_type="zone", resource_id=zone.id)
    return zone


async def update_zone(
    *, zone: Zone, name: str | None, kind: ZoneKind | None, geometry: Any | None
) -> Zone:
    """Rename, re-kind or reshape a zone."""
    if geometry is not None:
        zone.geometry, zone.area_m2 = validated_area(geojson=geometry)
    if name is not None:
        zone.name = name
    if kind is not None:
        zone.kind = kind
    await zone.save()
    await audit.record(action="update", resource_type="zone", resource_id=zone.id)
    return zone


async def delete_zone(*, zone: Zone) -> None:
    """Soft-delete: past rounds keep their zone, new rounds and reads no longer see it."""
    zone.deleted_at = clock.now()
    await zone.save()
    await audit.record(action="delete", resource_type="zone", resource_id=zone.id)


@dataclass(frozen=True)
class ImportResult:
    """Zones created from a FeatureCollection and the features refused, by index."""

    created: list[Zone]
    rejected: list[dict[str, Any]]


async def import_zones(
    *, user: User, org_unit_id: uuid.UUID, features: Sequence[Any]
) -> ImportResult:
    """Create one zone per valid feature (properties `name`, `kind`); refuse the others by index.

    Every feature is checked before any is stored, and the stores run in one transaction, so a
    request never leaves half its zones behind; a feature equal to a zone already stored (same
    unit, name, kind and shape: a retried import) answers that zone instead of a duplicate.
    """
    unit = await org_unit_in_scope(
        user=user, org_unit_id=org_unit_id, code="org_unit_outside_scope"
    )
    accepted: list[tuple[str, ZoneKind, Any]] = []
    rejected: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        reason = _feature_problem(feature)
        if reason is not None:
            rejected.append({"index": index, "reason": reason})
            continue
        props = feature.get("properties") or {}
        try:
            geom = parse_area(geojson=feature["geometry"])
        except InvalidGeometry as exc:
            rejected.append(
                {
                    "index": index,
                    "reason": f"invalid_geometry: {exc.message_en}",
                    "reason_zh": f"几何图形无效：{exc.message_zh}",
                    "fault": exc.fault,
                }
            )
            continue
        accepted.append((props["name"].strip(), ZoneKind(props.get("kind", "patrol")), geom))
    created: list[Zone] = []
    async with in_transaction():
        # Imports into one unit take turns: a retry sent while the first is still running
        # must find its zones, not race it to a copy (PostgreSQL; SQLite writes one at a time).
        await OrgUnit.select_for_update().filter(id=unit.id).first()
        for name, kind, geom in accepted:
            geojson = to_geojson(geom=geom)
            same = await Zone.filter(
                org_unit_id=unit.id, name=name, kind=kind, deleted_at__isnull=True
            )
            existing = next((z for z in same if z.geometry == geojson), None)
            if existing is not None:
                created.append(existing)
                continue
            created.append(
                await _store_zone(
                    unit=unit, name=name, kind=kind, geojson=geojson, area=area_m2(geom=geom)
                )
            )
    return ImportResult(created=created, rejected=rejected)


def _feature_problem(feature: Any) -> str | None:
    """Why a feature cannot become a zone (other than its geometry), or None."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return "not_a_feature"
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return "invalid_properties"
    name = props.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        return "invalid_name"
    if not is_clean_text(name):
        return "invalid_name"
    kind = props.get("kind", "patrol")
    if not isinstance(kind, str) or kind not in {k.value for k in ZoneKind}:
        return "invalid_kind"
    if not isinstance(feature.get("geometry"), dict):
        return "invalid_geometry: missing geometry"
    return None


async def filter_containing(qs: QuerySet[Any], *, lon: float, lat: float) -> QuerySet[Any]:
    """Restrict a zone queryset to zones covering the point, through the cached index."""
    ids = (await geometry.zone_index()).zones_containing(lon=lon, lat=lat)
    return qs.filter(id__in=ids)


def parse_lon_lat(raw: str) -> tuple[float, float]:
    """`LON,LAT` as two floats in range, or a 400 `invalid_contains`."""
    try:
        lon_text, lat_text = raw.split(",")
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        raise BadRequest("invalid_contains") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadRequest("invalid_contains")
    return lon, lat


async def readable_zones(
    *, user: User, kind: ZoneKind | None, contains: str | None
) -> QuerySet[Zone]:
    """The zones a user may see, of a kind and covering a point (`LON,LAT`) when asked."""
    qs = access.ZONE_READ.queryset(user)
    if kind is not None:
        qs = qs.filter(kind=kind)
    if contains is not None:
        lon, lat = parse_lon_lat(contains)
        qs = await filter_containing(qs, lon=lon, lat=lat)
    return qs
