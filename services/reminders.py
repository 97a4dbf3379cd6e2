"""Reminder campaigns: a scheduler's message to an audience, once or on an RFC 5545 rule.

Occurrences are computed in the deployment's time zone (notifications.recurrence). The audience is
checked against the scheduler's subtree when the campaign is made and resolved again each time it
fires, so people who joined or left a team in between are counted as they are then. When the
worker was down across several occurrences, only the latest one fires (no stale pile of pushes).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.errors import Invalid
from grassroots.messages import register_messages
from grassroots.settings import Settings, get_settings
from models.notifications import (
    Delivery,
    DeliveryStatus,
    NotificationKind,
    Reminder,
    ReminderFiring,
    ReminderStatus,
)
from models.org import OrgUnit, Role, Team, TeamMember, User
from notifications.inbox import Message, dedup_key, fan_out
from notifications.outbox import PENDING
from notifications.recurrence import (
    InvalidRecurrence,
    next_occurrence,
    occurrences_between,
    skipped_periods,
    validate_series,
)
from notifications.worker import enabled_channels, push_enabled, quiet_hours
from services import audit
from services.jobs import isolated, job
from services.scope import Access, in_subtree, is_admin, subtree, within

# Schedulers and admins make and manage reminder campaigns, within their subtree.
REMINDER_ROLES = (Role.scheduler, Role.admin)
REMINDER_ACCESS = Access(Reminder, roles=REMINDER_ROLES, scope=subtree())

register_messages(
    {
        "invalid_rrule": ("重复规则无效：{reason}", "Invalid recurrence rule: {reason}"),
        "audience_empty": ("提醒对象为空", "The audience is empty"),
        "audience_outside_scope": (
            "提醒对象不存在或不在管辖范围内：{what}",
            "Audience not found or outside your scope: {what}",
        ),
        "first_at_in_past": ("首次提醒时间已过", "first_at lies in the past"),
        "until_before_first_at": ("结束时间早于首次提醒时间", "until lies before first_at"),
        "no_future_occurrence": (
            "该规则今后不会再提醒",
            "The rule has no occurrence in the future",
        ),
        "payload_too_large": (
            "标题和正文超过推送上限 {limit} 字节",
            "Title and body exceed the push limit of {limit} bytes",
        ),
    }
)

# FCM refuses a message whose payload is over 4096 bytes; our data (type, id, notification_id,
# collapse key) is counted at its real size so the check is exact for what we send.
FCM_PAYLOAD_LIMIT = 4096
PAST_GRACE = timedelta(seconds=60)
UPCOMING = 5
# How far ahead `upcoming` looks: a rule that matches less often shows fewer (or none).
UPCOMING_HORIZON = timedelta(days=100 * 366)
FIRE_BATCH = 100
MAX_AUDIENCE = 100_000


@dataclass(frozen=True)
class Audience:
    """Who a reminder goes to: the union of the named users, team members and role/unit users."""

    user_ids: tuple[uuid.UUID, ...] = ()
    roles: tuple[str, ...] = ()
    team_ids: tuple[uuid.UUID, ...] = ()
    org_unit_id: uuid.UUID | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "user_ids": [str(u) for u in self.user_ids],
            "roles": list(self.roles),
            "team_ids": [str(t) for t in self.team_ids],
            "org_unit_id": str(self.org_unit_id) if self.org_unit_id else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Audience:
        """Read the stored form."""
        unit = raw.get("org_unit_id")
        return cls(
            user_ids=tuple(uuid.UUID(u) for u in raw.get("user_ids") or []),
            roles=tuple(raw.get("roles") or []),
            team_ids=tuple(uuid.UUID(t) for t in raw.get("team_ids") or []),
            org_unit_id=uuid.UUID(unit) if unit else None,
        )

    def is_empty(self) -> bool:
        """True when no selector is given at all."""
        return not (self.user_ids or self.roles or self.team_ids or self.org_unit_id)


def _scope_path(user: User) -> str:
    return "/" if is_admin(user) else user.org_path


def _people(org_path: str) -> QuerySet[User]:
    return User.filter(is_active=True, deleted_at=None, org_path__startswith=org_path)


async def resolve_audience(*, audience: Audience, org_path: str) -> set[uuid.UUID]:
    """The active users the audience means today, inside the subtree `org_path`."""
    found: set[Any] = set()
    if audience.user_ids:
        found |= set(
            await _people(org_path)
            .filter(id__in=list(audience.user_ids))
            .values_list("id", flat=True)
        )
    if audience.team_ids:
        teams = Team.filter(id__in=list(audience.team_ids), org_path__startswith=org_path)
        team_ids = list(await teams.values_list("id", flat=True))
        members = await TeamMember.filter(
            team_id__in=team_ids,
            user__is_active=True,
            user__deleted_at=None,
            user__org_path__startswith=org_path,
        ).values_list("user_id", flat=True)
        leads = (
            await _people(org_path).filter(led_teams__id__in=team_ids).values_list("id", flat=True)
        )
        found |= set(members) | set(leads)
    if audience.roles or audience.org_unit_id:
        qs = _people(org_path)
        if audience.org_unit_id:
            unit = await OrgUnit.get_or_none(id=audience.org_unit_id)
            if unit is None or not within(unit.path, org_path):
                return found
            qs = qs.filter(org_path__startswith=unit.path)
        if audience.roles:
            role_filter = Q()
            for role in audience.roles:
                role_filter |= Q(roles_text__contains=f",{role},")
            qs = qs.filter(role_filter)
        found |= set(await qs.limit(MAX_AUDIENCE).values_list("id", flat=True))
    return found


async def _check_audience(*, audience: Audience, user: User) -> set[uuid.UUID]:
    """422 when a named user, team or unit lies outside the caller's scope, or nobody is meant."""
    if audience.is_empty():
        raise Invalid("audience_empty")
    scope = _scope_path(user)
    if audience.user_ids:
        known: set[Any] = set(
            await _people(scope).filter(id__in=list(audience.user_ids)).values_list("id", flat=True)
        )
        missing = [str(u) for u in audience.user_ids if u not in known]
        if missing:
            raise Invalid("audience_outside_scope", params={"what": f"user {missing[0]}"})
    if audience.team_ids:
        teams_known: set[Any] = set(
            await Team.filter(
                id__in=list(audience.team_ids), org_path__startswith=scope
            ).values_list("id", flat=True)
        )
        missing = [str(t) for t in audience.team_ids if t not in teams_known]
        if missing:
            raise Invalid("audience_outside_scope", params={"what": f"team {missing[0]}"})
    if audience.org_unit_id:
        unit = await OrgUnit.get_or_none(id=audience.org_unit_id)
        if unit is None or not in_subtree(user=user, org_path=unit.path):
            raise Invalid(
                "audience_outside_scope", params={"what": f"org unit {audience.org_unit_id}"}
            )
    people = await resolve_audience(audience=audience, org_path=scope)
    if not people:
        raise Invalid("audience_empty")
    return people


