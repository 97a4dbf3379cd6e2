"""geo.track incremental judgement: any split of a random track gives the full figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from geo.track import TrackState, advance_track, analyse_track, summarise_track
from tests.geo.factories import Plane, square_m

PLANE = Plane()
HALF_M = 400.0
ZONE = square_m(plane=PLANE, x_m=0, y_m=0, half_m=HALF_M)
T0 = 1_760_000_000.0
CHECKPOINTS = [
    (f"cp{i}", *map(float, PLANE.lonlat(x, y)), 30.0)
    for i, (x, y) in enumerate([(0, 0), (300, 300), (-350, 100), (900, 0)])
]
# Coverage is a union of buffers: split at a point, the two round caps there differ from the
# whole line's round join by the arcs' chords (centimetres): about 1e-7 of the zone per split
# point here, far below the 0.5 % rule.
COVERAGE_TOLERANCE = 1e-4


def random_track(seed: int, n: int) -> tuple[NDArray[np.float64], ...]:
    """A walk that leaves the zone now and then, with jitter, poor fixes, mocks and equal times."""
    rng = np.random.default_rng(seed)
    steps_s = rng.choice(
        [0.0, 1.0, 5.0, 10.0, 30.0, 90.0], size=n, p=[0.03, 0.1, 0.3, 0.4, 0.12, 0.05]
    )
    ts = T0 + np.cumsum(steps_s)
    heading = np.cumsum(rng.normal(0, 0.6, n))
    speed = rng.uniform(0.5, 3.0, n)
    x = np.clip(np.cumsum(np.cos(heading) * speed * steps_s), -700, 700)
    y = np.clip(np.cumsum(np.sin(heading) * speed * steps_s), -700, 700)
    jitter = rng.random(n) < 0.04
    x[jitter] += rng.choice([-1, 1], jitter.sum()) * rng.uniform(2_000, 5_000, jitter.sum())
    accuracy = rng.choice(
        [np.nan, 5.0, 15.0, 40.0, 80.0, 150.0], size=n, p=[0.1, 0.4, 0.2, 0.15, 0.1, 0.05]
    )
    mock = rng.random(n) < 0.02
    lons, lats = PLANE.lonlat(x, y)
    return ts, np.asarray(lons), np.asarray(lats), accuracy, mock


def judge_in_pieces(track: tuple[NDArray[np.float64], ...], cuts: list[int]) -> TrackState:
    ts, lons, lats, accuracy, mock = track
    state = TrackState()
    bounds = [0, *cuts, ts.size]
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        state = advance_track(
            state=state,
            ts=ts[start:stop],
            lons=lons[start:stop],
            lats=lats[start:stop],
            accuracy_m=accuracy[start:stop],
            is_mock=mock[start:stop],
            zone=ZONE,
            checkpoints=CHECKPOINTS,
        )
        # Every piece goes through the database as JSON: judge from what was stored.
        state = TrackState.from_json(state.to_json(), covered=state.covered)
    return state


@pytest.mark.parametrize("seed", range(40))
def test_any_split_of_a_random_track_gives_the_full_figures(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 400))
    track = random_track(seed, n)
    cuts = sorted(set(rng.integers(0, n + 1, size=int(rng.integers(0, 12))).tolist()))
    ts, lons, lats, accuracy, mock = track
    full = analyse_track(
        ts=ts,
        lons=lons,
        lats=lats,
        accuracy_m=accuracy,
        is_mock=mock,
        zone=ZONE,
        checkpoints=CHECKPOINTS,
    )
    summary = summarise_track(
        state=judge_in_pieces(track, cuts), zone=ZONE, checkpoints=CHECKPOINTS
    )
    assert summary.points == n
    assert summary.good_points == int(full.good.sum())
    assert summary.zone_exits == full.zone_exits
    assert summary.checkpoint_visits == full.checkpoint_visits
    assert math.isclose(summary.distance_m, full.distance_m, rel_tol=1e-9, abs_tol=1e-6)
    if full.in_zone_ratio is None:
        assert summary.in_zone_ratio is None
    else:
        assert summary.in_zone_ratio is not None
        assert math.isclose(summary.in_zone_ratio, full.in_zone_ratio, rel_tol=1e-9, abs_tol=1e-12)
    assert abs(summary.coverage_ratio - full.coverage_ratio) < COVERAGE_TOLERANCE


def test_a_track_judged_point_by_point_keeps_its_exits_and_coverage() -> None:
    track = random_track(7, 300)
    ts, lons, lats, accuracy, mock = track
    full = analyse_track(
        ts=ts,
        lons=lons,
        lats=lats,
        accuracy_m=accuracy,
        is_mock=mock,
        zone=ZONE,
        checkpoints=CHECKPOINTS,
    )
    summary = summarise_track(
        state=judge_in_pieces(track, list(range(1, 300))), zone=ZONE, checkpoints=CHECKPOINTS
    )
    assert summary.zone_exits == full.zone_exits and full.zone_exits
    assert abs(summary.coverage_ratio - full.coverage_ratio) < COVERAGE_TOLERANCE
    assert 0 < full.coverage_ratio < 1


def test_points_before_the_judged_ones_are_refused() -> None:
    ts, lons, lats, accuracy, mock = random_track(3, 20)
    state = advance_track(
        state=TrackState(),
        ts=ts[10:],
        lons=lons[10:],
        lats=lats[10:],
        accuracy_m=accuracy[10:],
        is_mock=mock[10:],
        zone=ZONE,
    )
    with pytest.raises(ValueError, match="after the judged"):
        advance_track(
            state=state,
            ts=ts[:10],
            lons=lons[:10],
            lats=lats[:10],
            accuracy_m=accuracy[:10],
            is_mock=mock[:10],
            zone=ZONE,
        )
