"""Social work: clients, caseloads, visits, care groups and the six-ones team tasks.

A client record holds exactly one of four categories and no religious, ethnic or political field.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields

from models.base import TimestampedModel
from models.org import OrgUnit, Team, User


class ClientCategory(StrEnum):
    """The four groups the social-work teams serve, and no other."""

    community_correction = "community_correction"
    released_prisoner = "released_prisoner"
    drug_rehab = "drug_rehab"
    at_risk_youth = "at_risk_youth"


class RiskLevel(StrEnum):
    """Risk level, which sets the visit cadence."""

    low = "low"
    medium = "medium"
    high = "high"


class VisitKind(StrEnum):
    """How a visit took place."""

    home = "home"
    office = "office"
    phone = "phone"
    other = "other"


class CaseStatus(StrEnum):
    """Whether a client's case is open (on a caseload) or closed (结案, kept as a record)."""

    open = "open"
    closed = "closed"


class CloseReason(StrEnum):
    """Why a case was closed."""

    moved_away = "moved_away"
    deceased = "deceased"
    completed = "completed"
    transferred_out = "transferred_out"
    other = "other"


class CareRole(StrEnum):
    """Roles in a care group (关爱小组) of an at-risk youth."""

    community_cadre = "community_cadre"
    social_worker = "social_worker"
    police_officer = "police_officer"
    volunteer = "volunteer"
    parent = "parent"


class Client(TimestampedModel):
    """A person served by a social worker.

    The identity number is stored only encrypted (`id_number_cipher`), with a keyed hash for exact
    lookups and its masked form for display. `visit_due_on` is the local date the next visit is due,
    kept up to date on every assignment, visit and risk change so caseload views need no joins.
    A closed case keeps the worker who held it when it was closed (`social_worker_id`), but counts
    on no caseload and has no visit due. `reopened_at` is when the case was last reopened: visits
    before it do not set the next due date.
    """

    full_name = fields.CharField(max_length=100)
    category = fields.CharEnumField(ClientCategory, max_length=32, db_index=True)
    id_number_cipher = fields.CharField(max_length=200, null=True)
    id_number_hash = fields.CharField(max_length=64, null=True, db_index=True)
    id_number_masked = fields.CharField(max_length=32, null=True)
    phone = fields.CharField(max_length=32, null=True)
    address = fields.CharField(max_length=200)
    home_lon = fields.FloatField(null=True)
    home_lat = fields.FloatField(null=True)
    risk_level = fields.CharEnumField(RiskLevel, max_length=16)
    org_unit: fields.ForeignKeyRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="clients", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    social_worker: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="caseload", null=True, on_delete=fields.RESTRICT, db_index=True
    )
    org_unit_id: uuid.UUID
    social_worker_id: uuid.UUID | None
    assigned_at = fields.DatetimeField(null=True)
    last_visit_at = fields.DatetimeField(null=True)
    visit_due_on = fields.DateField(null=True, db_index=True)
    # A database default too, so that adding the column to a table with rows needs no backfill.
    status = fields.CharEnumField(
        CaseStatus,
        max_length=16,
        default=CaseStatus.open,
        db_default=CaseStatus.open,
        db_index=True,
    )
    closed_on = fields.DateField(null=True)
    close_reason = fields.CharEnumField(CloseReason, max_length=32, null=True)
    reopened_at = fields.DatetimeField(null=True)

    class Meta:
        table = "social_client"


class CaseAssignment(TimestampedModel):
    """Who held a client's case, from when to when (open while `ends_at` is null)."""

    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="assignments", on_delete=fields.CASCADE, db_index=True
    )
    worker: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="case_assignments", on_delete=fields.RESTRICT
    )
    assigned_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="case_assignments_made", null=True, on_delete=fields.SET_NULL
    )
    client_id: uuid.UUID
    worker_id: uuid.UUID
    assigned_by_id: uuid.UUID | None
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)

    class Meta:
        table = "social_case_assignment"


class CaseClosure(TimestampedModel):
    """One closing of a client's case (结案) and, once it is reopened, its reopening."""

    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="closures", on_delete=fields.CASCADE, db_index=True
    )
    closed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="cases_closed", null=True, on_delete=fields.SET_NULL
    )
    reopened_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="cases_reopened", null=True, on_delete=fields.SET_NULL
    )
    client_id: uuid.UUID
    closed_by_id: uuid.UUID | None
    reopened_by_id: uuid.UUID | None
    closed_on = fields.DateField()
    reason = fields.CharEnumField(CloseReason, max_length=32)
    note = fields.CharField(max_length=1000, default="")
    closed_at = fields.DatetimeField()
    reopened_at = fields.DatetimeField(null=True)
    reopen_note = fields.CharField(max_length=1000, default="")

    class Meta:
        table = "social_case_closure"


class Delegation(TimestampedModel):
    """Supervision of a client delegated to another org unit (委托帮教) for a period."""

    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="delegations", on_delete=fields.CASCADE, db_index=True
    )
    org_unit: fields.ForeignKeyRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="delegated_clients", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    client_id: uuid.UUID
    org_unit_id: uuid.UUID
    starts_on = fields.DateField()
    ends_on = fields.DateField(null=True)
    note = fields.CharField(max_length=1000, default="")
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="delegations_made", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "social_delegation"


class Visit(TimestampedModel):
    """One visit to a client, made offline-safe by its client-made id."""

    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="visits", on_delete=fields.CASCADE, db_index=True
    )
    recorded_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="visits_recorded", on_delete=fields.RESTRICT
    )
    client_id: uuid.UUID
    recorded_by_id: uuid.UUID
    kind = fields.CharEnumField(VisitKind, max_length=16)
    occurred_at = fields.DatetimeField(db_index=True)
    lon = fields.FloatField(null=True)
    lat = fields.FloatField(null=True)
    accuracy_m = fields.FloatField(null=True)
    notes = fields.TextField(default="")
    location_verified = fields.BooleanField(default=False)
    distance_m = fields.FloatField(null=True)
    request_hash = fields.CharField(max_length=64)

    class Meta:
        table = "social_visit"


class CareGroupMember(TimestampedModel):
    """A helper in a client's care group, who may read the client and record visits."""

    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="care_group", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="care_groups", on_delete=fields.CASCADE, db_index=True
    )
    client_id: uuid.UUID
    user_id: uuid.UUID
    role = fields.CharEnumField(CareRole, max_length=32)

    class Meta:
        table = "social_care_group_member"
        unique_together = (("client", "user"),)


class TeamTask(TimestampedModel):
    """A six-ones task of a team, stored once listed, id = uuid5(team, kind, period)."""

    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="tasks", on_delete=fields.CASCADE
    )
    team_id: uuid.UUID
    completed_by_id: uuid.UUID | None
    kind = fields.CharField(max_length=32)
    period = fields.CharField(max_length=16)
    starts_on = fields.DateField()
    due_on = fields.DateField(db_index=True)
    completed_at = fields.DatetimeField(null=True)
    completed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tasks_completed", null=True, on_delete=fields.SET_NULL
    )
    notes = fields.TextField(default="")
    attendee_ids: fields.JSONField[list[str]] = fields.JSONField(default=list)
    request_hash = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "social_team_task"
        unique_together = (("team", "kind", "period"),)
