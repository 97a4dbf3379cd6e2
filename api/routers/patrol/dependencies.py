"""The patrol routes' loaders: zones and rounds loaded by id within the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.deps import loader, roles
from models.org import Role, User
from models.patrol import Round, Zone
from services.patrol import access

ReadableZone = Annotated[Zone, Depends(loader(access.ZONE_READ))]
ManagedZone = Annotated[Zone, Depends(loader(access.ZONE_MANAGE))]
ReadableRound = Annotated[Round, Depends(loader(access.ROUND_READ))]
OwnRound = Annotated[Round, Depends(loader(access.OWN_ROUND))]
Manager = Annotated[User, Depends(roles(*access.MANAGERS))]
PatrolMember = Annotated[User, Depends(roles(Role.patrol))]
