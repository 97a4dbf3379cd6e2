"""A person's data for admins: export everything held, erase where the law allows (audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.deps import SettingsDep, loader
from api.schemas import Output
from grassroots import clock
from models.social import Client
from services import privacy

router = APIRouter(tags=["privacy"])

CLIENT_ADMIN_ACCESS = privacy.CLIENT_ADMIN_ACCESS
AdminClient = Annotated[Client, Depends(loader(CLIENT_ADMIN_ACCESS))]


class ErasurePublic(Output):
    client_id: str
    visits: int
    case_closures: int
    checkins: int
    leave_requests: int


@router.get("/admin/clients/{id}/export", operation_id="export_client_data")
async def export_client_data(client: AdminClient, settings: SettingsDep) -> dict[str, Any]:
    """Everything held about one client, identity number in clear (PIPL access request)."""
    return await privacy.export_client(client=client, settings=settings)


@router.post("/admin/clients/{id}/erase", operation_id="erase_client_data")
async def erase_client_data(client: AdminClient, settings: SettingsDep) -> ErasurePublic:
    """Remove what identifies a client; 409 while a supervision of the client is running."""
    counts = await privacy.erase_client(
        client=client, today=clock.now().astimezone(settings.tz).date()
    )
    return ErasurePublic(client_id=str(client.id), **counts)
