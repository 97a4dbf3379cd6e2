"""geo.track: flags, distance, presence, exits, coverage and visits, each recomputed in the test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Polygon

from geo.track import (
    Checkpoint,
    PointFlag,
    TrackAnalysis,
    TrackRules,
    ZoneExit,
    _flag_points,
    _step_m,
    analyse_track,
    checkpoint_visit_counts,
    distance_outside_m,
    distances_outside_m,
)
from tests.geo.factories import Plane, geodesic_distance_m, geodesic_length_m, square_m

PLANE = Plane()
HALF_M = 600.0
ZONE = square_m(plane=PLANE, x_m=0, y_m=0, half_m=HALF_M)  # 1.2 km x 1.2 km around Nantong
ZONE_PLANE = shapely.box(-HALF_M, -HALF_M, HALF_M, HALF_M)  # the same zone, exactly, in meters
T0 = 1_760_000_000.0
TOLERANCE = 0.005


@dataclass
class Track:
    """A track designed in plane meters; lon/lat derived with pyproj."""

    ts: NDArray[np.float64]
    x_m: NDArray[np.float64]
    y_m: NDArray[np.float64]
    accuracy_m: NDArray[np.float64]
    is_mock: NDArray[np.bool_]

    @property
    def lonlat(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return PLANE.lonlat(self.x_m, self.y_m)

    def analyse(self, **kwargs: Any) -> TrackAnalysis:
        lons, lats = self.lonlat
        arguments: dict[str, Any] = {"zone": ZONE, **kwargs}
        return analyse_track(
            ts=self.ts,
            lons=lons,
            lats=lats,
            accuracy_m=self.accuracy_m,
            is_mock=self.is_mock,
            **arguments,
        )


def walk(waypoints: list[tuple[float, float]], *, steps: int, step_m: float) -> Track:
    """Positions every 10 s along a polyline at `step_m` meters per step, accuracy 8 m."""
    line = LineString(waypoints)
    points = [line.interpolate(step_m * k) for k in range(steps)]
    n = len(points)
    return Track(
        ts=np.asarray(T0 + 10.0 * np.arange(n), dtype=np.float64),
        x_m=np.array([p.x for p in points]),
        y_m=np.array([p.y for p in points]),
        accuracy_m=np.full(n, 8.0),
        is_mock=np.zeros(n, dtype=np.bool_),
    )


def at(
    x_m: float,
    y_m: float,
    count: int,
    *,
    accuracy_m: float = 8.0,
    start_s: float = 0.0,
    every_s: float = 10.0,
) -> Track:
    """`count` fixes at one place."""
    return Track(
        ts=np.asarray(T0 + start_s + every_s * np.arange(count), dtype=np.float64),
        x_m=np.full(count, x_m),
        y_m=np.full(count, y_m),
        accuracy_m=np.full(count, accuracy_m),
        is_mock=np.zeros(count, dtype=np.bool_),
    )


def join(*tracks: Track) -> Track:
    return Track(
        ts=np.concatenate([t.ts for t in tracks]),
        x_m=np.concatenate([t.x_m for t in tracks]),
        y_m=np.concatenate([t.y_m for t in tracks]),
        accuracy_m=np.concatenate([t.accuracy_m for t in tracks]),
        is_mock=np.concatenate([t.is_mock for t in tracks]),
    )


class TestRealisticRound:
    """30 minutes, a fix every 10 s, 1.5 m/s; every figure recomputed independently."""

    JUMP, POOR, MOCKS, UNKNOWN = 40, 60, (100, 101), (120, 121, 122)
    GATE = Checkpoint(key="gate", lon=0.0, lat=0.0, radius_m=30.0)  # placed in setup

    def setup_method(self) -> None:
        # Out north for 40 s (short: no exit), round the zone, out east for 320 s (an exit).
        self.track = walk(
            [
                (-300, 560),
                (-300, 660),
                (-300, 500),
                (-300, -400),
                (400, -400),
                (760, -400),
                (760, -200),
                (400, -200),
            ],
            steps=181,
            step_m=15.0,
        )
        t = self.track
        t.x_m[self.JUMP], t.y_m[self.JUMP] = 2500.0, 1500.0  # 2.9 km in 10 s
        t.x_m[self.POOR] += 200.0
        t.accuracy_m[self.POOR] = 150.0
        for k in self.MOCKS:  # a spoofed visit to the school
            t.x_m[k], t.y_m[k], t.is_mock[k] = -500.0, 300.0, True
        t.accuracy_m[list(self.UNKNOWN)] = math.nan
        gate_lon, gate_lat = PLANE.lonlat(0.0, -380.0)
        school_lon, school_lat = PLANE.lonlat(-500.0, 300.0)
        jump_lon, jump_lat = PLANE.lonlat(2500.0, 1500.0)
        self.checkpoints = [
            Checkpoint(key="gate", lon=float(gate_lon), lat=float(gate_lat), radius_m=30.0),
            Checkpoint(key="school", lon=float(school_lon), lat=float(school_lat), radius_m=30.0),
            Checkpoint(key="jump", lon=float(jump_lon), lat=float(jump_lat), radius_m=100.0),
        ]
        self.good = np.ones(t.ts.size, dtype=np.bool_)
        self.good[[self.JUMP, self.POOR, *self.MOCKS]] = False
        self.result = t.analyse(checkpoints=self.checkpoints)

    def test_flags(self) -> None:
        flags = self.result.flags
        assert flags.size == 181
        assert flags[self.JUMP] == PointFlag.JITTER
        assert flags[self.POOR] == PointFlag.POOR_ACCURACY
        assert all(flags[k] == PointFlag.MOCK for k in self.MOCKS)
        assert np.array_equal(self.result.good, self.good)
        assert PointFlag(int(flags[self.JUMP])).label == "jitter"

    def test_distance_is_geodesic_over_good_points(self) -> None:
        lons, lats = self.track.lonlat
        expected = geodesic_length_m(lons[self.good], lats[self.good])
        assert self.result.distance_m == pytest.approx(expected, rel=TOLERANCE)
        # and about what was walked: 180 steps of 15 m, minus the corners cut around dropped fixes
        assert 2600 < self.result.distance_m < 2710

    def test_duration(self) -> None:
        assert self.result.duration_s == 1800.0
        explicit = self.track.analyse(started_at=T0 - 120.0, ended_at=T0 + 1900.0)
        assert explicit.duration_s == 2020.0

    def outside_states(self) -> NDArray[np.bool_]:
        """Independent outside test in the pyproj plane: farther out than max(accuracy, 20)."""
        t = self.track
        distance = shapely.distance(ZONE_PLANE, shapely.points(t.x_m, t.y_m))
        margin = np.maximum(np.nan_to_num(t.accuracy_m, nan=0.0), 20.0)
        return np.asarray(distance > margin)[self.good]

    def test_in_zone_ratio_is_time_weighted(self) -> None:
        outside = self.outside_states()
        ts = self.track.ts[self.good]
        weights = np.diff(ts)
        expected = weights[~outside[:-1]].sum() / weights.sum()
        assert self.result.in_zone_ratio == pytest.approx(expected, abs=1e-12)
        # by hand: 5 fixes out north (k 5-9), 32 out east (k 139-170), all 10 s apart
        assert outside.sum() == 37
        assert self.result.in_zone_ratio == pytest.approx(1 - 370 / 1800, abs=1e-12)

    def test_one_exit_east_not_the_short_one_north(self) -> None:
        # East: x > 620 m first at k=139 (s=2085 m, x=625), last at k=170 (x=630); back at k=171
        # (x=615, only 15 m out). Raised 60 s after leaving, at k=145.
        assert self.result.zone_exits == [
            ZoneExit(exited_at=T0 + 1390, raised_at=T0 + 1450, returned_at=T0 + 1710)
        ]
        states = self.outside_states()
        ts = self.track.ts[self.good]
        assert ts[states][0] == T0 + 50 and ts[states][4] == T0 + 90  # north: only 40 s
        assert self.result.outside[self.good].tolist() == states.tolist()

    def test_coverage_matches_an_independent_projection(self) -> None:
        t = self.track
        swath = LineString(np.column_stack([t.x_m[self.good], t.y_m[self.good]])).buffer(
            50.0, quad_segs=16
        )
        expected = swath.intersection(ZONE_PLANE).area / ZONE_PLANE.area
        assert 0.1 < expected < 0.5
        assert self.result.coverage_ratio == pytest.approx(expected, rel=TOLERANCE)

    def test_checkpoints(self) -> None:
        # Gate at (0, -380), radius 30 + accuracy 8: k=96 is at (-20, -400), 28.3 m away;
        # k=95 at (-35, -400) is 40.3 m away.
        lons, lats = self.track.lonlat
        gate = self.checkpoints[0]
        distances = [
            geodesic_distance_m(gate.lon, gate.lat, lo, la)
            for lo, la in zip(lons, lats, strict=True)
        ]
        first = next(k for k in range(181) if self.good[k] and distances[k] <= 38.0)
        assert first == 96
        assert self.result.checkpoint_visits == {
            "gate": T0 + 960.0,
            "school": None,  # only the mock fixes were there
            "jump": None,  # only the jitter fix was there
        }


class TestEdgeCases:
    def test_empty_track(self) -> None:
        result = analyse_track(
            ts=[], lons=[], lats=[], zone=ZONE, checkpoints=[Checkpoint("a", 120.9, 32.0, 30.0)]
        )
        assert result.flags.size == 0
        assert result.distance_m == 0.0 and result.duration_s == 0.0
        assert result.in_zone_ratio is None
        assert result.zone_exits == []
        assert result.coverage_ratio == 0.0
        assert result.checkpoint_visits == {"a": None}

    def test_empty_track_with_round_times(self) -> None:
        result = analyse_track(ts=[], lons=[], lats=[], zone=ZONE, started_at=T0, ended_at=T0 + 60)
        assert result.duration_s == 60.0

    def test_single_point(self) -> None:
        lon, lat = PLANE.lonlat(0.0, 0.0)
        result = analyse_track(
            ts=[T0],
            lons=[float(lon)],
            lats=[float(lat)],
            accuracy_m=[5.0],
            zone=ZONE,
            checkpoints=[("here", float(lon), float(lat), 10.0)],
        )
        assert result.flags.tolist() == [PointFlag.GOOD]
        assert result.distance_m == 0.0 and result.duration_s == 0.0
        assert result.in_zone_ratio == 1.0
        assert result.coverage_ratio == pytest.approx(math.pi * 50**2 / 1.44e6, rel=TOLERANCE)
        assert result.checkpoint_visits == {"here": T0}

    def test_single_point_outside(self) -> None:
        result = at(1000.0, 0.0, 1).analyse()
        assert result.in_zone_ratio == 0.0
        assert result.zone_exits == []

    def test_all_poor(self) -> None:
        track = walk([(0, 0), (300, 0)], steps=10, step_m=15.0)
        track.accuracy_m[:] = 101.0
        result = track.analyse()
        assert (result.flags == PointFlag.POOR_ACCURACY).all()
        assert result.distance_m == 0.0
        assert result.in_zone_ratio is None
        assert result.coverage_ratio == 0.0

    def test_accuracy_exactly_at_the_limit_is_good(self) -> None:
        track = walk([(0, 0), (300, 0)], steps=3, step_m=15.0)
        track.accuracy_m[:] = 100.0
        assert (track.analyse().flags == PointFlag.GOOD).all()

    def test_mock_points_only(self) -> None:
        track = at(1000.0, 0.0, 20)  # 190 s, far outside: would be an exit
        track.is_mock[:] = True
        lon, lat = track.lonlat
        result = track.analyse(checkpoints=[("cp", float(lon[0]), float(lat[0]), 30.0)])
        assert (result.flags == PointFlag.MOCK).all()
        assert result.distance_m == 0.0 and result.duration_s == 0.0
        assert result.in_zone_ratio is None
        assert result.zone_exits == []
        assert result.coverage_ratio == 0.0
        assert result.checkpoint_visits == {"cp": None}

    def test_mock_wins_over_poor_accuracy(self) -> None:
        track = at(0.0, 0.0, 1, accuracy_m=500.0)
        track.is_mock[:] = True
        assert track.analyse().flags.tolist() == [PointFlag.MOCK]

    def test_exit_shorter_than_dwell_is_not_raised(self) -> None:
        track = join(at(0, 0, 3), at(700, 0, 6, start_s=30), at(0, 0, 3, start_s=90))  # 50 s out
        track.ts[3:9] = T0 + 25 + 10 * np.arange(6)  # 25..75: out for 50 s
        result = track.analyse(rules=TrackRules(max_speed_mps=1000))
        assert result.zone_exits == []
        assert result.outside.sum() == 6

    def test_exit_of_exactly_the_dwell_is_raised(self) -> None:
        track = join(at(0, 0, 3), at(700, 0, 7, start_s=30), at(0, 0, 3, start_s=100))
        result = track.analyse(rules=TrackRules(max_speed_mps=1000))
        assert result.zone_exits == [
            ZoneExit(exited_at=T0 + 30, raised_at=T0 + 90, returned_at=T0 + 100)
        ]

    def test_exit_within_accuracy_is_not_raised(self) -> None:
        # 60 m outside for 5 minutes, but the fixes claim only 80 m accuracy.
        track = join(
            at(0, 0, 3),
            at(HALF_M + 60, 0, 30, accuracy_m=80.0, start_s=30),
            at(0, 0, 3, start_s=330),
        )
        result = track.analyse(rules=TrackRules(max_speed_mps=1000))
        assert result.zone_exits == []
        assert result.in_zone_ratio == 1.0
        assert not result.outside.any()

    def test_exit_within_the_floor_is_not_raised(self) -> None:
        track = join(at(0, 0, 3), at(HALF_M + 15, 0, 30, accuracy_m=3.0, start_s=30))
        assert track.analyse(rules=TrackRules(max_speed_mps=1000)).zone_exits == []

    def test_exit_beyond_accuracy_is_raised_and_open_at_the_end(self) -> None:
        track = join(at(0, 0, 3), at(HALF_M + 90, 0, 10, accuracy_m=80.0, start_s=30))
        result = track.analyse(rules=TrackRules(max_speed_mps=1000))
        assert result.zone_exits == [
            ZoneExit(exited_at=T0 + 30, raised_at=T0 + 90, returned_at=None)
        ]

    def test_unknown_accuracy_uses_the_floor(self) -> None:
        track = join(at(0, 0, 3), at(HALF_M + 25, 0, 10, accuracy_m=math.nan, start_s=30))
        result = track.analyse(rules=TrackRules(max_speed_mps=1000))
        assert (result.flags == PointFlag.GOOD).all()
        assert len(result.zone_exits) == 1

    def test_coming_back_clears_and_a_second_exit_is_a_new_one(self) -> None:
        track = join(
            at(0, 0, 2),
            at(800, 0, 8, start_s=20),
            at(0, 0, 3, start_s=100),
            at(0, 800, 8, start_s=130),
            at(0, 0, 1, start_s=210),
        )
        result = track.analyse(rules=TrackRules(max_speed_mps=1000))
        assert result.zone_exits == [
            ZoneExit(exited_at=T0 + 20, raised_at=T0 + 80, returned_at=T0 + 100),
            ZoneExit(exited_at=T0 + 130, raised_at=T0 + 190, returned_at=T0 + 210),
        ]

    def test_a_gap_in_fixes_counts_only_observed_time_outside(self) -> None:
        # One fix outside, then nothing for 5 minutes, then back inside: never seen out 60 s.
        track = join(at(0, 0, 1), at(900, 0, 1, start_s=10), at(0, 0, 1, start_s=310))
        result = track.analyse(rules=TrackRules(max_speed_mps=1000))
        assert result.zone_exits == []
        assert result.in_zone_ratio == pytest.approx(10 / 310)

    def test_rules_are_settings(self) -> None:
        track = join(at(0, 0, 3), at(HALF_M + 30, 0, 4, start_s=30), at(0, 0, 1, start_s=70))
        rules = TrackRules(max_speed_mps=1000, exit_dwell_s=30.0, exit_margin_floor_m=25.0)
        assert len(track.analyse(rules=rules).zone_exits) == 1
        assert track.analyse(rules=TrackRules(max_speed_mps=1000)).zone_exits == []

    def test_jitter_is_judged_against_the_last_good_point(self) -> None:
        track = walk([(0, 0), (500, 0)], steps=6, step_m=15.0)
        track.x_m[2] = 1200.0  # 1185 m from k=1 in 10 s
        track.x_m[3] = 1210.0  # 1195 m from k=1 in 20 s: too fast, though close to k=2
        result = track.analyse()
        assert result.flags.tolist() == [0, 0, PointFlag.JITTER, PointFlag.JITTER, 0, 0]
        lons, lats = track.lonlat
        keep = [0, 1, 4, 5]
        assert result.distance_m == pytest.approx(
            geodesic_length_m(lons[keep], lats[keep]), rel=TOLERANCE
        )
        assert result.distance_m == pytest.approx(75.0, rel=TOLERANCE)

    def test_speed_exactly_at_the_limit_is_not_jitter(self) -> None:
        track = Track(
            ts=np.array([T0, T0 + 10.0]),
            x_m=np.array([0.0, 499.0]),
            y_m=np.zeros(2),
            accuracy_m=np.full(2, 5.0),
            is_mock=np.zeros(2, bool),
        )
        assert track.analyse().flags.tolist() == [0, 0]
        track.x_m[1] = 502.0
        assert track.analyse().flags.tolist() == [0, PointFlag.JITTER]

    def test_same_timestamp_moves_are_jitter_but_repeats_are_not(self) -> None:
        track = Track(
            ts=np.array([T0, T0, T0]),
            x_m=np.array([0.0, 0.0, 5.0]),
            y_m=np.zeros(3),
            accuracy_m=np.full(3, 5.0),
            is_mock=np.zeros(3, bool),
        )
        result = track.analyse()
        assert result.flags.tolist() == [0, 0, PointFlag.JITTER]
        assert result.in_zone_ratio == 1.0

    def test_mock_points_do_not_anchor_jitter(self) -> None:
        track = walk([(0, 0), (500, 0)], steps=4, step_m=15.0)
        track.x_m[1], track.is_mock[1] = 3000.0, True
        assert track.analyse().flags.tolist() == [0, PointFlag.MOCK, 0, 0]

    def test_multipolygon_zone(self) -> None:
        left = square_m(plane=PLANE, x_m=-1000, y_m=0, half_m=500)
        right = square_m(plane=PLANE, x_m=1000, y_m=0, half_m=500)
        zone = MultiPolygon([left, right])
        # From the left square across the 1 km gap (at 1 m/s) into the right one.
        track = walk([(-1005, 0), (1005, 0)], steps=201, step_m=10.0)
        result = track.analyse(zone=zone)
        # x = -1005 + 10k. Out by more than 20 m while |x| < 480: k=53 (x=-475) to k=148
        # (x=475), 96 fixes; back at k=149 (x=485, 15 m out).
        assert result.zone_exits == [
            ZoneExit(exited_at=T0 + 530, raised_at=T0 + 590, returned_at=T0 + 1490)
        ]
        assert result.in_zone_ratio == pytest.approx(1 - 960 / 2000)
        assert result.distance_m == pytest.approx(2000.0, rel=TOLERANCE)

    def test_inputs_are_checked(self) -> None:
        with pytest.raises(ValueError, match="sorted"):
            analyse_track(ts=[T0 + 10, T0], lons=[120.9, 120.9], lats=[32.0, 32.0], zone=ZONE)
        with pytest.raises(ValueError, match="same length"):
            analyse_track(ts=[T0], lons=[120.9, 120.9], lats=[32.0], zone=ZONE)
        with pytest.raises(ValueError, match="finite"):
            analyse_track(ts=[T0], lons=[math.nan], lats=[32.0], zone=ZONE)

    def test_defaults_are_design_md(self) -> None:
        rules = TrackRules()
        assert (
            rules.max_accuracy_m,
            rules.max_speed_mps,
            rules.exit_margin_floor_m,
            rules.exit_dwell_s,
            rules.coverage_buffer_m,
            rules.checkpoint_accuracy_cap_m,
        ) == (100.0, 50.0, 20.0, 60.0, 50.0, 50.0)


class TestCheckpointRule:
    @pytest.mark.parametrize(
        "distance_m, radius_m, accuracy_m, counts",
        [
            (30.0, 30.0, None, True),
            (30.1, 30.0, None, False),
            (30.1, 30.0, math.nan, False),
            (45.0, 30.0, 15.0, True),
            (45.1, 30.0, 15.0, False),
            (80.0, 30.0, 50.0, True),
            (80.0, 30.0, 500.0, True),  # accuracy counts for at most 50 m
            (80.1, 30.0, 500.0, False),
            (29.0, 30.0, -5.0, True),  # a nonsense negative accuracy never shrinks the radius
        ],
    )
    def test_gps_visit(
        self, distance_m: float, radius_m: float, accuracy_m: float | None, counts: bool
    ) -> None:
        assert (
            checkpoint_visit_counts(distance_m=distance_m, radius_m=radius_m, accuracy_m=accuracy_m)
            is counts
        )

    def test_track_visits_use_the_accuracy_slack(self) -> None:
        cp_lon, cp_lat = PLANE.lonlat(0.0, 0.0)
        cp = Checkpoint("cp", float(cp_lon), float(cp_lat), 30.0)
        near = at(0.0, 70.0, 1, accuracy_m=45.0)  # 70 <= 30 + 45
        assert near.analyse(checkpoints=[cp]).checkpoint_visits == {"cp": T0}
        far = at(0.0, 85.0, 1, accuracy_m=90.0)  # 85 > 30 + min(90, 50)
        assert far.analyse(checkpoints=[cp]).checkpoint_visits == {"cp": None}


class TestDistanceOutside:
    def test_inside_and_on_the_boundary_is_zero(self) -> None:
        lon, lat = PLANE.lonlat(100.0, -200.0)
        assert distance_outside_m(zone=ZONE, lon=float(lon), lat=float(lat)) == 0.0
        vertex_lon, vertex_lat = ZONE.exterior.coords[3]
        assert distance_outside_m(zone=ZONE, lon=vertex_lon, lat=vertex_lat) == 0.0

    @pytest.mark.parametrize(
        "x_m, y_m, expected_m",
        [
            (HALF_M + 100, 0, 100.0),
            (0, -HALF_M - 35, 35.0),
            (HALF_M + 300, HALF_M + 400, 500.0),
            (-HALF_M - 5000, 0, 5000.0),
        ],
    )
    def test_outside_in_meters(self, x_m: float, y_m: float, expected_m: float) -> None:
        lon, lat = PLANE.lonlat(x_m, y_m)
        got = distance_outside_m(zone=ZONE, lon=float(lon), lat=float(lat))
        assert got == pytest.approx(expected_m, rel=TOLERANCE)

    def test_vectorised_multipolygon_and_hole(self) -> None:
        hole = square_m(plane=PLANE, x_m=0, y_m=0, half_m=200)
        donut = Polygon(ZONE.exterior, [hole.exterior])
        island = square_m(plane=PLANE, x_m=3000, y_m=0, half_m=100)
        zone = MultiPolygon([donut, island])
        lons, lats = PLANE.lonlat(
            np.array([0.0, 150.0, 300.0, 2850.0, 1800.0]), np.array([0.0, 0.0, 0.0, 0.0, 0.0])
        )
        got = distances_outside_m(zone=zone, lons=lons, lats=lats)
        np.testing.assert_allclose(got, [200.0, 50.0, 0.0, 50.0, 1100.0], rtol=TOLERANCE)
        assert distances_outside_m(zone=zone, lons=[], lats=[]).size == 0


def _flag_points_one_by_one(
    *,
    ts: NDArray[np.float64],
    lons: NDArray[np.float64],
    lats: NDArray[np.float64],
    accuracy_m: NDArray[np.float64],
    is_mock: NDArray[np.bool_],
    rules: TrackRules,
    last_good: tuple[float, float, float] | None = None,
) -> NDArray[np.int8]:
    """The flags judged point by point, as geo.track did before: what `_flag_points` must give."""
    flags = np.full(ts.size, PointFlag.GOOD, dtype=np.int8)
    poor = ~np.isnan(accuracy_m) & (accuracy_m > rules.max_accuracy_m)
    flags[poor] = PointFlag.POOR_ACCURACY
    flags[is_mock] = PointFlag.MOCK
    good_ts = good_lon = good_lat = 0.0
    if last_good is not None:
        good_ts, good_lon, good_lat = last_good
    seen_good = last_good is not None
    ts_list, lon_list, lat_list = ts.tolist(), lons.tolist(), lats.tolist()
    for index in np.flatnonzero(flags == PointFlag.GOOD).tolist():
        if seen_good:
            step_m = _step_m(good_lon, good_lat, lon_list[index], lat_list[index])
            elapsed_s = ts_list[index] - good_ts
            too_fast = step_m > rules.max_speed_mps * elapsed_s if elapsed_s > 0 else step_m > 0.0
            if too_fast:
                flags[index] = PointFlag.JITTER
                continue
        good_ts, good_lon, good_lat = ts_list[index], lon_list[index], lat_list[index]
        seen_good = True
    return flags


def _jittery_track(seed: int, n: int) -> dict[str, Any]:
    """A walk with jumps, repeated times, steps at the speed limit, poor and mock fixes."""
    rng = np.random.default_rng(seed)
    rules = TrackRules()
    ts = np.cumsum(rng.choice([0.0, 0.2, 1.0, 5.0], size=n, p=[0.05, 0.45, 0.4, 0.1]))
    lon = np.empty(n)
    lat = np.empty(n)
    lon[0], lat[0] = 120.86, 32.0
    for i in range(1, n):
        dt = ts[i] - ts[i - 1]
        kind = rng.random()
        if kind < 0.05:  # a jump of kilometres: jitter
            lon[i], lat[i] = lon[i - 1] + rng.normal(0, 0.05), lat[i - 1] + rng.normal(0, 0.05)
        elif kind < 0.15 and dt > 0:  # a step at the limit, a hair under or over it
            metres = rules.max_speed_mps * dt * (1.0 + rng.choice([-1e-12, 0.0, 1e-12, 1e-7]))
            lon[i], lat[i] = lon[i - 1], lat[i - 1] + metres / 111_195.0
        else:  # a walk
            lon[i] = lon[i - 1] + rng.normal(0, 2e-5)
            lat[i] = lat[i - 1] + rng.normal(0, 2e-5)
    accuracy = rng.choice([5.0, 30.0, 150.0, np.nan], size=n, p=[0.6, 0.25, 0.1, 0.05])
    mock = rng.random(n) < 0.03
    return {"ts": ts, "lons": lon, "lats": lat, "accuracy_m": accuracy, "is_mock": mock}


@pytest.mark.parametrize("seed", range(40))
def test_flags_at_once_are_the_flags_judged_one_by_one(seed):
    track = _jittery_track(seed, 400)
    rules = TrackRules()
    expected = _flag_points_one_by_one(**track, rules=rules)
    assert (expected == PointFlag.JITTER).any()  # the track tests the slow path too
    assert np.array_equal(_flag_points(**track, rules=rules), expected)
    # Judged in pieces, each after the last good point of those before it.
    cut = 150 + seed
    head = {k: v[:cut] for k, v in track.items()}
    tail = {k: v[cut:] for k, v in track.items()}
    head_flags = _flag_points(**head, rules=rules)
    good = np.flatnonzero(head_flags == PointFlag.GOOD)
    last_good = None
    if good.size:
        i = int(good[-1])
        last_good = (float(head["ts"][i]), float(head["lons"][i]), float(head["lats"][i]))
    tail_flags = _flag_points(**tail, rules=rules, last_good=last_good)
    assert np.array_equal(np.concatenate([head_flags, tail_flags]), expected)
    assert np.array_equal(
        tail_flags, _flag_points_one_by_one(**tail, rules=rules, last_good=last_good)
    )
