"""geo.validation: parse_area and to_geojson."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.validation import MAX_VERTICES, InvalidGeometry, parse_area, to_geojson

SQUARE_CCW = [[120.86, 32.0], [120.88, 32.0], [120.88, 32.02], [120.86, 32.02], [120.86, 32.0]]
SQUARE_CW = SQUARE_CCW[::-1]
HOLE_CCW = [
    [120.865, 32.005],
    [120.875, 32.005],
    [120.875, 32.015],
    [120.865, 32.015],
    [120.865, 32.005],
]
OTHER_SQUARE = [[120.9, 32.0], [120.92, 32.0], [120.92, 32.02], [120.9, 32.02], [120.9, 32.0]]


def polygon(*rings: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def fault_of(geojson: Any) -> InvalidGeometry:
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(geojson=geojson)
    return caught.value


def signed_area(ring: list[list[float]] | list[tuple[float, ...]]) -> float:
    """Shoelace area: positive for counter-clockwise rings."""
    xs = np.array([p[0] for p in ring])
    ys = np.array([p[1] for p in ring])
    return float(np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]) / 2.0)


class TestValidAreas:
    def test_polygon_round_trips(self) -> None:
        geom = parse_area(geojson=polygon(SQUARE_CCW))
        assert isinstance(geom, Polygon)
        assert geom.is_valid
        assert to_geojson(geom=geom) == polygon(SQUARE_CCW)

    def test_clockwise_shell_is_turned_counter_clockwise(self) -> None:
        geom = parse_area(geojson=polygon(SQUARE_CW))
        assert signed_area(list(geom.exterior.coords)) > 0

    def test_holes_are_kept_and_turned_clockwise(self) -> None:
        geom = parse_area(geojson=polygon(SQUARE_CW, HOLE_CCW))
        assert isinstance(geom, Polygon)
        assert len(geom.interiors) == 1
        assert signed_area(list(geom.exterior.coords)) > 0
        assert signed_area(list(geom.interiors[0].coords)) < 0
        assert not shapely.intersects_xy(geom, 120.87, 32.01)  # in the hole

    def test_multipolygon(self) -> None:
        geom = parse_area(
            geojson={"type": "MultiPolygon", "coordinates": [[SQUARE_CW], [OTHER_SQUARE]]}
        )
        assert isinstance(geom, MultiPolygon)
        assert len(geom.geoms) == 2
        for part in geom.geoms:
            assert signed_area(list(part.exterior.coords)) > 0

    def test_tuples_ints_and_altitude_are_accepted(self) -> None:
        ring = [(121, 32, 5.0), (122, 32, 5.0), (122, 33, 5.0), (121, 32, 5.0)]
        geom = parse_area(geojson={"type": "Polygon", "coordinates": (ring,)})
        assert not geom.has_z
        assert geom.area == pytest.approx(0.5)

    def test_to_geojson_is_json_ready_and_parses_back(self) -> None:
        geom = parse_area(
            geojson={
                "type": "MultiPolygon",
                "coordinates": [[SQUARE_CCW, HOLE_CCW], [OTHER_SQUARE]],
            }
        )
        text = json.dumps(to_geojson(geom=geom))
        again = parse_area(geojson=json.loads(text))
        assert again.equals(geom)
        assert to_geojson(geom=again) == to_geojson(geom=geom)

    def test_to_geojson_refuses_other_types(self) -> None:
        with pytest.raises(TypeError):
            to_geojson(geom=shapely.Point(1, 2))

    def test_exactly_max_vertices_is_accepted(self) -> None:
        angles = np.linspace(0, 2 * math.pi, MAX_VERTICES - 1, endpoint=False)
        ring = [[120.9 + 0.01 * math.cos(a), 32.0 + 0.01 * math.sin(a)] for a in angles]
        ring.append(ring[0])
        assert len(ring) == MAX_VERTICES
        assert parse_area(geojson=polygon(ring)).is_valid


class TestFaults:
    @pytest.mark.parametrize(
        "kind", ["Point", "LineString", "Feature", "GeometryCollection", "polygon", None, 3]
    )
    def test_wrong_type(self, kind: object) -> None:
        fault = fault_of({"type": kind, "coordinates": [SQUARE_CCW]})
        assert fault.fault == "wrong_type"
        assert fault.lon is None and fault.lat is None
        assert "Polygon or MultiPolygon" in fault.message_en
        assert "Polygon 或 MultiPolygon" in fault.message_zh

    @pytest.mark.parametrize(
        "geojson",
        [
            [],
            "POLYGON((0 0, 1 0, 1 1, 0 0))",
            {"type": "Polygon"},
            {"type": "Polygon", "coordinates": []},
            {"type": "Polygon", "coordinates": "[[...]]"},
            {"type": "Polygon", "coordinates": SQUARE_CCW},  # a ring, not a list of rings
            {"type": "Polygon", "coordinates": [[SQUARE_CCW]]},  # one level too deep
            {"type": "MultiPolygon", "coordinates": [SQUARE_CCW]},  # one level too shallow
            {"type": "MultiPolygon", "coordinates": [[SQUARE_CCW], []]},  # empty part
            polygon(SQUARE_CCW, "hole"),  # a hole that is not a ring
            polygon(SQUARE_CCW, [1, 2, 3, 4]),  # a hole of numbers
            polygon([[120.86, 32.0], [120.88], [120.88, 32.02], [120.86, 32.0]]),
            polygon([[120.86, 32.0, 1, 2], [120.88, 32.0], [120.88, 32.02], [120.86, 32.0]]),
            polygon([["120.86", 32.0], [120.88, 32.0], [120.88, 32.02], ["120.86", 32.0]]),
            polygon([[True, 32.0], [120.88, 32.0], [120.88, 32.02], [True, 32.0]]),
            polygon([[None, 32.0], [120.88, 32.0], [120.88, 32.02], [None, 32.0]]),
            polygon([[math.nan, 32.0], [120.88, 32.0], [120.88, 32.02], [math.nan, 32.0]]),
            polygon([[120.86, math.inf], [120.88, 32.0], [120.88, 32.02], [120.86, math.inf]]),
            polygon([[120.86, 32.0], {"lon": 1}, [120.88, 32.02], [120.86, 32.0]]),
        ],
    )
    def test_malformed(self, geojson: Any) -> None:
        fault = fault_of(geojson)
        assert fault.fault == "malformed"
        assert fault.message_en.startswith("malformed geometry")
        assert fault.message_zh.startswith("几何格式错误")

    def test_malformed_names_the_position(self) -> None:
        fault = fault_of(
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [SQUARE_CCW],
                    [OTHER_SQUARE[:2] + [["x", 32.0]] + OTHER_SQUARE[3:]],
                ],
            }
        )
        assert "polygon 2, ring 1, position 3" in fault.message_en
        assert "第 2 个多边形第 1 个环第 3 个点" in fault.message_zh

    @pytest.mark.parametrize("bad", [[180.5, 32.0], [-181.0, 32.0], [120.0, 90.1], [120.0, -91.0]])
    def test_out_of_range(self, bad: list[float]) -> None:
        ring = [[120.86, 32.0], bad, [120.88, 32.02], [120.86, 32.0]]
        fault = fault_of(polygon(ring))
        assert fault.fault == "out_of_range"
        assert (fault.lon, fault.lat) == (bad[0], bad[1])
        place = f"{bad[0]:g},{bad[1]:g}"
        assert place in fault.message_en
        assert place in fault.message_zh and "超出范围" in fault.message_zh

    def test_range_limits_themselves_are_accepted(self) -> None:
        geom = parse_area(
            geojson=polygon([[179.0, 89.0], [180.0, 89.0], [180.0, 90.0], [179.0, 89.0]])
        )
        assert geom.is_valid

    @pytest.mark.parametrize("count", [0, 1, 3])
    def test_too_few_points(self, count: int) -> None:
        ring = [[120.86, 32.0], [120.88, 32.0], [120.86, 32.0]][:count]
        if count == 1:
            ring = [[120.86, 32.0]]
        fault = fault_of(polygon(ring))
        assert fault.fault == "too_few_points"
        assert f"ring has {count} positions" in fault.message_en
        assert f"环只有 {count} 个点" in fault.message_zh
        if count:
            assert (fault.lon, fault.lat) == (120.86, 32.0)
            assert "120.86,32" in fault.message_en

    def test_repeated_point_ring_has_too_few_distinct_points(self) -> None:
        fault = fault_of(polygon([[120.86, 32.0]] * 5))
        assert fault.fault == "too_few_points"
        assert (fault.lon, fault.lat) == (120.86, 32.0)

    def test_ring_not_closed(self) -> None:
        fault = fault_of(polygon(SQUARE_CCW[:-1] + [[120.861, 32.0]]))
        assert fault.fault == "ring_not_closed"
        assert (fault.lon, fault.lat) == (120.86, 32.0)
        assert fault.message_en == "ring not closed: it starts at 120.86,32 but ends at 120.861,32"
        assert "环未闭合" in fault.message_zh and "120.861,32" in fault.message_zh

    def test_hole_not_closed(self) -> None:
        fault = fault_of(polygon(SQUARE_CCW, HOLE_CCW[:-1]))
        assert fault.fault == "ring_not_closed"
        assert (fault.lon, fault.lat) == (120.865, 32.005)

    def test_too_many_vertices(self) -> None:
        angles = np.linspace(0, 2 * math.pi, MAX_VERTICES, endpoint=False)
        ring = [[120.9 + 0.01 * math.cos(a), 32.0 + 0.01 * math.sin(a)] for a in angles]
        ring.append(ring[0])
        fault = fault_of(polygon(ring))
        assert fault.fault == "too_many_vertices"
        assert "10001" in fault.message_en and "10000" in fault.message_en
        assert "顶点过多" in fault.message_zh

    def test_too_many_vertices_counts_every_part_and_ring(self) -> None:
        angles = np.linspace(0, 2 * math.pi, 4000, endpoint=False)
        ring = [[120.9 + 0.01 * math.cos(a), 32.0 + 0.01 * math.sin(a)] for a in angles]
        ring.append(ring[0])
        fault = fault_of({"type": "MultiPolygon", "coordinates": [[ring], [ring], [ring]]})
        assert fault.fault == "too_many_vertices"

    def test_self_intersection_is_located(self) -> None:
        bowtie = [[120.86, 32.0], [120.88, 32.02], [120.88, 32.0], [120.86, 32.02], [120.86, 32.0]]
        fault = fault_of(polygon(bowtie))
        assert fault.fault == "self_intersection"
        assert fault.lon == pytest.approx(120.87) and fault.lat == pytest.approx(32.01)
        assert fault.message_en == "self-intersection at 120.87,32.01"
        assert fault.message_zh == "在 120.87,32.01 处自相交"
        assert str(fault) == fault.message_en

    def test_overlapping_multipolygon_parts_self_intersect(self) -> None:
        shifted = [[x + 0.01, y + 0.01] for x, y in SQUARE_CCW]
        fault = fault_of({"type": "MultiPolygon", "coordinates": [[SQUARE_CCW], [shifted]]})
        assert fault.fault == "self_intersection"
        assert fault.lon is not None and fault.lat is not None

    def test_spike_self_intersects(self) -> None:
        spike = [
            [120.86, 32.0],
            [120.88, 32.0],
            [120.88, 32.02],
            [120.90, 32.02],
            [120.88, 32.02],
            [120.86, 32.02],
            [120.86, 32.0],
        ]
        assert fault_of(polygon(spike)).fault == "self_intersection"

    def test_hole_outside_shell_is_invalid_and_located(self) -> None:
        hole = [[121.0, 32.0], [121.01, 32.0], [121.01, 32.01], [121.0, 32.0]]
        fault = fault_of(polygon(SQUARE_CCW, hole))
        assert fault.fault == "invalid"
        assert (fault.lon, fault.lat) == (121.0, 32.0)
        assert fault.message_en == "a hole lies outside its shell at 121,32"
        assert fault.message_zh == "在 121,32 处内环位于外环之外"

    def test_nested_multipolygon_shells_are_invalid(self) -> None:
        fault = fault_of({"type": "MultiPolygon", "coordinates": [[SQUARE_CCW], [HOLE_CCW]]})
        assert fault.fault == "invalid"
        assert "nested" in fault.message_en

    def test_fault_is_an_exception_with_a_readable_repr(self) -> None:
        fault = fault_of(polygon(SQUARE_CCW[:3]))
        assert isinstance(fault, Exception)
        assert "too_few_points" in repr(fault)


@pytest.mark.parametrize("huge", [int("9" * 401), -int("9" * 401)], ids=["plus", "minus"])
def test_an_integer_too_big_for_a_float_is_malformed_not_an_overflow(huge: int) -> None:
    ring = [[120.0, 32.0], [huge, 32.0], [120.01, 32.01], [120.0, 32.0]]
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(geojson={"type": "Polygon", "coordinates": [ring]})
    assert caught.value.fault == "malformed"
    assert "position 2" in caught.value.message_en


def test_an_altitude_does_not_stand_in_for_the_latitude() -> None:
    ring = [[120.0, 32.0, 5.0], [120.01, 32.0, 5.0], [120.01, 32.01, 5.0], [120.0, 32.0, 5.0]]
    assert parse_area(geojson={"type": "Polygon", "coordinates": [ring]}).is_valid
