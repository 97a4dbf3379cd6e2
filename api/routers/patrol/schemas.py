"""Request and response bodies of the patrol API.

No postponed annotations here: three bodies name the module the spec knew them by, and pydantic
would look their annotations up there.
"""

import uuid
from datetime import UTC, date
from operator import itemgetter
from typing import Annotated, Any, Literal

from pydantic import Field, GetPydanticSchema, ValidationError
from pydantic_core import SchemaValidator, core_schema

from api.schemas import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    RFC3339_PATTERN,
    Lat,
    Lon,
    LongText,
    Name,
    Output,
    StrictInput,
    UtcInput,
    UtcOutput,
)
from models.patrol import Checkpoint, RoundStatus, VisitMethod, ZoneKind
from services.patrol import analysis, rules
from services.patrol.points import PointBatch, PointInput

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


# The usual batch, checked by pydantic-core alone: PointIn's rules without a Python call per
# field (StrictInput's generic rule, `UtcInput`'s checks), in a form that accepts only what
# PointsBatch accepts. What it refuses goes through PointsBatch, whose answer (the value, or
# the 422's errors) is then the one given, so the contract stays PointsBatch's
# (tests/patrol/test_points_body.py holds the two to the same answers).
_MAYBE_FLOAT = core_schema.with_default_schema(
    core_schema.nullable_schema(core_schema.float_schema()), default=None
)
_USUAL_POINT = core_schema.typed_dict_schema(
    {
        "id": core_schema.typed_dict_field(core_schema.uuid_schema()),
        # Strict text matched unstripped, as UtcInput checks it before pydantic parses it
        # (the Rust engine's `$` takes no trailing newline: stricter, never looser).
        "ts": core_schema.typed_dict_field(
            core_schema.chain_schema(
                [
                    core_schema.str_schema(pattern=RFC3339_PATTERN, strict=True),
                    core_schema.datetime_schema(tz_constraint="aware"),
                ]
            )
        ),
        "lon": core_schema.typed_dict_field(core_schema.float_schema()),
        "lat": core_schema.typed_dict_field(core_schema.float_schema()),
        "accuracy_m": core_schema.typed_dict_field(_MAYBE_FLOAT, required=False),
        "speed_mps": core_schema.typed_dict_field(_MAYBE_FLOAT, required=False),
        "is_mock": core_schema.typed_dict_field(
            core_schema.with_default_schema(core_schema.bool_schema(), default=False),
            required=False,
        ),
    },
    extra_behavior="forbid",
)
_USUAL_BATCH = SchemaValidator(
    core_schema.typed_dict_schema(
        {
            "points": core_schema.typed_dict_field(
                core_schema.list_schema(_USUAL_POINT, min_length=1)
            )
        },
        extra_behavior="forbid",
    )
)
_FIELDS = ("id", "lon", "lat", "accuracy_m", "speed_mps", "is_mock")


def _points_as_columns(value: Any, batch_schema: core_schema.ValidatorFunctionWrapHandler) -> Any:
    """A PointsBatch body as the service's columns, with no Python object per point built.

    The years are UtcInput's and StrictInput's check (sent, and in UTC); a batch failing them,
    or `_USUAL_BATCH`, is validated by PointsBatch (`batch_schema`), which raises its errors.
    """
    try:
        usual = _USUAL_BATCH.validate_python(value)["points"]
    except ValidationError:
        usual = None
    if usual is not None:
        sent = list(map(itemgetter("ts"), usual))
        ts = [t.astimezone(UTC) for t in sent]
        years = {t.year for t in sent} | {t.year for t in ts}
        if EARLIEST_YEAR <= min(years) and max(years) <= LATEST_YEAR:
            ids, lon, lat, accuracy_m, speed_mps, is_mock = (
                list(map(itemgetter(name), usual)) for name in _FIELDS
            )
            return PointBatch(
                ids=ids,
                ts=ts,
                lon=lon,
                lat=lat,
                accuracy_m=accuracy_m,
                speed_mps=speed_mps,
                is_mock=is_mock,
            )
    return batch_columns(batch_schema(value))


def batch_columns(batch: PointsBatch) -> PointBatch:
    """A validated PointsBatch as the service's columns."""
    return PointBatch.of(
        PointInput(
            id=p.id,
            ts=p.ts,
            lon=p.lon,
            lat=p.lat,
            accuracy_m=p.accuracy_m,
            speed_mps=p.speed_mps,
            is_mock=p.is_mock,
        )
        for p in batch.points
    )


# The body of `POST /rounds/{id}/points`: documented (and, outside the usual batch, validated)
# as PointsBatch, read as columns.
PointsUpload = Annotated[
    PointBatch,
    GetPydanticSchema(
        lambda _source, handler: core_schema.no_info_wrap_validator_function(
            _points_as_columns, handler.generate_schema(PointsBatch)
        )
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
