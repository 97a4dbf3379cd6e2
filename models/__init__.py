"""Tortoise ORM models, one module per domain; every model is re-exported here for discovery."""

from models.alerts import Alert, AlertRecipient, AlertStatus
from models.audit import AuditEntry
from models.auth import LoginAttempt, RefreshToken
from models.jobs import JobState
from models.org import OrgUnit, Role, Team, TeamMember, User
from models.social import CareGroupMember, CaseAssignment, Client, Delegation, TeamTask, Visit

__all__ = [
    "Alert",
    "CareGroupMember",
    "CaseAssignment",
    "Client",
    "Delegation",
    "TeamTask",
    "Visit",
    "AlertRecipient",
    "AlertStatus",
    "AuditEntry",
    "JobState",
    "LoginAttempt",
    "OrgUnit",
    "RefreshToken",
    "Role",
    "Team",
    "TeamMember",
    "User",
]