def _invalid_rrule(exc: InvalidRecurrence) -> Invalid:
    """The 422 for a refused rule: `invalid_rrule`, saying why, at body.rrule."""
    return Invalid(
        "invalid_rrule",
        params={"reason": str(exc)},
        errors=[{"loc": ["body", "rrule"], "msg": str(exc)}],
    )


@dataclass(frozen=True)
class Outlook:
    """What a campaign does next: its next occurrences and the periods its rule skips."""

    upcoming: list[datetime]
    skips: list[str]


def outlook(*, reminder: Reminder, count: int = UPCOMING) -> Outlook:
    """The next `count` occurrences still to fire (from `next_at`), and the months or years
    between them that the rule steps over because the date does not exist there."""
    if reminder.status != ReminderStatus.active or reminder.next_at is None:
        return Outlook(upcoming=[], skips=[])
    tz = get_settings().tz
    # next_at is what the worker fires next, whatever rule made it; the rule gives the rest.
    upcoming = [reminder.next_at] + occurrences_between(
        first_at=reminder.first_at,
        rrule=reminder.rrule,
        until=reminder.until,
        start=reminder.next_at + timedelta(microseconds=1),
        end=reminder.next_at + UPCOMING_HORIZON,
        tz=tz,
        limit=count - 1,
    )
    skips = skipped_periods(
        first_at=reminder.first_at, rrule=reminder.rrule, occurrences=upcoming, tz=tz
    )
    return Outlook(upcoming=upcoming, skips=skips)


def payload_bytes(*, title: str, body: str, reminder_id: uuid.UUID) -> int:
    """The size of the FCM payload a reminder makes (notification and data)."""
    payload = {
        "notification": {"title": title, "body": body},
        "data": {
            "type": "reminder",
            "id": str(reminder_id),
            "notification_id": str(reminder_id),
        },
        "android": {"collapse_key": f"reminder-{reminder_id}"},
    }
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def _first_due(
    *,
    first_at: datetime,
    rrule: str | None,
    until: datetime | None,
    now: datetime,
    settings: Settings,
) -> datetime:
    """The first occurrence still to fire, or a 422 when there is none."""
    if first_at >= now - PAST_GRACE:
        return first_at
    if rrule is None:
        raise Invalid("first_at_in_past")
    upcoming = next_occurrence(
        first_at=first_at, rrule=rrule, until=until, after=now, tz=settings.tz
    )
    if upcoming is None:
        raise Invalid("no_future_occurrence")
    return upcoming


