"""Zone geometry caches: each zone's prepared shape, and the index of every live zone."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from tortoise import connections

from geo.index import ZoneIndex
from models.patrol import Zone

# --- zone geometry caches ----------------------------------------------------------------------

_SHAPES: OrderedDict[tuple[uuid.UUID, datetime], Polygon | MultiPolygon] = OrderedDict()
_SHAPES_MAX = 512


def zone_shape(zone: Zone) -> Polygon | MultiPolygon:
    """The zone's prepared shapely geometry, cached per (id, updated_at) in this process."""
    key = (zone.id, zone.updated_at)
    found = _SHAPES.get(key)
    if found is not None:
        _SHAPES.move_to_end(key)
        return found
    geom = shape(zone.geometry)
    assert isinstance(geom, Polygon | MultiPolygon)
    shapely.prepare(geom)
    _SHAPES[key] = geom
    while len(_SHAPES) > _SHAPES_MAX:
        _SHAPES.popitem(last=False)
    return geom


@dataclass
class _IndexCache:
    version: tuple[str, str] | None = None
    index: ZoneIndex[uuid.UUID] = field(default_factory=lambda: ZoneIndex([]))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_INDEX = _IndexCache()


async def _zone_table_version() -> tuple[str, str]:
    """Count and latest change of the zone table: any write anywhere (any process) moves it."""
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        f'SELECT COUNT(*) AS n, MAX(updated_at) AS last FROM "{Zone._meta.db_table}"'
    )
    return str(rows[0]["n"]), str(rows[0]["last"])


async def zone_index() -> ZoneIndex[uuid.UUID]:
    """The process-wide index of every live zone, rebuilt when the zone table has changed."""
    version = await _zone_table_version()
    if version == _INDEX.version:
        return _INDEX.index
    async with _INDEX.lock:
        if version != _INDEX.version:
            rows = await Zone.filter(deleted_at=None).values_list("id", "geometry")
            zones = [(zone_id, shape(geometry)) for zone_id, geometry in rows]
            _INDEX.index = await asyncio.to_thread(ZoneIndex, zones)
            _INDEX.version = version
    return _INDEX.index
