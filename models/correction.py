"""Community correction: supervisions, check-ins, leave, assessments and closed intervals."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields

from models.base import TimestampedModel
from models.org import OrgUnit, User


class Level(StrEnum):
    """Supervision level (严管, 普管, 宽管)."""

    strict = "strict"
    normal = "normal"
    lenient = "lenient"


class CheckInKind(StrEnum):
    """What a check-in records, the last one only by an officer."""

    location = "location"
    report = "report"
    thought_report = "thought_report"
    service_hours = "service_hours"
    study = "study"
    home_visit = "home_visit"


class CheckInStatus(StrEnum):
    """`violation` when the position lies outside the permitted area with no approved leave;
    `unverified` when the position proves nothing (too imprecise, or no area to judge it by);
    `late` when it arrived too long after it was taken, until the assigned officer confirms it."""

    ok = "ok"
    violation = "violation"
    unverified = "unverified"
    late = "late"


# The statuses whose check-ins count as done for an obligation.
COUNTING_STATUSES = (CheckInStatus.ok, CheckInStatus.violation)


class LeaveStatus(StrEnum):
    """A leave request waits for the officer's decision, or is cancelled by the subject."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"


class EndReason(StrEnum):
    """Why a supervision ended before or at its planned end (解除/终止社区矫正)."""

    completed = "completed"
    early_release = "early_release"
    revoked = "revoked"
    deceased = "deceased"
    transferred_out = "transferred_out"
    other = "other"


class Grade(StrEnum):
    """Monthly assessment (评议考核): 良好, 合格, 警告, 不合格."""

    good = "good"
    passed = "pass"
    warning = "warning"
    fail = "fail"


class ObligationConfig(TimestampedModel):
    """The obligation rules of one office (org unit) as JSON, read with rules_from_dict."""

    org_unit: fields.OneToOneRelation[OrgUnit] = fields.OneToOneField(
        "models.OrgUnit", related_name="obligation_config", on_delete=fields.CASCADE
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    rules: Any = fields.JSONField()

    class Meta:
        table = "correction_obligation_config"


class Supervision(TimestampedModel):
    """One subject under supervision of an officer, from `starts_on` to `ends_on` (local dates).

    `ends_on` is the effective last day: the planned end, or `ended_on` once the supervision is
    ended early (the planned end is then kept in `planned_ends_on`, null while never ended).
    `rules` is the office's rule set when the supervision was created, so later changes to the
    office's configuration never rewrite past compliance. `level_history` holds every decision
    as {decided_on, level, decided_at, decided_by}.
    """

    client_id = fields.UUIDField(db_index=True)
    subject: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="supervisions", on_delete=fields.RESTRICT
    )
    officer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="supervised", on_delete=fields.RESTRICT
    )
    permitted_zone_id = fields.UUIDField()
    level = fields.CharEnumField(Level, max_length=16)
    level_history: Any = fields.JSONField(default=list)
    rules: Any = fields.JSONField()
    starts_on = fields.DateField()
    ends_on = fields.DateField()
    org_unit: fields.ForeignKeyRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="supervisions", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    # Approved leave windows [[starts_at, ends_at, leave id]] copied from LeaveRequest, so judging
    # a check-in needs no extra query.
    approved_leave: Any = fields.JSONField(default=list)
    # Every interval ending on or before this local date has been closed by the worker.
    closed_through = fields.DateField(null=True)
    # Set together when the supervision is ended (POST /supervisions/{id}/end).
    planned_ends_on = fields.DateField(null=True)
    ended_on = fields.DateField(null=True)
    end_reason = fields.CharEnumField(EndReason, max_length=32, null=True)
    end_note = fields.CharField(max_length=1000, null=True)
    ended_at = fields.DatetimeField(null=True)
    ended_by_id = fields.UUIDField(null=True)

    class Meta:
        table = "correction_supervision"
        indexes = (("subject_id", "starts_on"),)


class CheckIn(TimestampedModel):
    """A check-in by the subject, or an in-person report or home visit recorded by an officer."""

    supervision: fields.ForeignKeyRelation[Supervision] = fields.ForeignKeyField(
        "models.Supervision", related_name="checkins", on_delete=fields.CASCADE
    )
    subject_id = fields.UUIDField(db_index=True)
    recorded_by_id = fields.UUIDField()
    kind = fields.CharEnumField(CheckInKind, max_length=20)
    occurred_at = fields.DatetimeField()
    lon = fields.FloatField(null=True)
    lat = fields.FloatField(null=True)
    accuracy_m = fields.FloatField(null=True)
    hours = fields.FloatField(null=True)
    text = fields.TextField(null=True)
    inside_permitted_area = fields.BooleanField(null=True)
    distance_outside_m = fields.FloatField(null=True)
    on_approved_leave = fields.BooleanField(default=False)
    status = fields.CharEnumField(CheckInStatus, max_length=16)
    org_path = fields.CharField(max_length=1000)
    request_hash = fields.CharField(max_length=64)
    # A late check-in's confirmation by the assigned officer (then it counts).
    confirmed_at = fields.DatetimeField(null=True)
    confirmed_by_id = fields.UUIDField(null=True)

    class Meta:
        table = "correction_checkin"
        indexes = (("supervision_id", "occurred_at"),)


class LeaveRequest(TimestampedModel):
    """Leave to be outside the permitted area from `starts_at` to `ends_at`."""

    supervision: fields.ForeignKeyRelation[Supervision] = fields.ForeignKeyField(
        "models.Supervision", related_name="leave_requests", on_delete=fields.CASCADE
    )
    subject_id = fields.UUIDField(db_index=True)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    destination = fields.CharField(max_length=200)
    reason = fields.TextField()
    status = fields.CharEnumField(LeaveStatus, max_length=16, default=LeaveStatus.pending)
    decided_by_id = fields.UUIDField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.TextField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    org_path = fields.CharField(max_length=1000)
    request_hash = fields.CharField(max_length=64)

    class Meta:
        table = "correction_leave_request"
        indexes = (("supervision_id", "starts_at"),)


class Assessment(TimestampedModel):
    """The officer's monthly assessment of a subject, one per supervision and month."""

    supervision: fields.ForeignKeyRelation[Supervision] = fields.ForeignKeyField(
        "models.Supervision", related_name="assessments", on_delete=fields.CASCADE
    )
    month = fields.CharField(max_length=7)
    grade = fields.CharEnumField(Grade, max_length=16)
    remark = fields.TextField(default="")
    assessed_by_id = fields.UUIDField()
    assessed_at = fields.DatetimeField()

    class Meta:
        table = "correction_assessment"
        unique_together = (("supervision", "month"),)


class ClosedInterval(TimestampedModel):
    """The outcome of one obligation interval, written once by the worker after it ends."""

    supervision: fields.ForeignKeyRelation[Supervision] = fields.ForeignKeyField(
        "models.Supervision", related_name="closed_intervals", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=20)
    starts_on = fields.DateField()
    ends_on = fields.DateField()
    required = fields.FloatField()
    done = fields.FloatField()
    met = fields.BooleanField()

    class Meta:
        table = "correction_closed_interval"
        unique_together = (("supervision", "kind", "starts_on"),)
