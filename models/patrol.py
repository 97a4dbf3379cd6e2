"""Patrol zones, checkpoints, shifts, rounds and their tracks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.base import TimestampedModel
from models.org import OrgUnit, User


class ZoneKind(StrEnum):
    """A patrol responsibility zone, or an area a correction subject may not leave."""

    patrol = "patrol"
    permitted_area = "permitted_area"


class RoundStatus(StrEnum):
    """A round is active until its member ends it."""

    active = "active"
    ended = "ended"


class VisitMethod(StrEnum):
    """How a checkpoint visit was made."""

    gps = "gps"
    qr = "qr"
    nfc = "nfc"


class Zone(TimestampedModel):
    """A polygon (GeoJSON, WGS 84) owned by an org unit, soft-deleted by `deleted_at`."""

    name = fields.CharField(max_length=100)
    kind = fields.CharEnumField(ZoneKind, max_length=20, db_index=True)
    org_unit: fields.ForeignKeyRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="zones", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    geometry: fields.JSONField[dict[str, object]] = fields.JSONField()
    area_m2 = fields.FloatField()
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "patrol_zone"


class Checkpoint(TimestampedModel):
    """A place in a zone to be visited, with the secret printed on its QR/NFC tag."""

    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="checkpoints", on_delete=fields.CASCADE
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    name = fields.CharField(max_length=100)
    lon = fields.FloatField()
    lat = fields.FloatField()
    radius_m = fields.FloatField(default=30.0)
    required = fields.BooleanField(default=True)
    code = fields.CharField(max_length=64)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "patrol_checkpoint"


class Assignment(TimestampedModel):
    """A patrol shift: one member in one zone between two times."""

    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="assignments", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="patrol_assignments", on_delete=fields.CASCADE
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField(db_index=True)
    # Set by the missed-checkpoint job once the ended shift has been judged.
    checked_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "patrol_assignment"


class Round(TimestampedModel):
    """One member's patrol round in a zone, its id made by the phone."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="patrol_rounds", on_delete=fields.RESTRICT
    )
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="rounds", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    status = fields.CharEnumField(
        RoundStatus, max_length=10, default=RoundStatus.active, db_index=True
    )
    started_at = fields.DatetimeField(db_index=True)
    ended_at = fields.DatetimeField(null=True)
    request_hash = fields.CharField(max_length=64)
    points_count = fields.IntField(default=0)
    # When points last arrived, and when the track was last analysed for alerts.
    track_changed_at = fields.DatetimeField(null=True)
    analysed_at = fields.DatetimeField(null=True, db_index=True)
    # The earliest time of the points stored since the track was last judged: a time before the
    # judged watermark means late points, and the judgement rewinds to a mark before it.
    track_dirty_from = fields.DatetimeField(null=True)
    # How many of the round's exits the zone-exit job has alerted (the nth exit alerts once,
    # ever), so a run alerts only the new ones instead of checking every exit again.
    exits_alerted = fields.IntField(default=0)

    class Meta:
        table = "patrol_round"


class TrackJudgement(Model):
    """What the zone-exit job had judged of a round's track up to a watermark (a mark).

    The newest mark of a round is where the next run goes on from; older ones are kept a while
    so that a late point rewinds only to the mark before it. `state` is `geo.track.TrackState`
    as JSON (the hysteresis, sums, exits and visits), `covered` its covered area as WKB.
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    round: fields.ForeignKeyRelation[Round] = fields.ForeignKeyField(
        "models.Round", related_name="judgements", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    # The last judged point, in track order (ts, id).
    watermark_ts = fields.DatetimeField()
    watermark_id = fields.UUIDField()
    # Zone and checkpoints the judgement used: when they change, the track is judged afresh.
    basis = fields.CharField(max_length=64)
    state: fields.JSONField[dict[str, object]] = fields.JSONField()
    covered = fields.BinaryField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "patrol_track_judgement"
        unique_together = (("round", "seq"),)


class TrackPoint(Model):
    """One GPS fix of a round, the only large table.

    Deliberately lean (no updated_at, two indexes) so batches insert fast. Rows are never
    updated, and the retention job deletes them by `ts`. On PostgreSQL the table is partitioned
    by month of `ts` (migration 0009, `track_partitioning_sql`): its primary key there is
    (id, ts), because a partitioned table's keys must hold the partition key. Tortoise still
    models `id` alone as the key, which holds for every read and write this code makes (lookups
    by id, by round and time); ids are client-made UUIDs, so an id never repeats across months.
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    round: fields.ForeignKeyRelation[Round] = fields.ForeignKeyField(
        "models.Round", related_name="points", on_delete=fields.CASCADE, db_index=False
    )
    ts = fields.DatetimeField(db_index=True)
    lon = fields.FloatField()
    lat = fields.FloatField()
    accuracy_m = fields.FloatField(null=True)
    speed_mps = fields.FloatField(null=True)
    is_mock = fields.BooleanField(default=False)
    in_zone = fields.BooleanField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "patrol_track_point"
        indexes = (("round_id", "ts"),)


class CheckpointVisit(TimestampedModel):
    """A visit claimed by the phone (GPS position or the tag's code), judged on arrival."""

    round: fields.ForeignKeyRelation[Round] = fields.ForeignKeyField(
        "models.Round", related_name="visits", on_delete=fields.CASCADE
    )
    checkpoint: fields.ForeignKeyRelation[Checkpoint] = fields.ForeignKeyField(
        "models.Checkpoint", related_name="visits", on_delete=fields.CASCADE
    )
    ts = fields.DatetimeField(db_index=True)  # retention coarsens positions by age
    lon = fields.FloatField()
    lat = fields.FloatField()
    accuracy_m = fields.FloatField(null=True)
    method = fields.CharEnumField(VisitMethod, max_length=8)
    accepted = fields.BooleanField()
    distance_m = fields.FloatField()
    request_hash = fields.CharField(max_length=64)

    class Meta:
        table = "patrol_checkpoint_visit"


