"""Test data for geo/: shapes built in meters with pyproj, independently of geo.measure."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

NANTONG_LON = 120.9
NANTONG_LAT = 32.0
GEOD = pyproj.Geod(ellps="WGS84")


class Plane:
    """Azimuthal equidistant plane (pyproj) around a centre: meters <-> lon/lat."""

    def __init__(self, *, lon: float = NANTONG_LON, lat: float = NANTONG_LAT) -> None:
        self.lon = lon
        self.lat = lat
        aeqd = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m")
        self._to_lonlat = pyproj.Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
        self._to_plane = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)

    def lonlat(
        self, x_m: NDArray[np.float64] | float, y_m: NDArray[np.float64] | float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Plane meters to lon/lat degrees."""
        lon, lat = self._to_lonlat.transform(np.asarray(x_m, float), np.asarray(y_m, float))
        return np.asarray(lon), np.asarray(lat)

    def xy(
        self, lon: NDArray[np.float64] | float, lat: NDArray[np.float64] | float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Lon/lat degrees to plane meters."""
        x, y = self._to_plane.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x), np.asarray(y)

    def geometry(self, geom_m: shapely.Geometry) -> shapely.Geometry:
        """A plane geometry taken to lon/lat, vertex by vertex."""

        def to_lonlat(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            lon, lat = self.lonlat(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        return shapely.transform(geom_m, to_lonlat)

    def local(self, geom_lonlat: shapely.Geometry) -> shapely.Geometry:
        """A lon/lat geometry taken to this plane, vertex by vertex."""

        def to_plane(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            x, y = self.xy(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geom_lonlat, to_plane)


def square_m(*, plane: Plane, x_m: float, y_m: float, half_m: float) -> Polygon:
    """An axis-aligned square in the plane, densified so its lon/lat edges stay true."""
    box = shapely.segmentize(
        shapely.box(x_m - half_m, y_m - half_m, x_m + half_m, y_m + half_m), max_segment_length=50.0
    )
    geom = plane.geometry(box)
    assert isinstance(geom, Polygon)
    return geom


def circle_m(*, plane: Plane, x_m: float, y_m: float, radius_m: float, sides: int = 64) -> Polygon:
    """A regular polygon of `sides` vertices around a plane point."""
    angles = np.linspace(0.0, 2.0 * math.pi, sides, endpoint=False)
    ring = np.column_stack([x_m + radius_m * np.cos(angles), y_m + radius_m * np.sin(angles)])
    geom = plane.geometry(Polygon(ring))
    assert isinstance(geom, Polygon)
    return geom


def geodesic_area_m2(geom: Polygon | MultiPolygon) -> float:
    """Area on the WGS 84 ellipsoid (pyproj), sign dropped."""
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area)


def geodesic_length_m(lons: NDArray[np.float64], lats: NDArray[np.float64]) -> float:
    """Length of a lon/lat polyline on the WGS 84 ellipsoid (pyproj)."""
    if len(lons) < 2:
        return 0.0
    return float(GEOD.line_length(lons, lats))


def geodesic_distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance between two points on the WGS 84 ellipsoid (pyproj)."""
    _, _, distance = GEOD.inv(lon1, lat1, lon2, lat2)
    return float(distance)
