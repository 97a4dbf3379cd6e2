"""The Annotated dependency aliases of the community-correction routes (roles, loaders, months)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from api.deps import loader, roles
from api.schemas import MonthInput
from models.correction import CheckIn, LeaveRequest, Supervision
from models.org import Role, User
from services.correction import access

OfficerUser = Annotated[User, Depends(roles(*access.OFFICER_ROLES))]
SubjectUser = Annotated[User, Depends(roles(Role.subject))]
LoadedSupervision = Annotated[Supervision, Depends(loader(access.SUPERVISION_ACCESS))]
# A supervision the caller acts on: its assigned officer, a supervisor of the subtree, an admin.
ManagedSupervision = Annotated[Supervision, Depends(loader(access.MANAGED_SUPERVISION_ACCESS))]
# A check-in of a supervision the caller acts on (as above).
ManagedCheckIn = Annotated[CheckIn, Depends(loader(access.MANAGED_CHECKIN_ACCESS))]
# A leave request the caller (an officer, supervisor or admin) may decide.
DecidableLeave = Annotated[LeaveRequest, Depends(loader(access.LEAVE_ACCESS))]
# A leave request of the calling subject.
OwnLeave = Annotated[LeaveRequest, Depends(loader(access.MY_LEAVE_ACCESS))]
MonthText = Annotated[
    MonthInput, Query(pattern=r"^\d{4}-\d{2}$", description="Local month, YYYY-MM")
]
MonthPath = Annotated[
    MonthInput, Path(pattern=r"^\d{4}-\d{2}$", description="Local month, YYYY-MM")
]
