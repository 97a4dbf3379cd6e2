"""Patrol track analysis: flags, distance, presence, zone exits, coverage and checkpoint visits.

Pure: arrays of numbers and one zone geometry in, a `TrackAnalysis` out. The rules are those of
DESIGN.md (Patrol); every threshold is a field of `TrackRules`.

Choices the rules leave open, made here and tested:
- Accuracy `nan` means unknown: the point is not poor, and its margin is the 20 m floor.
- Only *good* points (not mock, not poor, not jitter) count for distance, duration, presence,
  exits, coverage and checkpoint visits. Mock points never count for anything.
- Jitter is judged against the last good point, so one bad fix does not condemn the next one.
  The first good point is trusted: if it is itself wrong, later points are judged against it.
- A point is *outside* only when it lies farther outside the zone than max(accuracy, 20 m).
  `in_zone_ratio` weights each interval between consecutive good points by its duration and gives
  it the state of the point that starts it (the state last observed holds until the next fix).
  The last good point carries no time; with one good point the ratio is that point's state.
- An exit starts at the first outside point of a run and is raised once the run has lasted
  `exit_dwell_s` (DESIGN.md: "stayed ... outside the zone for 60 s", so exactly 60 s counts); the
  first good point back inside ends it (`returned_at`), and a run that never comes back ends the
  track with `returned_at=None`. A run is only as long as its observed outside points span.
- A checkpoint is visited by a good point within `radius_m + min(accuracy, 50 m)` of it, the same
  rule as an explicit GPS visit (`checkpoint_visit_counts`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.measure import EARTH_RADIUS_M, LocalProjection, coverage_ratio, haversine_m, to_local

FloatArray = NDArray[np.float64]
COVERED_SIMPLIFY_M = 0.005


class PointFlag(IntEnum):
    """Why a track point is or is not used; stored per point as an int8."""

    GOOD = 0
    POOR_ACCURACY = 1
    JITTER = 2
    MOCK = 3

    @property
    def label(self) -> str:
        """The flag as the API spells it: good, poor_accuracy, jitter, mock."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class TrackRules:
    """Thresholds of the patrol rules; defaults are DESIGN.md's, each office may change them."""

    max_accuracy_m: float = 100.0
    max_speed_mps: float = 50.0
    exit_margin_floor_m: float = 20.0
    exit_dwell_s: float = 60.0
    coverage_buffer_m: float = 50.0
    checkpoint_accuracy_cap_m: float = 50.0


class Checkpoint(NamedTuple):
    """A checkpoint to be passed: its key, position (lon/lat degrees) and radius in meters."""

    key: Hashable
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class ZoneExit:
    """One raised zone exit; times are epoch seconds, `returned_at` None while still outside."""

    exited_at: float
    raised_at: float
    returned_at: float | None


@dataclass(frozen=True, slots=True)
class TrackAnalysis:
    """Everything a round summary needs from its track."""

    flags: NDArray[np.int8]
    distance_m: float
    duration_s: float
    in_zone_ratio: float | None
    zone_exits: list[ZoneExit]
    coverage_ratio: float
    checkpoint_visits: dict[Hashable, float | None]
    outside: NDArray[np.bool_] = field(repr=False)

    @property
    def good(self) -> NDArray[np.bool_]:
        """Mask of the points that count."""
        return np.asarray(self.flags == PointFlag.GOOD)


def checkpoint_visit_counts(
    *, distance_m: float, radius_m: float, accuracy_m: float | None, cap_m: float = 50.0
) -> bool:
    """Whether a GPS fix `distance_m` from a checkpoint visits it: within radius + min(acc, cap)."""
    slack_m = 0.0 if accuracy_m is None or math.isnan(accuracy_m) else min(accuracy_m, cap_m)
    return distance_m <= radius_m + max(slack_m, 0.0)


