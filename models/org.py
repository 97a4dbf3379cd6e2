"""Org units, users and social-work teams."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields

from models.base import TimestampedModel


class Role(StrEnum):
    """Roles of API.md; a user may hold several."""

    admin = "admin"
    supervisor = "supervisor"
    scheduler = "scheduler"
    patrol = "patrol"
    social_worker = "social_worker"
    officer = "officer"
    subject = "subject"


class OrgUnit(TimestampedModel):
    """City > district > street/town > community/village, any depth.

    `path` lists the ids from the root down to this unit ("/a/b/c/"): a subtree is a prefix.
    """

    name = fields.CharField(max_length=100)
    parent: fields.ForeignKeyNullableRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    path = fields.CharField(max_length=1000, db_index=True)
    depth = fields.SmallIntField(default=0)

    class Meta:
        table = "org_unit"


class User(TimestampedModel):
    """A person who signs in, roles stored as ",role,role," for cheap filtering."""

    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    full_name = fields.CharField(max_length=100)
    phone = fields.CharField(max_length=32, null=True)
    roles_text = fields.CharField(max_length=200)
    org_unit: fields.ForeignKeyRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="users", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    timezone = fields.CharField(max_length=64, null=True)
    is_active = fields.BooleanField(default=True)
    deleted_at = fields.DatetimeField(null=True)
    # Carried in every access token; raised by a password change or a deactivation, which
    # turns every token issued before it into a 401 (within the user cache's TTL).
    token_version = fields.IntField(default=0)

    class Meta:
        table = "app_user"

    @property
    def roles(self) -> list[str]:
        """The user's roles in a stable order."""
        return [r for r in self.roles_text.split(",") if r]

    def has_role(self, *roles: str) -> bool:
        """True when the user holds any of the roles."""
        held = self.roles
        return any(r in held for r in roles)

    @staticmethod
    def encode_roles(roles: list[str]) -> str:
        """The stored form of a role list."""
        ordered = [r.value for r in Role if r.value in set(roles)]
        return "," + ",".join(ordered) + ","


class Team(TimestampedModel):
    """A social-work team, the six-ones schedule runs per team."""

    name = fields.CharField(max_length=100)
    org_unit: fields.ForeignKeyRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="teams", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    lead: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="led_teams", on_delete=fields.RESTRICT
    )
    # First month of the rolling three-month exchange (三月一交流); defaults to the creation month.
    anchor_month = fields.DateField()

    class Meta:
        table = "team"


class TeamMember(TimestampedModel):
    """Membership of a user in a team."""

    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="members", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="team_memberships", on_delete=fields.CASCADE
    )

    class Meta:
        table = "team_member"
        unique_together = (("team", "user"),)
