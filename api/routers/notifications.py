"""Devices and the inbox (any signed-in user); reminder campaigns (schedulers)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import Field

from api.deps import CurrentUser, loader, roles
from api.pagination import PageParams, paginate
from api.schemas import Output, Page, StrictInput, UtcInput, UtcOutput
from models.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    Platform,
    PushProvider,
    Reminder,
)
from models.org import Role
from notifications import inbox
from services import reminders

router = APIRouter(tags=["notifications"])

REMINDER_ROLES = reminders.REMINDER_ROLES
REMINDER_ACCESS = reminders.REMINDER_ACCESS

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request (e.g. a bad cursor)"},
    401: {"description": "Not signed in"},
    403: {"description": "The role may not do this"},
    404: {"description": "Not found or outside your scope"},
    422: {"description": "Invalid input"},
}

# FCM registration tokens are about 160-200 characters of [A-Za-z0-9_:-], JPush registration ids
# about 20 of [0-9a-z]; a little room is left.
FcmToken = Annotated[
    str,
    Path(
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9_:\-.]+$",
        description="The device's push token: an FCM registration token or a JPush registration id",
    ),
]


# --- devices ---------------------------------------------------------------------------------


class DeviceUpsert(StrictInput):
    platform: Platform
    provider: PushProvider = Field(
        default=PushProvider.fcm,
        description="Who carries pushes to this token: fcm, or jpush (phones in mainland China)",
    )
    app_version: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None


class DevicePublic(Output):
    """A registered device; the token itself is not echoed."""

    id: uuid.UUID
    platform: Platform
    provider: PushProvider
    app_version: str | None
    locale: str | None
    last_seen_at: UtcOutput
    created_at: UtcOutput


@router.put(
    "/me/devices/{fcm_token}",
    operation_id="put_my_device",
    responses={
        201: {"description": "Registered for me", "model": DevicePublic},
        409: {"description": "The token is registered with another provider"},
        **ERRORS,
    },
)
async def put_my_device(
    user: CurrentUser, fcm_token: FcmToken, body: DeviceUpsert, response: Response
) -> DevicePublic:
    """Register my device's push token (201) or refresh it (200); a token moves to its new owner.

    A token belongs to one provider: the same token under another provider is a 409.
    """
    device, created = await inbox.register_device(
        user=user,
        token=fcm_token,
        provider=body.provider,
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


class ChannelOutcome(Output):
    """One delivery of a notification on one channel: a push to one device, or an SMS."""

    channel: str = Field(description="push or sms")
    provider: str | None = Field(description="fcm, jpush or aliyun (SMS); null for no_device")
    status: str = Field(
        description="queued, sent, sms_sent, failed, no_device, no_phone, or read "
        "(dropped unsent: the notification was opened first)"
    )
    sent_at: UtcOutput | None
    error: str | None


class NotificationPublic(Output):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, str]
    urgent: bool
    created_at: UtcOutput
    read_at: UtcOutput | None
    received_at: UtcOutput | None = Field(
        description="When the app confirmed a push arrived (or the notification was read)"
    )
    deliveries: list[ChannelOutcome] = Field(description="Each channel's outcome, oldest first")


def channel_outcome(delivery: Delivery) -> ChannelOutcome:
    """A delivery as its recipient and the scheduler see it: held counts as queued."""
    status_text = (
        DeliveryStatus.queued.value
        if delivery.status == DeliveryStatus.held
        else str(delivery.status)
    )
    return ChannelOutcome(
        channel=str(delivery.channel),
        provider=_provider(delivery),
        status=status_text,
        sent_at=delivery.sent_at,
        error=delivery.last_error,
    )


def _provider(delivery: Delivery) -> str | None:
    if delivery.provider:
        return delivery.provider
    # Pushes made before providers existed went through FCM.
    if delivery.channel == Channel.push and delivery.status != DeliveryStatus.no_device:
        return PushProvider.fcm.value
    return None


def notification_public(
    notification: Notification, deliveries: list[Delivery]
) -> NotificationPublic:
    """An inbox entry with its deliveries."""
    return NotificationPublic(
        id=notification.id,
        kind=str(notification.kind),
        title=notification.title,
        body=notification.body,
        data={str(k): str(v) for k, v in (notification.data or {}).items()},
        urgent=notification.urgent,
        created_at=notification.created_at,
        read_at=notification.read_at,
        received_at=notification.received_at,
        deliveries=[channel_outcome(d) for d in deliveries],
    )


@router.get("/me/notifications", operation_id="list_my_notifications", responses=ERRORS)
async def list_my_notifications(
    user: CurrentUser,
    page: PageParams,
    unread: Annotated[bool, Query(description="Only what I have not read")] = False,
) -> Page[NotificationPublic]:
    """Everything addressed to me, newest first, whether or not a push arrived, per channel."""
    rows, cursor = await paginate(inbox.my_notifications(user=user, unread=unread), page)
    deliveries = await inbox.deliveries_by_notification(notification_ids=[n.id for n in rows])
    return Page(
        items=[notification_public(n, deliveries.get(n.id, [])) for n in rows],
        next_cursor=cursor,
    )


@router.post(
    "/me/notifications/{id}/read",
    operation_id="read_my_notification",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def read_my_notification(user: CurrentUser, id: uuid.UUID) -> Response:  # noqa: A002
    """Mark one of my notifications read on every channel: nothing still waiting is sent."""
    await inbox.mark_read(user=user, notification_id=id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/me/notifications/{id}/received",
    operation_id="confirm_my_notification_received",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def confirm_my_notification_received(user: CurrentUser, id: uuid.UUID) -> Response:  # noqa: A002
    """The app says a push of this notification arrived: no SMS fallback for it."""
    await inbox.mark_received(user=user, notification_id=id)
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
    channel: str = Field(description="push or sms")
    provider: str | None = Field(description="fcm, jpush or aliyun (SMS); null for no_device")
    status: str = Field(
        description="queued, sent, sms_sent, failed, no_device, no_phone, or read "
        "(dropped unsent: the notification was opened first)"
    )
    sent_at: UtcOutput | None
    error: str | None
    notification_id: uuid.UUID
    attempts: int
    held_until: UtcOutput | None
    read_at: UtcOutput | None = Field(description="When the recipient opened it in the app")
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


def delivery_public(delivery: Delivery, read_at: Any = None) -> DeliveryPublic:
    """A delivery as the scheduler sees it: held counts as queued, with the time it waits for."""
    held = delivery.status == DeliveryStatus.held
    outcome = channel_outcome(delivery)
    return DeliveryPublic(
        user_id=delivery.user_id,
        channel=outcome.channel,
        provider=outcome.provider,
        status=outcome.status,
        sent_at=delivery.sent_at,
        error=delivery.last_error,
        notification_id=delivery.notification_id,  # type: ignore[attr-defined]
        attempts=delivery.attempts,
        held_until=delivery.next_attempt_at if held else None,
        read_at=read_at,
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
    """Each delivery of the campaign per recipient and channel (push per device, SMS)."""
    qs = reminders.reminder_deliveries(reminder=reminder)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    rows = await qs.limit(limit)
    read = await inbox.read_times(notification_ids={d.notification_id for d in rows})  # type: ignore[attr-defined]
    return [delivery_public(d, read.get(d.notification_id)) for d in rows]  # type: ignore[attr-defined]
