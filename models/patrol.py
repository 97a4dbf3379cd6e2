"""Patrol zones, checkpoints, shifts, rounds and their tracks."""

from __future__ import annotations

import uuid
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
    updated, and the retention job deletes them by `ts`.
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
    ts = fields.DatetimeField()
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
