"""Patrol zones, checkpoints, shifts and rounds (supervisor/admin manage; patrol members patrol).

Modules: `zones`, `shifts` (checkpoints and assignments), `reports`, `rounds`, with their bodies
in `schemas` and their loaders in `dependencies`. Included in this order, the order of the spec.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.flat_routes import include_flat
from api.routers.patrol import reports, rounds, shifts, zones

router = APIRouter(tags=["patrol"])
for module in (zones, shifts, reports, rounds):
    include_flat(router, module.router)  # one flat list of routes (api/flat_routes.py)
