"""Which zones contain which points: an immutable index over zone polygons in lon/lat degrees.

Containment is planar in lon/lat (as PostGIS `ST_Covers` on geometry does) and a point on a
zone's boundary counts as inside. Two structures back the index:

- an STRtree over the prepared zone geometries, for one point at a time;
- a uniform grid for batches. Every (cell, zone) pair whose zone's bounding box reaches the cell
  is classed once at build time as *full* (the closed cell lies inside the zone), *partial* (the
  zone's boundary touches the cell) or nothing (the cell lies outside). A batch is then resolved
  by array look-ups, and only points in partial cells get an exact GEOS test. A cell is partial
  exactly when one of the zone's edges passes through it (edges are rasterised with a small
  tolerance), so a cell that is not partial lies wholly on one side of the boundary and its
  centre tells which.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon

K = TypeVar("K", bound=Hashable)
IntArray = NDArray[np.int64]
IntArray32 = NDArray[np.int32]
BoolArray = NDArray[np.bool_]

# Tolerance of the edge rasterisation, in cell widths. Coordinates in cell units stay below
# ~1e5, where float64 rounding is ~1e-11, so 1e-6 cells is ample and costs nothing.
_RASTER_EPS = 1e-6


def _exclusive_cumsum(counts: IntArray) -> IntArray:
    """Start offset of each run when runs of `counts` lengths are laid end to end."""
    starts = np.zeros(counts.size, dtype=np.int64)
    if counts.size > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    return starts


def _expand_runs(starts: IntArray, counts: IntArray) -> IntArray:
    """Concatenation of range(start, start + count) for every run, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    run_offsets = np.repeat(starts - _exclusive_cumsum(counts), counts)
    return np.arange(total, dtype=np.int64) + run_offsets


def _rings_of(geom: Polygon | MultiPolygon) -> list[NDArray[np.float64]]:
    """Coordinates (n, 2) of every ring of every part."""
    parts = geom.geoms if isinstance(geom, MultiPolygon) else (geom,)
    rings: list[NDArray[np.float64]] = []
    for part in parts:
        for ring in (part.exterior, *part.interiors):
            rings.append(np.asarray(ring.coords, dtype=np.float64)[:, :2])
    return rings


