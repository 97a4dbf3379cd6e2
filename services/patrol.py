"""Patrol: zones, checkpoints, shifts, rounds with their tracks, reports, alerts and jobs.

Rules decided here (DESIGN.md leaves them open):
- A member may start a round only in a patrol zone with a shift of theirs whose window, opened an
  hour early, holds `started_at`. A zone never assigned to them is a 404, one assigned at another
  time a 422 `not_assigned`.
- A point is stored when its coordinates are finite and in range, its accuracy and speed are not
  negative, its time is not more than 5 min in the future, not more than 5 min before the round's
  start and, for an ended round, not more than 5 min after its end. Others are `rejected` one by
  one; the rest of the batch is stored.
- Zone exits are judged from the whole sorted track (late points count) by the worker job
  `patrol.zone_exits` and when a round ends, never on the upload's hot path; the nth exit of a
  round raises one alert, ever.
- Missed required checkpoints raise one alert per round when it ends, and one per shift (job
  `patrol.missed_checkpoints`) when no round of that shift already raised it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from geo.index import ZoneIndex
from geo.measure import LocalProjection, area_m2, haversine_m, to_local
from geo.track import PointFlag, TrackAnalysis, analyse_track, checkpoint_visit_counts
from geo.validation import InvalidGeometry, parse_area, to_geojson
from grassroots import clock
from grassroots.db import dialect
from grassroots.settings import get_settings
from models.org import OrgUnit, Role, User
from models.patrol import (
    Assignment,
    Checkpoint,
    CheckpointVisit,
    Incident,
    Round,
    RoundStatus,
    TrackPoint,
    VisitMethod,
    Zone,
    ZoneKind,
)
from services import alerts, audit
from services.context import current_actor
from services.errors import Conflict, Invalid, NotFound, TooLarge
from services.group_commit import GroupCommit
from services.idempotency import create_once
from services.jobs import job
from services.messages import register_messages
from services.org import org_unit_in_scope, supervisors_for
from services.scope import in_subtree, is_admin
from services.spreadsheet import excel_csv

register_messages(
    {
        "invalid_geometry": ("几何图形无效", "The geometry is invalid"),
        "batch_too_large": ("一批最多 {limit} 个点", "A batch holds at most {limit} points"),
        "not_assigned": (
            "该时间没有您在此区域的排班",
            "You have no shift in this zone at that time",
        ),
        "zone_not_patrol": ("该区域不是巡逻区域", "The zone is not a patrol zone"),
        "round_already_ended": ("巡逻已结束", "The round has already ended"),
        "invalid_time_range": ("结束时间须晚于开始时间", "The end must come after the start"),
        "shift_too_long": ("一个班次最长 24 小时", "A shift lasts at most 24 hours"),
        "user_not_patrol": (
            "该用户不是巡防队员或不在管辖范围内",
            "The user is not a patrol member in scope",
        ),
        "time_in_future": (
            "时间不能晚于当前时间 5 分钟以上",
            "The time is more than 5 minutes ahead",
        ),
        "checkpoint_not_in_zone": (
            "检查点不属于本次巡逻的区域",
            "The checkpoint is not in this round's zone",
        ),
        "time_outside_round": ("时间不在巡逻时段内", "The time lies outside the round"),
        "invalid_contains": (
            "contains 须为 经度,纬度",
            "contains must be LON,LAT within range",
        ),
        "too_many_checkpoints": (
            "一个区域最多 {limit} 个检查点",
            "A zone holds at most {limit} checkpoints",
        ),
    }
)

log = logging.getLogger("grassroots.patrol")

SLACK = timedelta(minutes=5)
ROUND_EARLY_START = timedelta(hours=1)
MAX_SHIFT = timedelta(hours=24)
MAX_BATCH = 1000
MAX_CHECKPOINTS_PER_ZONE = 500
ALERT_GRACE = timedelta(minutes=10)
MANAGER_ROLES = (Role.admin.value, Role.supervisor.value)


# --- scope ---------------------------------------------------------------------------------


def zone_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Zones a user may read: managers their subtree, officers permitted areas, patrol its own."""
    qs = qs.filter(deleted_at=None)
    if is_admin(user):
        return qs
    allowed: list[Q] = []
    if user.has_role(Role.supervisor):
        allowed.append(Q(org_path__startswith=user.org_path))
    if user.has_role(Role.officer):
        allowed.append(Q(org_path__startswith=user.org_path, kind=ZoneKind.permitted_area))
    if user.has_role(Role.patrol):
        allowed.append(Q(id__in=Subquery(Assignment.filter(user_id=user.id).values("zone_id"))))
    if not allowed:
        return qs.filter(id__in=[])
    return qs.filter(Q(*allowed, join_type=Q.OR))


def managed_zone_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Zones a supervisor or admin manages: the live ones in their subtree."""
    qs = qs.filter(deleted_at=None)
    return qs if is_admin(user) else qs.filter(org_path__startswith=user.org_path)


def round_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Rounds a user may read: their own, and a supervisor's subtree."""
    if is_admin(user):
        return qs
    allowed = Q(user_id=user.id)
    if user.has_role(Role.supervisor):
        allowed |= Q(org_path__startswith=user.org_path)
    return qs.filter(allowed)


def own_round_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Only the member's own rounds, with their zone (writes to a round are the member's alone)."""
    return qs.filter(user_id=user.id).select_related("zone")


# --- zone geometry caches ----------------------------------------------------------------------

_SHAPES: OrderedDict[tuple[uuid.UUID, datetime], Polygon | MultiPolygon] = OrderedDict()
_SHAPES_MAX = 512


def zone_shape(zone: Zone) -> Polygon | MultiPolygon:
    """The zone's prepared shapely geometry, cached per (id, updated_at) in this process."""
    key = (zone.id, zone.updated_at)
    found = _SHAPES.get(key)
    if found is not None:
        _SHAPES.move_to_end(key)
        return found
    geom = shape(zone.geometry)
    assert isinstance(geom, Polygon | MultiPolygon)
    shapely.prepare(geom)
    _SHAPES[key] = geom
    while len(_SHAPES) > _SHAPES_MAX:
        _SHAPES.popitem(last=False)
    return geom


