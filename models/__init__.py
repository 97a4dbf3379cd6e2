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
    TrackPoint,
    Zone,
)

__all__ = [
    "Alert",
    "Assignment",
    "Checkpoint",
    "CheckpointVisit",
    "Incident",
    "Round",
    "TrackPoint",
    "Zone",
    "AlertRecipient",
    "AlertStatus",
    "Assessment",
    "AuditEntry",
    "CheckIn",
    "ClosedInterval",
    "Delivery",
    "DeliveryStatus",
    "Device",
    "JobState",
    "LeaveRequest",
    "LoginAttempt",
    "ObligationConfig",
    "Notification",
    "NotificationKind",
    "OrgUnit",
    "Platform",
    "RefreshToken",
    "Reminder",
    "ReminderFiring",
    "ReminderStatus",
    "Role",
    "Supervision",
    "Team",
    "TeamMember",
    "User",
]
