"""Zones: create, import, list, read, reshape and retire them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentUser
from api.pagination import PageParams, paginate
from api.routers.patrol.dependencies import ManagedZone, Manager, ReadableZone
from api.routers.patrol.schemas import (
    FeatureCollection,
    ImportRejection,
    ImportResultPublic,
    ZoneCreate,
    ZonePublic,
    ZoneUpdate,
)
from api.schemas import Page
from models.patrol import ZoneKind
from services.patrol import zones

router = APIRouter()


@router.post("/zones", operation_id="create_zone", status_code=status.HTTP_201_CREATED)
async def create_zone(body: ZoneCreate, user: Manager) -> ZonePublic:
    """A zone in my subtree; invalid geometry is a 422 `invalid_geometry` naming fault and place."""
    zone = await zones.create_zone(
        user=user,
        name=body.name,
        kind=body.kind,
        org_unit_id=body.org_unit_id,
        geometry=body.geometry,
    )
    return ZonePublic.model_validate(zone)


@router.post("/zones/import", operation_id="import_zones")
async def import_zones(
    body: FeatureCollection,
    user: Manager,
    org_unit_id: Annotated[uuid.UUID, Query()],
) -> ImportResultPublic:
    """One zone per Feature (properties `name`, `kind`); each bad feature rejected by index."""
    result = await zones.import_zones(user=user, org_unit_id=org_unit_id, features=body.features)
    return ImportResultPublic(
        created=[ZonePublic.model_validate(z) for z in result.created],
        rejected=[ImportRejection(**r) for r in result.rejected],
    )


@router.get("/zones", operation_id="list_zones")
async def list_zones(
    user: CurrentUser,
    page: PageParams,
    kind: Annotated[ZoneKind | None, Query()] = None,
    contains: Annotated[
        str | None, Query(max_length=64, description="LON,LAT: zones covering this point")
    ] = None,
) -> Page[ZonePublic]:
    """Zones I may see, by kind and by a point they cover."""
    qs = await zones.readable_zones(user=user, kind=kind, contains=contains)
    rows, cursor = await paginate(qs, page)
    return Page(items=[ZonePublic.model_validate(z) for z in rows], next_cursor=cursor)


@router.get("/zones/{id}", operation_id="get_zone")
async def get_zone(zone: ReadableZone) -> ZonePublic:
    """One zone I may see."""
    return ZonePublic.model_validate(zone)


@router.patch("/zones/{id}", operation_id="update_zone")
async def update_zone(body: ZoneUpdate, zone: ManagedZone) -> ZonePublic:
    """Rename, re-kind or reshape a zone in my subtree."""
    updated = await zones.update_zone(
        zone=zone, name=body.name, kind=body.kind, geometry=body.geometry
    )
    return ZonePublic.model_validate(updated)


@router.delete("/zones/{id}", operation_id="delete_zone", status_code=status.HTTP_204_NO_CONTENT)
async def delete_zone(zone: ManagedZone) -> Response:
    """Retire a zone (soft delete: past rounds keep it)."""
    await zones.delete_zone(zone=zone)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