def distances_outside_m(
    *, zone: Polygon | MultiPolygon, lons: ArrayLike, lats: ArrayLike
) -> FloatArray:
    """Meters from each point to the zone, 0 for points inside or on its boundary."""
    lon_arr = np.asarray(lons, dtype=np.float64)
    lat_arr = np.asarray(lats, dtype=np.float64)
    result = np.zeros(lon_arr.shape, dtype=np.float64)
    if lon_arr.size == 0:
        return result
    covered = shapely.intersects_xy(zone, lon_arr, lat_arr)
    if bool(covered.all()):
        return result
    projection = LocalProjection.around(geom=zone)
    zone_local = to_local(geom=zone, projection=projection)
    x_m, y_m = projection.forward(lons=lon_arr[~covered], lats=lat_arr[~covered])
    result[~covered] = shapely.distance(zone_local, shapely.points(x_m, y_m))
    return result


def distance_outside_m(*, zone: Polygon | MultiPolygon, lon: float, lat: float) -> float:
    """Meters from the point to the zone, 0 inside or on its boundary."""
    return float(distances_outside_m(zone=zone, lons=[lon], lats=[lat])[0])


def _step_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine on Python floats: the per-point jitter test, ten times cheaper than numpy's."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    sin_dphi = math.sin((phi2 - phi1) / 2.0)
    sin_dlam = math.sin(math.radians(lon2 - lon1) / 2.0)
    h = sin_dphi * sin_dphi + math.cos(phi1) * math.cos(phi2) * sin_dlam * sin_dlam
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))


# A step this much under the speed limit (relative, plus 1 um) is within it by either haversine:
# numpy's and `_step_m` differ by far less (they subtract radians in another order).
_CLEAR_MARGIN = 1e-6


def _flag_points(
    *,
    ts: FloatArray,
    lons: FloatArray,
    lats: FloatArray,
    accuracy_m: FloatArray,
    is_mock: NDArray[np.bool_],
    rules: TrackRules,
    last_good: tuple[float, float, float] | None = None,
) -> NDArray[np.int8]:
    """Per-point flags; jitter is judged sequentially against the last good point.

    `last_good` (ts, lon, lat) is the last good point judged before these, if any.

    Most points are good, and a good point's successor is judged against it: each candidate's
    step from the candidate before it is measured at once in numpy, and a point whose step is
    clearly within the speed limit is good without more. Only the others (near the limit, no
    time elapsed, or after a jitter point, where the last good point is further back) are
    judged one by one on Python floats, the same arithmetic whether the last good point came
    in this call or not. The flags are those of judging every point one by one
    (tests/geo/test_track.py holds them to it).
    """
    flags = np.full(ts.size, PointFlag.GOOD, dtype=np.int8)
    poor = ~np.isnan(accuracy_m) & (accuracy_m > rules.max_accuracy_m)
    flags[poor] = PointFlag.POOR_ACCURACY
    flags[is_mock] = PointFlag.MOCK
    candidates = np.flatnonzero(flags == PointFlag.GOOD)
    if candidates.size == 0:
        return flags
    # Each candidate's predecessor: the candidate before it, the first one's the last good.
    c_ts, c_lon, c_lat = ts[candidates], lons[candidates], lats[candidates]
    if last_good is not None:
        p_ts = np.concatenate([[last_good[0]], c_ts[:-1]])
        p_lon = np.concatenate([[last_good[1]], c_lon[:-1]])
        p_lat = np.concatenate([[last_good[2]], c_lat[:-1]])
    else:
        p_ts, p_lon, p_lat = c_ts, c_lon, c_lat  # the first has none: judged one by one
    elapsed = c_ts - p_ts
    steps = haversine_m(lon1=p_lon, lat1=p_lat, lon2=c_lon, lat2=c_lat)
    limit = rules.max_speed_mps * elapsed * (1.0 - _CLEAR_MARGIN) - _CLEAR_MARGIN
    clear = (elapsed > 0) & (steps < limit)
    if last_good is None:
        clear[0] = False
    unclear = np.flatnonzero(~clear).tolist()

    good_ts = good_lon = good_lat = 0.0
    if last_good is not None:
        good_ts, good_lon, good_lat = last_good
    seen_good = last_good is not None
    # In step: the last good point is the candidate before the next one, whose clear step from
    # it then makes it good.
    in_step = True
    ts_list, lon_list, lat_list = c_ts.tolist(), c_lon.tolist(), c_lat.tolist()
    position, n, next_unclear = 0, candidates.size, 0
    while position < n:
        if in_step:
            while next_unclear < len(unclear) and unclear[next_unclear] < position:
                next_unclear += 1
            upto = unclear[next_unclear] if next_unclear < len(unclear) else n
            if upto > position:
                # Candidates position..upto-1 are good; the last of them is the last good.
                good_ts, good_lon, good_lat = (
                    ts_list[upto - 1],
                    lon_list[upto - 1],
                    lat_list[upto - 1],
                )
                seen_good = True
                position = upto
                continue
        index = position
        if seen_good:
            step_m = _step_m(good_lon, good_lat, lon_list[index], lat_list[index])
            elapsed_s = ts_list[index] - good_ts
            too_fast = step_m > rules.max_speed_mps * elapsed_s if elapsed_s > 0 else step_m > 0.0
            if too_fast:
                flags[candidates[index]] = PointFlag.JITTER
                in_step = False
                position += 1
                continue
        good_ts, good_lon, good_lat = ts_list[index], lon_list[index], lat_list[index]
        seen_good = True
        in_step = True
        position += 1
    return flags


