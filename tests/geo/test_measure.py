"""geo.measure against pyproj's geodesics (WGS 84) on Nantong-sized shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from geo.measure import (
    EARTH_RADIUS_M,
    LocalProjection,
    area_m2,
    coverage_ratio,
    from_local,
    haversine_m,
    path_length_m,
    to_local,
)
from tests.geo.factories import (
    NANTONG_LAT,
    NANTONG_LON,
    Plane,
    circle_m,
    geodesic_area_m2,
    geodesic_distance_m,
    geodesic_length_m,
    square_m,
)

PLANE = Plane()
TOLERANCE = 0.005  # DESIGN.md: within 0.5 % of a geodesic reference


class TestHaversine:
    def test_zero_for_the_same_point(self) -> None:
        assert float(haversine_m(lon1=120.9, lat1=32.0, lon2=120.9, lat2=32.0)) == 0.0

    def test_one_degree_of_meridian_on_the_mean_sphere(self) -> None:
        expected = EARTH_RADIUS_M * math.pi / 180.0
        assert float(haversine_m(lon1=0, lat1=0, lon2=0, lat2=1)) == pytest.approx(expected)

    def test_antipodes(self) -> None:
        assert float(haversine_m(lon1=0, lat1=0, lon2=180, lat2=0)) == pytest.approx(
            EARTH_RADIUS_M * math.pi
        )

    @pytest.mark.parametrize("bearing", [0.0, 45.0, 90.0, 135.0, 200.0, 300.0])
    @pytest.mark.parametrize("distance_m", [15.0, 200.0, 1_000.0, 5_000.0])
    def test_matches_geodesic_within_half_a_percent(
        self, bearing: float, distance_m: float
    ) -> None:
        x, y = (
            distance_m * math.sin(math.radians(bearing)),
            distance_m * math.cos(math.radians(bearing)),
        )
        lon, lat = PLANE.lonlat(x, y)
        reference = geodesic_distance_m(NANTONG_LON, NANTONG_LAT, float(lon), float(lat))
        got = float(haversine_m(lon1=NANTONG_LON, lat1=NANTONG_LAT, lon2=lon, lat2=lat))
        assert got == pytest.approx(reference, rel=TOLERANCE)

    def test_vectorised_and_broadcast(self) -> None:
        lons = np.array([120.9, 120.91, 120.92])
        lats = np.array([32.0, 32.01, 32.02])
        pairwise = haversine_m(lon1=lons[:-1], lat1=lats[:-1], lon2=lons[1:], lat2=lats[1:])
        assert pairwise.shape == (2,)
        one_to_many = haversine_m(lon1=120.9, lat1=32.0, lon2=lons, lat2=lats)
        assert one_to_many.shape == (3,)
        assert one_to_many[0] == 0.0
        assert pairwise[0] == pytest.approx(one_to_many[1])

    def test_path_length(self) -> None:
        lon, lat = PLANE.lonlat(
            np.array([0.0, 300.0, 300.0, -200.0]), np.array([0.0, 0.0, 400.0, 400.0])
        )
        assert path_length_m(lons=lon, lats=lat) == pytest.approx(
            geodesic_length_m(lon, lat), rel=TOLERANCE
        )
        assert path_length_m(lons=lon[:1], lats=lat[:1]) == 0.0
        assert path_length_m(lons=[], lats=[]) == 0.0


class TestLocalProjection:
    def test_origin_maps_to_zero(self) -> None:
        projection = LocalProjection(origin_lon=120.9, origin_lat=32.0)
        x, y = projection.forward(lons=120.9, lats=32.0)
        assert float(x) == 0.0 and float(y) == 0.0

    def test_round_trip(self) -> None:
        projection = LocalProjection(origin_lon=120.9, origin_lat=32.0)
        rng = np.random.default_rng(1)
        lons = rng.uniform(120.85, 120.95, 1000)
        lats = rng.uniform(31.95, 32.05, 1000)
        x, y = projection.forward(lons=lons, lats=lats)
        back_lon, back_lat = projection.inverse(x_m=x, y_m=y)
        np.testing.assert_allclose(back_lon, lons, rtol=0, atol=1e-11)
        np.testing.assert_allclose(back_lat, lats, rtol=0, atol=1e-11)

    @pytest.mark.parametrize(
        "x_m, y_m, rel",
        [
            (2500.0, 0.0, 1e-5),
            (0.0, -2500.0, 1e-5),
            (-1800.0, 1800.0, 1e-4),
            (10_000.0, 7_000.0, 5e-4),
        ],  # shear grows away from the axes: 0.02 % at 12 km
    )
    def test_distances_from_origin_are_geodesic(self, x_m: float, y_m: float, rel: float) -> None:
        lon, lat = PLANE.lonlat(x_m, y_m)
        projection = LocalProjection(origin_lon=NANTONG_LON, origin_lat=NANTONG_LAT)
        px, py = projection.forward(lons=lon, lats=lat)
        reference = geodesic_distance_m(NANTONG_LON, NANTONG_LAT, float(lon), float(lat))
        assert math.hypot(float(px), float(py)) == pytest.approx(reference, rel=rel)

    def test_around_uses_the_bounding_box_centre(self) -> None:
        projection = LocalProjection.around(geom=shapely.box(120.8, 31.9, 121.0, 32.1))
        assert projection.origin_lon == pytest.approx(120.9)
        assert projection.origin_lat == pytest.approx(32.0)

    def test_around_refuses_empty(self) -> None:
        with pytest.raises(ValueError):
            LocalProjection.around(geom=Polygon())

    def test_geometry_round_trip(self) -> None:
        zone = circle_m(plane=PLANE, x_m=300, y_m=-200, radius_m=900)
        projection = LocalProjection.around(geom=zone)
        local = to_local(geom=zone, projection=projection)
        assert isinstance(local, Polygon)
        assert local.centroid.distance(shapely.Point(0, 0)) < 1.0
        back = from_local(geom=local, projection=projection)
        np.testing.assert_allclose(
            shapely.get_coordinates(back), shapely.get_coordinates(zone), atol=1e-11
        )


class TestArea:
    @pytest.mark.parametrize("half_m", [100.0, 500.0, 1_250.0, 2_500.0])
    def test_squares_match_geodesic_area(self, half_m: float) -> None:
        zone = square_m(plane=PLANE, x_m=0, y_m=0, half_m=half_m)
        assert area_m2(geom=zone) == pytest.approx(geodesic_area_m2(zone), rel=TOLERANCE)
        assert area_m2(geom=zone) == pytest.approx(geodesic_area_m2(zone), rel=1e-5)

    @pytest.mark.parametrize("radius_m", [100.0, 800.0, 2_500.0])
    def test_circles_match_geodesic_area(self, radius_m: float) -> None:
        zone = circle_m(plane=PLANE, x_m=1000, y_m=-3000, radius_m=radius_m)
        assert area_m2(geom=zone) == pytest.approx(geodesic_area_m2(zone), rel=TOLERANCE)

    def test_irregular_polygon_with_a_hole(self) -> None:
        shell = [(-1200, -800), (1500, -1000), (1800, 900), (300, 1600), (-1500, 700)]
        hole = [(-200, -200), (300, -150), (250, 400), (-250, 300)]
        zone = shapely.segmentize(PLANE.geometry(Polygon(shell, [hole])), 0.0005)
        # pyproj sums signed ring areas, so the hole must run clockwise to be subtracted.
        zone = shapely.orient_polygons(zone)
        assert isinstance(zone, Polygon)
        assert area_m2(geom=zone) == pytest.approx(geodesic_area_m2(zone), rel=TOLERANCE)
        assert area_m2(geom=zone) < area_m2(geom=Polygon(zone.exterior))

    def test_multipolygon_is_the_sum_of_its_parts(self) -> None:
        first = square_m(plane=PLANE, x_m=-2000, y_m=0, half_m=400)
        second = circle_m(plane=PLANE, x_m=2000, y_m=500, radius_m=700)
        zone = MultiPolygon([first, second])
        assert area_m2(geom=zone) == pytest.approx(
            area_m2(geom=first) + area_m2(geom=second), rel=1e-6
        )
        assert area_m2(geom=zone) == pytest.approx(geodesic_area_m2(zone), rel=TOLERANCE)

    def test_empty_is_zero(self) -> None:
        assert area_m2(geom=Polygon()) == 0.0


class TestCoverage:
    ZONE = square_m(plane=PLANE, x_m=0, y_m=0, half_m=500)  # 1 km x 1 km

    def track(self, xs: list[float], ys: list[float]) -> tuple[np.ndarray, np.ndarray]:
        return PLANE.lonlat(np.array(xs, dtype=float), np.array(ys, dtype=float))

    def test_straight_crossing_covers_a_strip(self) -> None:
        # A line across the whole square: the swath inside is 1000 m x 100 m.
        lons, lats = self.track([-700, 700], [0, 0])
        ratio = coverage_ratio(zone=self.ZONE, lons=lons, lats=lats, buffer_m=50.0)
        assert ratio == pytest.approx(0.1, rel=TOLERANCE)

    def test_buffer_width_is_in_meters(self) -> None:
        lons, lats = self.track([0, 0], [-700, 700])  # north-south this time
        assert coverage_ratio(zone=self.ZONE, lons=lons, lats=lats, buffer_m=25.0) == pytest.approx(
            0.05, rel=TOLERANCE
        )

    def test_overlapping_passes_are_not_counted_twice(self) -> None:
        lons, lats = self.track([-700, 700, -700, 700], [0, 0, 10, 10])
        ratio = coverage_ratio(zone=self.ZONE, lons=lons, lats=lats, buffer_m=50.0)
        assert ratio == pytest.approx(0.11, rel=TOLERANCE)

    def test_lawnmower_covers_everything(self) -> None:
        xs: list[float] = []
        ys: list[float] = []
        for i, y in enumerate(range(-500, 501, 90)):
            xs += [-520, 520] if i % 2 == 0 else [520, -520]
            ys += [y, y]
        lons, lats = self.track(xs, ys)
        assert coverage_ratio(zone=self.ZONE, lons=lons, lats=lats) == pytest.approx(1.0, abs=1e-9)

    def test_single_point_covers_a_disc(self) -> None:
        lons, lats = self.track([0], [0])
        ratio = coverage_ratio(zone=self.ZONE, lons=lons, lats=lats, buffer_m=50.0)
        assert ratio == pytest.approx(math.pi * 50**2 / 1e6, rel=TOLERANCE)

    def test_track_outside_covers_nothing(self) -> None:
        lons, lats = self.track([700, 900], [700, 900])
        assert coverage_ratio(zone=self.ZONE, lons=lons, lats=lats) == 0.0

    def test_empty_track_covers_nothing(self) -> None:
        assert coverage_ratio(zone=self.ZONE, lons=[], lats=[]) == 0.0

    def test_matches_an_independent_projection(self) -> None:
        rng = np.random.default_rng(7)
        zone = circle_m(plane=PLANE, x_m=0, y_m=0, radius_m=1000, sides=128)
        xs = np.cumsum(rng.normal(0, 120, 200))
        ys = np.cumsum(rng.normal(0, 120, 200))
        lons, lats = PLANE.lonlat(xs, ys)
        zone_plane = PLANE.local(zone)
        swath = LineString(np.column_stack(PLANE.xy(lons, lats))).buffer(50.0, quad_segs=16)
        expected = swath.intersection(zone_plane).area / zone_plane.area
        got = coverage_ratio(zone=zone, lons=lons, lats=lats, buffer_m=50.0)
        assert 0.05 < expected < 0.95
        assert got == pytest.approx(expected, rel=TOLERANCE)

    def test_multipolygon_zone(self) -> None:
        left = square_m(plane=PLANE, x_m=-1000, y_m=0, half_m=500)
        right = square_m(plane=PLANE, x_m=1000, y_m=0, half_m=500)
        lons, lats = self.track([-1700, -300], [0, 0])  # crosses only the left square
        ratio = coverage_ratio(zone=MultiPolygon([left, right]), lons=lons, lats=lats)
        assert ratio == pytest.approx(0.05, rel=TOLERANCE)