@dataclass
class _IndexCache:
    version: tuple[str, str] | None = None
    index: ZoneIndex[uuid.UUID] = field(default_factory=lambda: ZoneIndex([]))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_INDEX = _IndexCache()


async def _zone_table_version() -> tuple[str, str]:
    """Count and latest change of the zone table: any write anywhere (any process) moves it."""
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        f'SELECT COUNT(*) AS n, MAX(updated_at) AS last FROM "{Zone._meta.db_table}"'
    )
    return str(rows[0]["n"]), str(rows[0]["last"])


async def zone_index() -> ZoneIndex[uuid.UUID]:
    """The process-wide index of every live zone, rebuilt when the zone table has changed."""
    version = await _zone_table_version()
    if version == _INDEX.version:
        return _INDEX.index
    async with _INDEX.lock:
        if version != _INDEX.version:
            rows = await Zone.filter(deleted_at=None).values_list("id", "geometry")
            zones = [(zone_id, shape(geometry)) for zone_id, geometry in rows]
            _INDEX.index = await asyncio.to_thread(ZoneIndex, zones)
            _INDEX.version = version
    return _INDEX.index


async def zones_at(*, lon: float, lat: float, kind: ZoneKind | None = None) -> list[uuid.UUID]:
    """Ids of the live zones covering a point (boundary included), for any capability."""
    ids = (await zone_index()).zones_containing(lon=lon, lat=lat)
    if kind is None or not ids:
        return ids
    keep = set(await Zone.filter(id__in=ids, kind=kind).values_list("id", flat=True))
    return [i for i in ids if i in keep]


# --- zones ---------------------------------------------------------------------------------------


def _geometry_error(exc: InvalidGeometry, loc: Sequence[str | int]) -> Invalid:
    """The 422 `invalid_geometry` problem naming the fault and its place."""
    return Invalid(
        "invalid_geometry",
        message_en=f"Invalid geometry: {exc.message_en}",
        message_zh=f"几何图形无效：{exc.message_zh}",
        errors=[
            {
                "loc": list(loc),
                "msg": exc.message_en,
                "msg_zh": exc.message_zh,
                "fault": exc.fault,
                "lon": exc.lon,
                "lat": exc.lat,
            }
        ],
    )


def validated_area(
    *, geojson: Any, loc: Sequence[str | int] = ("body", "geometry")
) -> tuple[dict[str, Any], float]:
    """Normalised GeoJSON and area in m² of an area, or a 422 `invalid_geometry`."""
    try:
        geom = parse_area(geojson=geojson)
    except InvalidGeometry as exc:
        raise _geometry_error(exc, loc) from None
    return to_geojson(geom=geom), area_m2(geom=geom)


async def create_zone(
    *, user: User, name: str, kind: ZoneKind, org_unit_id: uuid.UUID, geometry: Any
) -> Zone:
    """A zone in the caller's subtree, its geometry validated."""
    geojson, area = validated_area(geojson=geometry)
    unit = await org_unit_in_scope(
        user=user, org_unit_id=org_unit_id, code="org_unit_outside_scope"
    )
    zone = await _store_zone(unit=unit, name=name, kind=kind, geojson=geojson, area=area)
    return zone


async def _store_zone(
    *, unit: OrgUnit, name: str, kind: ZoneKind, geojson: dict[str, Any], area: float
) -> Zone:
    zone = await Zone.create(
        name=name, kind=kind, org_unit=unit, org_path=unit.path, geometry=geojson, area_m2=area
    )
    await audit.record(action="create", resource_type="zone", resource_id=zone.id)
    return zone


async def update_zone(
    *, zone: Zone, name: str | None, kind: ZoneKind | None, geometry: Any | None
) -> Zone:
    """Rename, re-kind or reshape a zone."""
    if geometry is not None:
        zone.geometry, zone.area_m2 = validated_area(geojson=geometry)
    if name is not None:
        zone.name = name
    if kind is not None:
        zone.kind = kind
    await zone.save()
    await audit.record(action="update", resource_type="zone", resource_id=zone.id)
    return zone


async def delete_zone(*, zone: Zone) -> None:
    """Soft-delete: past rounds keep their zone, new rounds and reads no longer see it."""
    zone.deleted_at = clock.now()
    await zone.save()
    await audit.record(action="delete", resource_type="zone", resource_id=zone.id)


@dataclass(frozen=True)
class ImportResult:
    """Zones created from a FeatureCollection and the features refused, by index."""

    created: list[Zone]
    rejected: list[dict[str, Any]]


async def import_zones(
    *, user: User, org_unit_id: uuid.UUID, features: Sequence[Any]
) -> ImportResult:
    """Create one zone per valid feature (properties `name`, `kind`); refuse the others by index."""
    unit = await org_unit_in_scope(
        user=user, org_unit_id=org_unit_id, code="org_unit_outside_scope"
    )
    created: list[Zone] = []
    rejected: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        reason = _feature_problem(feature)
        if reason is not None:
            rejected.append({"index": index, "reason": reason})
            continue
        props = feature.get("properties") or {}
        try:
            geom = parse_area(geojson=feature["geometry"])
        except InvalidGeometry as exc:
            rejected.append(
                {
                    "index": index,
                    "reason": f"invalid_geometry: {exc.message_en}",
                    "reason_zh": f"几何图形无效：{exc.message_zh}",
                    "fault": exc.fault,
                }
            )
            continue
        created.append(
            await _store_zone(
                unit=unit,
                name=props["name"].strip(),
                kind=ZoneKind(props.get("kind", "patrol")),
                geojson=to_geojson(geom=geom),
                area=area_m2(geom=geom),
            )
        )
    return ImportResult(created=created, rejected=rejected)


