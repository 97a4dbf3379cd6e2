"""Tortoise ORM models, one module per domain; every model is re-exported here for discovery."""

from models.alerts import Alert, AlertRecipient, AlertStatus
from models.audit import AuditEntry
from models.auth import LoginAttempt, RefreshToken
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

__all__ = [
    "Alert",
    "AlertRecipient",
    "AlertStatus",
    "AuditEntry",
    "Delivery",
    "DeliveryStatus",
    "Device",
    "JobState",
    "LoginAttempt",
    "Notification",
    "NotificationKind",
    "OrgUnit",
    "Platform",
    "RefreshToken",
    "Reminder",
    "ReminderFiring",
    "ReminderStatus",
    "Role",
    "Team",
    "TeamMember",
    "User",
]
