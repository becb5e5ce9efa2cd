"""Routing on the D8 network: kinematic wave (overland + channel), level-pool reservoirs, inflows.

Kernels (numba, flat arrays) in :mod:`hydro.routing._kernels`; the engine in
:class:`RoutingNetwork`; :func:`route` routes a gridded runoff series on xarray objects. The
coupled rainfall-runoff-routing model is :class:`hydro.model.CatchmentModel`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError, InputMissingError
from hydro.routing.network import (AbstractionSchedule, Gauge, Inflow, Reservoir, RoutingNetwork,
                                   RoutingParameters, series_step_values)
from hydro.vocabulary import cf_attrs

__all__ = [
    "RoutingParameters",
    "RoutingNetwork",
    "Reservoir",
    "Inflow",
    "Gauge",
    "route",
    "series_step_values",
    "AbstractionSchedule",
]


#: units of a runoff depth per model step accepted by :func:`route` (as by the catchment model's forcing)
RUNOFF_UNITS = ("mm", "kg m-2", "kg m**-2", "mm per step", "mm/step", "1e-3 m")


def _check_runoff(r: np.ndarray, rn: RoutingNetwork, runoff: xr.DataArray, when: pd.Timestamp, where: str) -> None:
    """NaN/infinite or negative runoff on a network cell is an :class:`InputDataError`."""
    for bad, what in ((~np.isfinite(r), "NaN or infinite"), (r < 0.0, "negative")):
        if not bad.any():
            continue
        k = int(np.flatnonzero(bad)[0])
        iy, ix = np.unravel_index(int(rn.order[k]), rn.shape)
        xs, ys = runoff["x"].values, runoff["y"].values
        extra = f" (min {float(np.min(r[bad]))} mm)" if what == "negative" else ""
        raise InputDataError(
            f"runoff {where}: {what} values on {int(bad.sum())} network cell(s) at {when}{extra}, first at "
            f"row {iy}, column {ix} (x={xs[ix]}, y={ys[iy]}): runoff on the network must be finite and >= 0 mm")


def route(
    runoff: xr.DataArray,
    terrain: xr.Dataset,
    params: RoutingParameters | None = None,
    *,
    reservoirs: Sequence[Reservoir] = (),
    inflows: Sequence[Inflow] = (),
    keep_peak: bool = False,
) -> xr.Dataset:
    """Route gridded runoff along the D8 network of ``terrain`` with the kinematic wave.

    Parameters
    ----------
    runoff : xarray.DataArray (time, y, x)
        Runoff depth per model step [mm], time labelled at the step end, regular step. On the
        network cells it must be finite and ``>= 0`` (off the network it is ignored, NaN allowed).
        Its ``units`` attribute, when present, must be one of :data:`RUNOFF_UNITS` (mm per step).
    terrain : xarray.Dataset
        Output of :func:`hydro.terrain.analyse` (``flow_direction``, ``filled_elevation``).
    params : RoutingParameters, optional
    reservoirs, inflows : sequences
        Level-pool nodes and inflow boundaries.
    keep_peak : bool
        Also return the maximum of the sub-step discharge within each step.

    Returns
    -------
    xarray.Dataset
        ``discharge`` (time, y, x) step-mean outflow of each cell [m3 s-1] (``max_discharge`` with
        ``keep_peak``), and the volume balance of the routing per step: ``inflow_volume``,
        ``outflow_volume``, ``storage_change`` [m3].

    Raises
    ------
    InputDataError
        Runoff ``units`` that are not a depth in mm per step (e.g. ``m``, ``kg m-2 s-1``,
        ``mm h-1``); NaN/infinite or negative runoff on a network cell (naming the step, the cell
        and the source). The runoff operators of :mod:`hydro.runoff` never produce negative runoff, so a
        negative value is bad input, never clipped or dropped silently.
    """
    from hydro.terrain import flow_network

    params = params or RoutingParameters()
    if not isinstance(runoff, xr.DataArray):
        raise InputDataError(f"runoff must be an xarray.DataArray (time, y, x), got {type(runoff).__name__}")
    if not isinstance(terrain, xr.Dataset) or "flow_direction" not in terrain or not (
            "filled_elevation" in terrain or "elevation" in terrain):
        # a DEM DataArray or a Dataset without them was a KeyError traceback
        raise InputMissingError(f"terrain must be the Dataset of hydro.terrain.analyse ('flow_direction' and "
                                f"'filled_elevation'), got {type(terrain).__name__}"
                                + (f" with {sorted(map(str, terrain.data_vars))}" if isinstance(terrain, xr.Dataset) else ""))
    if runoff.dims != ("time", "y", "x"):
        raise InputDataError(f"runoff {runoff.name!r} must have dims (time, y, x), has {runoff.dims}")
    units = str(runoff.attrs.get("units", "mm")).strip()
    if units not in RUNOFF_UNITS:
        raise InputDataError(f"runoff {runoff.name!r}: units {units!r}, expected a depth in mm per model step "
                             f"(one of {', '.join(RUNOFF_UNITS)}; no units attribute is read as mm)")
    times = pd.DatetimeIndex(runoff["time"].values)
    if len(times) < 2:
        raise InputDataError("runoff needs at least two time steps to know the step length")
    steps = np.diff(times.asi8)
    if np.any(steps <= 0) or np.any(steps != steps[0]):
        raise InputDataError(f"runoff {runoff.name!r}: times must be increasing and regular")
    dt = steps[0] / 1e9
    net = flow_network(terrain["flow_direction"])
    z = terrain["filled_elevation"].values if "filled_elevation" in terrain else terrain["elevation"].values
    if runoff.shape[1:] != tuple(net.shape):
        raise InputDataError(f"runoff {runoff.name!r} grid {runoff.shape[1:]} differs from the terrain {net.shape}")
    for c in ("y", "x"):  # same cells, not only the same shape (a y-ascending NetCDF grid would be mirrored)
        if c in runoff.coords and c in terrain.coords:
            a, b = np.asarray(runoff[c].values, float), np.asarray(terrain[c].values, float)
            tol = 1e-6 * max(1.0, float(np.max(np.abs(np.diff(b)))) if b.size > 1 else 1.0)
            if not np.allclose(a, b, rtol=0.0, atol=tol):
                raise InputDataError(f"runoff {runoff.name!r}: {c} coordinates differ from the terrain's (another grid "
                                     f"or order: align it with the terrain first, e.g. runoff.sortby or reindex_like)")
    rn = RoutingNetwork.build(net, z, params, dt, reservoirs=reservoirs, inflows=inflows)
    area = rn.from_grid(net.cell_area_m2)
    starts = times - pd.Timedelta(seconds=dt)
    inflow_q = [series_step_values(f.discharge_m3s, starts, pd.Timedelta(seconds=dt), what=f"inflow {f.name!r} ({f.source})")
                for f in rn.inflows]
    abstraction = AbstractionSchedule(rn.reservoirs, starts, pd.Timedelta(seconds=dt))
    nt = len(times)
    q_out = np.empty((nt,) + tuple(net.shape), np.float32)
    q_pk = np.empty_like(q_out) if keep_peak else None
    vin = np.zeros(nt)
    vout = np.zeros(nt)
    dstore = np.zeros(nt)
    where = str(runoff.attrs.get("hydro_source") or runoff.encoding.get("source") or "<in memory>")
    where = f"{where}:{runoff.name}" if runoff.name is not None else where
    for t in range(nt):
        r = rn.from_grid(np.asarray(runoff.isel(time=t).values, np.float64))
        _check_runoff(r, rn, runoff, times[t], where)
        lat = r * area / (1000.0 * dt)
        bnd = np.zeros(rn.nvalid)
        for j, pos in enumerate(rn.inflow_pos):
            bnd[pos] += inflow_q[j][t]
        s0 = rn.reach_storage_m3() + float(rn.reservoir_storage_m3.sum())
        res = rn.step(lat, bnd, None, abstraction.at(t, rn.reservoir_storage_m3) if rn.reservoirs else None)
        s1 = rn.reach_storage_m3() + float(rn.reservoir_storage_m3.sum())
        vin[t] = (lat.sum() + bnd.sum()) * dt
        vout[t] = res["outflow_m3"] + res["reservoir_evaporation_m3"] + res["reservoir_abstraction_m3"]
        dstore[t] = s1 - s0
        q_out[t] = rn.to_grid(res["q_mean"]).reshape(net.shape)
        if q_pk is not None:
            q_pk[t] = rn.to_grid(res["q_max"]).reshape(net.shape)
    coords = {"time": runoff["time"].values, "y": runoff["y"].values, "x": runoff["x"].values}
    ds = xr.Dataset(coords=coords)
    # the means and sums below are over (t - dt, t]: say so (CF 7.1 bounds; period-end labels)
    ds["time_bnds"] = (("time", "nv"), np.stack([starts.values, times.values], axis=1))
    ds["time"].attrs["bounds"] = "time_bnds"
    ds["discharge"] = (("time", "y", "x"), q_out, {**cf_attrs("discharge"), "cell_methods": "time: mean"})
    if q_pk is not None:
        ds["max_discharge"] = (("time", "y", "x"), q_pk, cf_attrs("max_discharge"))
    for name, val, ln in (("inflow_volume", vin, "lateral and boundary inflow volume"),
                          ("outflow_volume", vout, "outflow, evaporation and abstraction volume"),
                          ("storage_change", dstore, "change of routing and reservoir storage")):
        ds[name] = (("time",), val, {"long_name": ln, "units": "m3", "cell_methods": "time: sum"})
    if runoff.rio.crs is not None:
        ds = ds.rio.write_crs(runoff.rio.crs, inplace=True).rio.write_transform(runoff.rio.transform(recalc=False), inplace=True)
    return ds
