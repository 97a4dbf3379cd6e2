"""GeoJSON area validation: Polygon or MultiPolygon in, a valid oriented shapely geometry out."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon

MAX_VERTICES = 10_000
"""Most positions (all rings of all parts, closing positions included) one area may have."""

AREA_TYPES = ("Polygon", "MultiPolygon")

_REASON_AT = re.compile(r"^(?P<reason>[^\[]+?)\s*\[(?P<x>\S+) (?P<y>\S+)(?: \S+)?\]\s*$")

# shapely's `is_valid_reason` wording -> (fault, English, Chinese)
_SHAPELY_REASONS: dict[str, tuple[str, str, str]] = {
    "self-intersection": ("self_intersection", "self-intersection", "自相交"),
    "ring self-intersection": ("self_intersection", "self-intersection", "自相交"),
    "too few points": ("too_few_points", "too few distinct points", "不同的点太少"),
    "too few points in geometry component": (
        "too_few_points",
        "too few distinct points",
        "不同的点太少",
    ),
    "hole lies outside shell": ("invalid", "a hole lies outside its shell", "内环位于外环之外"),
    "nested holes": ("invalid", "holes are nested", "内环相互嵌套"),
    "interior is disconnected": ("invalid", "the interior is disconnected", "内部不连通"),
    "nested shells": ("invalid", "polygons are nested", "多边形相互嵌套"),
    "duplicate rings": ("invalid", "rings are duplicated", "环重复"),
    "invalid coordinate": ("invalid", "a coordinate is invalid", "坐标无效"),
}


class InvalidGeometry(Exception):
    """A GeoJSON area that cannot be used, with the fault named and located in two languages."""

    def __init__(
        self,
        *,
        fault: str,
        message_en: str,
        message_zh: str,
        lon: float | None = None,
        lat: float | None = None,
    ) -> None:
        super().__init__(message_en)
        self.fault = fault
        self.lon = lon
        self.lat = lat
        self.message_en = message_en
        self.message_zh = message_zh

    def __repr__(self) -> str:
        return f"InvalidGeometry(fault={self.fault!r}, lon={self.lon!r}, lat={self.lat!r})"


def format_degrees(value: float) -> str:
    """A coordinate as people write it: up to 6 decimals, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _place(lon: float, lat: float) -> str:
    """`lon,lat` in the form used by every message."""
    return f"{format_degrees(lon)},{format_degrees(lat)}"


def _malformed(where_en: str, where_zh: str, what_en: str, what_zh: str) -> InvalidGeometry:
    """A `malformed` fault at a structural place (no coordinates to point at)."""
    return InvalidGeometry(
        fault="malformed",
        message_en=f"malformed geometry: {what_en}{where_en}",
        message_zh=f"几何格式错误：{where_zh}{what_zh}",
    )


def _where(
    part: int | None, ring: int | None = None, position: int | None = None
) -> tuple[str, str]:
    """English and Chinese phrases for a 1-based place in the coordinates tree."""
    en: list[str] = []
    zh: list[str] = []
    if part is not None:
        en.append(f"polygon {part + 1}")
        zh.append(f"第 {part + 1} 个多边形")
    if ring is not None:
        en.append(f"ring {ring + 1}")
        zh.append(f"第 {ring + 1} 个环")
    if position is not None:
        en.append(f"position {position + 1}")
        zh.append(f"第 {position + 1} 个点")
    if not en:
        return "", ""
    return " at " + ", ".join(en), "".join(zh) + "："