class _Grid:
    """The cell grid and, per cell, the zones covering it wholly and those whose edge crosses it."""

    __slots__ = (
        "origin_lon",
        "origin_lat",
        "inv_cell_lon",
        "inv_cell_lat",
        "columns",
        "rows",
        "full_ptr",
        "full_zone",
        "partial_ptr",
        "partial_zone",
    )

    def __init__(
        self,
        *,
        geoms: Sequence[Polygon | MultiPolygon],
        entry_budget: int,
        cell_budget: int,
        cells_per_zone_side: int,
    ) -> None:
        bounds = shapely.bounds(np.asarray(geoms, dtype=object))
        min_lon, min_lat = bounds[:, 0].min(), bounds[:, 1].min()
        max_lon, max_lat = bounds[:, 2].max(), bounds[:, 3].max()
        # Cells roughly square on the ground: longitude cells widened by 1/cos(lat).
        mid_lat = math.radians((min_lat + max_lat) / 2.0)
        lon_stretch = 1.0 / max(math.cos(mid_lat), 0.05)
        widths = (bounds[:, 2] - bounds[:, 0]) / lon_stretch
        heights = bounds[:, 3] - bounds[:, 1]
        grid_area = max((max_lon - min_lon) / lon_stretch * (max_lat - min_lat), 1e-18)
        bbox_area = max(float((widths * heights).sum()), 1e-18)
        median_side = float(np.median(np.maximum(widths, heights)))
        cell = max(
            math.sqrt(bbox_area / entry_budget),
            math.sqrt(grid_area / cell_budget),
            median_side / cells_per_zone_side,
            1e-9,
        )
        cell_lat = cell
        cell_lon = cell * lon_stretch
        # Half a cell of margin so no zone vertex sits on the grid's outer edge.
        self.origin_lon = float(min_lon - cell_lon / 2.0)
        self.origin_lat = float(min_lat - cell_lat / 2.0)
        self.inv_cell_lon = 1.0 / cell_lon
        self.inv_cell_lat = 1.0 / cell_lat
        self.columns = int(math.floor((max_lon - self.origin_lon) * self.inv_cell_lon)) + 2
        self.rows = int(math.floor((max_lat - self.origin_lat) * self.inv_cell_lat)) + 2

        partial_cells, partial_zones = self._rasterise_edges(geoms)
        full_cells, full_zones = self._fill_interiors(geoms, bounds, partial_cells, partial_zones)
        self.full_ptr, self.full_zone = self._csr(full_cells, full_zones)
        self.partial_ptr, self.partial_zone = self._csr(partial_cells, partial_zones)

    def _rasterise_edges(
        self, geoms: Sequence[Polygon | MultiPolygon]
    ) -> tuple[IntArray, IntArray]:
        """Unique (cell, zone) pairs of every cell that some edge of the zone passes through."""
        starts: list[NDArray[np.float64]] = []
        ends: list[NDArray[np.float64]] = []
        owners: list[IntArray] = []
        for position, geom in enumerate(geoms):
            for ring in _rings_of(geom):
                starts.append(ring[:-1])
                ends.append(ring[1:])
                owners.append(np.full(len(ring) - 1, position, dtype=np.int64))
        a = np.concatenate(starts)
        b = np.concatenate(ends)
        owner = np.concatenate(owners)
        u0 = (a[:, 0] - self.origin_lon) * self.inv_cell_lon
        v0 = (a[:, 1] - self.origin_lat) * self.inv_cell_lat
        u1 = (b[:, 0] - self.origin_lon) * self.inv_cell_lon
        v1 = (b[:, 1] - self.origin_lat) * self.inv_cell_lat
        u_min, u_max = np.minimum(u0, u1), np.maximum(u0, u1)
        col_first = np.floor(u_min - _RASTER_EPS).astype(np.int64)
        col_count = np.floor(u_max + _RASTER_EPS).astype(np.int64) - col_first + 1
        # One row per (edge, column it spans): the edge's v-range within that column.
        edge = np.repeat(np.arange(u0.size), col_count)
        column = _expand_runs(col_first, col_count)
        du = (u1 - u0)[edge]
        dv = (v1 - v0)[edge]
        ua = np.clip(column.astype(np.float64), u_min[edge], u_max[edge])
        ub = np.clip(column.astype(np.float64) + 1.0, u_min[edge], u_max[edge])
        vertical = du == 0.0
        safe_du = np.where(vertical, 1.0, du)
        va = np.where(vertical, np.minimum(v0, v1)[edge], v0[edge] + (ua - u0[edge]) * dv / safe_du)
        vb = np.where(vertical, np.maximum(v0, v1)[edge], v0[edge] + (ub - u0[edge]) * dv / safe_du)
        row_first = np.floor(np.minimum(va, vb) - _RASTER_EPS).astype(np.int64)
        row_count = np.floor(np.maximum(va, vb) + _RASTER_EPS).astype(np.int64) - row_first + 1
        piece = np.repeat(np.arange(column.size), row_count)
        row = _expand_runs(row_first, row_count)
        column = column[piece]
        zone = owner[edge[piece]]
        inside = (column >= 0) & (column < self.columns) & (row >= 0) & (row < self.rows)
        cells = row[inside] * self.columns + column[inside]
        zone = zone[inside]
        # Unique (zone, cell), ordered by zone then cell.
        keys = np.unique(zone * (self.rows * self.columns) + cells)
        return keys % (self.rows * self.columns), keys // (self.rows * self.columns)

    def _fill_interiors(
        self,
        geoms: Sequence[Polygon | MultiPolygon],
        bounds: NDArray[np.float64],
        partial_cells: IntArray,
        partial_zones: IntArray,
    ) -> tuple[IntArray, IntArray]:
        """(cell, zone) pairs of cells inside each zone's bbox that the zone wholly covers."""
        zone_bounds = np.searchsorted(partial_zones, np.arange(len(geoms) + 1))
        full_cells: list[IntArray] = []
        full_zones: list[IntArray] = []
        for position, geom in enumerate(geoms):
            col_lo = max(0, int((bounds[position, 0] - self.origin_lon) * self.inv_cell_lon))
            col_hi = min(
                self.columns - 1, int((bounds[position, 2] - self.origin_lon) * self.inv_cell_lon)
            )
            row_lo = max(0, int((bounds[position, 1] - self.origin_lat) * self.inv_cell_lat))
            row_hi = min(
                self.rows - 1, int((bounds[position, 3] - self.origin_lat) * self.inv_cell_lat)
            )
            width = col_hi - col_lo + 1
            height = row_hi - row_lo + 1
            if width <= 0 or height <= 0:
                continue
            edge_cells = partial_cells[zone_bounds[position] : zone_bounds[position + 1]]
            touched = np.zeros((height, width), dtype=np.bool_)
            edge_rows = edge_cells // self.columns - row_lo
            edge_cols = edge_cells % self.columns - col_lo
            keep = (edge_rows >= 0) & (edge_rows < height) & (edge_cols >= 0) & (edge_cols < width)
            touched[edge_rows[keep], edge_cols[keep]] = True
            # Between two touched cells of a row every cell shares one side of the boundary,
            # so test one centre per untouched run rather than every cell.
            flat_touched = touched.ravel()
            run_start = ~flat_touched.copy()
            run_start[1:] &= flat_touched[:-1] | (np.arange(1, flat_touched.size) % width == 0)
            first_cells = np.flatnonzero(run_start)
            if first_cells.size == 0:
                continue
            first_rows = first_cells // width + row_lo
            first_cols = first_cells % width + col_lo
            centre_lon = self.origin_lon + (first_cols + 0.5) / self.inv_cell_lon
            centre_lat = self.origin_lat + (first_rows + 0.5) / self.inv_cell_lat
            run_inside = shapely.intersects_xy(geom, centre_lon, centre_lat)
            run_id = np.cumsum(run_start) - 1
            inside = ~flat_touched & run_inside[run_id]
            local = np.flatnonzero(inside)
            if local.size == 0:
                continue
            cells = (local // width + row_lo) * self.columns + (local % width + col_lo)
            full_cells.append(cells.astype(np.int64))
            full_zones.append(np.full(cells.size, position, dtype=np.int64))
        if not full_cells:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(full_cells), np.concatenate(full_zones)

    def _csr(self, cells: IntArray, zones: IntArray) -> tuple[IntArray32, IntArray32]:
        """Per-cell zone lists: zones of cell c are zone[ptr[c]:ptr[c + 1]], ascending."""
        order = np.argsort(cells, kind="stable")  # input is ordered by zone, so stays ascending
        counts = np.bincount(cells, minlength=self.rows * self.columns)
        if cells.size >= np.iinfo(np.int32).max:
            raise ValueError("grid too large; lower entry_budget")
        # int32 halves the memory the look-ups touch at random, which is what bounds them.
        ptr = np.zeros(counts.size + 1, dtype=np.int32)
        np.cumsum(counts, out=ptr[1:])
        zone = zones[order].astype(np.int32)
        ptr.flags.writeable = False
        zone.flags.writeable = False
        return ptr, zone

    def cells_of(
        self, lons: NDArray[np.float64], lats: NDArray[np.float64]
    ) -> tuple[IntArray, IntArray]:
        """(point index, cell) of the points that fall in the grid."""
        u = (lons - self.origin_lon) * self.inv_cell_lon
        v = (lats - self.origin_lat) * self.inv_cell_lat
        on_grid = (u >= 0.0) & (u < self.columns) & (v >= 0.0) & (v < self.rows)  # NaN: False
        points = np.flatnonzero(on_grid)
        cells = v[points].astype(np.int64) * self.columns + u[points].astype(np.int64)
        return points, cells


def _lookup(
    points: IntArray, cells: IntArray, ptr: IntArray32, zone: IntArray32
) -> tuple[IntArray, IntArray]:
    """(point, zone) for every zone listed in each point's cell, in point order then zone order."""
    start = ptr[cells].astype(np.int64)
    count = ptr[cells + 1] - start
    listed = count > 0
    start, count, points = start[listed], count[listed], points[listed]
    if count.size and int(count.max()) == 1:  # the common case: at most one zone per cell
        return points, zone[start].astype(np.int64)
    return np.repeat(points, count), zone[_expand_runs(start, count)].astype(np.int64)


class ZoneIndex(Generic[K]):
    """Immutable index of zones (key, Polygon | MultiPolygon in lon/lat); rebuild it on change."""

    __slots__ = ("_keys", "_geoms", "_position", "_tree", "_grid")

    def __init__(
        self,
        zones: Sequence[tuple[K, Polygon | MultiPolygon]],
        *,
        entry_budget: int = 4_000_000,
        cell_budget: int = 4_000_000,
        cells_per_zone_side: int = 128,
    ) -> None:
        keys = tuple(key for key, _ in zones)
        geoms = tuple(geom for _, geom in zones)
        position = {key: index for index, key in enumerate(keys)}
        if len(position) != len(keys):
            raise ValueError("zone keys must be unique")
        for key, geom in zones:
            if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
                raise TypeError(f"zone {key!r} is not a non-empty Polygon or MultiPolygon")
        # Copies, so that preparing them never touches the caller's objects' state.
        geoms = tuple(shapely.from_wkb(shapely.to_wkb(geom)) for geom in geoms)
        shapely.prepare(np.asarray(geoms, dtype=object))
        self._keys = keys
        self._geoms = geoms
        self._position = position
        self._tree = shapely.STRtree(np.asarray(geoms, dtype=object))
        self._grid = (
            _Grid(
                geoms=geoms,
                entry_budget=entry_budget,
                cell_budget=cell_budget,
                cells_per_zone_side=cells_per_zone_side,
            )
            if geoms
            else None
        )

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> tuple[K, ...]:
        """Zone keys; a zone's position in this tuple is what `classify` returns."""
        return self._keys

    def geometry(self, *, key: K) -> Polygon | MultiPolygon:
        """The (prepared) geometry indexed under `key`."""
        return self._geoms[self._position[key]]

    def zones_containing(self, *, lon: float, lat: float) -> list[K]:
        """Keys of every zone covering the point (boundary included), in index order."""
        if not self._keys or not (math.isfinite(lon) and math.isfinite(lat)):
            return []
        hits = self._tree.query(shapely.Point(lon, lat), predicate="intersects")
        return [self._keys[int(i)] for i in np.sort(hits)]

    def classify(self, *, lons: ArrayLike, lats: ArrayLike) -> tuple[IntArray, IntArray]:
        """(point_index, zone_position) of every containment, sorted by point then zone."""
        lon_arr = np.ascontiguousarray(lons, dtype=np.float64).ravel()
        lat_arr = np.ascontiguousarray(lats, dtype=np.float64).ravel()
        if lon_arr.shape != lat_arr.shape:
            raise ValueError("lons and lats must have the same length")
        empty = np.zeros(0, dtype=np.int64)
        if self._grid is None or lon_arr.size == 0:
            return empty, empty.copy()
        grid = self._grid
        points, cells = grid.cells_of(lon_arr, lat_arr)
        full_points, full_zones = _lookup(points, cells, grid.full_ptr, grid.full_zone)
        edge_points, edge_zones = _lookup(points, cells, grid.partial_ptr, grid.partial_zone)
        # Exact tests only near edges, one GEOS call per zone with candidates.
        order = np.argsort(edge_zones, kind="stable")
        edge_points, edge_zones = edge_points[order], edge_zones[order]
        hit = np.zeros(edge_points.size, dtype=np.bool_)
        bounds = np.flatnonzero(np.diff(edge_zones)) + 1
        for first, last in zip(
            np.concatenate(([0], bounds)), np.concatenate((bounds, [edge_zones.size])), strict=True
        ):
            if last > first:
                candidates = edge_points[first:last]
                hit[first:last] = shapely.intersects_xy(
                    self._geoms[int(edge_zones[first])], lon_arr[candidates], lat_arr[candidates]
                )
        edge_points, edge_zones = edge_points[hit], edge_zones[hit]
        point_index = np.concatenate((full_points, edge_points))
        zone_position = np.concatenate((full_zones, edge_zones))
        # Full hits are already sorted, so this stable sort is mostly a merge of two runs.
        order = np.argsort(point_index * len(self._keys) + zone_position, kind="stable")
        return point_index[order], zone_position[order]

    def contains(self, *, key: K, lons: ArrayLike, lats: ArrayLike) -> BoolArray:
        """Whether the zone under `key` covers each point (boundary included)."""
        geom = self._geoms[self._position[key]]
        lon_arr = np.asarray(lons, dtype=np.float64)
        lat_arr = np.asarray(lats, dtype=np.float64)
        return np.asarray(shapely.intersects_xy(geom, lon_arr, lat_arr), dtype=np.bool_)
