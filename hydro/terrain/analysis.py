"""Public terrain functions on georeferenced DataArrays (thin layer over the numba kernels)."""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from hydro.errors import InputDataError
from hydro.terrain import _kernels as k
from hydro.terrain.grid import grid_geometry
from hydro.terrain.network import FlowNetwork, check_on_grid, flow_network
from hydro.vocabulary import VOCABULARY, cf_attrs

__all__ = [
    "fill_depressions",
    "flow_direction",
    "flow_accumulation",
    "upstream_area",
    "streams",
    "strahler_order",
    "catchments",
    "hand",
    "analyse",
]

logger = logging.getLogger(__name__)

FdirLike = xr.DataArray | FlowNetwork


def _check_dem(dem: xr.DataArray, name: str = "dem") -> None:
    if not isinstance(dem, xr.DataArray) or dem.ndim != 2:
        raise InputDataError(f"{name} must be a 2-D xarray.DataArray (y, x)")
    if dem.rio.crs is None:
        raise InputDataError(f"{name} has no CRS (use hydro.io.open_dem(path, crs=...) or da.rio.write_crs)")
    if dem.dtype not in (np.float32, np.float64):
        raise InputDataError(f"{name} must be float32 or float64 with NaN as nodata, not {dem.dtype}")
    from hydro.io.raster import check_dims, check_grid, grid_transform

    check_dims(dem, name)
    check_grid(grid_transform(dem), dem.shape, name)
    # +-inf is neither ground nor (unless declared) nodata: a -inf cell on the edge drained everything around it and
    # gave infinite or NaN HAND on valid cells, a +inf cell a wall
    inf = np.isinf(dem.values)
    nodata = dem.rio.nodata
    if inf.any() and nodata is not None and np.isinf(nodata):
        inf &= dem.values != nodata
    if inf.any():
        r, c = np.unravel_index(int(np.flatnonzero(inf.ravel())[0]), dem.shape)
        raise InputDataError(
            f"{name} has {int(inf.sum())} infinite cells (first at row {r}, column {c}): give nodata as NaN "
            "(e.g. dem.where(np.isfinite(dem)))"
        )


def _masked(dem: xr.DataArray) -> xr.DataArray:
    """``dem`` with the cells equal to its declared nodata (``rio.nodata``, e.g. the -9999 that
    ``rioxarray.open_rasterio`` keeps without ``masked=True``) set to NaN and NaN as its nodata; ``dem``
    itself when no cell holds a declared nodata value.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevation [m], floating point.

    Returns
    -------
    xarray.DataArray
        Elevation [m] with NaN as the only nodata.
    """
    nodata = dem.rio.nodata
    if nodata is None or np.isnan(nodata):
        return dem
    values = dem.values
    bad = values == np.asarray(nodata).astype(values.dtype)
    if not bad.any():
        return dem
    out = dem.copy(data=np.where(bad, np.nan, values).astype(values.dtype, copy=False))
    out.encoding = {k: v for k, v in dem.encoding.items() if k not in ("_FillValue", "missing_value")}
    out.attrs.pop("missing_value", None)
    out.rio.write_nodata(np.nan, encoded=False, inplace=True)
    return out


def _nodata(name: str, dtype: Any) -> Any:
    """Nodata of output ``name``: NaN for floating grids, the vocabulary ``fill`` for integer grids."""
    if np.issubdtype(dtype, np.floating):
        return np.nan
    fill = VOCABULARY.get(name, {}).get("fill")
    return None if fill is None else np.asarray(fill).astype(dtype).item()


def _with_nodata(da: xr.DataArray, name: str) -> xr.DataArray:
    """Record the nodata of ``da`` for rioxarray (``rio.nodata``, attribute ``_FillValue``), so GeoTIFF/NetCDF
    written from it carry one (in place)."""
    da.encoding.pop("_FillValue", None)  # one place only: xarray refuses it in both attrs and encoding
    nodata = _nodata(name, da.dtype)
    if nodata is not None:
        da.rio.write_nodata(nodata, encoded=False, inplace=True)
    return da


