"""Request and response bodies of the patrol API.

No postponed annotations here: three bodies name the module the spec knew them by, and pydantic
would look their annotations up there.
"""

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from api.schemas import Lat, Lon, LongText, Name, Output, StrictInput, UtcInput, UtcOutput
from models.patrol import Checkpoint, RoundStatus, VisitMethod, ZoneKind
from services.patrol import analysis, rules

GeoJsonArea = Annotated[
    dict[str, Any],
    Field(description="GeoJSON Polygon or MultiPolygon, WGS 84 lon/lat, at most 10,000 positions"),
]


class ZoneCreate(StrictInput):
    name: Name
    kind: ZoneKind = ZoneKind.patrol
    org_unit_id: uuid.UUID
    geometry: GeoJsonArea


class ZoneUpdate(StrictInput):
    name: Name | None = None
    kind: ZoneKind | None = None
    geometry: GeoJsonArea | None = None


class ZonePublic(Output):
    id: uuid.UUID
    name: str
    kind: ZoneKind
    org_unit_id: uuid.UUID
    geometry: dict[str, Any]
    area_m2: float
    created_at: UtcOutput
    updated_at: UtcOutput


class FeatureCollection(StrictInput):
    type: Literal["FeatureCollection"]
    features: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]
    # Written by QGIS and ogr2ogr; accepted and ignored.
    name: Annotated[str | None, Field(max_length=200)] = None
    crs: dict[str, Any] | None = None
    bbox: Annotated[list[float] | None, Field(max_length=6)] = None


class ImportRejection(Output):
    index: int
    reason: str
    reason_zh: str | None = None
    fault: str | None = None


class ImportResultPublic(Output):
    created: list[ZonePublic]
    rejected: list[ImportRejection]


class CheckpointCreate(StrictInput):
    name: Name
    lon: Lon
    lat: Lat
    radius_m: Annotated[float, Field(ge=5, le=500)] = 30.0
    required: bool = True


class CheckpointPublic(Output):
    id: uuid.UUID
    zone_id: uuid.UUID
    name: str
    lon: float
    lat: float
    radius_m: float
    required: bool
    code: str | None = Field(
        default=None,
        description="Secret of the printed QR/NFC tag: only for supervisors and admins",
    )


class AssignmentCreate(StrictInput):
    user_id: uuid.UUID
    starts_at: UtcInput
    ends_at: UtcInput


class PatrolAssignmentPublic(Output):
    # The spec names a schema whose class name another domain shares by its module: keep the
    # name it had before the router became a package (clients are generated from the spec).
    __module__ = "api.routers.patrol"

    id: uuid.UUID
    zone_id: uuid.UUID
    user_id: uuid.UUID
    starts_at: UtcOutput
    ends_at: UtcOutput


class MyAssignment(PatrolAssignmentPublic):
    zone: ZonePublic
    checkpoints: list[CheckpointPublic]


class RoundCreate(StrictInput):
    id: uuid.UUID
    zone_id: uuid.UUID
    started_at: UtcInput


class RoundPublic(Output):
    id: uuid.UUID
    zone_id: uuid.UUID
    user_id: uuid.UUID
    status: RoundStatus
    started_at: UtcOutput
    ended_at: UtcOutput | None
    points_count: int


class PointIn(StrictInput):
    id: uuid.UUID
    ts: UtcInput
    # Checked point by point by the service, so one bad fix does not refuse the whole batch.
    lon: float
    lat: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    is_mock: bool = False


class PointsBatch(StrictInput):
    points: Annotated[
        list[PointIn],
        Field(
            min_length=1,
            json_schema_extra={"maxItems": rules.MAX_BATCH},
            description="1..1000 points; a larger batch is a 413 and stores nothing",
        ),
    ]


class PointRejection(Output):
    id: str
    reason: str


class PointsResultPublic(Output):
    accepted: int
    duplicates: int
    rejected: list[PointRejection]
    in_zone: int


class CheckpointVisitCreate(StrictInput):
    # The spec names a schema whose class name another domain shares by its module: keep the
    # name it had before the router became a package (clients are generated from the spec).
    __module__ = "api.routers.patrol"

    id: uuid.UUID
    checkpoint_id: uuid.UUID
    ts: UtcInput
    lon: Lon
    lat: Lat
    method: VisitMethod
    code: Annotated[str | None, Field(max_length=64)] = None
    accuracy_m: Annotated[float | None, Field(ge=0, le=100_000)] = None
    is_mock: bool = False