async def create_reminder(
    *,
    user: User,
    title: str,
    body: str,
    audience: Audience,
    first_at: datetime,
    rrule: str | None,
    until: datetime | None,
    urgent: bool = False,
    ttl_s: int = 24 * 3600,
    now: datetime | None = None,
) -> Reminder:
    """Validate and store a campaign; nothing is stored when any check fails."""
    settings = get_settings()
    now = now or clock.now()
    reminder_id = uuid.uuid4()
    size = payload_bytes(title=title, body=body, reminder_id=reminder_id)
    if size > FCM_PAYLOAD_LIMIT:
        raise Invalid("payload_too_large", params={"limit": FCM_PAYLOAD_LIMIT})
    normalised: str | None = None
    if rrule is not None:
        try:
            normalised = validate_series(first_at=first_at, rrule=rrule, tz=settings.tz)
        except InvalidRecurrence as exc:
            raise _invalid_rrule(exc) from None
    if until is not None and until < first_at:
        raise Invalid("until_before_first_at")
    try:
        next_at = _first_due(
            first_at=first_at, rrule=normalised, until=until, now=now, settings=settings
        )
    except InvalidRecurrence as exc:
        raise _invalid_rrule(exc) from None
    await _check_audience(audience=audience, user=user)
    reminder = await Reminder.create(
        id=reminder_id,
        created_by=user,
        org_path=_scope_path(user),
        title=title,
        body=body,
        audience=audience.as_json(),
        first_at=first_at,
        rrule=normalised,
        until=until,
        urgent=urgent,
        ttl_s=ttl_s,
        next_at=next_at,
    )
    await audit.record(action="create", resource_type="reminder", resource_id=reminder.id)
    return reminder


async def cancel_reminder(*, reminder: Reminder) -> int:
    """Stop future occurrences and the pushes not yet sent; returns how many pushes were dropped."""
    now = clock.now()
    async with in_transaction():
        await Reminder.filter(id=reminder.id, status=ReminderStatus.active).update(
            status=ReminderStatus.cancelled, next_at=None, cancelled_at=now
        )
        # Pushes a worker holds right now are in flight: they are recorded as what they became.
        dropped = await Delivery.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            reminder_id=reminder.id,
            status__in=list(PENDING),
        ).update(status=DeliveryStatus.failed, last_error="cancelled")
    await audit.record(action="delete", resource_type="reminder", resource_id=reminder.id)
    return dropped


def reminder_deliveries(*, reminder: Reminder) -> QuerySet[Delivery]:
    """Every push (and no-device row) of the campaign, newest first."""
    return Delivery.filter(reminder_id=reminder.id).order_by("-created_at", "id")


# --- firing ----------------------------------------------------------------------------------


class _Superseded(Exception):
    """The reminder changed (cancelled, fired elsewhere) while firing: roll back."""


async def fire_reminder(*, reminder: Reminder, now: datetime) -> int:
    """Fire the reminder's due occurrence once; returns how many inboxes it reached."""
    settings = get_settings()
    occurrence = reminder.next_at
    if occurrence is None or occurrence > now:
        return 0
    upcoming = next_occurrence(
        first_at=reminder.first_at,
        rrule=reminder.rrule,
        until=reminder.until,
        after=max(occurrence, now),
        tz=settings.tz,
    )
    try:
        async with in_transaction():
            # The unique (reminder, occurrence) row is the guarantee: a second worker fails here.
            firing = await ReminderFiring.create(reminder_id=reminder.id, occurrence_at=occurrence)
            people = await resolve_audience(
                audience=Audience.from_json(reminder.audience), org_path=reminder.org_path
            )
            message = Message(
                kind=NotificationKind.reminder,
                title=reminder.title,
                body=reminder.body,
                data={"type": "reminder", "id": str(reminder.id)},
                urgent=reminder.urgent,
                collapse_key=f"reminder-{reminder.id}",
                ttl_s=reminder.ttl_s,
                reminder_id=reminder.id,
            )
            result = await fan_out(
                message=message,
                user_ids=people,
                dedup=dedup_key("reminder", f"{reminder.id}:{occurrence.isoformat()}"),
                now=now,
                push=push_enabled(settings),
                quiet=quiet_hours(settings),
                channels=enabled_channels(settings),  # [push branch, issue 16] FCM, JPush, SMS
            )
            await ReminderFiring.filter(id=firing.id).update(recipients=result.notifications)
            moved = await Reminder.filter(
                id=reminder.id, status=ReminderStatus.active, next_at=occurrence
            ).update(
                next_at=upcoming,
                status=ReminderStatus.active if upcoming else ReminderStatus.finished,
                fired=reminder.fired + 1,
                last_fired_at=now,
            )
            if moved != 1:
                raise _Superseded()
    except (IntegrityError, _Superseded):
        return 0
    return result.notifications


@job("reminders.fire", every_s=10, transactional=False)
async def fire_due_reminders(now: datetime) -> str:
    """Fire every reminder whose next occurrence is due."""
    due = (
        await Reminder.filter(status=ReminderStatus.active, next_at__lte=now)
        .order_by("next_at")
        .limit(FIRE_BATCH)
    )
    reached = 0
    for reminder in due:

        async def fire(reminder: Reminder = reminder) -> int:
            return await fire_reminder(reminder=reminder, now=now)

        # fire_reminder holds its own transaction: a failure there is already rolled back.
        reached += (
            await isolated(job_name="reminders.fire", row_id=reminder.id, work=fire, atomic=False)
            or 0
        )
    return f"fired {len(due)} reminders to {reached} inboxes"