def _like(template: xr.DataArray, values: np.ndarray, name: str, **extra: Any) -> xr.DataArray:
    """A DataArray on the grid of ``template`` with vocabulary attributes for ``name`` and its nodata
    (NaN for floating grids, the vocabulary ``fill``, e.g. 255 or -1, for integer grids)."""
    da = xr.DataArray(values.reshape(template.shape), dims=template.dims, coords=template.coords, name=name)
    da.attrs = cf_attrs(name)
    da.attrs.update(extra)
    return _with_nodata(da, name)


def _check_cells(what: str, arr: Any, net: FlowNetwork, flat_ok: bool = False) -> None:
    """Refuse a per-cell input whose shape is not the network's (a transposed (x, y) grid has the same size: it
    was read row-major and silently gave wrong results)."""
    shape = tuple(np.shape(arr))
    if shape != tuple(net.shape) and not (flat_ok and shape == (net.ncell,)):
        raise InputDataError(f"{what} has shape {shape}, the flow directions {tuple(net.shape)}")
    check_on_grid(what, arr, net)  # same shape is not enough: south-up or (x, y) grids were read row-major


def _network(fdir: FdirLike) -> FlowNetwork:
    return fdir if isinstance(fdir, FlowNetwork) else flow_network(fdir)


def _template(fdir: FdirLike, like: xr.DataArray | None = None) -> xr.DataArray:
    if isinstance(fdir, xr.DataArray):
        return fdir
    if like is None:
        raise InputDataError("a grid template (DataArray) is needed to wrap FlowNetwork results")
    if not isinstance(like, xr.DataArray) or tuple(like.shape) != tuple(fdir.shape):
        raise InputDataError(f"like= must be a DataArray on the network's grid {tuple(fdir.shape)}, got shape {tuple(np.shape(like))}")
    check_on_grid("like", like, fdir)  # results labelled with another grid's coordinates had a wrong georeference
    return like


# --------------------------------------------------------------------------------------------
def fill_depressions(dem: xr.DataArray, epsilon: bool = False) -> xr.DataArray:
    """Fill depressions by priority-flood (Barnes, Lehman & Mulla 2014).

    Grid edges and cells next to nodata are outlets. No cell is ever lowered.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevation [m], NaN = nodata, with a CRS.
    epsilon : bool, default False
        False keeps exact flats (resolved later by :func:`flow_direction`); True leaves the
        smallest representable gradient across filled areas (Priority-Flood+epsilon).

    Returns
    -------
    xarray.DataArray
        ``filled_elevation`` [m], same dtype and grid, attribute ``cells_raised``.

    References
    ----------
    Barnes, R., Lehman, C., Mulla, D. (2014). Priority-flood: An optimal depression-filling and
    watershed-labeling algorithm for digital elevation models. Computers & Geosciences 62, 117-127.
    """
    _check_dem(dem)
    dem = _masked(dem)
    if dem.size >= 2**31:
        raise InputDataError(f"DEM of {dem.size:,} cells: the terrain kernels index cells with int32 (< 2**31 cells); tile it")
    z0 = np.ascontiguousarray(dem.values).ravel()
    z = z0.copy()
    raised = k.fill(z, z0, dem.shape[0], dem.shape[1], bool(epsilon))
    out = _like(dem, z, "filled_elevation", cells_raised=int(raised), fill_method="priority-flood" + ("+epsilon" if epsilon else ""))
    return out


