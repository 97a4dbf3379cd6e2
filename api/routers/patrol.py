"""Patrol zones, checkpoints, shifts and rounds (supervisor/admin manage; patrol members patrol)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import Field

from api.deps import CurrentUser, loader, roles
from api.pagination import PageParams, paginate
from api.schemas import Lat, Lon, LongText, Name, Output, Page, StrictInput, UtcInput, UtcOutput
from grassroots import clock
from models.org import Role, User
from models.patrol import (
    Assignment,
    Checkpoint,
    CheckpointVisit,
    Incident,
    Round,
    RoundStatus,
    VisitMethod,
    Zone,
    ZoneKind,
)
from services import patrol
from services.errors import BadRequest
from services.idempotency import fingerprint
from services.scope import Access, in_subtree

router = APIRouter(tags=["patrol"])

MANAGERS = (Role.admin.value, Role.supervisor.value)
ZONE_READ = Access(
    Zone, roles=[*MANAGERS, Role.officer.value, Role.patrol.value], scope=patrol.zone_scope
)
ZONE_MANAGE = Access(Zone, roles=MANAGERS, scope=patrol.managed_zone_scope)
ROUND_READ = Access(Round, roles=[*MANAGERS, Role.patrol.value], scope=patrol.round_scope)
OWN_ROUND = Access(Round, roles=[Role.patrol.value], scope=patrol.own_round_scope)

ReadableZone = Annotated[Zone, Depends(loader(ZONE_READ))]
ManagedZone = Annotated[Zone, Depends(loader(ZONE_MANAGE))]
ReadableRound = Annotated[Round, Depends(loader(ROUND_READ))]
OwnRound = Annotated[Round, Depends(loader(OWN_ROUND))]

ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The role may not do this"},
    404: {"description": "Not found or outside the caller's scope"},
    409: {"description": "The id is used by a different body, or the state forbids it"},
    422: {"description": "Invalid input (invalid_geometry names the fault and where it is)"},
}

GeoJsonArea = Annotated[
    dict[str, Any],
    Field(description="GeoJSON Polygon or MultiPolygon, WGS 84 lon/lat, at most 10,000 positions"),
]


# --- schemas -------------------------------------------------------------------------------------


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


class AssignmentPublic(Output):
    id: uuid.UUID
    zone_id: uuid.UUID
    user_id: uuid.UUID
    starts_at: UtcOutput
    ends_at: UtcOutput


class MyAssignment(AssignmentPublic):
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
            json_schema_extra={"maxItems": patrol.MAX_BATCH},
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


class VisitCreate(StrictInput):
    id: uuid.UUID
    checkpoint_id: uuid.UUID
    ts: UtcInput
    lon: Lon
    lat: Lat
    method: VisitMethod
    code: Annotated[str | None, Field(max_length=64)] = None
    accuracy_m: Annotated[float | None, Field(ge=0, le=100_000)] = None
    is_mock: bool = False


class VisitPublic(Output):
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


def zone_public(zone: Zone) -> ZonePublic:
    """The public view of a zone."""
    return ZonePublic.model_validate(zone)


def checkpoint_public(checkpoint: Checkpoint, *, with_code: bool) -> CheckpointPublic:
    """A checkpoint, its tag secret only when asked for (managers)."""
    view = CheckpointPublic.model_validate(checkpoint)
    return view if with_code else view.model_copy(update={"code": None})


def summary_public(summary: patrol.RoundSummary) -> RoundSummaryPublic:
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


def _parse_lon_lat(raw: str) -> tuple[float, float]:
    try:
        lon_text, lat_text = raw.split(",")
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        raise BadRequest("invalid_contains") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadRequest("invalid_contains")
    return lon, lat


# --- zones ---------------------------------------------------------------------------------------


@router.post(
    "/zones", operation_id="create_zone", status_code=status.HTTP_201_CREATED, responses=ERRORS
)
async def create_zone(
    body: ZoneCreate, user: Annotated[User, Depends(roles(*MANAGERS))]
) -> ZonePublic:
    """A zone in my subtree; invalid geometry is a 422 `invalid_geometry` naming fault and place."""
    zone = await patrol.create_zone(
        user=user,
        name=body.name,
        kind=body.kind,
        org_unit_id=body.org_unit_id,
        geometry=body.geometry,
    )
    return zone_public(zone)


@router.post("/zones/import", operation_id="import_zones", responses=ERRORS)
async def import_zones(
    body: FeatureCollection,
    user: Annotated[User, Depends(roles(*MANAGERS))],
    org_unit_id: Annotated[uuid.UUID, Query()],
) -> ImportResultPublic:
    """One zone per Feature (properties `name`, `kind`); each bad feature rejected by index."""
    result = await patrol.import_zones(user=user, org_unit_id=org_unit_id, features=body.features)
    return ImportResultPublic(
        created=[zone_public(z) for z in result.created],
        rejected=[ImportRejection(**r) for r in result.rejected],
    )


@router.get("/zones", operation_id="list_zones", responses=ERRORS)
async def list_zones(
    user: CurrentUser,
    page: PageParams,
    kind: Annotated[ZoneKind | None, Query()] = None,
    contains: Annotated[
        str | None, Query(max_length=64, description="LON,LAT: zones covering this point")
    ] = None,
) -> Page[ZonePublic]:
    """Zones I may see, by kind and by a point they cover."""
    qs = ZONE_READ.queryset(user)
    if kind is not None:
        qs = qs.filter(kind=kind)
    if contains is not None:
        lon, lat = _parse_lon_lat(contains)
        qs = await patrol.filter_containing(qs, lon=lon, lat=lat)
    rows, cursor = await paginate(qs, page)
    return Page(items=[zone_public(z) for z in rows], next_cursor=cursor)


@router.get("/zones/{id}", operation_id="get_zone", responses=ERRORS)
async def get_zone(zone: ReadableZone) -> ZonePublic:
    """One zone I may see."""
    return zone_public(zone)


@router.patch("/zones/{id}", operation_id="update_zone", responses=ERRORS)
async def update_zone(body: ZoneUpdate, zone: ManagedZone) -> ZonePublic:
    """Rename, re-kind or reshape a zone in my subtree."""
    return zone_public(
        await patrol.update_zone(zone=zone, name=body.name, kind=body.kind, geometry=body.geometry)
    )


@router.delete(
    "/zones/{id}",
    operation_id="delete_zone",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def delete_zone(zone: ManagedZone) -> Response:
    """Retire a zone (soft delete: past rounds keep it)."""
    await patrol.delete_zone(zone=zone)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/zones/{id}/checkpoints",
    operation_id="create_checkpoint",
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def create_checkpoint(body: CheckpointCreate, zone: ManagedZone) -> CheckpointPublic:
    """A checkpoint in a zone I manage, with the secret code for its tag."""
    checkpoint = await patrol.create_checkpoint(
        zone=zone,
        name=body.name,
        lon=body.lon,
        lat=body.lat,
        radius_m=body.radius_m,
        required=body.required,
    )
    return checkpoint_public(checkpoint, with_code=True)


@router.get("/zones/{id}/checkpoints", operation_id="list_checkpoints", responses=ERRORS)
async def list_checkpoints(user: CurrentUser, zone: ReadableZone) -> list[CheckpointPublic]:
    """Checkpoints of a zone I may see (codes only for its managers)."""
    with_code = user.has_role(*MANAGERS) and in_subtree(user=user, org_path=zone.org_path)
    rows = (await patrol.zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    return [checkpoint_public(c, with_code=with_code) for c in rows]


@router.post(
    "/zones/{id}/assignments",
    operation_id="create_assignment",
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def create_assignment(
    body: AssignmentCreate, user: CurrentUser, zone: ManagedZone
) -> AssignmentPublic:
    """A patrol shift for a member of my subtree in a zone I manage."""
    assignment = await patrol.create_assignment(
        actor=user, zone=zone, user_id=body.user_id, starts_at=body.starts_at, ends_at=body.ends_at
    )
    return AssignmentPublic.model_validate(assignment)


@router.get("/zones/{id}/assignments", operation_id="list_zone_assignments", responses=ERRORS)
async def list_zone_assignments(zone: ManagedZone, page: PageParams) -> Page[AssignmentPublic]:
    """Shifts in a zone I manage, latest first."""
    rows, cursor = await paginate(Assignment.filter(zone_id=zone.id), page, order_field="starts_at")
    return Page(items=[AssignmentPublic.model_validate(a) for a in rows], next_cursor=cursor)


@router.get("/me/assignments", operation_id="list_my_assignments", responses=ERRORS)
async def list_my_assignments(
    user: CurrentUser,
    start: Annotated[UtcInput | None, Query(alias="from", description="Default: a day ago")] = None,
    end: Annotated[UtcInput | None, Query(alias="to", description="Default: a week ahead")] = None,
) -> list[MyAssignment]:
    """My shifts overlapping [from, to), with their zones' geometry and checkpoints (no codes)."""
    now = clock.now()
    rows = await patrol.my_assignments(
        user=user, start=start or now - timedelta(days=1), end=end or now + timedelta(days=7)
    )
    checkpoints = await patrol.zone_checkpoints(zone_ids={a.zone.id for a in rows})
    return [
        MyAssignment(
            id=a.id,
            zone_id=a.zone.id,
            user_id=user.id,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            zone=zone_public(a.zone),
            checkpoints=[
                checkpoint_public(c, with_code=False) for c in checkpoints.get(a.zone.id, [])
            ],
        )
        for a in rows
    ]