def _feature_problem(feature: Any) -> str | None:
    """Why a feature cannot become a zone (other than its geometry), or None."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return "not_a_feature"
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return "invalid_properties"
    name = props.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        return "invalid_name"
    if props.get("kind", "patrol") not in {k.value for k in ZoneKind}:
        return "invalid_kind"
    if not isinstance(feature.get("geometry"), dict):
        return "invalid_geometry: missing geometry"
    return None


async def filter_containing(qs: QuerySet[Any], *, lon: float, lat: float) -> QuerySet[Any]:
    """Restrict a zone queryset to zones covering the point, through the cached index."""
    ids = (await zone_index()).zones_containing(lon=lon, lat=lat)
    return qs.filter(id__in=ids)


# --- checkpoints and shifts ----------------------------------------------------------------------


async def create_checkpoint(
    *, zone: Zone, name: str, lon: float, lat: float, radius_m: float, required: bool
) -> Checkpoint:
    """A checkpoint of a zone with a fresh secret code for its tag."""
    if (
        await Checkpoint.filter(zone_id=zone.id, deleted_at=None).count()
        >= MAX_CHECKPOINTS_PER_ZONE
    ):
        raise Invalid("too_many_checkpoints", params={"limit": MAX_CHECKPOINTS_PER_ZONE})
    checkpoint = await Checkpoint.create(
        zone=zone,
        org_path=zone.org_path,
        name=name,
        lon=lon,
        lat=lat,
        radius_m=radius_m,
        required=required,
        code=secrets.token_urlsafe(12),
    )
    await audit.record(action="create", resource_type="checkpoint", resource_id=checkpoint.id)
    return checkpoint


async def zone_checkpoints(*, zone_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Checkpoint]]:
    """Live checkpoints of each zone, by name."""
    out: dict[uuid.UUID, list[Checkpoint]] = {}
    rows = await Checkpoint.filter(zone_id__in=list(zone_ids), deleted_at=None).order_by(
        "name", "id"
    )
    for checkpoint in rows:
        out.setdefault(checkpoint.zone_id, []).append(checkpoint)  # type: ignore[attr-defined]
    return out


async def create_assignment(
    *, actor: User, zone: Zone, user_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> Assignment:
    """A shift for a patrol member of the caller's subtree."""
    if ends_at <= starts_at:
        raise Invalid("invalid_time_range")
    if ends_at - starts_at > MAX_SHIFT:
        raise Invalid("shift_too_long")
    if zone.kind != ZoneKind.patrol:
        raise Invalid("zone_not_patrol")
    member = await User.get_or_none(id=user_id, is_active=True, deleted_at=None)
    if (
        member is None
        or not member.has_role(Role.patrol)
        or not in_subtree(user=actor, org_path=member.org_path)
    ):
        raise Invalid(
            "user_not_patrol", errors=[{"loc": ["body", "user_id"], "msg": "user_not_patrol"}]
        )
    assignment = await Assignment.create(
        zone=zone, user=member, org_path=zone.org_path, starts_at=starts_at, ends_at=ends_at
    )
    await audit.record(action="create", resource_type="assignment", resource_id=assignment.id)
    return assignment


async def my_assignments(*, user: User, start: datetime, end: datetime) -> list[Assignment]:
    """The member's shifts overlapping [start, end), in live zones, with their zones."""
    return list(
        await Assignment.filter(
            user_id=user.id, starts_at__lt=end, ends_at__gt=start, zone__deleted_at=None
        )
        .select_related("zone")
        .order_by("starts_at", "id")
        .limit(500)
    )


# --- rounds --------------------------------------------------------------------------------------


async def start_round(
    *,
    user: User,
    round_id: uuid.UUID,
    zone_id: uuid.UUID,
    started_at: datetime,
    request_hash: str,
    now: datetime,
) -> tuple[Round, bool]:
    """Start (or replay) a round in a zone where the member has a shift at `started_at`."""
    existing = await Round.get_or_none(id=round_id)
    if existing is not None:
        if existing.request_hash != request_hash:
            raise Conflict("id_conflict")
        return existing, False
    zone = await zone_scope(Zone.all(), user).get_or_none(id=zone_id)
    if zone is None:
        raise NotFound()
    if zone.kind != ZoneKind.patrol:
        raise Invalid("zone_not_patrol")
    if started_at > now + SLACK:
        raise Invalid("time_in_future")
    on_shift = await Assignment.filter(
        user_id=user.id,
        zone_id=zone.id,
        starts_at__lte=started_at + ROUND_EARLY_START,
        ends_at__gte=started_at,
    ).exists()
    if not on_shift:
        raise Invalid("not_assigned")
    try:
        async with in_transaction():
            created = await Round.create(
                id=round_id,
                user=user,
                zone=zone,
                org_path=zone.org_path,
                started_at=started_at,
                request_hash=request_hash,
            )
    except IntegrityError:
        # The same id raced in from a retry: answer as a replay would.
        return await start_round(
            user=user,
            round_id=round_id,
            zone_id=zone_id,
            started_at=started_at,
            request_hash=request_hash,
            now=now,
        )
    await audit.record(action="create", resource_type="round", resource_id=created.id)
    return created, True


@dataclass(frozen=True)
class PointInput:
    """One point as the phone sent it (coordinates unchecked: they are judged one by one)."""

    id: uuid.UUID
    ts: datetime
    lon: float
    lat: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    is_mock: bool = False


