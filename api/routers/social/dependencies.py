"""Social work's Annotated dependency aliases: local today, scoped client, team and task, range."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, Query

from api.deps import CurrentUser, SettingsDep
from api.schemas import DateInput
from grassroots import clock
from models.org import Team
from models.social import Client, TeamTask
from services.social import access, cadence, sixones


async def today_local(settings: SettingsDep) -> date:
    """Today's date in the deployment's time zone."""
    return cadence.local_today(now=clock.now(), tz=settings.tz)


Today = Annotated[date, Depends(today_local)]


async def scoped_client(id: uuid.UUID, user: CurrentUser, today: Today) -> Client:  # noqa: A002
    """The client of the path in the caller's scope (its read is audited), else 403/404."""
    return await access.load_client(user=user, client_id=id, today=today)


ScopedClient = Annotated[Client, Depends(scoped_client)]


async def scoped_team(id: uuid.UUID, user: CurrentUser) -> Team:  # noqa: A002
    """The team of the path in the caller's scope, else 403/404."""
    return await access.load_team(user=user, team_id=id)


ScopedTeam = Annotated[Team, Depends(scoped_team)]


async def scoped_task(id: uuid.UUID, user: CurrentUser, today: Today) -> TeamTask:  # noqa: A002
    """The six-ones task of the path, of a team in the caller's scope, else 403/404."""
    return await access.load_task(user=user, task_id=id, today=today)


ScopedTask = Annotated[TeamTask, Depends(scoped_task)]


async def task_range(
    today: Today,
    from_on: Annotated[
        DateInput | None, Query(alias="from", description="First due date (local)")
    ] = None,
    to_on: Annotated[
        DateInput | None, Query(alias="to", description="Last due date (local)")
    ] = None,
) -> tuple[date, date]:
    """`?from=&to=` (due dates, inclusive), by default the current local year."""
    default_from, default_to = sixones.default_range(today=today)
    return from_on or default_from, to_on or default_to


TaskRange = Annotated[tuple[date, date], Depends(task_range)]

Format = Annotated[Literal["json", "csv"], Query(description="`csv` gives a UTF-8 CSV with BOM")]