@router.get(
    "/zones/{id}/report",
    operation_id="zone_report",
    responses={
        **ERRORS,
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The report as JSON, or CSV (UTF-8 with BOM) with ?format=csv",
        },
    },
)
async def zone_report(
    zone: ManagedZone,
    day: Annotated[date, Query(alias="date", description="Local date YYYY-MM-DD")],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """A zone's local day: rounds, time on patrol, coverage, checkpoint tallies, incidents."""
    report = await patrol.zone_report(zone=zone, day=day)
    if format == "csv":
        return Response(
            content=patrol.report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="zone-report-{day.isoformat()}.csv"'
            },
        )
    return ZoneReportPublic(
        zone_id=zone.id,
        date=day,
        rounds=report.rounds,
        patrol_seconds=report.patrol_seconds,
        coverage_ratio=report.coverage_ratio,
        checkpoints=[
            CheckpointTallyPublic.model_validate(t, from_attributes=True)
            for t in report.checkpoints
        ],
        incidents=[IncidentPublic.model_validate(i) for i in report.incidents],
    )


@router.get("/zones/{id}/positions", operation_id="zone_positions", responses=ERRORS)
async def zone_positions(zone: ManagedZone) -> list[PositionPublic]:
    """The latest position of each active round in a zone I manage (audited)."""
    return [
        PositionPublic.model_validate(p, from_attributes=True)
        for p in await patrol.zone_positions(zone=zone)
    ]