class CheckpointVisitPublic(Output):
    # The spec names a schema whose class name another domain shares by its module: keep the
    # name it had before the router became a package (clients are generated from the spec).
    __module__ = "api.routers.patrol"

    id: uuid.UUID
    round_id: uuid.UUID
    checkpoint_id: uuid.UUID
    ts: UtcOutput
    method: VisitMethod
    accepted: bool
    distance_m: float


class IncidentCreate(StrictInput):
    id: uuid.UUID
    ts: UtcInput
    lon: Lon
    lat: Lat
    category: Annotated[str, Field(min_length=1, max_length=64)]
    description: LongText = ""


class IncidentPublic(Output):
    id: uuid.UUID
    round_id: uuid.UUID
    zone_id: uuid.UUID
    ts: UtcOutput
    lon: float
    lat: float
    category: str
    description: str


class RoundEnd(StrictInput):
    ended_at: UtcInput


class CheckpointOutcome(Output):
    id: uuid.UUID
    name: str
    required: bool
    visited_at: UtcOutput | None


class ZoneExitPublic(Output):
    exited_at: UtcOutput
    returned_at: UtcOutput | None


class RoundSummaryPublic(Output):
    id: uuid.UUID
    zone_id: uuid.UUID
    user_id: uuid.UUID
    status: RoundStatus
    started_at: UtcOutput
    ended_at: UtcOutput | None
    distance_m: float
    duration_s: float
    in_zone_ratio: float | None
    coverage_ratio: float
    zone_exits: int
    exits: list[ZoneExitPublic]
    checkpoints: list[CheckpointOutcome]
    missed_checkpoints: int
    points: int
    good_points: int


class LineString(Output):
    type: Literal["LineString"]
    coordinates: list[list[float]]


class TrackProperties(Output):
    round_id: uuid.UUID
    times: list[str]
    flags: list[str]
    point_ids: list[uuid.UUID]


class TrackFeature(Output):
    type: Literal["Feature"]
    geometry: LineString | None
    properties: TrackProperties


class CheckpointTallyPublic(Output):
    id: uuid.UUID
    name: str
    required: bool
    visits: int
    missed: int


class ZoneReportPublic(Output):
    zone_id: uuid.UUID
    date: date
    rounds: int
    patrol_seconds: float
    coverage_ratio: float
    checkpoints: list[CheckpointTallyPublic]
    incidents: list[IncidentPublic]


class PositionPublic(Output):
    round_id: uuid.UUID
    user_id: uuid.UUID
    full_name: str
    ts: UtcOutput
    lon: float
    lat: float
    accuracy_m: float | None
    in_zone: bool


# --- views ---------------------------------------------------------------------------------------


def checkpoint_public(checkpoint: Checkpoint, *, with_code: bool) -> CheckpointPublic:
    """A checkpoint, its tag secret only when asked for (managers)."""
    view = CheckpointPublic.model_validate(checkpoint)
    return view if with_code else view.model_copy(update={"code": None})


def summary_public(summary: analysis.RoundSummary) -> RoundSummaryPublic:
    """The public view of a round summary."""
    r = summary.round
    return RoundSummaryPublic(
        id=r.id,
        zone_id=r.zone_id,
        user_id=r.user_id,
        status=r.status,  # type: ignore[attr-defined]
        started_at=r.started_at,
        ended_at=r.ended_at,
        distance_m=summary.distance_m,
        duration_s=summary.duration_s,
        in_zone_ratio=summary.in_zone_ratio,
        coverage_ratio=summary.coverage_ratio,
        zone_exits=len(summary.exits),
        exits=[
            ZoneExitPublic(exited_at=e.exited_at, returned_at=e.returned_at) for e in summary.exits
        ],
        checkpoints=[
            CheckpointOutcome(id=c.id, name=c.name, required=c.required, visited_at=c.visited_at)
            for c in summary.checkpoints
        ],
        missed_checkpoints=len(summary.missed),
        points=summary.points,
        good_points=summary.good_points,
    )