@dataclass(frozen=True)
class PointsResult:
    """What happened to a batch."""

    accepted: int
    duplicates: int
    rejected: list[dict[str, str]]
    in_zone: int


def _point_problem(
    point: PointInput, *, earliest: datetime, latest: datetime, ended_by: datetime | None
) -> str | None:
    """Why one point is refused, or None."""
    lon, lat = point.lon, point.lat
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        return "invalid_coordinates"
    for value in (point.accuracy_m, point.speed_mps):
        if value is not None and not (math.isfinite(value) and value >= 0):
            return "invalid_measurement"
    if point.ts > latest:
        return "in_future"
    if point.ts < earliest:
        return "before_round_start"
    if ended_by is not None and point.ts > ended_by:
        return "after_round_end"
    return None


# Raw SQL on the one hot path: Tortoise builds a model object per row in bulk_create, which
# costs more than the database. One INSERT per batch, one SELECT for the ids already known.
_POINT_COLUMNS = (
    "id",
    "round_id",
    "ts",
    "lon",
    "lat",
    "accuracy_m",
    "speed_mps",
    "is_mock",
    "in_zone",
    "received_at",
)
_TABLE = TrackPoint._meta.db_table
# PostgreSQL takes the batch as ten arrays (unnest): ten parameters instead of 5,000.
_PG_INSERT = (
    f'INSERT INTO "{_TABLE}" ({",".join(_POINT_COLUMNS)}) '
    "SELECT u.id, $2, u.ts, u.lon, u.lat, u.accuracy_m, u.speed_mps, u.is_mock, u.in_zone, $3 "
    "FROM unnest($1::uuid[], $4::timestamptz[], $5::float8[], $6::float8[], $7::float8[], "
    "$8::float8[], $9::bool[], $10::bool[]) "
    "AS u(id, ts, lon, lat, accuracy_m, speed_mps, is_mock, in_zone)"
)
_PG_STORED = f'SELECT id, round_id, ts, lon, lat FROM "{_TABLE}" WHERE id = ANY($1::uuid[])'


@dataclass(frozen=True)
class _NewPoints:
    """A checked batch ready to insert."""

    round_id: uuid.UUID
    points: list[PointInput]
    in_zone: list[bool]
    received_at: datetime


async def _insert_points(conn: BaseDBAsyncClient, batch: _NewPoints) -> None:
    """One statement for the whole batch, in the dialect's fastest form."""
    points = batch.points
    if dialect() == "postgres":
        await conn.execute_query(
            _PG_INSERT,
            [
                [p.id for p in points],
                batch.round_id,
                batch.received_at,
                [p.ts for p in points],
                [p.lon for p in points],
                [p.lat for p in points],
                [p.accuracy_m for p in points],
                [p.speed_mps for p in points],
                [p.is_mock for p in points],
                batch.in_zone,
            ],
        )
        return
    round_key = str(batch.round_id)
    values: list[Any] = []
    for p, inside in zip(points, batch.in_zone, strict=True):
        values += [
            str(p.id),
            round_key,
            p.ts,
            p.lon,
            p.lat,
            p.accuracy_m,
            p.speed_mps,
            p.is_mock,
            inside,
            batch.received_at,
        ]
    group = "(" + ",".join("?" * len(_POINT_COLUMNS)) + ")"
    await conn.execute_query(
        f'INSERT INTO "{_TABLE}" ({",".join(_POINT_COLUMNS)}) VALUES '
        + ",".join([group] * len(points)),
        values,
    )


async def _stored_points(
    ids: Sequence[uuid.UUID],
) -> list[tuple[uuid.UUID, uuid.UUID, datetime, float, float]]:
    """(id, round_id, ts, lon, lat) of the points among `ids` already stored."""
    conn = connections.get("default")
    if dialect() == "postgres":
        _, rows = await conn.execute_query(_PG_STORED, [list(ids)])
    else:
        marks = ",".join("?" * len(ids))
        _, rows = await conn.execute_query(
            f'SELECT id, round_id, ts, lon, lat FROM "{_TABLE}" WHERE id IN ({marks})',
            [str(i) for i in ids],
        )
    out = []
    for row in rows:
        ts = row[2] if isinstance(row[2], datetime) else datetime.fromisoformat(str(row[2]))
        out.append(
            (uuid.UUID(str(row[0])), uuid.UUID(str(row[1])), ts, float(row[3]), float(row[4]))
        )
    return out


_POINT_WRITER = GroupCommit()


