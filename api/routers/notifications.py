"""Devices and the inbox (any signed-in user); reminder campaigns (schedulers)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import Field

from api.deps import CurrentUser, loader, roles
from api.pagination import PageParams, paginate
from api.schemas import Output, Page, StrictInput, UtcInput, UtcOutput
from models.notifications import Delivery, DeliveryStatus, Platform, Reminder
from models.org import Role
from notifications import inbox
from services import reminders
from services.scope import Access, subtree

router = APIRouter(tags=["notifications"])

REMINDER_ROLES = (Role.scheduler, Role.admin)
REMINDER_ACCESS = Access(Reminder, roles=REMINDER_ROLES, scope=subtree())

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request (e.g. a bad cursor)"},
    401: {"description": "Not signed in"},
    403: {"description": "The role may not do this"},
    404: {"description": "Not found or outside your scope"},
    422: {"description": "Invalid input"},
}

# FCM registration tokens are about 160-200 characters of [A-Za-z0-9_:-]; a little room is left.
FcmToken = Annotated[
    str,
    Path(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_:\-.]+$", description="FCM token"),
]


# --- devices ---------------------------------------------------------------------------------


class DeviceUpsert(StrictInput):
    platform: Platform
    app_version: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None


class DevicePublic(Output):
    """A registered device; the token itself is not echoed."""

    id: uuid.UUID
    platform: Platform
    app_version: str | None
    locale: str | None
    last_seen_at: UtcOutput
    created_at: UtcOutput


@router.put(
    "/me/devices/{fcm_token}",
    operation_id="put_my_device",
    responses={201: {"description": "Registered for me", "model": DevicePublic}, **ERRORS},
)
async def put_my_device(
    user: CurrentUser, fcm_token: FcmToken, body: DeviceUpsert, response: Response
) -> DevicePublic:
    """Register my device's FCM token (201) or refresh it (200); a token moves to its new owner."""
    device, created = await inbox.register_device(
        user=user,
        token=fcm_token,
        platform=body.platform,
        app_version=body.app_version,
        locale=body.locale,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return DevicePublic.model_validate(device)


@router.delete(
    "/me/devices/{fcm_token}",
    operation_id="delete_my_device",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def delete_my_device(user: CurrentUser, fcm_token: FcmToken) -> Response:
    """Forget my device (on sign-out): no more pushes to it."""
    await inbox.remove_device(user=user, token=fcm_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- inbox -----------------------------------------------------------------------------------


class NotificationPublic(Output):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, str]
    urgent: bool
    created_at: UtcOutput
    read_at: UtcOutput | None


@router.get("/me/notifications", operation_id="list_my_notifications", responses=ERRORS)
async def list_my_notifications(
    user: CurrentUser,
    page: PageParams,
    unread: Annotated[bool, Query(description="Only what I have not read")] = False,
) -> Page[NotificationPublic]:
    """Everything addressed to me, newest first, whether or not a push arrived."""
    rows, cursor = await paginate(inbox.my_notifications(user=user, unread=unread), page)
    return Page(items=[NotificationPublic.model_validate(n) for n in rows], next_cursor=cursor)


@router.post(
    "/me/notifications/{id}/read",
    operation_id="read_my_notification",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def read_my_notification(user: CurrentUser, id: uuid.UUID) -> Response:  # noqa: A002
    """Mark one of my notifications read."""
    await inbox.mark_read(user=user, notification_id=id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- reminders -------------------------------------------------------------------------------


class AudienceIn(StrictInput):
    user_ids: Annotated[list[uuid.UUID], Field(max_length=1000)] = []
    roles: Annotated[list[Role], Field(max_length=len(Role))] = []
    team_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = []
    org_unit_id: uuid.UUID | None = None


class ReminderCreate(StrictInput):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    body: Annotated[str, Field(min_length=1, max_length=4000)]
    audience: AudienceIn
    first_at: UtcInput
    rrule: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    until: UtcInput | None = None
    urgent: bool = False
    ttl_s: Annotated[int, Field(ge=0, le=28 * 24 * 3600)] = 24 * 3600


class AudienceOut(Output):
    user_ids: list[uuid.UUID]
    roles: list[str]
    team_ids: list[uuid.UUID]
    org_unit_id: uuid.UUID | None


class ReminderPublic(Output):
    id: uuid.UUID
    title: str
    body: str
    audience: AudienceOut
    first_at: UtcOutput
    rrule: str | None
    until: UtcOutput | None
    urgent: bool
    ttl_s: int
    status: str
    next_at: UtcOutput | None
    upcoming: Annotated[
        list[UtcOutput],
        Field(
            description=f"The next {reminders.UPCOMING} occurrences still to fire (fewer when the "
            "series ends sooner), the first being next_at; empty once finished or cancelled"
        ),
    ]
    skips: Annotated[
        list[str],
        Field(
            description="Months (YYYY-MM) or years (YYYY) between the upcoming occurrences that "
            "the rule steps over because its date does not exist there (31 April, 29 February "
            "outside leap years, a fifth Monday); empty when it skips none"
        ),
    ]
    fired: int
    last_fired_at: UtcOutput | None
    created_by_id: uuid.UUID
    created_at: UtcOutput


class DeliveryPublic(Output):
    user_id: uuid.UUID
    status: str
    sent_at: UtcOutput | None
    error: str | None
    notification_id: uuid.UUID
    attempts: int
    held_until: UtcOutput | None
    created_at: UtcOutput


def reminder_public(reminder: Reminder) -> ReminderPublic:
    """The public view of a campaign."""
    audience = reminders.Audience.from_json(reminder.audience)
    outlook = reminders.outlook(reminder=reminder)
    return ReminderPublic(
        id=reminder.id,
        title=reminder.title,
        body=reminder.body,
        audience=AudienceOut(
            user_ids=list(audience.user_ids),
            roles=list(audience.roles),
            team_ids=list(audience.team_ids),
            org_unit_id=audience.org_unit_id,
        ),
        first_at=reminder.first_at,
        rrule=reminder.rrule,
        until=reminder.until,
        urgent=reminder.urgent,
        ttl_s=reminder.ttl_s,
        status=str(reminder.status),
        next_at=reminder.next_at,
        upcoming=outlook.upcoming,
        skips=outlook.skips,
        fired=reminder.fired,
        last_fired_at=reminder.last_fired_at,
        created_by_id=reminder.created_by_id,  # type: ignore[attr-defined]
        created_at=reminder.created_at,
    )


def delivery_public(delivery: Delivery) -> DeliveryPublic:
    """A push as the scheduler sees it: held counts as queued, with the time it waits for."""
    held = delivery.status == DeliveryStatus.held
    return DeliveryPublic(
        user_id=delivery.user_id,
        status=DeliveryStatus.queued.value if held else str(delivery.status),
        sent_at=delivery.sent_at,
        error=delivery.last_error,
        notification_id=delivery.notification_id,  # type: ignore[attr-defined]
        attempts=delivery.attempts,
        held_until=delivery.next_attempt_at if held else None,
        created_at=delivery.created_at,
    )


@router.post(
    "/reminders",
    operation_id="create_reminder",
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def create_reminder(
    body: ReminderCreate, user: Annotated[Any, Depends(roles(*REMINDER_ROLES))]
) -> ReminderPublic:
    """Schedule a reminder for an audience in my scope, once or on an RFC 5545 rule."""
    reminder = await reminders.create_reminder(
        user=user,
        title=body.title,
        body=body.body,
        audience=reminders.Audience(
            user_ids=tuple(dict.fromkeys(body.audience.user_ids)),
            roles=tuple(dict.fromkeys(r.value for r in body.audience.roles)),
            team_ids=tuple(dict.fromkeys(body.audience.team_ids)),
            org_unit_id=body.audience.org_unit_id,
        ),
        first_at=body.first_at,
        rrule=body.rrule,
        until=body.until,
        urgent=body.urgent,
        ttl_s=body.ttl_s,
    )
    return reminder_public(reminder)


@router.get("/reminders", operation_id="list_reminders", responses=ERRORS)
async def list_reminders(user: CurrentUser, page: PageParams) -> Page[ReminderPublic]:
    """The campaigns in my scope, newest first."""
    rows, cursor = await paginate(REMINDER_ACCESS.queryset(user), page)
    return Page(items=[reminder_public(r) for r in rows], next_cursor=cursor)


@router.get("/reminders/{id}", operation_id="get_reminder", responses=ERRORS)
async def get_reminder(
    reminder: Annotated[Reminder, Depends(loader(REMINDER_ACCESS))],
) -> ReminderPublic:
    """One campaign in my scope."""
    return reminder_public(reminder)


@router.delete(
    "/reminders/{id}",
    operation_id="cancel_reminder",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def cancel_reminder(
    reminder: Annotated[Reminder, Depends(loader(REMINDER_ACCESS))],
) -> Response:
    """Cancel a campaign: no further occurrences, and pushes not yet sent are dropped."""
    await reminders.cancel_reminder(reminder=reminder)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/reminders/{id}/deliveries", operation_id="list_reminder_deliveries", responses=ERRORS)
async def list_reminder_deliveries(
    reminder: Annotated[Reminder, Depends(loader(REMINDER_ACCESS))],
    limit: Annotated[int, Query(ge=1, le=5000, description="At most this many, newest first")] = (
        1000
    ),
    since: Annotated[UtcInput | None, Query(description="Only pushes made at or after")] = None,
) -> list[DeliveryPublic]:
    """Each push of the campaign per recipient device: queued, sent, failed or no_device."""
    qs = reminders.reminder_deliveries(reminder=reminder)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return [delivery_public(d) for d in await qs.limit(limit)]