def flow_direction(filled: xr.DataArray) -> xr.DataArray:
    """D8 flow directions by steepest slope, with flats resolved.

    Encoding (uint8, ESRI): 1=E, 2=SE, 4=S, 8=SW, 16=W, 32=NW, 64=N, 128=NE; 0 = the cell drains
    off the grid or into nodata (an outlet: grid edge, coast, interior nodata); 255 = nodata.

    Slope to a neighbour is drop / distance, with diagonal distance sqrt(dx^2 + dy^2) and true
    metric cell sizes on geographic and scale-corrected projected grids (see
    :func:`~hydro.terrain.grid.grid_geometry`). Cells on the grid edge or next to nodata with no lower
    valid neighbour drain off the grid. Flat cells are routed towards lower terrain and away from
    higher terrain (Barnes, Lehman & Mulla 2014), so every valid cell of a filled DEM drains to an
    outlet. Ties in slope go to the first neighbour in the order E, SE, S, SW, W, NW, N, NE.

    Parameters
    ----------
    filled : xarray.DataArray
        Depression-filled elevation [m] (see :func:`fill_depressions`). Pits left in an unfilled
        DEM get code 0 and are counted in the attribute ``unresolved_flat_cells``.

    Returns
    -------
    xarray.DataArray
        ``flow_direction`` (uint8).

    References
    ----------
    Barnes, R., Lehman, C., Mulla, D. (2014). An efficient assignment of drainage direction over
    flat surfaces in raster digital elevation models. Computers & Geosciences 62, 128-135.
    """
    _check_dem(filled, "filled")
    filled = _masked(filled)
    g = grid_geometry(filled)
    ny, nx = filled.shape
    z = np.ascontiguousarray(filled.values).ravel()
    fdir = np.empty(ny * nx, np.uint8)
    dist_ew, dist_ns, dist_diag = g.d8_distances()
    nflat = k.d8_steepest(z, ny, nx, dist_ew, dist_ns, dist_diag, fdir)
    unresolved = k.resolve_flats(z, ny, nx, fdir) if nflat else 0
    if unresolved:
        logger.warning("%d flat cells have no outlet (unfilled pits): given code 0", unresolved)
    out = _like(filled, fdir, "flow_direction", flat_cells_resolved=int(nflat - unresolved), unresolved_flat_cells=int(unresolved))
    out.attrs["flag_values"] = np.array([0, 1, 2, 4, 8, 16, 32, 64, 128], np.uint8)
    out.attrs["flag_meanings"] = "outlet east southeast south southwest west northwest north northeast"
    out.attrs["valid_range"] = np.array([0, 128], np.uint8)
    return out


def flow_accumulation(fdir: FdirLike, weights: xr.DataArray | np.ndarray | None = None, like: xr.DataArray | None = None) -> xr.DataArray:
    """Accumulate along the D8 network.

    Parameters
    ----------
    fdir : xarray.DataArray or FlowNetwork
        D8 flow directions (or the network built from them).
    weights : DataArray or ndarray, optional
        Per-cell values to sum (e.g. runoff volume [m3]), shape (ny, nx) or flat (ny*nx,); NaN counts as 0.
        Without weights the result is the number of cells draining through each cell, the cell itself included.

    Returns
    -------
    xarray.DataArray
        ``accumulation``: count (float32, exact up to 16.7 M cells; int-valued) or the weight sum
        (float64, units of the weights). NaN on nodata.
    """
    net = _network(fdir)
    tmpl = _template(fdir, like)
    if weights is None:
        acc = net.upstream_count().astype(np.float32)
        acc[~net.valid] = np.nan
        return _like(tmpl, acc, "accumulation")
    _check_cells("weights", weights, net, flat_ok=True)
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64).ravel(), nan=0.0)
    acc = net.accumulate(w)
    acc[~net.valid] = np.nan
    out = _like(tmpl, acc, "accumulation")
    out.attrs.update(long_name="sum of weights over the cell and all cells upstream", units=getattr(weights, "attrs", {}).get("units", "1"))
    return out


def upstream_area(fdir: FdirLike, like: xr.DataArray | None = None) -> xr.DataArray:
    """Upstream drainage area including the cell [m2].

    Cell areas follow :func:`~hydro.terrain.grid.grid_geometry`: ellipsoidal on geographic grids and on
    projected grids whose scale error exceeds 0.5 % (e.g. Web Mercator), dx * dy otherwise.
    """
    net = _network(fdir)
    tmpl = _template(fdir, like)
    if not net.geometry.planar:
        area = net.upstream_area_m2().astype(np.float32)
    else:  # count x cell area rounded once to float32 (float32(count) * float32(area) rounded twice: 100 cells of
        # 645.16 m2 gave 64515.996, under a 64516 m2 threshold); float64 only a block at a time
        count = net.upstream_count()
        cell = float(net.geometry.area_m2[0])
        area = np.empty(count.shape, np.float32)
        step = 1 << 20
        for s in range(0, count.size, step):
            area[s:s + step] = count[s:s + step] * cell
    area[~net.valid] = np.nan
    return _like(tmpl, area, "upstream_area")