def _zone_exits(*, ts: FloatArray, outside: NDArray[np.bool_], rules: TrackRules) -> list[ZoneExit]:
    """Exits by hysteresis over the good points' outside states."""
    exits: list[ZoneExit] = []
    run_start: float | None = None
    raised_at: float | None = None
    for at, is_out in zip(ts.tolist(), outside.tolist(), strict=True):
        if is_out:
            if run_start is None:
                run_start = at
            if raised_at is None and at - run_start >= rules.exit_dwell_s:
                raised_at = at
        else:
            if run_start is not None and raised_at is not None:
                exits.append(ZoneExit(exited_at=run_start, raised_at=raised_at, returned_at=at))
            run_start = raised_at = None
    if run_start is not None and raised_at is not None:
        exits.append(ZoneExit(exited_at=run_start, raised_at=raised_at, returned_at=None))
    return exits


def analyse_track(
    *,
    ts: ArrayLike,
    lons: ArrayLike,
    lats: ArrayLike,
    accuracy_m: ArrayLike | None = None,
    is_mock: ArrayLike | None = None,
    zone: Polygon | MultiPolygon,
    checkpoints: Sequence[Checkpoint | tuple[Hashable, float, float, float]] = (),
    rules: TrackRules | None = None,
    started_at: float | None = None,
    ended_at: float | None = None,
) -> TrackAnalysis:
    """Analyse one round's time-sorted track against its zone and checkpoints."""
    rules = rules or TrackRules()
    ts_arr = np.asarray(ts, dtype=np.float64).ravel()
    lon_arr = np.asarray(lons, dtype=np.float64).ravel()
    lat_arr = np.asarray(lats, dtype=np.float64).ravel()
    n = ts_arr.size
    acc_arr = (
        np.full(n, np.nan)
        if accuracy_m is None
        else np.asarray(accuracy_m, dtype=np.float64).ravel()
    )
    mock_arr = (
        np.zeros(n, dtype=np.bool_)
        if is_mock is None
        else np.asarray(is_mock, dtype=np.bool_).ravel()
    )
    if not (lon_arr.size == lat_arr.size == acc_arr.size == mock_arr.size == n):
        raise ValueError("ts, lons, lats, accuracy_m and is_mock must have the same length")
    if not (
        np.isfinite(ts_arr).all() and np.isfinite(lon_arr).all() and np.isfinite(lat_arr).all()
    ):
        raise ValueError("ts, lons and lats must be finite")
    if n > 1 and bool((np.diff(ts_arr) < 0).any()):
        raise ValueError("points must be sorted by ts")

    flags = _flag_points(
        ts=ts_arr, lons=lon_arr, lats=lat_arr, accuracy_m=acc_arr, is_mock=mock_arr, rules=rules
    )
    good = flags == PointFlag.GOOD
    g_ts, g_lon, g_lat, g_acc = ts_arr[good], lon_arr[good], lat_arr[good], acc_arr[good]

    distance_m = 0.0
    if g_ts.size > 1:
        distance_m = float(
            haversine_m(lon1=g_lon[:-1], lat1=g_lat[:-1], lon2=g_lon[1:], lat2=g_lat[1:]).sum()
        )
    if started_at is not None and ended_at is not None:
        duration_s = max(0.0, float(ended_at - started_at))
    elif g_ts.size:
        duration_s = float(g_ts[-1] - g_ts[0])
    else:
        duration_s = 0.0

    margin_m = np.maximum(np.nan_to_num(g_acc, nan=0.0), rules.exit_margin_floor_m)
    g_outside = distances_outside_m(zone=zone, lons=g_lon, lats=g_lat) > margin_m
    outside = np.zeros(n, dtype=np.bool_)
    outside[good] = g_outside

    in_zone_ratio: float | None = None
    if g_ts.size == 1:
        in_zone_ratio = 0.0 if g_outside[0] else 1.0
    elif g_ts.size > 1:
        weights_s = np.diff(g_ts)
        total_s = float(weights_s.sum())
        if total_s > 0:
            in_zone_ratio = float(weights_s[~g_outside[:-1]].sum()) / total_s
        else:
            in_zone_ratio = float((~g_outside).mean())

    visits: dict[Hashable, float | None] = {}
    slack_m = np.clip(np.nan_to_num(g_acc, nan=0.0), 0.0, rules.checkpoint_accuracy_cap_m)
    for key, cp_lon, cp_lat, radius_m in checkpoints:
        visits[key] = None
        if g_ts.size == 0:
            continue
        distance_to_m = haversine_m(lon1=g_lon, lat1=g_lat, lon2=cp_lon, lat2=cp_lat)
        within = np.flatnonzero(distance_to_m <= radius_m + slack_m)
        if within.size:
            visits[key] = float(g_ts[within[0]])

    return TrackAnalysis(
        flags=flags,
        distance_m=distance_m,
        duration_s=duration_s,
        in_zone_ratio=in_zone_ratio,
        zone_exits=_zone_exits(ts=g_ts, outside=g_outside, rules=rules),
        coverage_ratio=coverage_ratio(
            zone=zone, lons=g_lon, lats=g_lat, buffer_m=rules.coverage_buffer_m
        ),
        checkpoint_visits=visits,
        outside=outside,
    )


