"""Visits (走访) to a client: recording one (replays answer 200) and listing them."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CurrentUser, SettingsDep
from api.pagination import PageParams, paginate
from api.routers.social.dependencies import ScopedClient
from api.routers.social.schemas import ClientVisitCreate, ClientVisitPublic
from api.schemas import Page
from services.idempotency import fingerprint
from services.social import visits

router = APIRouter(tags=["social"])


@router.post(
    "/clients/{id}/visits",
    operation_id="create_visit",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Replay of a stored visit"}},
)
async def create_visit(
    body: ClientVisitCreate,
    response: Response,
    client: ScopedClient,
    user: CurrentUser,
    settings: SettingsDep,
) -> ClientVisitPublic:
    """Record a visit (same id and body again: 200 with the stored visit)."""
    visit, created = await visits.record_visit(
        user=user,
        client=client,
        visit_id=body.id,
        kind=body.kind,
        occurred_at=body.occurred_at,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        notes=body.notes,
        request_hash=fingerprint(body, owner=f"{user.id}:{client.id}"),
        settings=settings,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ClientVisitPublic.model_validate(visit)


@router.get("/clients/{id}/visits", operation_id="list_visits")
async def list_visits(client: ScopedClient, page: PageParams) -> Page[ClientVisitPublic]:
    """The client's visits, newest first."""
    rows, cursor = await paginate(
        visits.client_visits(client=client), page, order_field="occurred_at"
    )
    return Page(items=[ClientVisitPublic.model_validate(v) for v in rows], next_cursor=cursor)