# --- rounds --------------------------------------------------------------------------------------


@router.post(
    "/rounds", operation_id="start_round", status_code=status.HTTP_201_CREATED, responses=ERRORS
)
async def start_round(
    body: RoundCreate, response: Response, user: Annotated[User, Depends(roles(Role.patrol))]
) -> RoundPublic:
    """Start a round in a zone where I have a shift (a replay of the same id answers 200)."""
    round_, created = await patrol.start_round(
        user=user,
        round_id=body.id,
        zone_id=body.zone_id,
        started_at=body.started_at,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return RoundPublic.model_validate(round_)


@router.get("/rounds", operation_id="list_rounds", responses=ERRORS)
async def list_rounds(
    user: CurrentUser,
    page: PageParams,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
    start: Annotated[UtcInput | None, Query(alias="from")] = None,
    end: Annotated[UtcInput | None, Query(alias="to")] = None,
) -> Page[RoundPublic]:
    """Rounds I may see (mine; a supervisor's subtree), newest first."""
    qs = ROUND_READ.queryset(user)
    if zone_id is not None:
        qs = qs.filter(zone_id=zone_id)
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    if start is not None:
        qs = qs.filter(started_at__gte=start)
    if end is not None:
        qs = qs.filter(started_at__lt=end)
    rows, cursor = await paginate(qs, page, order_field="started_at")
    return Page(items=[RoundPublic.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/rounds/{id}", operation_id="get_round", responses=ERRORS)
async def get_round(round_: ReadableRound) -> RoundSummaryPublic:
    """A round's summary, computed from its whole time-sorted track (late points count)."""
    return summary_public(await patrol.round_summary(round=round_))


@router.get("/rounds/{id}/track", operation_id="get_round_track", responses=ERRORS)
async def get_round_track(round_: ReadableRound) -> TrackFeature:
    """The stored points as a GeoJSON LineString Feature in time order (audited read)."""
    return TrackFeature.model_validate(await patrol.round_track(round=round_))


@router.post(
    "/rounds/{id}/points",
    operation_id="add_round_points",
    responses={
        **ERRORS,
        413: {"description": "More than 1000 points: nothing stored"},
    },
)
async def add_round_points(body: PointsBatch, round_: OwnRound) -> PointsResultPublic:
    """Store a batch of 1..1000 points (late, out of order, replayed: each id is stored once)."""
    result = await patrol.add_points(
        round=round_,
        points=[
            patrol.PointInput(
                id=p.id,
                ts=p.ts,
                lon=p.lon,
                lat=p.lat,
                accuracy_m=p.accuracy_m,
                speed_mps=p.speed_mps,
                is_mock=p.is_mock,
            )
            for p in body.points
        ],
        now=clock.now(),
    )
    return PointsResultPublic(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[PointRejection(**r) for r in result.rejected],
        in_zone=result.in_zone,
    )


@router.post(
    "/rounds/{id}/checkpoint-visits",
    operation_id="add_checkpoint_visit",
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def add_checkpoint_visit(
    body: VisitCreate, response: Response, user: CurrentUser, round_: OwnRound
) -> VisitPublic:
    """A checkpoint visit by GPS (within radius + min(accuracy, 50 m)) or by the tag's code."""
    result = await patrol.record_visit(
        round=round_,
        visit_id=body.id,
        checkpoint_id=body.checkpoint_id,
        ts=body.ts,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        method=body.method,
        code=body.code,
        is_mock=body.is_mock,
        request_hash=fingerprint(body, owner=(user.id, round_.id)),
        now=clock.now(),
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return _visit_public(result.visit)


def _visit_public(visit: CheckpointVisit) -> VisitPublic:
    return VisitPublic.model_validate(visit)


@router.post(
    "/rounds/{id}/incidents",
    operation_id="add_incident",
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def add_incident(
    body: IncidentCreate, response: Response, user: CurrentUser, round_: OwnRound
) -> IncidentPublic:
    """Report an incident during my round."""
    incident, created = await patrol.report_incident(
        round=round_,
        incident_id=body.id,
        ts=body.ts,
        lon=body.lon,
        lat=body.lat,
        category=body.category,
        description=body.description,
        request_hash=fingerprint(body, owner=(user.id, round_.id)),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _incident_public(incident)


def _incident_public(incident: Incident) -> IncidentPublic:
    return IncidentPublic.model_validate(incident)


@router.post("/rounds/{id}/end", operation_id="end_round", responses=ERRORS)
async def end_round(body: RoundEnd, round_: OwnRound) -> RoundSummaryPublic:
    """End my round and get its summary (the same `ended_at` again is a no-op)."""
    summary, _created = await patrol.end_round(
        round=round_, ended_at=body.ended_at, now=clock.now()
    )
    return summary_public(summary)