# --- incremental judgement -----------------------------------------------------------------------


@dataclass(slots=True)
class TrackState:
    """What has been judged of a track so far: enough to judge the points after it exactly.

    `covered` is the zone's covered part in the zone's local projection (meters). Everything
    else is plain numbers, so the state round-trips through JSON (`to_json` / `from_json`).
    """

    points: int = 0
    good_points: int = 0
    inside_points: int = 0
    first_good_ts: float | None = None
    last_good: tuple[float, float, float] | None = None  # ts, lon, lat
    last_good_outside: bool = False
    distance_m: float = 0.0
    inside_s: float = 0.0
    total_s: float = 0.0
    # The hysteresis: since when the member has been outside, and when that run raised an exit.
    run_start: float | None = None
    raised_at: float | None = None
    exits: list[ZoneExit] = field(default_factory=list)
    visits: dict[str, float] = field(default_factory=dict)
    covered: shapely.Geometry | None = None

    def to_json(self) -> dict[str, object]:
        """The state without its covered geometry, as JSON-ready values."""
        return {
            "points": self.points,
            "good_points": self.good_points,
            "inside_points": self.inside_points,
            "first_good_ts": self.first_good_ts,
            "last_good": None if self.last_good is None else list(self.last_good),
            "last_good_outside": self.last_good_outside,
            "distance_m": self.distance_m,
            "inside_s": self.inside_s,
            "total_s": self.total_s,
            "run_start": self.run_start,
            "raised_at": self.raised_at,
            "exits": [[e.exited_at, e.raised_at, e.returned_at] for e in self.exits],
            "visits": dict(self.visits),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, covered: shapely.Geometry | None) -> TrackState:
        """The state `to_json` wrote, with its covered geometry."""
        last_good = data["last_good"]
        return cls(
            points=int(data["points"]),
            good_points=int(data["good_points"]),
            inside_points=int(data["inside_points"]),
            first_good_ts=data["first_good_ts"],
            last_good=None if last_good is None else (last_good[0], last_good[1], last_good[2]),
            last_good_outside=bool(data["last_good_outside"]),
            distance_m=float(data["distance_m"]),
            inside_s=float(data["inside_s"]),
            total_s=float(data["total_s"]),
            run_start=data["run_start"],
            raised_at=data["raised_at"],
            exits=[
                ZoneExit(exited_at=e[0], raised_at=e[1], returned_at=e[2]) for e in data["exits"]
            ],
            visits={str(k): float(v) for k, v in data["visits"].items()},
            covered=covered,
        )


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """A judged track's figures, the same as `analyse_track` gives for the whole track."""

    points: int
    good_points: int
    first_good_ts: float | None
    last_good_ts: float | None
    distance_m: float
    in_zone_ratio: float | None
    zone_exits: list[ZoneExit]
    coverage_ratio: float
    checkpoint_visits: dict[Hashable, float | None]