class Incident(TimestampedModel):
    """Something a member reported during a round."""

    round: fields.ForeignKeyRelation[Round] = fields.ForeignKeyField(
        "models.Round", related_name="incidents", on_delete=fields.CASCADE
    )
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "models.Zone", related_name="incidents", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    ts = fields.DatetimeField(db_index=True)
    lon = fields.FloatField()
    lat = fields.FloatField()
    category = fields.CharField(max_length=64)
    description = fields.TextField()
    request_hash = fields.CharField(max_length=64)

    class Meta:
        table = "patrol_incident"


# --- PostgreSQL partitions of the track points ------------------------------------------------
# Ranges of `ts` in UTC (the retention cutoff is an instant, not a local date), created ahead of
# time by the worker (`patrol.track_partitions`), dropped whole by retention. Migration 0009 made
# monthly ones; the job makes daily ones for every day no partition covers yet, so that
# retention drops each day whole once it is past the cutoff instead of deleting a month's points
# row by row (860 million rows at city scale; at 10 million points over 60 days 5.4x the time
# of 1 million, and unfinished, bench/b8_scale.py). There is no DEFAULT
# partition on purpose: it would make every later CREATE ... PARTITION OF scan it, and forbid
# DETACH ... CONCURRENTLY; a point outside every partition is refused by the database.

TRACK_POINT_TABLE = "patrol_track_point"
TRACK_PARTITIONS_AHEAD = 2  # months migration 0009 created beyond the current one
# Days the job keeps created beyond today: a worker stopped this long still leaves room for
# uploads (no partition, no insert).
TRACK_DAYS_AHEAD = 35


def day_start(at: datetime) -> datetime:
    """The first instant (UTC) of the UTC day holding `at`."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def track_day_partition_name(day: datetime) -> str:
    """The partition holding the points of one UTC day: patrol_track_point_p2026_12_02."""
    return f"{TRACK_POINT_TABLE}_p{day.year:04d}_{day.month:02d}_{day.day:02d}"


def track_day_partition_sql(day: datetime, *, parent: str = TRACK_POINT_TABLE) -> str:
    """CREATE the partition of the UTC day starting at `day` unless it exists."""
    end = day + timedelta(days=1)
    return (
        f'CREATE TABLE IF NOT EXISTS "{track_day_partition_name(day)}" PARTITION OF "{parent}" '
        f"FOR VALUES FROM ('{day.isoformat()}') TO ('{end.isoformat()}')"
    )


def month_start(at: datetime) -> datetime:
    """The first instant (UTC) of the calendar month (UTC) holding `at`."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(month: datetime) -> datetime:
    """The first instant of the month after `month` (itself a month start)."""
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def track_partition_name(month: datetime) -> str:
    """The partition holding the points of `month`: patrol_track_point_p2026_12."""
    return f"{TRACK_POINT_TABLE}_p{month.year:04d}_{month.month:02d}"


def track_partition_sql(month: datetime, *, parent: str = TRACK_POINT_TABLE) -> str:
    """CREATE the partition of `month` unless it exists."""
    return (
        f'CREATE TABLE IF NOT EXISTS "{track_partition_name(month)}" PARTITION OF "{parent}" '
        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
    )


def track_partitioning_sql(*, first_month: datetime, last_month: datetime) -> str:
    """Turn the plain track-point table into a partitioned one, keeping every row.

    The new table is built beside the old, filled, and renamed into place, so the old table's
    index and constraint names never clash with the new ones. Months `first_month` to
    `last_month` (month starts) get a partition each.
    """
    new = f"{TRACK_POINT_TABLE}_partitioned"
    months = [first_month]
    while months[-1] < last_month:
        months.append(next_month(months[-1]))
    parts = ";\n".join(track_partition_sql(m, parent=new) for m in months)
    return f"""
CREATE TABLE "{new}" (
    "id" UUID NOT NULL,
    "ts" TIMESTAMPTZ NOT NULL,
    "lon" DOUBLE PRECISION NOT NULL,
    "lat" DOUBLE PRECISION NOT NULL,
    "accuracy_m" DOUBLE PRECISION,
    "speed_mps" DOUBLE PRECISION,
    "is_mock" BOOL NOT NULL DEFAULT False,
    "in_zone" BOOL NOT NULL,
    "received_at" TIMESTAMPTZ NOT NULL,
    "round_id" UUID NOT NULL,
    CONSTRAINT "{TRACK_POINT_TABLE}_id_ts_pk" PRIMARY KEY ("id", "ts"),
    CONSTRAINT "{TRACK_POINT_TABLE}_round_fk" FOREIGN KEY ("round_id")
        REFERENCES "patrol_round" ("id") ON DELETE CASCADE
) PARTITION BY RANGE ("ts");
{parts};
INSERT INTO "{new}" (id, ts, lon, lat, accuracy_m, speed_mps, is_mock, in_zone, received_at,
    round_id)
    SELECT id, ts, lon, lat, accuracy_m, speed_mps, is_mock, in_zone, received_at, round_id
    FROM "{TRACK_POINT_TABLE}";
DROP TABLE "{TRACK_POINT_TABLE}";
ALTER TABLE "{new}" RENAME TO "{TRACK_POINT_TABLE}";
CREATE INDEX "{TRACK_POINT_TABLE}_round_ts" ON "{TRACK_POINT_TABLE}" ("round_id", "ts");
CREATE INDEX "{TRACK_POINT_TABLE}_ts" ON "{TRACK_POINT_TABLE}" ("ts");
"""
