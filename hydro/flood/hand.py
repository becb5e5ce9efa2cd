"""HAND + synthetic rating curves: discharge -> stage -> depth over a whole region in seconds.

Method of Zheng, Tarboton, Maidment et al. (2018, JAWRA 54(4)) as used by the NOAA OWP inundation mapping:
each stream reach gets a stage table from the HAND values of the cells draining to it; Manning's equation turns
the table into a synthetic rating curve; a discharge per reach is inverted to a stage and mapped to depth
``stage - HAND`` in the reach's catchment.

Inputs come from :func:`hydro.terrain.analyse` (``flow_direction``, ``streams``, ``hand``, ``filled_elevation``,
``elevation``). Limits (flood.md section 2): no backwater, no tide, no connectivity across divides; over-inundation
on flat, low-slope reaches. Use :func:`hydro.flood.simulate_2d` for tidal reaches.
"""
from __future__ import annotations

import logging
import warnings
from typing import Mapping

import numba
import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError
from hydro.vocabulary import cf_attrs

logger = logging.getLogger(__name__)

__all__ = ["reaches", "rating_curves", "stage_for_discharge", "hand_inundation", "adjust_rating",
           "discharge_at_reaches", "hand_map_of_grid", "extent_probability"]

_OPTS = dict(cache=True, error_model="numpy", nogil=True)


# --------------------------------------------------------------------------------------------- kernels
@numba.njit(**_OPTS)
def _split_reaches(order, downstream, is_stream, dist, max_length, reach, reach_length, reach_head, reach_outlet):
    """Reach id per stream cell (1..n): new reach at heads, confluences and when ``max_length`` is exceeded."""
    ncell = downstream.shape[0]
    n_up = np.zeros(ncell, np.int32)
    for i in order:
        d = downstream[i]
        if is_stream[i] and d >= 0 and is_stream[d]:
            n_up[d] += 1
    cand = np.zeros(ncell, np.int32)
    nreach = 0
    for i in order:
        if not is_stream[i]:
            continue
        c = cand[i]
        if n_up[i] == 1 and c > 0 and reach_length[c] + dist[i] <= max_length:
            r = c
        else:
            nreach += 1
            r = nreach
            reach_head[r] = i
        reach[i] = r
        reach_length[r] += dist[i]
        reach_outlet[r] = i
        d = downstream[i]
        if d >= 0 and is_stream[d]:
            cand[d] = r
    return nreach


@numba.njit(**_OPTS)
def _label_catchments(order, downstream, reach, label):
    """Reach id of the stream cell each cell drains to (0 if it leaves the grid first)."""
    for k in range(order.shape[0] - 1, -1, -1):
        i = order[k]
        if reach[i] > 0:
            label[i] = reach[i]
        else:
            d = downstream[i]
            label[i] = label[d] if d >= 0 else 0


@numba.njit(**_OPTS)
def _stage_tables(label, hand, area, bed_factor, stages, nreach, count, surf, bed, ahand):
    """Accumulate per reach and stage: wetted count, surface area, bed area, sum(area*HAND) of wetted cells."""
    nst = stages.shape[0]
    for i in range(label.shape[0]):
        k = label[i]
        hi = hand[i]
        if k <= 0 or not (hi >= 0.0):
            continue
        if hi == 0.0:
            j0 = 0
        else:
            j0 = np.searchsorted(stages, hi, side="right")
        if j0 >= nst:
            continue
        count[k, j0] += 1.0
        surf[k, j0] += area[i]
        bed[k, j0] += area[i] * bed_factor[i]
        ahand[k, j0] += area[i] * hi
    for k in range(nreach + 1):
        for j in range(1, nst):
            count[k, j] += count[k, j - 1]
            surf[k, j] += surf[k, j - 1]
            bed[k, j] += bed[k, j - 1]
            ahand[k, j] += ahand[k, j - 1]


# --------------------------------------------------------------------------------------------- helpers
def _require(terrain: xr.Dataset, names: tuple[str, ...]) -> None:
    missing = [v for v in names if v not in terrain]
    if missing:
        raise InputDataError(f"terrain dataset lacks {missing}; pass the output of hydro.terrain.analyse(dem, ...)")


def _discharge_m3s(discharge: xr.DataArray) -> xr.DataArray:
    """``discharge`` in m3 s-1 from its ``units`` attribute (missing = m3 s-1; any UDUNITS spelling of a volume flow
    rate, e.g. L s-1 or ft3 s-1, is converted); checks the ``reach`` dim."""
    from hydro.exchange.profile import discharge_factor

    if not isinstance(discharge, xr.DataArray) or "reach" not in discharge.dims:
        raise InputDataError("discharge must have a 'reach' dimension (reach ids), see discharge_at_reaches()")
    units = discharge.attrs.get("units")
    if units is None:
        return discharge
    factor = discharge_factor(units) if isinstance(units, str) else None
    if factor is None:
        raise InputDataError(f"discharge units {units!r} are not a flow rate (expected e.g. m3 s-1 or L s-1)")
    if factor == 1.0:
        return discharge
    out = discharge * factor  # e.g. L s-1 was read as m3 s-1: 1000x the discharge
    out.attrs = dict(discharge.attrs, units="m3 s-1")
    return out


