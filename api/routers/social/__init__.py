"""Social work's routes: clients, visits, care groups, my caseload and tasks, teams, reports.

Modules: `clients` (clients and their case), `visits`, `care_groups`, `me` (the phones' hot
paths), `teams` (teams and six-ones tasks), `reports`; `schemas` holds the request and response
schemas, `dependencies` the Annotated loaders. The sub-routers are included in this order, the
order routing tries them and the spec lists them.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.flat_routes import include_flat
from api.routers.social import care_groups, clients, me, reports, teams, visits

router = APIRouter()
for module in (clients, visits, care_groups, me, teams, reports):
    include_flat(router, module.router)  # one flat list of routes (api/flat_routes.py)