def streams(upstream_area_m2: xr.DataArray, threshold_m2: float) -> xr.DataArray:
    """Stream mask: cells whose upstream area is at least ``threshold_m2`` [m2] (int8 0/1, -1 nodata)."""
    if not (np.isfinite(threshold_m2) and threshold_m2 > 0):
        raise InputDataError(f"stream threshold must be a positive, finite area [m2], got {threshold_m2} m2")
    a = upstream_area_m2.values
    # "at least" at the precision the areas are stored in: a float32 area equal to the threshold rounded to float32
    # is at the threshold (an exact 100-cell area is 64516.0 in float32, a threshold of 0.064516 km2 64516.00000000001)
    thr = np.asarray(threshold_m2, a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64)
    out = np.where(np.isnan(a), -1, a >= thr).astype(np.int8)
    da = _like(upstream_area_m2, out, "streams", threshold_m2=float(threshold_m2))
    da.attrs["flag_values"] = np.array([0, 1], np.int8)
    return da


def strahler_order(fdir: FdirLike, stream_mask: xr.DataArray, like: xr.DataArray | None = None) -> xr.DataArray:
    """Strahler stream order on stream cells (0 off-stream, -1 nodata).

    ``stream_mask`` (1 = stream) must have the grid's shape (ny, nx), else :class:`~hydro.errors.InputDataError`.
    """
    net = _network(fdir)
    tmpl = _template(fdir, like)
    _check_cells("stream_mask", stream_mask, net)
    is_stream = (np.asarray(stream_mask).ravel() == 1) & net.valid
    out = np.zeros(net.ncell, np.int8)
    k.strahler(net.order, net.downstream, is_stream, out)
    out[~net.valid] = -1
    return _like(tmpl, out, "strahler_order")


def catchments(
    fdir: FdirLike,
    outlets: Mapping[str, tuple[float, float]] | Sequence[tuple[float, float]],
    *,
    stream_mask: xr.DataArray | None = None,
    snap_distance_m: float = 0.0,
    like: xr.DataArray | None = None,
) -> xr.DataArray:
    """Catchments draining to given outlet points.

    Parameters
    ----------
    fdir : DataArray or FlowNetwork
    outlets : mapping name -> (x, y) or sequence of (x, y)
        Outlet coordinates in the grid's CRS.
    stream_mask : DataArray, optional
        With ``snap_distance_m > 0``, each outlet moves to the stream cell whose centre is nearest
        to the outlet point, within that distance (ties: larger upstream area, then smaller flat
        index; see :meth:`FlowNetwork.snap`).
    snap_distance_m : float
        Snapping radius [m], finite and >= 0; 0 keeps the outlet's own cell.

    Returns
    -------
    xarray.DataArray
        ``catchment`` id (int32): outlet number 1..n (order given), 0 outside every catchment,
        -1 nodata. Nested outlets: a cell belongs to the first outlet downstream of it.
        Attributes ``outlet_names`` (a JSON list, in outlet order), ``outlet_x``, ``outlet_y`` give the snapped
        outlets.
    """
    net = _network(fdir)
    tmpl = _template(fdir, like)
    names = [str(n) for n in outlets.keys()] if isinstance(outlets, Mapping) else [
        f"outlet_{i + 1}" for i in range(len(outlets))]
    points = list(outlets.values()) if isinstance(outlets, Mapping) else list(outlets)
    for name, pt in zip(names, points):
        if np.ndim(pt) != 1 or np.size(pt) != 2:
            raise InputDataError(f"outlet {name!r}: {pt!r} is not an (x, y) pair (one outlet: pass [(x, y)])")
    if not (np.isfinite(snap_distance_m) and snap_distance_m >= 0):  # NaN or < 0 silently meant "no snapping"
        raise InputDataError(f"snap_distance_m must be a finite distance >= 0 [m], got {snap_distance_m}")
    if snap_distance_m > 0:
        if stream_mask is None:
            raise InputDataError("snapping outlets needs stream_mask=")
        _check_cells("stream_mask", stream_mask, net)
        idx = net.snap(points, snap_distance_m, (np.asarray(stream_mask) == 1))
    else:
        idx = net.snap(points, 0.0, None)
    labels = np.zeros(net.ncell, np.int32)
    for n, i in enumerate(idx, start=1):
        if labels[i] != 0:
            raise InputDataError(f"outlets {names[labels[i] - 1]!r} and {names[n - 1]!r} snap to the same cell")
        labels[i] = n
    k.label_catchments(net.order, net.downstream, labels)
    labels[~net.valid] = -1
    x, y = net.xy(idx)
    # names as a JSON list: names with spaces ("Rhine at Basel") read back unambiguously
    return _like(tmpl, labels, "catchment", outlet_names=json.dumps(names), outlet_x=np.asarray(x, float),
                 outlet_y=np.asarray(y, float))


