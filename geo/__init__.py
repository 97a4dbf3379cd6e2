"""Pure geometry for grassroots: shapely and numbers in, numbers and sets out; no I/O."""

from geo.index import ZoneIndex
from geo.measure import (
    LocalProjection,
    area_m2,
    coverage_ratio,
    from_local,
    haversine_m,
    path_length_m,
    to_local,
)
from geo.track import (
    Checkpoint,
    PointFlag,
    TrackAnalysis,
    TrackRules,
    ZoneExit,
    analyse_track,
    checkpoint_visit_counts,
    distance_outside_m,
    distances_outside_m,
)
from geo.validation import MAX_VERTICES, InvalidGeometry, parse_area, to_geojson

__all__ = [
    "MAX_VERTICES",
    "Checkpoint",
    "InvalidGeometry",
    "LocalProjection",
    "PointFlag",
    "TrackAnalysis",
    "TrackRules",
    "ZoneExit",
    "ZoneIndex",
    "analyse_track",
    "area_m2",
    "checkpoint_visit_counts",
    "coverage_ratio",
    "distance_outside_m",
    "distances_outside_m",
    "from_local",
    "haversine_m",
    "parse_area",
    "path_length_m",
    "to_geojson",
    "to_local",
]