async def add_points(
    *, round: Round, points: Sequence[PointInput], now: datetime, _retry: bool = True
) -> PointsResult:
    """Store a batch: duplicates by id are skipped, bad points refused one by one, the rest kept.

    One SELECT finds ids already stored and one INSERT stores the batch, committed together with
    the round's change mark and the audit entry (grouped with concurrent batches), so a 2xx
    answer means every accepted point is on disk.
    """
    if len(points) > MAX_BATCH:
        raise TooLarge("batch_too_large", params={"limit": MAX_BATCH})
    earliest = round.started_at - SLACK
    latest = now + SLACK
    ended_by = round.ended_at + SLACK if round.ended_at is not None else None
    rejected: list[dict[str, str]] = []
    fresh: dict[uuid.UUID, PointInput] = {}
    duplicates = 0
    for point in points:
        problem = _point_problem(point, earliest=earliest, latest=latest, ended_by=ended_by)
        if problem is not None:
            rejected.append({"id": str(point.id), "reason": problem})
            continue
        seen = fresh.get(point.id)
        if seen is None:
            fresh[point.id] = point
        elif seen == point:
            duplicates += 1
        else:
            rejected.append({"id": str(point.id), "reason": "id_conflict"})
    if fresh:
        for point_id, round_id, ts, lon, lat in await _stored_points(list(fresh)):
            point = fresh.pop(point_id)
            if round_id == round.id and ts == point.ts and lon == point.lon and lat == point.lat:
                duplicates += 1
            else:
                rejected.append({"id": str(point_id), "reason": "id_conflict"})
    batch = list(fresh.values())
    if not batch:
        return PointsResult(accepted=0, duplicates=duplicates, rejected=rejected, in_zone=0)
    zone = zone_shape(round.zone)
    lons = np.fromiter((p.lon for p in batch), dtype=np.float64, count=len(batch))
    lats = np.fromiter((p.lat for p in batch), dtype=np.float64, count=len(batch))
    inside: list[bool] = shapely.intersects_xy(zone, lons, lats).tolist()
    new = _NewPoints(round_id=round.id, points=batch, in_zone=inside, received_at=now)
    actor = current_actor.get()

    async def write(conn: BaseDBAsyncClient) -> None:
        await _insert_points(conn, new)
        await (
            Round.filter(id=round.id)
            .using_db(conn)
            .update(points_count=F("points_count") + len(batch), track_changed_at=now)
        )
        # The group's task runs in another request's context: name the actor explicitly.
        await audit.record(
            action="create",
            resource_type="track",
            resource_id=round.id,
            detail={"points": len(batch)},
            actor=actor,
            using_db=conn,
        )

    try:
        await _POINT_WRITER.run(write)
    except IntegrityError:
        if not _retry:
            raise
        # A concurrent retry of the same batch won the insert: judge the batch again.
        return await add_points(round=round, points=points, now=now, _retry=False)
    return PointsResult(
        accepted=len(batch),
        duplicates=duplicates,
        rejected=rejected,
        in_zone=sum(1 for p, flag in zip(batch, inside, strict=True) if flag and not p.is_mock),
    )


@dataclass(frozen=True)
class VisitResult:
    """A checkpoint visit as stored, and whether it was a replay."""

    visit: CheckpointVisit
    created: bool


async def record_visit(
    *,
    round: Round,
    visit_id: uuid.UUID,
    checkpoint_id: uuid.UUID,
    ts: datetime,
    lon: float,
    lat: float,
    accuracy_m: float | None,
    method: VisitMethod,
    code: str | None,
    is_mock: bool,
    request_hash: str,
    now: datetime,
) -> VisitResult:
    """Judge and store a visit: GPS within radius + min(accuracy, 50 m), or the tag's code."""

    async def create() -> CheckpointVisit:
        checkpoint = await Checkpoint.get_or_none(
            id=checkpoint_id,
            zone_id=round.zone_id,  # type: ignore[attr-defined]
            deleted_at=None,
        )
        if checkpoint is None:
            raise Invalid(
                "checkpoint_not_in_zone",
                errors=[{"loc": ["body", "checkpoint_id"], "msg": "checkpoint_not_in_zone"}],
            )
        _check_round_time(round=round, ts=ts, now=now)
        distance_m = float(
            haversine_m(lon1=lon, lat1=lat, lon2=checkpoint.lon, lat2=checkpoint.lat)
        )
        if method == VisitMethod.gps:
            accepted = not is_mock and checkpoint_visit_counts(
                distance_m=distance_m, radius_m=checkpoint.radius_m, accuracy_m=accuracy_m
            )
        else:
            accepted = code is not None and secrets.compare_digest(
                code.encode(), checkpoint.code.encode()
            )
        visit = await CheckpointVisit.create(
            id=visit_id,
            round=round,
            checkpoint=checkpoint,
            ts=ts,
            lon=lon,
            lat=lat,
            accuracy_m=accuracy_m,
            method=method,
            accepted=accepted,
            distance_m=distance_m,
            request_hash=request_hash,
        )
        await audit.record(
            action="create",
            resource_type="checkpoint_visit",
            resource_id=visit.id,
            detail={"accepted": accepted, "method": method.value},
        )
        return visit

    visit, created = await create_once(
        CheckpointVisit, object_id=visit_id, request_hash=request_hash, create=create
    )
    return VisitResult(visit, created)


def _check_round_time(*, round: Round, ts: datetime, now: datetime) -> None:
    """A 422 unless `ts` lies in the round (5 min slack) and not in the future."""
    if ts > now + SLACK:
        raise Invalid("time_in_future")
    if ts < round.started_at - SLACK or (
        round.ended_at is not None and ts > round.ended_at + SLACK
    ):
        raise Invalid("time_outside_round")


async def report_incident(
    *,
    round: Round,
    incident_id: uuid.UUID,
    ts: datetime,
    lon: float,
    lat: float,
    category: str,
    description: str,
    request_hash: str,
    now: datetime,
) -> tuple[Incident, bool]:
    """Store (or replay) an incident reported during a round."""

    async def create() -> Incident:
        _check_round_time(round=round, ts=ts, now=now)
        incident = await Incident.create(
            id=incident_id,
            round=round,
            zone_id=round.zone_id,  # type: ignore[attr-defined]
            org_path=round.org_path,
            ts=ts,
            lon=lon,
            lat=lat,
            category=category,
            description=description,
            request_hash=request_hash,
        )
        await audit.record(action="create", resource_type="incident", resource_id=incident.id)
        return incident

    return await create_once(
        Incident, object_id=incident_id, request_hash=request_hash, create=create
    )


async def end_round(
    *, round: Round, ended_at: datetime, now: datetime
) -> tuple[RoundSummary, bool]:
    """End a round (a replay with the same time is a no-op) and raise its alerts."""
    if round.status == RoundStatus.ended:
        if round.ended_at != ended_at:
            raise Conflict("round_already_ended")
        return await round_summary(round=round), False
    if ended_at < round.started_at:
        raise Invalid("invalid_time_range")
    if ended_at > now + SLACK:
        raise Invalid("time_in_future")
    updated = await Round.filter(id=round.id, status=RoundStatus.active).update(
        status=RoundStatus.ended, ended_at=ended_at
    )
    await round.refresh_from_db()
    if updated != 1:  # ended concurrently: judge as a replay
        return await end_round(round=round, ended_at=ended_at, now=now)
    await audit.record(action="end", resource_type="round", resource_id=round.id)
    summary = await round_summary(round=round)
    await _raise_round_alerts(summary=summary, now=now, ended=True)
    return summary, True