def hand(filled: xr.DataArray, fdir: FdirLike, stream_mask: xr.DataArray) -> xr.DataArray:
    """Height above nearest drainage [m] (Nobre et al. 2011).

    Elevation of each cell above the stream cell it drains to along its D8 path, on the filled
    DEM (so HAND >= 0, and 0 on streams). Cells whose path reaches no stream (small coastal
    catchments) are measured against the outlet where they leave the grid or meet nodata/sea.

    References
    ----------
    Nobre, A. D. et al. (2011). Height Above the Nearest Drainage - a hydrologically relevant new
    terrain model. Journal of Hydrology 404, 13-29.
    """
    net = _network(fdir)
    _check_dem(filled, "filled")
    filled = _masked(filled)
    for what, arr in (("filled", filled), ("stream_mask", stream_mask)):
        if tuple(np.shape(arr)) != tuple(net.shape):  # the kernel does not check bounds
            raise InputDataError(f"hand: {what} has shape {tuple(np.shape(arr))}, the flow directions {net.shape}")
        check_on_grid(f"hand: {what}", arr, net)
    z = np.ascontiguousarray(filled.values).ravel()
    is_drain = (np.asarray(stream_mask).ravel() == 1) & net.valid
    out = np.empty(net.ncell, z.dtype)
    k.hand_from_drainage(net.order, net.downstream, z, is_drain, out)
    return _like(filled, out, "hand")


def analyse(
    dem: xr.DataArray,
    stream_threshold_m2: float = 1.0e6,
    *,
    epsilon: bool = False,
    progress: Any = None,
) -> xr.Dataset:
    """Full terrain analysis of a DEM in one call.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevation [m] with CRS (e.g. from :func:`hydro.io.open_dem`).
    stream_threshold_m2 : float, default 1 km2
        Upstream area from which a cell is a stream [m2].
    epsilon : bool
        Passed to :func:`fill_depressions`.
    progress : callable, optional
        Called with a short stage name before each stage (for progress displays).

    Returns
    -------
    xarray.Dataset
        ``elevation``, ``filled_elevation``, ``flow_direction``, ``accumulation``,
        ``upstream_area``, ``streams``, ``strahler_order``, ``hand``; each with units and CF/long
        names and a nodata (``rio.nodata`` / ``_FillValue``: NaN on floating grids, 255 for
        ``flow_direction``, -1 for ``streams`` and ``strahler_order``); CRS and transform kept.
    """
    step = progress or (lambda stage: None)
    _check_dem(dem)
    dem = _masked(dem)
    step("fill")
    filled = fill_depressions(dem, epsilon=epsilon)
    step("flow direction")
    fdir = flow_direction(filled)
    step("network")
    net = flow_network(fdir)
    step("accumulation")
    acc = flow_accumulation(net, like=fdir)
    area = upstream_area(net, like=fdir)
    step("streams")
    st = streams(area, stream_threshold_m2)
    order = strahler_order(net, st, like=fdir)
    step("hand")
    hnd = hand(filled, net, st)
    elev = dem.copy(deep=False)  # no data copy
    elev.attrs = cf_attrs("elevation")
    elev.encoding = dict(elev.encoding)  # a shallow copy shares the dict: do not edit the caller's
    _with_nodata(elev, "elevation")
    ds = xr.Dataset(
        {
            "elevation": elev,
            "filled_elevation": filled,
            "flow_direction": fdir,
            "accumulation": acc,
            "upstream_area": area,
            "streams": st,
            "strahler_order": order,
            "hand": hnd,
        }
    )
    ds.attrs.update(stream_threshold_m2=float(stream_threshold_m2), network_hash=net.hash)
    # in place: rioxarray's default copies every variable (twice: crs, then transform)
    ds.rio.write_crs(dem.rio.crs, inplace=True)
    # the transform of the coordinates: a stored GeoTransform is stale after coarsen or a strided isel
    from hydro.io.raster import grid_transform

    ds.rio.write_transform(grid_transform(dem), inplace=True)
    return ds
