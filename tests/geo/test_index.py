"""geo.index.ZoneIndex: every answer checked against a brute-force shapely loop."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.index import ZoneIndex
from tests.geo.factories import Plane, circle_m, square_m

PLANE = Plane()


def brute_force(
    zones: list[Polygon | MultiPolygon], lons: NDArray[np.float64], lats: NDArray[np.float64]
) -> set[tuple[int, int]]:
    """(point, zone) pairs by testing every point against every zone (covers semantics)."""
    pairs: set[tuple[int, int]] = set()
    for position, zone in enumerate(zones):
        for point in np.flatnonzero(shapely.intersects_xy(zone, lons, lats)):
            pairs.add((int(point), position))
    return pairs


def random_circles(rng: np.random.Generator, count: int, box_m: float) -> list[Polygon]:
    return [
        circle_m(plane=PLANE, x_m=float(x), y_m=float(y), radius_m=float(r), sides=33)
        for x, y, r in zip(
            rng.uniform(-box_m, box_m, count),
            rng.uniform(-box_m, box_m, count),
            rng.uniform(200, 1500, count),
            strict=True,
        )
    ]


def classify_pairs(
    index: ZoneIndex[int], lons: NDArray[np.float64], lats: NDArray[np.float64]
) -> set[tuple[int, int]]:
    points, zones = index.classify(lons=lons, lats=lats)
    pairs = set(zip(points.tolist(), zones.tolist(), strict=True))
    assert len(pairs) == points.size  # no duplicates
    return pairs


def boundary_points(zones: list[Polygon | MultiPolygon]) -> tuple[np.ndarray, np.ndarray]:
    """Every vertex of every zone, plus edge midpoints: points on or extremely near boundaries."""
    coords = np.concatenate([shapely.get_coordinates(zone.boundary) for zone in zones])
    mids = (coords[:-1] + coords[1:]) / 2.0
    allpoints = np.concatenate([coords, mids])
    return allpoints[:, 0], allpoints[:, 1]


class TestZonesContaining:
    def setup_method(self) -> None:
        self.a = square_m(plane=PLANE, x_m=0, y_m=0, half_m=500)
        self.b = circle_m(plane=PLANE, x_m=400, y_m=0, radius_m=300)
        self.c = square_m(plane=PLANE, x_m=5000, y_m=5000, half_m=200)
        self.index = ZoneIndex([("a", self.a), ("b", self.b), ("c", self.c)])

    def test_inside_one_zone(self) -> None:
        lon, lat = PLANE.lonlat(-300, 0)
        assert self.index.zones_containing(lon=float(lon), lat=float(lat)) == ["a"]

    def test_inside_overlapping_zones_in_index_order(self) -> None:
        lon, lat = PLANE.lonlat(350, 0)
        assert self.index.zones_containing(lon=float(lon), lat=float(lat)) == ["a", "b"]

    def test_outside_every_zone(self) -> None:
        lon, lat = PLANE.lonlat(2000, 0)
        assert self.index.zones_containing(lon=float(lon), lat=float(lat)) == []

    def test_vertex_and_edge_count_as_inside(self) -> None:
        lon, lat = self.c.exterior.coords[0]
        assert self.index.zones_containing(lon=lon, lat=lat) == ["c"]
        boxes = ZoneIndex([("box", shapely.box(120.5, 32.0, 120.75, 32.25))])
        assert boxes.zones_containing(lon=120.625, lat=32.25) == ["box"]
        assert boxes.zones_containing(lon=120.5, lat=32.125) == ["box"]
        assert boxes.zones_containing(lon=120.4999999, lat=32.125) == []

    def test_non_finite_point_is_in_no_zone(self) -> None:
        assert self.index.zones_containing(lon=math.nan, lat=32.0) == []


class TestClassify:
    def test_matches_brute_force_on_random_overlapping_zones(self) -> None:
        rng = np.random.default_rng(42)
        zones: list[Polygon | MultiPolygon] = list(random_circles(rng, 60, 4000))
        index = ZoneIndex(list(enumerate(zones)))
        lon_lo, lat_lo = PLANE.lonlat(-6000, -6000)
        lon_hi, lat_hi = PLANE.lonlat(6000, 6000)
        lons = rng.uniform(lon_lo, lon_hi, 50_000)
        lats = rng.uniform(lat_lo, lat_hi, 50_000)
        expected = brute_force(zones, lons, lats)
        assert len(expected) > 10_000
        assert classify_pairs(index, lons, lats) == expected

    @pytest.mark.parametrize("budget", [50, 2_000, 4_000_000])
    def test_coarse_and_fine_grids_agree(self, budget: int) -> None:
        rng = np.random.default_rng(budget)
        zones: list[Polygon | MultiPolygon] = list(random_circles(rng, 25, 3000))
        index = ZoneIndex(
            list(enumerate(zones)),
            entry_budget=budget,
            cell_budget=budget,
            cells_per_zone_side=4 if budget < 4_000_000 else 512,
        )
        lon_lo, lat_lo = PLANE.lonlat(-5000, -5000)
        lon_hi, lat_hi = PLANE.lonlat(5000, 5000)
        lons = rng.uniform(lon_lo, lon_hi, 20_000)
        lats = rng.uniform(lat_lo, lat_hi, 20_000)
        assert classify_pairs(index, lons, lats) == brute_force(zones, lons, lats)

    def test_points_on_boundaries_follow_covers(self) -> None:
        rng = np.random.default_rng(3)
        zones: list[Polygon | MultiPolygon] = list(random_circles(rng, 30, 3000))
        index = ZoneIndex(list(enumerate(zones)))
        lons, lats = boundary_points(zones)
        expected = brute_force(zones, lons, lats)
        got = classify_pairs(index, lons, lats)
        assert got == expected
        vertex_count = sum(len(zone.exterior.coords) for zone in zones)
        assert {p for p, _ in got if p < vertex_count} == set(range(vertex_count))

    def test_axis_aligned_boxes_with_points_on_edges_and_corners(self) -> None:
        # Vertical and horizontal edges, shared edges and a shared corner.
        zones: list[Polygon | MultiPolygon] = [
            shapely.box(120.90, 32.00, 120.91, 32.01),
            shapely.box(120.91, 32.00, 120.92, 32.01),
            shapely.box(120.91, 32.01, 120.93, 32.02),
            shapely.box(120.905, 32.005, 120.906, 32.006),
        ]
        index = ZoneIndex(list(enumerate(zones)))
        grid = np.linspace(120.899, 120.931, 65)
        mesh_lons, mesh_lats = np.meshgrid(grid, np.linspace(31.999, 32.021, 45))
        extra_lons = np.array([120.91, 120.91, 120.90, 120.92, 120.905, 120.93])
        extra_lats = np.array([32.01, 32.005, 32.0, 32.01, 32.006, 32.02])
        lons = np.concatenate([mesh_lons.ravel(), extra_lons])
        lats = np.concatenate([mesh_lats.ravel(), extra_lats])
        got = classify_pairs(index, lons, lats)
        assert got == brute_force(zones, lons, lats)
        corner = lons.size - 6  # (120.91, 32.01) touches the first three boxes
        assert {z for p, z in got if p == corner} == {0, 1, 2}

    def test_multipolygon_and_holes(self) -> None:
        ring = square_m(plane=PLANE, x_m=0, y_m=0, half_m=1000)
        hole = square_m(plane=PLANE, x_m=0, y_m=0, half_m=400)
        donut = Polygon(ring.exterior, [hole.exterior])
        islands = MultiPolygon(
            [
                square_m(plane=PLANE, x_m=0, y_m=0, half_m=150),
                square_m(plane=PLANE, x_m=3000, y_m=0, half_m=300),
            ]
        )
        zones: list[Polygon | MultiPolygon] = [donut, islands]
        index = ZoneIndex(list(enumerate(zones)))
        rng = np.random.default_rng(5)
        lon_lo, lat_lo = PLANE.lonlat(-1500, -1500)
        lon_hi, lat_hi = PLANE.lonlat(3500, 1500)
        lons = np.concatenate([rng.uniform(lon_lo, lon_hi, 30_000), boundary_points(zones)[0]])
        lats = np.concatenate([rng.uniform(lat_lo, lat_hi, 30_000), boundary_points(zones)[1]])
        assert classify_pairs(index, lons, lats) == brute_force(zones, lons, lats)
        centre_lon, centre_lat = PLANE.lonlat(0, 0)
        assert index.zones_containing(lon=float(centre_lon), lat=float(centre_lat)) == [1]
        in_ring_lon, in_ring_lat = PLANE.lonlat(700, 0)
        assert index.zones_containing(lon=float(in_ring_lon), lat=float(in_ring_lat)) == [0]

    def test_result_is_sorted_by_point_then_zone(self) -> None:
        rng = np.random.default_rng(9)
        zones = random_circles(rng, 40, 1500)
        index = ZoneIndex(list(enumerate(zones)))
        lon_lo, lat_lo = PLANE.lonlat(-3000, -3000)
        lon_hi, lat_hi = PLANE.lonlat(3000, 3000)
        points, positions = index.classify(
            lons=rng.uniform(lon_lo, lon_hi, 5000), lats=rng.uniform(lat_lo, lat_hi, 5000)
        )
        keys = points * len(zones) + positions
        assert np.all(np.diff(keys) > 0)
        assert points.dtype == np.int64 and positions.dtype == np.int64

    def test_points_off_the_grid_and_non_finite_points_match_nothing(self) -> None:
        index = ZoneIndex([(1, square_m(plane=PLANE, x_m=0, y_m=0, half_m=500))])
        lons = np.array([0.0, 179.9, math.nan, 120.9, math.inf, -math.inf])
        lats = np.array([0.0, 89.0, 32.0, math.nan, 32.0, 32.0])
        points, positions = index.classify(lons=lons, lats=lats)
        assert points.size == 0 and positions.size == 0

    def test_zones_far_apart_stay_within_budget(self) -> None:
        nantong = square_m(plane=PLANE, x_m=0, y_m=0, half_m=300)
        kashgar = shapely.box(75.9, 39.4, 76.0, 39.5)
        index = ZoneIndex([(1, nantong), (2, kashgar)], cell_budget=100_000)
        grid = index._grid  # noqa: SLF001 - the budget is the point of this test
        assert grid is not None and grid.rows * grid.columns <= 110_000
        lon, lat = PLANE.lonlat(np.array([0.0, 100.0, 400.0]), np.array([0.0, -250.0, 0.0]))
        lons = np.concatenate([lon, [75.95, 75.85]])
        lats = np.concatenate([lat, [39.45, 39.45]])
        points, positions = index.classify(lons=lons, lats=lats)
        assert list(zip(points.tolist(), positions.tolist(), strict=True)) == [
            (0, 0),
            (1, 0),
            (3, 1),
        ]

    def test_empty_input_and_empty_index(self) -> None:
        index = ZoneIndex([(1, square_m(plane=PLANE, x_m=0, y_m=0, half_m=500))])
        points, positions = index.classify(lons=np.array([]), lats=np.array([]))
        assert points.size == 0 and positions.size == 0
        empty: ZoneIndex[int] = ZoneIndex([])
        assert len(empty) == 0
        points, positions = empty.classify(lons=[120.9], lats=[32.0])
        assert points.size == 0 and positions.size == 0
        assert empty.zones_containing(lon=120.9, lat=32.0) == []

    def test_mismatched_lengths_are_refused(self) -> None:
        index = ZoneIndex([(1, square_m(plane=PLANE, x_m=0, y_m=0, half_m=500))])
        with pytest.raises(ValueError):
            index.classify(lons=[120.9, 120.91], lats=[32.0])

    def test_accepts_lists(self) -> None:
        index = ZoneIndex([(1, square_m(plane=PLANE, x_m=0, y_m=0, half_m=500))])
        points, positions = index.classify(lons=[120.9, 121.5], lats=[32.0, 32.0])
        assert points.tolist() == [0] and positions.tolist() == [0]


class TestContainsAndKeys:
    def test_contains_one_zone(self) -> None:
        zone_id, other_id = uuid.uuid4(), uuid.uuid4()
        zone = circle_m(plane=PLANE, x_m=0, y_m=0, radius_m=500)
        index = ZoneIndex(
            [(zone_id, zone), (other_id, square_m(plane=PLANE, x_m=0, y_m=0, half_m=2000))]
        )
        lons, lats = PLANE.lonlat(
            np.array([0.0, 490.0, 510.0, 0.0]), np.array([0.0, 0.0, 0.0, -1000.0])
        )
        lon0, lat0 = zone.exterior.coords[5]
        lons, lats = np.append(lons, lon0), np.append(lats, lat0)
        got = index.contains(key=zone_id, lons=lons, lats=lats)
        assert got.dtype == np.bool_
        assert got.tolist() == [True, True, False, False, True]
        assert index.contains(key=other_id, lons=lons, lats=lats).all()
        with pytest.raises(KeyError):
            index.contains(key=uuid.uuid4(), lons=lons, lats=lats)

    def test_uuid_keys_and_positions(self) -> None:
        keys = [uuid.uuid4() for _ in range(3)]
        zones = [square_m(plane=PLANE, x_m=3000 * i, y_m=0, half_m=500) for i in range(3)]
        index = ZoneIndex(list(zip(keys, zones, strict=True)))
        assert index.keys == tuple(keys)
        lon, lat = PLANE.lonlat(6000, 0)
        points, positions = index.classify(lons=[float(lon)], lats=[float(lat)])
        assert [index.keys[p] for p in positions] == [keys[2]]
        assert index.zones_containing(lon=float(lon), lat=float(lat)) == [keys[2]]
        assert index.geometry(key=keys[1]).equals(zones[1])

    def test_duplicate_keys_are_refused(self) -> None:
        zone = square_m(plane=PLANE, x_m=0, y_m=0, half_m=500)
        with pytest.raises(ValueError):
            ZoneIndex([("a", zone), ("a", zone)])

    @pytest.mark.parametrize(
        "bad", [shapely.Point(120.9, 32.0), Polygon(), shapely.LineString([(0, 0), (1, 1)])]
    )
    def test_non_areas_are_refused(self, bad: shapely.Geometry) -> None:
        with pytest.raises(TypeError):
            ZoneIndex([("a", bad)])

    def test_index_is_immutable(self) -> None:
        index = ZoneIndex([(1, square_m(plane=PLANE, x_m=0, y_m=0, half_m=500))])
        grid = index._grid  # noqa: SLF001
        assert grid is not None
        with pytest.raises(ValueError):
            grid.full_zone[0] = 5
        with pytest.raises(AttributeError):
            index.extra = 1  # type: ignore[attr-defined]
        assert isinstance(index.keys, tuple)

    def test_caller_geometries_are_not_changed(self) -> None:
        zone = square_m(plane=PLANE, x_m=0, y_m=0, half_m=500)
        before = shapely.to_wkb(zone)
        ZoneIndex([(1, zone)])
        assert shapely.to_wkb(zone) == before
        assert not shapely.is_prepared(zone)


class TestHardShapes:
    def test_concave_stars_with_holes(self) -> None:
        rng = np.random.default_rng(11)
        zones: list[Polygon | MultiPolygon] = []
        for _ in range(40):
            cx, cy = rng.uniform(-3000, 3000, 2)
            angles = np.sort(rng.uniform(0, 2 * math.pi, 25))
            radii = rng.uniform(300, 1200, 25)
            shell = np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
            hole = shapely.Point(cx, cy).buffer(150, quad_segs=3)
            star = Polygon(shell, [hole.exterior.coords])
            if not star.is_valid:
                star = Polygon(shell)
            geom = PLANE.geometry(star)
            assert isinstance(geom, Polygon) and geom.is_valid
            zones.append(geom)
        index = ZoneIndex(list(enumerate(zones)))
        lon_lo, lat_lo = PLANE.lonlat(-4500, -4500)
        lon_hi, lat_hi = PLANE.lonlat(4500, 4500)
        lons = np.concatenate([rng.uniform(lon_lo, lon_hi, 40_000), boundary_points(zones)[0]])
        lats = np.concatenate([rng.uniform(lat_lo, lat_hi, 40_000), boundary_points(zones)[1]])
        assert classify_pairs(index, lons, lats) == brute_force(zones, lons, lats)

    def test_points_on_grid_lines_and_corners(self) -> None:
        rng = np.random.default_rng(12)
        zones: list[Polygon | MultiPolygon] = list(random_circles(rng, 20, 2000))
        index = ZoneIndex(list(enumerate(zones)), cells_per_zone_side=16)
        grid = index._grid  # noqa: SLF001 - probing the cell edges themselves
        assert grid is not None
        columns = np.arange(grid.columns + 1)
        rows = np.arange(grid.rows + 1)
        lon_lines = grid.origin_lon + columns / grid.inv_cell_lon
        lat_lines = grid.origin_lat + rows / grid.inv_cell_lat
        corner_lons, corner_lats = np.meshgrid(lon_lines, lat_lines)
        lons = np.concatenate([corner_lons.ravel(), rng.choice(lon_lines, 20_000)])
        lats = np.concatenate(
            [corner_lats.ravel(), rng.uniform(lat_lines[0], lat_lines[-1], 20_000)]
        )
        assert classify_pairs(index, lons, lats) == brute_force(zones, lons, lats)
