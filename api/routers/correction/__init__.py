"""Community correction: supervisions, check-ins, leave, compliance and assessments.

Officers (and supervisors, admins) see the supervisions in their org subtree; a subject sees only
their own through the `/me/...` routes. The monthly compliance export is a separate path,
`GET /supervisions/{id}/compliance.csv?month=YYYY-MM` (CSV, UTF-8 with BOM, opens in Excel).

Modules: `supervisions`, `checkins`, `leave`, `compliance`, `officer` (routes, included below in
this order, which is the spec's), `schemas` (bodies and views), `dependencies` (aliases).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.flat_routes import include_flat
from api.routers.correction import checkins, compliance, leave, officer, supervisions

router = APIRouter(tags=["correction"])
for module in (supervisions, checkins, leave, compliance, officer):
    include_flat(router, module.router)  # one flat list of routes (api/flat_routes.py)
