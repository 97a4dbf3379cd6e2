"""The officer's overview of subjects today, and an office's obligation rules."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from api.pagination import PageParams, paginate
from api.routers.correction.dependencies import OfficerUser
from api.routers.correction.schemas import (
    ObligationRulesPublic,
    ObligationRulesPut,
    SubjectTodayPublic,
    rules_public,
    subject_today_public,
)
from api.schemas import Page
from grassroots import clock
from services.correction import access, levels, overview

router = APIRouter()

OfficeId = Annotated[uuid.UUID, Path(alias="id")]


@router.get("/officer/subjects", operation_id="list_officer_subjects")
async def list_officer_subjects(user: OfficerUser, page: PageParams) -> Page[SubjectTodayPublic]:
    """Subjects under my supervision today with their status and open alert counts.

    Officers see the supervisions they are the officer of; supervisors and admins their subtree.
    A supervision ended in the last 30 days is listed too, with status `ended`.
    """
    now = clock.now()
    rows, cursor = await paginate(
        overview.officer_subjects(user=user, now=now), page, updated_field=None
    )
    items = await overview.subjects_today(supervisions=rows, now=now)
    return Page(items=[subject_today_public(i) for i in items], next_cursor=cursor)


@router.get("/org-units/{id}/obligation-rules", operation_id="get_obligation_rules")
async def get_obligation_rules(user: OfficerUser, org_unit_id: OfficeId) -> ObligationRulesPublic:
    """The rules new supervisions here get: the office's, an ancestor's or the defaults."""
    unit = await access.load_office(org_unit_id=org_unit_id, user=user)
    return rules_public(unit, await levels.rules_for_org_path(org_path=unit.path))


@router.put("/org-units/{id}/obligation-rules", operation_id="put_obligation_rules")
async def put_obligation_rules(
    body: ObligationRulesPut, user: OfficerUser, org_unit_id: OfficeId
) -> ObligationRulesPublic:
    """Set this office's rules per level; running supervisions keep the rules they started with."""
    unit = await access.load_office(org_unit_id=org_unit_id, user=user)
    stored = await levels.put_obligation_config(org_unit=unit, rules=body.rules)
    return rules_public(unit, stored)
