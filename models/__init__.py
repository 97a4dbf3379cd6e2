"""Tortoise ORM models, one module per domain; every model is re-exported here for discovery."""

from models.alerts import Alert, AlertRecipient, AlertStatus
from models.audit import AuditEntry
from models.auth import LoginAttempt, RefreshToken
from models.correction import (
    Assessment,
    CheckIn,
    ClosedInterval,
    LeaveRequest,
    ObligationConfig,
    Supervision,
)
from models.jobs import JobState
from models.notifications import (
    Delivery,
    DeliveryStatus,
    Device,
    Notification,
    NotificationKind,
    Platform,
    Reminder,
    ReminderFiring,
    ReminderStatus,
)
from models.org import OrgUnit, Role, Team, TeamMember, User
from models.patrol import (
    Assignment,
    Checkpoint,
    CheckpointVisit,
    Incident,
    Round,
    TrackJudgement,
    TrackPoint,
    Zone,
)
from models.social import (
    CareGroupMember,
    CaseAssignment,
    CaseClosure,
    Client,
    Delegation,
    TeamTask,
    Visit,
)

__all__ = [
    "Alert",
    "AlertRecipient",
    "AlertStatus",
    "Assessment",
    "Assignment",
    "AuditEntry",
    "CareGroupMember",
    "CaseAssignment",
    "CaseClosure",
    "CheckIn",
    "Checkpoint",
    "CheckpointVisit",
    "Client",
    "ClosedInterval",
    "Delegation",
    "Delivery",
    "DeliveryStatus",
    "Device",
    "Incident",
    "JobState",
    "LeaveRequest",
    "LoginAttempt",
    "Notification",
    "NotificationKind",
    "ObligationConfig",
    "OrgUnit",
    "Platform",
    "RefreshToken",
    "Reminder",
    "ReminderFiring",
    "ReminderStatus",
    "Role",
    "Round",
    "Supervision",
    "Team",
    "TeamMember",
    "TeamTask",
    "TrackJudgement",
    "TrackPoint",
    "User",
    "Visit",
    "Zone",
]