def advance_track(
    *,
    state: TrackState,
    ts: ArrayLike,
    lons: ArrayLike,
    lats: ArrayLike,
    accuracy_m: ArrayLike,
    is_mock: ArrayLike,
    zone: Polygon | MultiPolygon,
    checkpoints: Sequence[Checkpoint | tuple[Hashable, float, float, float]] = (),
    rules: TrackRules | None = None,
) -> TrackState:
    """Judge the next time-sorted points after `state`; the cost depends on them alone.

    Judging a track in any number of consecutive pieces gives the figures `analyse_track` gives
    for the whole of it (coverage to floating-point noise of the buffers' round joins).
    """
    rules = rules or TrackRules()
    ts_arr = np.asarray(ts, dtype=np.float64).ravel()
    lon_arr = np.asarray(lons, dtype=np.float64).ravel()
    lat_arr = np.asarray(lats, dtype=np.float64).ravel()
    acc_arr = np.asarray(accuracy_m, dtype=np.float64).ravel()
    mock_arr = np.asarray(is_mock, dtype=np.bool_).ravel()
    n = ts_arr.size
    if not (lon_arr.size == lat_arr.size == acc_arr.size == mock_arr.size == n):
        raise ValueError("ts, lons, lats, accuracy_m and is_mock must have the same length")
    if n > 1 and bool((np.diff(ts_arr) < 0).any()):
        raise ValueError("points must be sorted by ts")
    if state.last_good is not None and n and ts_arr[0] < state.last_good[0]:
        raise ValueError("points must come after the judged ones")
    new = dataclasses.replace(state, exits=list(state.exits), visits=dict(state.visits))
    new.points += n
    if n == 0:
        return new
    flags = _flag_points(
        ts=ts_arr,
        lons=lon_arr,
        lats=lat_arr,
        accuracy_m=acc_arr,
        is_mock=mock_arr,
        rules=rules,
        last_good=state.last_good,
    )
    good = flags == PointFlag.GOOD
    g_ts, g_lon, g_lat, g_acc = ts_arr[good], lon_arr[good], lat_arr[good], acc_arr[good]
    if g_ts.size == 0:
        return new
    margin_m = np.maximum(np.nan_to_num(g_acc, nan=0.0), rules.exit_margin_floor_m)
    g_outside = distances_outside_m(zone=zone, lons=g_lon, lats=g_lat) > margin_m

    # The chain of good points: the last judged one (if any) followed by the new ones.
    if state.last_good is not None:
        c_ts = np.concatenate([[state.last_good[0]], g_ts])
        c_lon = np.concatenate([[state.last_good[1]], g_lon])
        c_lat = np.concatenate([[state.last_good[2]], g_lat])
        c_outside = np.concatenate([[state.last_good_outside], g_outside])
    else:
        c_ts, c_lon, c_lat, c_outside = g_ts, g_lon, g_lat, g_outside
        new.first_good_ts = float(g_ts[0])
    if c_ts.size > 1:
        new.distance_m += float(
            haversine_m(lon1=c_lon[:-1], lat1=c_lat[:-1], lon2=c_lon[1:], lat2=c_lat[1:]).sum()
        )
        weights_s = np.diff(c_ts)
        new.total_s += float(weights_s.sum())
        new.inside_s += float(weights_s[~c_outside[:-1]].sum())
    new.good_points += int(g_ts.size)
    new.inside_points += int((~g_outside).sum())
    new.last_good = (float(g_ts[-1]), float(g_lon[-1]), float(g_lat[-1]))
    new.last_good_outside = bool(g_outside[-1])

    for at, is_out in zip(g_ts.tolist(), g_outside.tolist(), strict=True):
        if is_out:
            if new.run_start is None:
                new.run_start = at
            if new.raised_at is None and at - new.run_start >= rules.exit_dwell_s:
                new.raised_at = at
        else:
            if new.run_start is not None and new.raised_at is not None:
                new.exits.append(
                    ZoneExit(exited_at=new.run_start, raised_at=new.raised_at, returned_at=at)
                )
            new.run_start = new.raised_at = None

    slack_m = np.clip(np.nan_to_num(g_acc, nan=0.0), 0.0, rules.checkpoint_accuracy_cap_m)
    for key, cp_lon, cp_lat, radius_m in checkpoints:
        if str(key) in new.visits:
            continue  # a later point cannot visit it earlier
        distance_to_m = haversine_m(lon1=g_lon, lat1=g_lat, lon2=cp_lon, lat2=cp_lat)
        within = np.flatnonzero(distance_to_m <= radius_m + slack_m)
        if within.size:
            new.visits[str(key)] = float(g_ts[within[0]])

    projection = LocalProjection.around(geom=zone)
    zone_local = to_local(geom=zone, projection=projection)
    x_m, y_m = projection.forward(lons=c_lon, lats=c_lat)
    piece = shapely.points(x_m[0], y_m[0]) if x_m.size == 1 else shapely.linestrings(x_m, y_m)
    swath = shapely.intersection(
        zone_local, shapely.buffer(piece, rules.coverage_buffer_m, quad_segs=16)
    )
    covered = swath if state.covered is None else shapely.union(state.covered, swath)
    # Every pass over the same ground leaves its own near-coincident vertices in the union, and
    # the polygon would grow with the round; dropping those within 5 mm of their neighbours'
    # line keeps it bounded and moves the coverage by millionths.
    new.covered = shapely.simplify(covered, COVERED_SIMPLIFY_M)
    return new