# --- analysis ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointResult:
    """One checkpoint's outcome in a round."""

    id: uuid.UUID
    name: str
    required: bool
    visited_at: datetime | None


@dataclass(frozen=True)
class ExitResult:
    """One zone exit after hysteresis."""

    exited_at: datetime
    returned_at: datetime | None


@dataclass(frozen=True)
class RoundSummary:
    """A round judged from its sorted track."""

    round: Round
    distance_m: float
    duration_s: float
    in_zone_ratio: float | None
    coverage_ratio: float
    exits: list[ExitResult]
    checkpoints: list[CheckpointResult]
    points: int
    good_points: int
    good_lons: list[float] = field(repr=False)
    good_lats: list[float] = field(repr=False)

    @property
    def missed(self) -> list[CheckpointResult]:
        """Required checkpoints never visited."""
        return [c for c in self.checkpoints if c.required and c.visited_at is None]


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


async def round_summary(*, round: Round) -> RoundSummary:
    """Distance, presence, exits, coverage and checkpoints from the round's time-sorted track."""
    zone = await Zone.get(id=round.zone_id)  # type: ignore[attr-defined]
    rows = (
        await TrackPoint.filter(round_id=round.id)
        .order_by("ts", "id")
        .values_list("ts", "lon", "lat", "accuracy_m", "is_mock")
    )
    checkpoints = (await zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    ts = np.array([r[0].timestamp() for r in rows], dtype=np.float64)
    lons = np.array([r[1] for r in rows], dtype=np.float64)
    lats = np.array([r[2] for r in rows], dtype=np.float64)
    acc = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
    mock = np.array([bool(r[4]) for r in rows], dtype=np.bool_)
    geom = zone_shape(zone)
    analysis: TrackAnalysis = await asyncio.to_thread(
        analyse_track,
        ts=ts,
        lons=lons,
        lats=lats,
        accuracy_m=acc,
        is_mock=mock,
        zone=geom,
        checkpoints=[(c.id, c.lon, c.lat, c.radius_m) for c in checkpoints],
    )
    good = analysis.good
    explicit = await CheckpointVisit.filter(round_id=round.id, accepted=True).values_list(
        "checkpoint_id", "ts"
    )
    visited: dict[Hashable, datetime] = {}
    for key, at in analysis.checkpoint_visits.items():
        if at is not None:
            visited[key] = _utc(at)
    for checkpoint_id, at in explicit:
        if checkpoint_id not in visited or at < visited[checkpoint_id]:
            visited[checkpoint_id] = at
    if round.ended_at is not None:
        duration_s = max(0.0, (round.ended_at - round.started_at).total_seconds())
    elif good.any():
        duration_s = max(0.0, float(ts[good][-1]) - round.started_at.timestamp())
    else:
        duration_s = 0.0
    return RoundSummary(
        round=round,
        distance_m=analysis.distance_m,
        duration_s=duration_s,
        in_zone_ratio=analysis.in_zone_ratio,
        coverage_ratio=analysis.coverage_ratio,
        exits=[
            ExitResult(
                exited_at=_utc(e.exited_at),
                returned_at=None if e.returned_at is None else _utc(e.returned_at),
            )
            for e in analysis.zone_exits
        ],
        checkpoints=[
            CheckpointResult(
                id=c.id, name=c.name, required=c.required, visited_at=visited.get(c.id)
            )
            for c in checkpoints
        ],
        points=len(rows),
        good_points=int(good.sum()),
        good_lons=lons[good].tolist(),
        good_lats=lats[good].tolist(),
    )


async def round_track(*, round: Round) -> dict[str, Any]:
    """The stored points as a GeoJSON Feature (LineString, time order), with times and flags."""
    rows = (
        await TrackPoint.filter(round_id=round.id)
        .order_by("ts", "id")
        .values_list("ts", "lon", "lat", "accuracy_m", "is_mock", "id")
    )
    await audit.record(action="read", resource_type="track", resource_id=round.id)
    coordinates = [[lon, lat] for _, lon, lat, _, _, _ in rows]
    flags: list[str] = []
    if rows:
        zone = await Zone.get(id=round.zone_id)  # type: ignore[attr-defined]
        analysis = analyse_track(
            ts=[r[0].timestamp() for r in rows],
            lons=[r[1] for r in rows],
            lats=[r[2] for r in rows],
            accuracy_m=[np.nan if r[3] is None else r[3] for r in rows],
            is_mock=[bool(r[4]) for r in rows],
            zone=zone_shape(zone),
        )
        flags = [PointFlag(int(f)).label for f in analysis.flags]
    return {
        "type": "Feature",
        # A LineString needs two positions: a shorter track has no geometry yet.
        "geometry": {"type": "LineString", "coordinates": coordinates} if len(rows) >= 2 else None,
        "properties": {
            "round_id": str(round.id),
            "times": [r[0].astimezone(UTC).isoformat().replace("+00:00", "Z") for r in rows],
            "flags": flags,
            # Which points the server holds, so a phone can drop them from its offline buffer.
            "point_ids": [str(r[5]) for r in rows],
        },
    }


# --- alerts --------------------------------------------------------------------------------------


async def _raise_round_alerts(*, summary: RoundSummary, now: datetime, ended: bool) -> int:
    """Zone exits (the nth exit once, ever) and, for an ended round, missed required checkpoints."""
    round = summary.round
    zone = await Zone.get(id=round.zone_id).select_related("org_unit")  # type: ignore[attr-defined]
    member = await User.get(id=round.user_id)  # type: ignore[attr-defined]
    recipients = await supervisors_for(org_path=member.org_path)
    raised = 0
    for ordinal, exit_ in enumerate(summary.exits, start=1):
        key = f"{round.id}:exit{ordinal}"
        if await alerts.raise_alert(
            kind="zone_exit",
            subject_type="patrol_round",
            subject_id=round.id,
            org_unit=zone.org_unit,
            recipients=recipients,
            title=f"巡防队员 {member.full_name} 离开责任区 {zone.name}",
            dedup_key=key,
            detail={
                "zone_id": str(zone.id),
                "user_id": str(member.id),
                "exited_at": exit_.exited_at.isoformat(),
                "returned_at": None if exit_.returned_at is None else exit_.returned_at.isoformat(),
            },
            occurred_at=exit_.exited_at,
            once=True,
        ):
            raised += 1
    if ended:
        for checkpoint in summary.missed:
            key = f"round:{round.id}:{checkpoint.id}"
            if await alerts.raise_alert(
                kind="missed_checkpoint",
                subject_type="patrol_round",
                subject_id=round.id,
                org_unit=zone.org_unit,
                recipients=recipients,
                title=f"{member.full_name} 本次巡逻漏检 {checkpoint.name}",
                dedup_key=key,
                detail={
                    "zone_id": str(zone.id),
                    "checkpoint_id": str(checkpoint.id),
                    "user_id": str(member.id),
                },
                occurred_at=round.ended_at or now,
                once=True,
            ):
                raised += 1
    return raised


@job("patrol.zone_exits", every_s=30, transactional=False)
async def zone_exit_job(now: datetime) -> str:
    """Judge rounds whose track changed since last judged and alert each new zone exit.

    Each round is judged outside any transaction and settled in a short one of its own: one
    transaction for the whole run held row locks on rounds that point uploads update, for as
    long as the run took, and deadlocked with them under load (bench/city_morning.py). A round
    that fails is logged and judged again next run; the others are not held back by it.
    """
    pending = (
        await Round.filter(
            Q(track_changed_at__not_isnull=True)
            & (Q(analysed_at__isnull=True) | Q(analysed_at__lt=F("track_changed_at")))
        )
        .order_by("track_changed_at")
        .limit(200)
    )
    raised = failed = 0
    for round in pending:
        try:
            summary = await round_summary(round=round)
            async with in_transaction():
                raised += await _raise_round_alerts(
                    summary=summary, now=now, ended=round.status == RoundStatus.ended
                )
                # `now` is when the run began: points arriving meanwhile make it judged again.
                await Round.filter(id=round.id).update(analysed_at=now)
        except Exception:  # noqa: BLE001 - one round must not hold back the others
            failed += 1
            log.exception("zone exits of round %s not judged", round.id)
    failures = f", {failed} failed (judged again next run)" if failed else ""
    return f"judged {len(pending) - failed} rounds, raised {raised} alerts{failures}"


@job("patrol.missed_checkpoints", every_s=300)
async def missed_checkpoints_job(now: datetime) -> str:
    """Alert required checkpoints of shifts that ended (10 min ago, for late uploads) unvisited."""
    shifts = (
        await Assignment.filter(checked_at=None, ends_at__lte=now - ALERT_GRACE)
        .select_related("zone__org_unit", "user")
        .order_by("ends_at")
        .limit(200)
    )
    raised = 0
    for shift in shifts:
        raised += await _judge_shift(shift=shift)
        await Assignment.filter(id=shift.id).update(checked_at=now)
    return f"judged {len(shifts)} shifts, raised {raised} alerts"


async def _judge_shift(*, shift: Assignment) -> int:
    """Alerts for the shift's required checkpoints that no round of the shift visited."""
    required = [
        c
        for c in (await zone_checkpoints(zone_ids=[shift.zone.id])).get(shift.zone.id, [])
        if c.required
    ]
    if not required:
        return 0
    rounds = await Round.filter(
        user_id=shift.user.id,
        zone_id=shift.zone.id,
        started_at__lt=shift.ends_at,
        started_at__gte=shift.starts_at - ROUND_EARLY_START,
    )
    visited: set[Hashable] = set()
    round_alerted: set[Hashable] = set()
    for round in rounds:
        summary = await round_summary(round=round)
        visited |= {c.id for c in summary.checkpoints if c.visited_at is not None}
        for checkpoint in required:
            if await alerts.was_raised(
                kind="missed_checkpoint", dedup_key=f"round:{round.id}:{checkpoint.id}"
            ):
                round_alerted.add(checkpoint.id)
    recipients = await supervisors_for(org_path=shift.user.org_path)
    raised = 0
    for checkpoint in required:
        key = f"shift:{shift.id}:{checkpoint.id}"
        if checkpoint.id in visited or checkpoint.id in round_alerted:
            continue
        if await alerts.raise_alert(
            kind="missed_checkpoint",
            subject_type="patrol_assignment",
            subject_id=shift.id,
            org_unit=shift.zone.org_unit,
            recipients=recipients,
            title=f"{shift.user.full_name} 班次内未到检查点 {checkpoint.name}",
            dedup_key=key,
            detail={
                "zone_id": str(shift.zone.id),
                "checkpoint_id": str(checkpoint.id),
                "user_id": str(shift.user.id),
            },
            occurred_at=shift.ends_at,
            once=True,
        ):
            raised += 1
    return raised


@job("patrol.retention", every_s=3600, transactional=False)
async def retention_job(now: datetime) -> str:
    """Delete track points older than the retention period (precise locations: PIPL)."""
    days = get_settings().retention_days
    cutoff = now - timedelta(days=days)
    deleted = await TrackPoint.filter(ts__lt=cutoff).delete()
    await audit.record(
        action="delete",
        resource_type="track_point",
        resource_id=None,
        detail={"deleted": deleted, "older_than": cutoff.isoformat(), "retention_days": days},
    )
    return f"deleted {deleted} track points older than {days} days"


# --- supervisors' views --------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointTally:
    """A checkpoint's visits and misses over a day's rounds."""

    id: uuid.UUID
    name: str
    required: bool
    visits: int
    missed: int


@dataclass(frozen=True)
class ZoneReport:
    """One zone's local day."""

    zone: Zone
    day: date
    rounds: int
    patrol_seconds: float
    coverage_ratio: float
    checkpoints: list[CheckpointTally]
    incidents: list[Incident]


def union_coverage_ratio(
    *,
    zone: Polygon | MultiPolygon,
    tracks: Sequence[tuple[Sequence[float], Sequence[float]]],
    buffer_m: float = 50.0,
) -> float:
    """Share of the zone within `buffer_m` of any of several tracks (lons, lats), 0..1."""
    projection = LocalProjection.around(geom=zone)
    zone_local = to_local(geom=zone, projection=projection)
    if zone_local.area <= 0:
        return 0.0
    parts = []
    for lons, lats in tracks:
        if not len(lons):
            continue
        x_m, y_m = projection.forward(lons=lons, lats=lats)
        parts.append(
            shapely.points(x_m[0], y_m[0]) if len(lons) == 1 else shapely.linestrings(x_m, y_m)
        )
    if not parts:
        return 0.0
    swath = shapely.buffer(shapely.union_all(parts), buffer_m, quad_segs=16)
    return min(1.0, float(shapely.intersection(zone_local, swath).area) / float(zone_local.area))


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants starting and ending a day in the deployment's time zone."""
    tz = get_settings().tz
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def zone_report(*, zone: Zone, day: date) -> ZoneReport:
    """Rounds started that local day: time on patrol, union coverage, checkpoints, incidents."""
    start, end = local_day_bounds(day)
    rounds = await Round.filter(
        zone_id=zone.id, started_at__gte=start, started_at__lt=end
    ).order_by("started_at")
    summaries = [await round_summary(round=r) for r in rounds]
    checkpoints = (await zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    tallies = []
    for checkpoint in checkpoints:
        outcomes = [
            next((c for c in s.checkpoints if c.id == checkpoint.id), None) for s in summaries
        ]
        visits = sum(1 for o in outcomes if o is not None and o.visited_at is not None)
        missed = 0
        if checkpoint.required:
            missed = sum(
                1
                for s, o in zip(summaries, outcomes, strict=True)
                if s.round.status == RoundStatus.ended and (o is None or o.visited_at is None)
            )
        tallies.append(
            CheckpointTally(
                id=checkpoint.id,
                name=checkpoint.name,
                required=checkpoint.required,
                visits=visits,
                missed=missed,
            )
        )
    geom = zone_shape(zone)
    coverage = await asyncio.to_thread(
        union_coverage_ratio, zone=geom, tracks=[(s.good_lons, s.good_lats) for s in summaries]
    )
    incidents = (
        await Incident.filter(zone_id=zone.id, ts__gte=start, ts__lt=end).order_by("ts").limit(1000)
    )
    return ZoneReport(
        zone=zone,
        day=day,
        rounds=len(rounds),
        patrol_seconds=sum(s.duration_s for s in summaries),
        coverage_ratio=coverage,
        checkpoints=tallies,
        incidents=list(incidents),
    )


def report_csv(report: ZoneReport) -> bytes:
    """The report as CSV that Excel opens as UTF-8: BOM, CRLF, bilingual headers."""
    tz = get_settings().tz
    rows: list[Sequence[object]] = [
        ["区域 zone", report.zone.name],
        ["日期 date", report.day.isoformat()],
        ["巡逻次数 rounds", report.rounds],
        ["巡逻时长(秒) patrol_seconds", round(report.patrol_seconds)],
        ["覆盖率 coverage_ratio", f"{report.coverage_ratio:.4f}"],
        [],
        ["检查点 checkpoint", "必到 required", "到访 visits", "漏检 missed"],
        *([t.name, "是" if t.required else "否", t.visits, t.missed] for t in report.checkpoints),
        [],
        ["事件时间 time", "类别 category", "描述 description", "经度 lon", "纬度 lat"],
        *(
            [
                incident.ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                incident.category,
                incident.description,
                incident.lon,
                incident.lat,
            ]
            for incident in report.incidents
        ),
    ]
    return excel_csv(rows=rows)


@dataclass(frozen=True)
class Position:
    """Where an active round's member was last seen."""

    round_id: uuid.UUID
    user_id: uuid.UUID
    full_name: str
    ts: datetime
    lon: float
    lat: float
    accuracy_m: float | None
    in_zone: bool


async def zone_positions(*, zone: Zone) -> list[Position]:
    """The latest stored (non-mock) point of each active round in the zone."""
    rounds = (
        await Round.filter(zone_id=zone.id, status=RoundStatus.active)
        .select_related("user")
        .limit(500)
    )
    out: list[Position] = []
    for round in rounds:
        last = await TrackPoint.filter(round_id=round.id, is_mock=False).order_by("-ts").first()
        if last is not None:
            out.append(
                Position(
                    round_id=round.id,
                    user_id=round.user.id,
                    full_name=round.user.full_name,
                    ts=last.ts,
                    lon=last.lon,
                    lat=last.lat,
                    accuracy_m=last.accuracy_m,
                    in_zone=last.in_zone,
                )
            )
    await audit.record(
        action="read",
        resource_type="zone_positions",
        resource_id=zone.id,
        detail={"rounds": len(out)},
    )
    return out