def _is_number(value: object) -> bool:
    """True for int and float values, not for bool (which Python counts as int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_ring(raw: object, part: int | None, ring: int) -> list[tuple[float, float]]:
    """One linear ring: a closed list of at least 4 in-range [lon, lat] positions."""
    if not isinstance(raw, list | tuple):
        where_en, where_zh = _where(part, ring)
        raise _malformed(
            where_en, where_zh, "a ring must be an array of positions", "环必须是由点组成的数组"
        )
    positions: list[tuple[float, float]] = []
    for index, position in enumerate(raw):
        where_en, where_zh = _where(part, ring, index)
        if not isinstance(position, list | tuple) or len(position) not in (2, 3):
            raise _malformed(
                where_en, where_zh, "a position must be [lon, lat]", "点必须是 [经度, 纬度]"
            )
        if not all(_is_number(v) for v in position):
            raise _malformed(where_en, where_zh, "coordinates must be numbers", "坐标必须是数字")
        try:
            as_floats = [float(v) for v in position]
        except OverflowError:  # a JSON integer of hundreds of digits has no float
            as_floats = [math.inf]
        if not all(math.isfinite(v) for v in as_floats):
            raise _malformed(
                where_en, where_zh, "coordinates must be finite numbers", "坐标必须是有限的数字"
            )
        lon, lat = as_floats[0], as_floats[1]
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            place = _place(lon, lat)
            raise InvalidGeometry(
                fault="out_of_range",
                lon=lon,
                lat=lat,
                message_en=f"coordinate out of range at {place}: longitude must be within "
                "[-180, 180] and latitude within [-90, 90]",
                message_zh=f"坐标 {place} 超出范围：经度须在 [-180, 180] 之间，"
                "纬度须在 [-90, 90] 之间",
            )
        positions.append((lon, lat))
    if len(positions) < 4:
        lon_at = positions[0][0] if positions else None
        lat_at = positions[0][1] if positions else None
        near_en = f" near {_place(positions[0][0], positions[0][1])}" if positions else ""
        near_zh = f"，位于 {_place(positions[0][0], positions[0][1])} 附近" if positions else ""
        raise InvalidGeometry(
            fault="too_few_points",
            lon=lon_at,
            lat=lat_at,
            message_en=f"ring has {len(positions)} positions, at least 4 are needed "
            f"(first and last equal){near_en}",
            message_zh=f"环只有 {len(positions)} 个点，至少需要 4 个（首尾相同）{near_zh}",
        )
    if positions[0] != positions[-1]:
        start, end = _place(*positions[0]), _place(*positions[-1])
        raise InvalidGeometry(
            fault="ring_not_closed",
            lon=positions[0][0],
            lat=positions[0][1],
            message_en=f"ring not closed: it starts at {start} but ends at {end}",
            message_zh=f"环未闭合：起点为 {start}，终点却为 {end}",
        )
    return positions


def _parse_polygon(raw: object, part: int | None) -> Polygon:
    """One GeoJSON Polygon coordinates array: a shell and optional holes."""
    where_en, where_zh = _where(part)
    if not isinstance(raw, list | tuple) or not raw:
        raise _malformed(
            where_en,
            where_zh,
            "a polygon must be a non-empty array of rings",
            "多边形必须是由环组成的非空数组",
        )
    rings = [_parse_ring(ring_raw, part, index) for index, ring_raw in enumerate(raw)]
    return Polygon(rings[0], rings[1:])


def _count_positions(polygons: Sequence[object]) -> int:
    """Positions across all rings, counted before any parsing so huge input is refused cheaply."""
    total = 0
    for polygon in polygons:
        if isinstance(polygon, list | tuple):
            total += sum(len(ring) for ring in polygon if isinstance(ring, list | tuple))
    return total


def _shapely_fault(geom: Polygon | MultiPolygon) -> InvalidGeometry:
    """Translate shapely's `is_valid_reason` into a located `InvalidGeometry`."""
    reason = str(shapely.is_valid_reason(geom))
    match = _REASON_AT.match(reason)
    lon: float | None = None
    lat: float | None = None
    text = reason
    if match:
        text = match.group("reason")
        try:
            lon, lat = float(match.group("x")), float(match.group("y"))
        except ValueError:
            lon = lat = None
    fault, what_en, what_zh = _SHAPELY_REASONS.get(
        text.strip().lower(), ("invalid", f"invalid geometry ({text.strip()})", "几何无效")
    )
    if lon is None or lat is None:
        return InvalidGeometry(fault=fault, message_en=what_en, message_zh=what_zh)
    place = _place(lon, lat)
    return InvalidGeometry(
        fault=fault,
        lon=lon,
        lat=lat,
        message_en=f"{what_en} at {place}",
        message_zh=f"在 {place} 处{what_zh}",
    )


def parse_area(*, geojson: Mapping[str, Any]) -> Polygon | MultiPolygon:
    """A valid Polygon/MultiPolygon (shells CCW, holes CW) from a GeoJSON geometry, or raise."""
    if not isinstance(geojson, Mapping):
        raise _malformed("", "", "a geometry must be a JSON object", "几何必须是 JSON 对象")
    kind = geojson.get("type")
    if kind not in AREA_TYPES:
        raise InvalidGeometry(
            fault="wrong_type",
            message_en=f"geometry type must be Polygon or MultiPolygon, got {kind!r}",
            message_zh=f"几何类型必须是 Polygon 或 MultiPolygon，实际为 {kind!r}",
        )
    coordinates = geojson.get("coordinates")
    if not isinstance(coordinates, list | tuple) or not coordinates:
        raise _malformed(
            "", "", "coordinates must be a non-empty array", "coordinates 必须是非空数组"
        )
    polygons_raw: Sequence[object] = [coordinates] if kind == "Polygon" else coordinates
    vertex_count = _count_positions(polygons_raw)
    if vertex_count > MAX_VERTICES:
        raise InvalidGeometry(
            fault="too_many_vertices",
            message_en=f"too many vertices: {vertex_count}, at most {MAX_VERTICES} are allowed",
            message_zh=f"顶点过多：共 {vertex_count} 个，最多允许 {MAX_VERTICES} 个",
        )
    geom: Polygon | MultiPolygon
    if kind == "Polygon":
        geom = _parse_polygon(coordinates, None)
    else:
        geom = MultiPolygon([_parse_polygon(raw, index) for index, raw in enumerate(coordinates)])
    if not shapely.is_valid(geom):
        raise _shapely_fault(geom)
    if geom.area <= 0.0:
        lon0, lat0 = shapely.get_coordinates(geom)[0]
        place = _place(float(lon0), float(lat0))
        raise InvalidGeometry(
            fault="invalid",
            lon=float(lon0),
            lat=float(lat0),
            message_en=f"the area is empty (zero area) at {place}",
            message_zh=f"在 {place} 处的面积为零",
        )
    oriented = shapely.orient_polygons(geom, exterior_cw=False)
    assert isinstance(oriented, Polygon | MultiPolygon)
    return oriented


def to_geojson(*, geom: Polygon | MultiPolygon) -> dict[str, Any]:
    """The GeoJSON geometry object (lists, not tuples) of a Polygon or MultiPolygon."""

    def rings(polygon: Polygon) -> list[list[list[float]]]:
        return [
            [[float(x), float(y)] for x, y, *_ in ring.coords]
            for ring in (polygon.exterior, *polygon.interiors)
        ]

    if isinstance(geom, Polygon):
        return {"type": "Polygon", "coordinates": rings(geom)}
    if isinstance(geom, MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [rings(part) for part in geom.geoms]}
    raise TypeError(f"expected Polygon or MultiPolygon, got {type(geom).__name__}")