def summarise_track(
    *,
    state: TrackState,
    zone: Polygon | MultiPolygon,
    checkpoints: Sequence[Checkpoint | tuple[Hashable, float, float, float]] = (),
) -> TrackSummary:
    """The figures of a judged track, as `analyse_track` would give them for all of it."""
    in_zone_ratio: float | None = None
    if state.good_points == 1:
        in_zone_ratio = 0.0 if state.last_good_outside else 1.0
    elif state.good_points > 1:
        if state.total_s > 0:
            in_zone_ratio = state.inside_s / state.total_s
        else:
            in_zone_ratio = state.inside_points / state.good_points
    exits = list(state.exits)
    if state.run_start is not None and state.raised_at is not None:
        exits.append(
            ZoneExit(exited_at=state.run_start, raised_at=state.raised_at, returned_at=None)
        )
    coverage = 0.0
    if state.covered is not None and not zone.is_empty:
        zone_area_m2 = float(to_local(geom=zone, projection=LocalProjection.around(geom=zone)).area)
        if zone_area_m2 > 0:
            coverage = min(1.0, max(0.0, float(shapely.area(state.covered)) / zone_area_m2))
    return TrackSummary(
        points=state.points,
        good_points=state.good_points,
        first_good_ts=state.first_good_ts,
        last_good_ts=None if state.last_good is None else state.last_good[0],
        distance_m=state.distance_m,
        in_zone_ratio=in_zone_ratio,
        zone_exits=exits,
        coverage_ratio=coverage,
        checkpoint_visits={c[0]: state.visits.get(str(c[0])) for c in checkpoints},
    )
