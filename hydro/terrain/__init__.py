"""Terrain engine: depression filling, D8 flow directions, accumulation, streams, catchments, HAND.

Public functions take and return georeferenced :class:`xarray.DataArray` objects; the numba
kernels underneath work on flat numpy arrays (:mod:`hydro.terrain._kernels`).

D8 encoding (uint8, ESRI): 1=E, 2=SE, 4=S, 8=SW, 16=W, 32=NW, 64=N, 128=NE; 0 = drains off the
grid or into nodata (outlet); 255 = nodata.
"""
from hydro.terrain.analysis import (
    analyse,
    catchments,
    fill_depressions,
    flow_accumulation,
    flow_direction,
    hand,
    strahler_order,
    streams,
    upstream_area,
)
from hydro.terrain.grid import GridGeometry, grid_geometry
from hydro.terrain.network import FlowNetwork, flow_network

__all__ = [
    "analyse",
    "catchments",
    "fill_depressions",
    "flow_accumulation",
    "flow_direction",
    "flow_network",
    "FlowNetwork",
    "GridGeometry",
    "grid_geometry",
    "hand",
    "strahler_order",
    "streams",
    "upstream_area",
]