def _cell_size(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell width, height and area in metres per row (the transform is in the CRS's linear unit: feet are
    converted; scale-corrected projected grids such as Web Mercator have true sizes per row, as the cell areas
    and step lengths of :func:`reaches`)."""
    from hydro.terrain.grid import grid_geometry

    if da.rio.crs is not None and da.rio.crs.is_geographic:
        raise InputDataError("HAND rating curves need a projected grid; reproject the DEM first")
    g = grid_geometry(da)
    ny = g.shape[0]
    dx = np.broadcast_to(np.asarray(g.dx_m, dtype=np.float64), (ny,))
    dy = np.asarray(g.dy_rows_m if g.dy_rows_m is not None else np.full(ny, g.dy_m), dtype=np.float64)
    area = np.broadcast_to(np.asarray(g.area_m2, dtype=np.float64), (ny,))
    return dx, dy, area


def _axis_gradient(z: np.ndarray, axis: int) -> np.ndarray:
    """dz per cell along ``axis``: central differences, one-sided where one neighbour is nodata or beyond the edge,
    NaN where neither neighbour is valid."""
    zf = np.moveaxis(z, axis, 0)
    prev = np.full_like(zf, np.nan)
    nxt = np.full_like(zf, np.nan)
    prev[1:] = zf[:-1]
    nxt[:-1] = zf[1:]
    central = 0.5 * (nxt - prev)
    fwd = nxt - zf
    back = zf - prev
    g = np.where(np.isfinite(central), central, np.where(np.isfinite(fwd), fwd, back))
    return np.moveaxis(g, 0, axis)


def _cell_slope(elev: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Ground slope magnitude (m/m) by central differences (one-sided at edges and next to nodata: coast cells keep
    their slope; 0 only along an axis with no valid neighbour); ``dx``, ``dy`` per row (m)."""
    z = np.where(np.isfinite(elev), elev, np.nan).astype(np.float64)
    gx = _axis_gradient(z, 1) / dx[:, None] if z.shape[1] > 1 else np.zeros_like(z)
    gy = _axis_gradient(z, 0) / dy[:, None] if z.shape[0] > 1 else np.zeros_like(z)
    gx, gy = np.nan_to_num(gx, nan=0.0), np.nan_to_num(gy, nan=0.0)
    return np.where(np.isfinite(z), np.hypot(gx, gy), 0.0)


# --------------------------------------------------------------------------------------------- API
def reaches(
    terrain: xr.Dataset,
    max_length_m: float = 2000.0,
    *,
    manning_n: float | Mapping[int, float] = 0.05,
    min_slope: float = 1e-4,
) -> xr.Dataset:
    """Split the stream network into reaches and label every cell with the reach it drains to.

    Parameters
    ----------
    terrain : xarray.Dataset
        Output of :func:`hydro.terrain.analyse` (``flow_direction``, ``streams``, ``filled_elevation``).
    max_length_m : float
        Maximum reach length (m); reaches also break at every confluence.
    manning_n : float, or mapping / pandas Series {reach_id: n}
        Manning roughness (s m-1/3) per reach (channel + overbank lumped, OWP style); default 0.05.
        Per-reach calibration: change ``ds["manning_n"]`` before :func:`rating_curves`.
    min_slope : float
        Floor of the reach slope (m/m) — flat reaches of a filled DEM would otherwise give infinite stage.

    Returns
    -------
    xarray.Dataset
        ``reach_id`` (y, x) int32: reach whose catchment the cell belongs to (0 = none); ``stream_reach`` (y, x)
        reach id on stream cells only; per reach (dim ``reach`` = 1..n): ``length_m``, ``slope``, ``manning_n``,
        ``head_index``/``outlet_index`` (flat cell indices), ``outlet_x``/``outlet_y`` (the grid's x/y units), ``upstream_area_m2``
        at the outlet (if present in ``terrain``), ``catchment_area_m2``.
    """
    from hydro.terrain import flow_network

    _require(terrain, ("flow_direction", "streams", "filled_elevation"))
    if not max_length_m > 0:
        raise InputDataError(f"max_length_m must be > 0, not {max_length_m}")
    if not (np.isfinite(min_slope) and min_slope > 0):
        # a flat (0) reach has Q = 0 at every stage: any discharge would fill its catchment to stage_max; a
        # negative one gives NaN discharges
        raise InputDataError(f"min_slope must be > 0, not {min_slope}")
    net = flow_network(terrain["flow_direction"])
    ny, nx = net.shape
    is_stream = (np.asarray(terrain["streams"].values).ravel() == 1) & net.valid
    if not is_stream.any():
        raise InputDataError("terrain['streams'] has no stream cell; lower stream_threshold_m2")
    dist = net.distance_to_downstream_m.copy()
    # a stream cell draining off the grid or into the sea still carries one channel segment: its D8 step (or one
    # cell size without a direction), so that a reach of n cells is n steps long whether or not it ends at the edge
    # (volume and bed area count all n cells: A = V/L would be n/(n-1) too large otherwise)
    end = is_stream & (net.downstream < 0)
    if end.any():
        step = net.step_length_m[end]
        dist[end] = np.where(step > 0, step, np.sqrt(net.cell_area_m2[end]))
    ncell = ny * nx
    reach = np.zeros(ncell, np.int32)
    nmax = int(is_stream.sum()) + 1
    length = np.zeros(nmax + 1)
    head = np.full(nmax + 1, -1, np.int64)
    outlet = np.full(nmax + 1, -1, np.int64)
    nreach = _split_reaches(net.order, net.downstream, is_stream, dist, float(max_length_m), reach, length, head,
                            outlet)
    label = np.zeros(ncell, np.int32)
    _label_catchments(net.order, net.downstream, reach, label)
    ids = np.arange(1, nreach + 1)
    z = np.asarray(terrain["filled_elevation"].values, dtype=np.float64).ravel()
    h_i, o_i = head[ids], outlet[ids]
    d_o = net.downstream[o_i]
    z_end = np.where(d_o >= 0, z[np.maximum(d_o, 0)], z[o_i])
    L = length[ids].copy()
    L_eff = np.where(L > 0, L, np.sqrt(net.cell_area_m2[o_i]))
    # bed slope = drop from the head cell to the end point over the distance between them: the next reach's first
    # cell (one full reach length away), or the last cell itself at the grid edge / sea (one step less)
    run = np.where(d_o >= 0, L_eff, L_eff - dist[o_i])
    with np.errstate(divide="ignore", invalid="ignore"):
        drop_slope = np.where(run > 0, (z[h_i] - z_end) / run, np.nan)
    # a one-cell reach draining off the grid or into the sea has no drop of its own (head = end point): it takes the
    # slope of the channel entering it (the stream cell upstream with the largest area), else its ground slope; the
    # min_slope floor is for flat reaches, not for these (it gave them stages 4x too high)
    no_run = np.flatnonzero(~np.isfinite(drop_slope))
    if no_run.size:
        up_area = net.upstream_area_m2()
        into = np.flatnonzero(is_stream & (net.downstream >= 0))  # stream cells and the cell each drains to
        by = np.lexsort((up_area[into], net.downstream[into]))  # grouped by receiving cell, largest area last
        u_s, d_s = into[by], net.downstream[into][by]
        last = np.r_[d_s[1:] != d_s[:-1], True] if d_s.size else np.zeros(0, bool)
        feeder = np.full(ncell, -1, np.int64)
        feeder[d_s[last]] = u_s[last]
        ground = None
        for r in no_run:  # few reaches: one-cell reaches at the edge
            c = int(h_i[r])
            u = int(feeder[c])
            if u >= 0 and dist[u] > 0:
                drop_slope[r] = (z[u] - z[c]) / dist[u]
            else:
                if ground is None:
                    dxr, dyr, _ = _cell_size(terrain["filled_elevation"])
                    ground = _cell_slope(np.asarray(terrain["filled_elevation"].values, float), dxr, dyr).ravel()
                drop_slope[r] = ground[c]
        logger.debug("reaches: %d one-cell reaches at the edge took the slope of their inflowing channel",
                     no_run.size)
    slope = np.maximum(np.nan_to_num(drop_slope, nan=0.0), min_slope)
    if isinstance(manning_n, pd.Series):  # a Series is no Mapping: float(series) was a raw TypeError
        manning_n = {int(k): v for k, v in manning_n.items()}
    if isinstance(manning_n, Mapping):
        n_arr = np.array([float(manning_n.get(int(k), np.nan)) for k in ids])
        if np.isnan(n_arr).any():
            raise InputDataError("manning_n mapping lacks some reach ids; give every reach a value")
    else:
        n_arr = np.full(nreach, float(manning_n))
    if np.any(~(n_arr > 0)):
        raise InputDataError("manning_n must be > 0 for every reach")
    xs, ys = net.xy(o_i)
    area = np.bincount(label, weights=net.cell_area_m2, minlength=nreach + 1)[ids]
    like = terrain["flow_direction"]
    ds = xr.Dataset(coords={"y": like["y"].values, "x": like["x"].values, "reach": ids})
    attrs = cf_attrs("reach_id")
    ds["reach_id"] = xr.DataArray(label.reshape(ny, nx), dims=("y", "x"), attrs=attrs)
    ds["stream_reach"] = xr.DataArray(reach.reshape(ny, nx), dims=("y", "x"),
                                      attrs={"long_name": "reach id of stream cells (0 off the network)", "units": "1"})
    ds["length_m"] = ("reach", L_eff, {"long_name": "reach length along the D8 path", "units": "m"})
    ds["slope"] = ("reach", slope, {"long_name": f"reach bed slope (floored at {min_slope})", "units": "1"})
    ds["manning_n"] = ("reach", n_arr, {"long_name": "Manning roughness coefficient", "units": "s m-1/3"})
    ds["head_index"] = ("reach", h_i, {"long_name": "flat index of the most upstream cell", "units": "1"})
    ds["outlet_index"] = ("reach", o_i, {"long_name": "flat index of the most downstream cell", "units": "1"})
    from hydro.io.netcdf import linear_units

    xy_units = linear_units(like.rio.crs)  # the grid's x/y unit (feet on a US-feet grid, degrees on a degree grid)
    ds["outlet_x"] = ("reach", np.asarray(xs, float), {"long_name": "outlet cell x", "units": xy_units})
    ds["outlet_y"] = ("reach", np.asarray(ys, float), {"long_name": "outlet cell y", "units": xy_units})
    ds["catchment_area_m2"] = ("reach", area, {"long_name": "area of cells draining to the reach", "units": "m2"})
    if "upstream_area" in terrain:
        ua = np.asarray(terrain["upstream_area"].values, dtype=np.float64).ravel()[o_i]
        ds["upstream_area_m2"] = ("reach", ua, {"long_name": "upstream area at the reach outlet", "units": "m2"})
    ds["reach"].attrs.update(long_name="stream reach id", units="1")
    ds.attrs.update(max_length_m=float(max_length_m), min_slope=float(min_slope),
                    network_hash=terrain.attrs.get("network_hash", net.hash))
    from hydro.io.raster import grid_transform

    ds = ds.rio.write_crs(like.rio.crs).rio.write_transform(grid_transform(like))  # not a stale stored GeoTransform
    return ds


def rating_curves(
    terrain: xr.Dataset,
    reach_ds: xr.Dataset,
    *,
    stage_max_m: float = 10.0,
    stage_step_m: float = 0.1,
) -> xr.Dataset:
    """Synthetic rating curves per reach from HAND (Zheng et al. 2018; NOAA OWP).

    For stages ``y = 0, dy, ..., y_max`` and the cells ``W`` of the reach catchment with ``HAND < y`` (or
    ``HAND == 0``)::

        A_s = sum a_i,  A_b = sum a_i sqrt(1 + slope_i^2),  V = sum (y - HAND_i) a_i
        A = V / L,  P = A_b / L,  R = A / P,  Q = A R^(2/3) S^(1/2) / n   (Q(0) = 0)

    Parameters
    ----------
    terrain : xarray.Dataset
        Output of :func:`hydro.terrain.analyse` (``hand``; ``elevation`` for the cell slopes).
    reach_ds : xarray.Dataset
        Output of :func:`reaches` (``reach_id``, ``length_m``, ``slope``, ``manning_n``).
    stage_max_m, stage_step_m : float
        Stage range and step (m).

    Returns
    -------
    xarray.Dataset
        On ``(reach, stage)``: ``wetted_cells``, ``surface_area_m2``, ``bed_area_m2``, ``volume_m3``,
        ``top_width_m``, ``flow_area_m2``, ``wetted_perimeter_m``, ``hydraulic_radius_m``, ``discharge_m3s``;
        plus ``length_m``, ``slope``, ``manning_n`` per reach.
    """
    _require(terrain, ("hand",))
    if not (stage_step_m > 0 and stage_max_m > stage_step_m and np.isfinite(stage_max_m)):
        raise InputDataError(f"need 0 < stage_step_m < stage_max_m (finite), not {stage_step_m}, {stage_max_m}")
    hand = np.asarray(terrain["hand"].values, dtype=np.float64)
    if hand.shape != reach_ds["reach_id"].shape:
        raise InputDataError(f"hand {hand.shape} and reach_id {reach_ds['reach_id'].shape} grids differ")
    L = reach_ds["length_m"].values[:, None]
    S = reach_ds["slope"].values[:, None]
    n = reach_ds["manning_n"].values[:, None]
    # reach_ds["manning_n"] / ["slope"] may be edited for calibration: Q = A R^2/3 S^1/2 / n needs all > 0
    for name, v in (("length_m", L), ("slope", S), ("manning_n", n)):
        bad = ~(np.isfinite(v[:, 0]) & (v[:, 0] > 0))
        if bad.any():
            raise InputDataError(f"reach_ds['{name}'] must be finite and > 0 for every reach; reaches "
                                 f"{list(reach_ds['reach'].values[bad][:5])} have {list(v[bad, 0][:5])}")
    dx, dy, cell_area = _cell_size(terrain["hand"])
    if "elevation" in terrain:
        elev = terrain["elevation"].values
    elif "filled_elevation" in terrain:
        elev = terrain["filled_elevation"].values
    else:
        raise InputDataError("terrain lacks 'elevation' and 'filled_elevation' (needed for the bed slopes)")
    bed_factor = np.sqrt(1.0 + _cell_slope(np.asarray(elev, dtype=np.float64), dx, dy) ** 2).ravel()
    area = np.repeat(cell_area, hand.shape[1])
    # 0, dy, 2 dy, ... and stage_max itself as the last row (the table ends exactly at stage_max, which the
    # inversion caps at, even when stage_max is not a multiple of the step)
    stages = np.round(np.arange(0.0, stage_max_m, stage_step_m), 10)
    if stage_max_m - stages[-1] < 1e-9 * stage_max_m:
        stages = stages[:-1]
    stages = np.append(stages, float(stage_max_m))
    ids = reach_ds["reach"].values
    nreach = int(ids.max())
    shape = (nreach + 1, stages.size)
    count, surf, bed, ahand = (np.zeros(shape) for _ in range(4))
    label = np.asarray(reach_ds["reach_id"].values, dtype=np.int32).ravel()
    if label.min(initial=0) < 0 or label.max(initial=0) > nreach:
        raise InputDataError("reach_id labels outside the reach ids of reach_ds: reach_id and reach come from "
                             "different runs of reaches()")
    _stage_tables(label, np.where(np.isfinite(hand), hand, -1.0).ravel(), area, bed_factor, stages, nreach, count,
                  surf, bed, ahand)
    count, surf, bed, ahand = (a[ids] for a in (count, surf, bed, ahand))
    volume = stages[None, :] * surf - ahand
    volume[:, 0] = 0.0
    A = volume / L
    P = bed / L
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.where(P > 0, A / P, 0.0)
    Q = A * np.cbrt(R * R) * np.sqrt(S) / n
    Q[:, 0] = 0.0
    ds = xr.Dataset(coords={"reach": ids, "stage": ("stage", stages, {"long_name": "stage above the reach bed",
                                                                          "units": "m"})})
    dims = ("reach", "stage")
    ds["wetted_cells"] = (dims, count, {"long_name": "number of wetted cells", "units": "1"})
    ds["surface_area_m2"] = (dims, surf, {"long_name": "wetted surface area", "units": "m2"})
    ds["bed_area_m2"] = (dims, bed, {"long_name": "wetted bed area", "units": "m2"})
    ds["volume_m3"] = (dims, volume, {"long_name": "water volume in the reach", "units": "m3"})
    ds["top_width_m"] = (dims, surf / L, {"long_name": "top width A_s/L", "units": "m"})
    ds["flow_area_m2"] = (dims, A, {"long_name": "cross-section flow area V/L", "units": "m2"})
    ds["wetted_perimeter_m"] = (dims, P, {"long_name": "wetted perimeter A_b/L", "units": "m"})
    ds["hydraulic_radius_m"] = (dims, R, {"long_name": "hydraulic radius", "units": "m"})
    ds["discharge_m3s"] = (dims, Q, {"long_name": "discharge by Manning's equation", "units": "m3 s-1"})
    for v in ("length_m", "slope", "manning_n"):
        ds[v] = reach_ds[v]
    ds.attrs.update(method="HAND synthetic rating curves (Zheng et al. 2018, NOAA OWP)",
                    stage_step_m=float(stage_step_m), stage_max_m=float(stage_max_m))
    return ds


def stage_for_discharge(rating: xr.Dataset, discharge: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Invert the rating curves: stage (m) per reach for a discharge (m3 s-1), linear interpolation.

    ``Q <= 0`` gives stage 0; above the table's largest discharge the stage is capped at ``stage_max`` and
    flagged (no extrapolation); a NaN or infinite discharge is an :class:`~hydro.errors.InputDataError`.
    ``discharge`` has a ``reach`` dim (values = reach ids) and optionally others; its ``units``
    attribute, if any, must be a volume flow rate (converted to m3 s-1, e.g. from L s-1).
    Where a table is not monotone (Manning's Q drops when a flat floodplain starts to wet: the wetted perimeter
    jumps), the stage is the lowest one at which the (linearly interpolated) table reaches ``Q``, so that the
    table gives back ``Q`` at the returned stage.

    Returns
    -------
    (stage, capped) : xarray.DataArray
        Stage (m) and a boolean flag, same dims as ``discharge``.
    """
    discharge = _discharge_m3s(discharge)
    q_tab = rating["discharge_m3s"].values
    stages = rating["stage"].values
    ids = rating["reach"].values
    pos = pd.Index(ids).get_indexer(discharge["reach"].values)
    if (pos < 0).any():
        bad = discharge["reach"].values[pos < 0][:5]
        raise InputDataError(f"discharge given for reach ids {list(bad)} that have no rating curve")
    other = [d for d in discharge.dims if d != "reach"]
    q = discharge.transpose("reach", *other).values.astype(np.float64)
    if np.isnan(q).any():
        raise InputDataError("discharge contains NaN")
    if np.isinf(q).any():
        # +inf was mapped to stage_max as if it were a flood, -inf to a dry reach
        raise InputDataError("discharge contains infinite values")
    q2 = q.reshape(q.shape[0], int(np.prod(q.shape[1:])))  # also no reach at all: every reach dry
    out = np.zeros_like(q2)
    capped = np.zeros(q2.shape, bool)
    nst = stages.size
    for r in range(q2.shape[0]):
        qt = q_tab[pos[r]]
        env = np.maximum.accumulate(qt)
        # first row whose table discharge reaches Q: the crossing lies on the table segment (k-1, k), where
        # qt[k-1] < Q <= qt[k] (interpolating the running maximum instead gave stages whose Q is too low)
        k = np.searchsorted(env, q2[r], side="left")
        cap = k >= nst
        kk = np.clip(k, 1, nst - 1)
        q0, q1 = qt[kk - 1], qt[kk]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.clip(np.where(q1 > q0, (q2[r] - q0) / (q1 - q0), 1.0), 0.0, 1.0)
        out[r] = np.where(cap, stages[-1], stages[kk - 1] + f * (stages[kk] - stages[kk - 1]))
        capped[r] = cap
    out[q2 <= 0] = 0.0
    capped[q2 <= 0] = False
    dims = ("reach", *other)
    coords = {d: discharge[d] for d in dims if d in discharge.coords}
    stage = xr.DataArray(out.reshape(q.shape), dims=dims, coords=coords,
                         attrs=dict(cf_attrs("hand_stage")))
    cap = xr.DataArray(capped.reshape(q.shape), dims=dims, coords=coords,
                       attrs={"long_name": "discharge above the rating table; stage capped at stage_max"})
    return stage, cap


def discharge_at_reaches(discharge: xr.DataArray, reach_ds: xr.Dataset) -> xr.DataArray:
    """Sample a gridded discharge (``(..., y, x)``, e.g. routing output) at each reach outlet cell -> ``reach`` dim."""
    if "y" not in discharge.dims or "x" not in discharge.dims:
        raise InputDataError("discharge must be gridded (y, x) on the terrain grid")
    ny, nx = reach_ds["reach_id"].shape
    if discharge.sizes["y"] != ny or discharge.sizes["x"] != nx:
        raise InputDataError(f"discharge grid {discharge.sizes['y'], discharge.sizes['x']} differs from {ny, nx}")
    for c in ("y", "x"):
        # same shape but another orientation (e.g. a south-up NetCDF) or origin would sample the wrong cells
        if c in discharge.coords and c in reach_ds.coords and not np.allclose(
                np.asarray(discharge[c].values, float), np.asarray(reach_ds[c].values, float), rtol=0.0,
                atol=1e-6 * max(1.0, float(np.abs(np.diff(reach_ds[c].values[:2])).max(initial=1.0)))):
            raise InputDataError(f"discharge {c} coordinates differ from the terrain grid's (flipped or shifted "
                                 f"grid?): put the discharge on the terrain grid first")
    o = reach_ds["outlet_index"].values
    iy = xr.DataArray(o // nx, dims="reach", coords={"reach": reach_ds["reach"].values})
    ix = xr.DataArray(o % nx, dims="reach", coords={"reach": reach_ds["reach"].values})
    return discharge.isel(y=iy, x=ix).drop_vars(["y", "x"], errors="ignore")


def hand_inundation(
    terrain: xr.Dataset,
    reach_ds: xr.Dataset,
    rating: xr.Dataset,
    discharge: xr.DataArray | pd.Series | Mapping[int, float],
    *,
    time: str | int | None = "max",
    threshold_m: float = 0.0,
) -> xr.Dataset:
    """Flood depth and extent from discharge per reach: ``depth = stage(Q) - HAND`` in the reach catchment.

    Parameters
    ----------
    terrain, reach_ds, rating : xarray.Dataset
        From :func:`hydro.terrain.analyse`, :func:`reaches`, :func:`rating_curves`.
    discharge : xarray.DataArray, pandas.Series or mapping
        Discharge (m3 s-1) per reach id: DataArray with dim ``reach`` (and optionally ``time``) — e.g. from
        :func:`discharge_at_reaches` on the routing output — or a Series/mapping indexed by reach id. Reaches not
        given are dry. A DataArray's ``units`` (any volume flow rate: m3 s-1, L s-1, ft3 s-1) is honoured; other
        units and a reach id given twice are an :class:`~hydro.errors.InputDataError`.
    time : {"max", "all"} or int
        With a ``time`` dim: ``"max"`` maps the maximum discharge of each reach, ``"all"`` every step, an int one
        step (index).
    threshold_m : float
        Extent flag = depth > threshold (m, finite and >= 0).

    Returns
    -------
    xarray.Dataset
        ``flood_depth`` ((time,) y, x) m, ``flood_extent`` (byte flag), ``stage`` and ``stage_capped`` per reach.
    """
    if isinstance(discharge, Mapping):
        discharge = pd.Series(discharge)
    if isinstance(discharge, pd.Series):
        discharge = xr.DataArray(discharge.values.astype(float), dims="reach",
                                 coords={"reach": np.asarray(discharge.index, dtype=np.int64)})
    discharge = _discharge_m3s(discharge)
    given = pd.Index(discharge["reach"].values)
    if given.has_duplicates:
        # the depth map took the last of the repeated values and the stage output listed the reach twice
        raise InputDataError(f"discharge gives reach ids {sorted(set(given[given.duplicated()].tolist()))[:5]} "
                             f"more than once")
    if not (np.isfinite(threshold_m) and threshold_m >= 0.0):
        # NaN left every cell dry in the extent, a negative one flagged every cell of the reach catchments flooded
        raise InputDataError(f"threshold_m must be finite and >= 0, not {threshold_m}")
    took_max = False
    step_time = None
    step_s = 0
    if "time" in discharge.dims:
        if time == "max":
            if discharge.sizes["time"] == 0:
                raise InputDataError("discharge series has no time steps: no maximum to map")
            took_max = True
            period = ""
            if "time" in discharge.coords and discharge.sizes["time"] > 0:
                tt = discharge["time"].values
                lo, hi = (np.datetime_as_string(t, "s") if tt.dtype.kind == "M" else str(t) for t in (tt.min(), tt.max()))
                period = f" from {lo} to {hi}"
            discharge = discharge.max("time", skipna=False)  # NaN -> the clear error of stage_for_discharge
        elif isinstance(time, (int, np.integer)) and not isinstance(time, bool):
            nt = discharge.sizes["time"]
            if not -nt <= int(time) < nt:  # an IndexError traceback before
                raise InputDataError(f"time index {time} outside the {nt} steps of the discharge series")
            tt = np.asarray(discharge["time"].values) if "time" in discharge.coords else np.array([])
            discharge = discharge.isel(time=int(time))
            if "time" in discharge.coords:
                step_time = discharge["time"]  # the step mapped: kept as a scalar coordinate of the output
                if tt.size > 1 and np.issubdtype(tt.dtype, np.datetime64):
                    step_s = int(np.median(np.diff(tt)) / np.timedelta64(1, "s"))
        elif time != "all":
            raise InputDataError(f"time must be 'max', 'all' or an int, not {time!r}")
    extra = [d for d in discharge.dims if d not in ("reach", "time")]
    if extra:
        raise InputDataError(f"discharge has unexpected dims {extra}")
    stage, capped = stage_for_discharge(rating, discharge)
    ids = rating["reach"].values
    nreach = int(ids.max())
    hand = np.asarray(terrain["hand"].values, dtype=np.float64)
    label = np.asarray(reach_ds["reach_id"].values, dtype=np.int64)
    if hand.shape != label.shape:
        raise InputDataError(f"hand {hand.shape} and reach_id {label.shape} grids differ")
    st = stage.transpose(..., "reach").values
    lookup_shape = st.shape[:-1] + (nreach + 1,)
    lookup = np.zeros(lookup_shape)
    lookup[..., stage["reach"].values] = st
    if label.min(initial=0) < 0 or label.max(initial=0) > nreach:
        raise InputDataError("reach_id labels outside the rating's reach ids: reach_ds and rating come from "
                             "different runs")
    valid = (label > 0) & np.isfinite(hand)
    stage_map = lookup[..., label]  # (..., y, x)
    # cells below their stream (HAND < 0: only in HAND rasters from elsewhere) take no part in the rating tables
    # (flood.md: depth where HAND >= 0), so they stay dry instead of flooding with no discharge
    wet_ok = valid & (hand >= 0.0)
    depth = np.where(valid, np.maximum(stage_map - np.where(wet_ok, hand, np.inf), 0.0), np.nan)
    has_time = "time" in stage.dims
    dims = (("time",) if has_time else ()) + ("y", "x")
    coords = {"y": terrain["y"].values, "x": terrain["x"].values}
    if has_time:
        coords["time"] = stage["time"].values
    ds = xr.Dataset(coords=coords)
    attrs = cf_attrs("flood_depth")
    if took_max:
        # the stage rises with Q, so the depth of the maximum discharge is the maximum depth over the series
        # (no cell_methods: the output has no time coordinate for it to refer to)
        attrs["comment"] = f"maximum depth: depth for the maximum discharge of each reach over the series{period}"
    if step_time is not None:
        ds = ds.assign_coords(time=step_time.variable)

    ds["flood_depth"] = xr.DataArray(depth.astype(np.float32), dims=dims, attrs=attrs)
    ext = np.where(valid, (depth > threshold_m).astype(np.int8), -1).astype(np.int8)
    eattrs = cf_attrs("flood_extent")
    eattrs["long_name"] = f"flood extent (depth above {threshold_m} m)"
    eattrs["ancillary_variables"] = "flood_depth"
    ds["flood_extent"] = xr.DataArray(ext, dims=dims, attrs=eattrs)
    ds["stage"] = stage
    ds["stage_capped"] = capped
    ds["reach"].attrs.update(long_name="stream reach id (hydro.flood.reaches)", units="1")
    from hydro.io.raster import grid_transform

    ds = ds.rio.write_crs(terrain["hand"].rio.crs).rio.write_transform(grid_transform(terrain["hand"]))
    ds.attrs["method"] = "HAND synthetic rating curves (Zheng et al. 2018, NOAA OWP)"
    # the extent's threshold, read by the report's flooded area (the same as the 2-D engine's attribute)
    ds.attrs["hydro_flood_threshold_m"] = float(threshold_m)
    if step_s > 0:
        ds.attrs["time_coverage_resolution"] = f"PT{step_s}S"  # step of the discharge series (ACDD)
    return ds


def hand_map_of_grid(terrain: xr.Dataset, reach_ds: xr.Dataset, rating: xr.Dataset, discharge_m3s: np.ndarray,
                     *, threshold_m: float = 0.1) -> xr.Dataset:
    """HAND depth and extent of a discharge *grid* (e.g. the forecast peak of every cell), read at each reach outlet.

    Parameters
    ----------
    terrain, reach_ds, rating : xarray.Dataset
        As for :func:`hand_inundation` (``reach_ds`` from :func:`reaches`, with ``outlet_index`` and ``reach_id``).
    discharge_m3s : ndarray, shape (y, x)
        Discharge [m3 s-1] of every cell on the terrain grid.
    threshold_m : float
        Depth [m] above which a cell counts as flooded.

    Returns
    -------
    xarray.Dataset
        :func:`hand_inundation`'s output. A reach whose outlet discharge is not finite (no data in that run) is
        **no data**, not dry: its catchment has ``flood_depth`` NaN and ``flood_extent`` -1.
    """
    grid = np.asarray(discharge_m3s, np.float64)
    if grid.shape != tuple(reach_ds["reach_id"].shape):
        # a transposed grid of the same size sampled other cells silently; a smaller one was an IndexError
        raise InputDataError(f"discharge grid {grid.shape} differs from the terrain grid "
                             f"{tuple(reach_ds['reach_id'].shape)}")
    q = grid.ravel()[reach_ds["outlet_index"].values]
    ok = np.isfinite(q)
    qa = xr.DataArray(np.where(ok, q, 0.0), dims="reach", coords={"reach": reach_ds["reach"].values},
                      attrs={"units": "m3 s-1"})
    out = hand_inundation(terrain, reach_ds, rating, qa, threshold_m=threshold_m)
    if not ok.all():
        label = np.asarray(reach_ds["reach_id"].values)
        nodata = np.zeros(int(max(label.max(initial=0), reach_ds["reach"].values.max(initial=0))) + 1, bool)
        nodata[reach_ds["reach"].values[~ok]] = True
        cells = nodata[np.clip(label, 0, nodata.size - 1)] & (label > 0)
        out["flood_depth"] = out["flood_depth"].where(~cells)
        out["flood_extent"] = out["flood_extent"].where(~cells, np.int8(-1)).astype(np.int8)
    return out


def extent_probability(extents: list[np.ndarray]) -> np.ndarray:
    """Fraction of the members that flood each cell, over the members **with data** at that cell.

    Parameters
    ----------
    extents : list of ndarray of int8, shape (y, x)
        ``flood_extent`` of each member (1 flooded, 0 dry, -1 no data).

    Returns
    -------
    ndarray of float32
        Probability in [0, 1]; NaN where no member has data (a member without data is not counted as dry).
    """
    if not extents:
        raise InputDataError("no ensemble members to take a flood probability over")
    shapes = {np.shape(e) for e in extents}
    if len(shapes) > 1:
        raise InputDataError(f"ensemble extents on different grids: shapes {sorted(shapes)}")
    wet = np.zeros(np.shape(extents[0]), np.float64)
    n = np.zeros_like(wet)
    for e in extents:
        e = np.asarray(e)
        wet += e == 1
        n += e >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, wet / np.maximum(n, 1.0), np.nan).astype(np.float32)


def adjust_rating(rating: xr.Dataset, reach_id: int, stage_m: float, discharge_m3s: float) -> xr.Dataset:
    """Fit the rating curve of one reach to an observed stage-discharge pair by scaling its Manning n.

    ``Q ∝ 1/n``, so ``n_new = n * Q_model(stage) / Q_obs`` makes the table give ``Q_obs`` at the observed stage; the
    whole curve of that reach is scaled by ``Q_obs / Q_model(stage)``. Returns a new Dataset (the input is unchanged).

    :func:`stage_for_discharge` gives back the observed stage for ``Q_obs`` only where the table does not reach
    ``Q_model(stage)`` at a lower stage. Where it does (a dip of a non-monotone table: Q drops when a flat terrace
    starts to wet), no scaling of n can move the inverted stage: it stays the lowest stage reaching the observed
    discharge, and a ``UserWarning`` names it.
    """
    if not (np.isfinite(stage_m) and np.isfinite(discharge_m3s) and stage_m > 0 and discharge_m3s > 0):
        # an infinite discharge gave a table of inf (NaN at stage 0) and n = 0
        raise InputDataError(f"observed stage and discharge must be finite and > 0, not {stage_m} m, "
                             f"{discharge_m3s} m3 s-1")
    if reach_id not in rating["reach"].values:
        raise InputDataError(f"reach {reach_id} has no rating curve")
    top = float(rating["stage"].max())
    if stage_m > top:
        raise InputDataError(f"reach {reach_id}: observed stage {stage_m} m is above the rating table's highest stage "
                             f"{top} m: build the tables with a larger stage_max")
    out = rating.copy(deep=True)
    q_model = float(out["discharge_m3s"].sel(reach=reach_id).interp(stage=stage_m))
    if not q_model > 0:
        raise InputDataError(f"reach {reach_id}: the rating curve gives no discharge at stage {stage_m} m")
    factor = discharge_m3s / q_model
    out["discharge_m3s"].loc[dict(reach=reach_id)] = out["discharge_m3s"].sel(reach=reach_id) * factor
    out["manning_n"].loc[dict(reach=reach_id)] = float(out["manning_n"].sel(reach=reach_id)) / factor
    back, _ = stage_for_discharge(out, xr.DataArray([float(discharge_m3s)], dims="reach", coords={"reach": [reach_id]}))
    if float(back[0]) < stage_m - 1e-9 * max(1.0, stage_m):
        warnings.warn(f"adjust_rating: reach {reach_id}: the rating table already reaches {discharge_m3s} m3 s-1 at "
                      f"{float(back[0]):.4g} m, below the observed stage {stage_m} m (the table is not monotone there): "
                      f"the adjusted curve maps this discharge to {float(back[0]):.4g} m", UserWarning, stacklevel=2)
    return out
