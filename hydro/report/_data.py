"""Reading the run products the report shows: gauge hydrographs, depth maps, allocation by region.

Pure numpy/xarray (no matplotlib): the figures and :func:`hydro.report.key_numbers` both use these
functions, so a number printed in the report is the number drawn in the figure.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError

__all__ = [
    "DEFAULT_FLOOD_THRESHOLD_M",
    "GaugeSeries",
    "RegionSeries",
    "cell_area_m2",
    "decode_str",
    "depth_factor",
    "depth_map",
    "flow_factor",
    "gauge_series",
    "region_series",
]

#: depth above which a cell counts as flooded when the product does not say [m] (= the config default)
DEFAULT_FLOOD_THRESHOLD_M = 0.1
#: shortfalls below this fraction of the demand (or of 1e-3 m3 s-1) are solver round-off [1]
SHORTFALL_RTOL = 1e-6

#: accepted spellings of flow units -> factor to m3 s-1
_FLOW_UNITS = {
    "m3 s-1": 1.0, "m3/s": 1.0, "m^3/s": 1.0, "m**3/s": 1.0, "m3.s-1": 1.0, "m3s-1": 1.0, "m^3 s^-1": 1.0,
    "m3 s^-1": 1.0, "l s-1": 1e-3, "l/s": 1e-3, "litre/s": 1e-3, "liter/s": 1e-3,
}


def flow_factor(da: xr.DataArray, what: str) -> float:
    """Factor converting ``da`` to m3 s-1 from its ``units`` attribute (missing = m3 s-1).

    Raises
    ------
    InputDataError
        Units that are not a volume flow rate.
    """
    units = da.attrs.get("units")
    if units is None:
        return 1.0
    key = " ".join(str(units).strip().lower().split())
    if key not in _FLOW_UNITS:
        raise InputDataError(f"{what}: units {units!r} are not a flow rate (expected m3 s-1 or L s-1)")
    return _FLOW_UNITS[key]


#: accepted spellings of depth units -> factor to m
_DEPTH_UNITS = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0, "cm": 1e-2, "mm": 1e-3}


def depth_factor(da: xr.DataArray, what: str) -> float:
    """Factor converting the depth map ``da`` to m from its ``units`` attribute (missing = m).

    Raises
    ------
    InputDataError
        Units that are not a length (m, cm or mm).
    """
    units = da.attrs.get("units")
    if units is None:
        return 1.0
    key = str(units).strip().lower()
    if key not in _DEPTH_UNITS:
        raise InputDataError(f"{what}: depth units {units!r} are not a length (expected m, cm or mm)")
    return _DEPTH_UNITS[key]


def decode_str(value: Any) -> str:
    """A label from a NetCDF string/char value (bytes, numpy str, object)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":  # char array not joined by the decoder
        return b"".join(value.ravel().tolist()).decode("utf-8", "replace").strip()
    return str(value).strip()


def _times(ds: xr.Dataset | xr.DataArray, what: str) -> pd.DatetimeIndex:
    if "time" not in ds.coords and "time" not in getattr(ds, "dims", ()):
        raise InputDataError(f"{what}: no 'time' coordinate")
    try:
        return pd.DatetimeIndex(pd.to_datetime(np.asarray(ds["time"].values)))
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{what}: time coordinate cannot be read as dates ({exc})") from None


def _instance_dim(da: xr.DataArray, what: str, extra: tuple[str, ...] = ()) -> str | None:
    """The one dimension of a DSG variable that is neither ``time`` nor in ``extra`` (None if 1-D)."""
    dims = [d for d in da.dims if d != "time" and d not in extra]
    if "time" not in da.dims:
        raise InputDataError(f"{what}: variable {da.name!r} has no 'time' dimension (dims {da.dims})")
    if len(dims) > 1:
        raise InputDataError(f"{what}: variable {da.name!r} has dims {da.dims}; expected (instance, time)")
    return dims[0] if dims else None


def _labels(ds: xr.Dataset, dim: str | None, n: int) -> tuple[list[str], list[str]]:
    """Instance ids and names of a DSG dataset (``<dim>_id``/``<dim>_name``, or the cf_role variable)."""
    if dim is None:  # one instance: its scalar cf_role variable names it (the global ``id`` is the run's)
        roles = [v for v in ds.variables if ds[v].attrs.get("cf_role") == "timeseries_id" and ds[v].ndim == 0]
        ident = decode_str(ds[roles[0]].values) if roles else str(ds.attrs.get("id", ds.attrs.get("station_id", "gauge")))
        return [ident], [ident]
    id_var = f"{dim}_id"
    if id_var not in ds:
        roles = [v for v in ds.variables if ds[v].attrs.get("cf_role") == "timeseries_id" and ds[v].dims == (dim,)]
        id_var = roles[0] if roles else ""
    if id_var:
        ids = [decode_str(v) for v in np.asarray(ds[id_var].values).reshape(-1)]
    elif dim in ds.coords:
        ids = [decode_str(v) for v in np.asarray(ds[dim].values)]
    else:
        ids = [f"{dim} {i + 1}" for i in range(n)]
    name_var = f"{dim}_name"
    names = [decode_str(v) for v in np.asarray(ds[name_var].values).reshape(-1)] if name_var in ds else list(ids)
    return ids, [nm or i for nm, i in zip(names, ids)]


def step_edges(ds: xr.Dataset, times: pd.DatetimeIndex, what: str) -> np.ndarray:
    """Period edges (n + 1, datetime64[ns]) of values labelled at the period **end**.

    From ``time_bnds`` when present (start of the first period, then every end); otherwise the
    first period is taken as long as the second.
    """
    bname = ds["time"].attrs.get("bounds", "time_bnds") if "time" in ds else "time_bnds"
    if bname in ds and ds[bname].ndim == 2 and ds[bname].shape[0] == len(times):
        b = np.asarray(pd.to_datetime(np.asarray(ds[bname].values).ravel())).reshape(-1, 2).astype("datetime64[ns]")
        return np.concatenate([b[:1, 0], b[:, 1]])
    if len(times) < 2:
        raise InputDataError(f"{what}: one time step and no time_bnds: the step length is unknown")
    t = np.asarray(times.values, dtype="datetime64[ns]")
    return np.concatenate([[t[0] - (t[1] - t[0])], t])


# ------------------------------------------------------------------------------------ gauges
@dataclass
class GaugeSeries:
    """One gauge hydrograph [m3 s-1].

    ``peak``/``peak_time`` come from ``max_discharge`` (maximum within the output step) when the
    dataset has it, else from ``discharge`` (step mean); ``peak_time`` is the time label of that
    step (its end). Both are None when the series is all missing.
    """

    id: str
    name: str
    time: pd.DatetimeIndex
    discharge: np.ndarray
    max_discharge: np.ndarray | None
    peak: float | None = None
    peak_time: pd.Timestamp | None = None
    peak_variable: str = "discharge"


def gauge_series(gauges: xr.Dataset, variable: str = "discharge") -> list[GaugeSeries]:
    """The hydrographs of a CF DSG timeSeries dataset (any instance dimension name).

    Parameters
    ----------
    gauges : xarray.Dataset
        ``discharge`` on (instance, time) or (time,) [m3 s-1 or L s-1], optional ``max_discharge``,
        ids in ``<instance>_id`` (or the ``cf_role = "timeseries_id"`` variable), names in
        ``<instance>_name``; e.g. :attr:`hydro.model.RunResult.gauges`.

    Raises
    ------
    InputDataError
        No ``discharge`` variable, no time, units that are not a flow.
    """
    if not isinstance(gauges, xr.Dataset) or variable not in gauges:
        raise InputDataError(f"gauges: expected a Dataset with a {variable!r} variable")
    q = gauges[variable]
    dim = _instance_dim(q, "gauges")
    times = _times(gauges, "gauges")
    q2 = q.transpose(dim, "time") if dim else q.expand_dims("_instance")
    qv = np.asarray(q2.values, dtype=np.float64) * flow_factor(q, f"gauges:{variable}")
    qmax = None
    mname = f"max_{variable}"
    if mname in gauges and set(gauges[mname].dims) == set(q.dims):
        m = gauges[mname]
        m2 = m.transpose(dim, "time") if dim else m.expand_dims("_instance")
        qmax = np.asarray(m2.values, dtype=np.float64) * flow_factor(m, f"gauges:{mname}")
    ids, names = _labels(gauges, dim, qv.shape[0])
    out = []
    for i in range(qv.shape[0]):
        src = qmax[i] if qmax is not None else qv[i]
        g = GaugeSeries(ids[i], names[i], times, qv[i], None if qmax is None else qmax[i],
                        peak_variable=mname if qmax is not None else variable)
        if np.any(np.isfinite(src)):
            k = int(np.nanargmax(src))
            g.peak, g.peak_time = float(src[k]), pd.Timestamp(times[k])
        out.append(g)
    return out


def ensemble_band(ensemble: xr.Dataset, gauge_id: str, index: int, n_gauges: int,
                  variable: str = "discharge", band: tuple[float, float] = (10.0, 90.0)) -> dict[str, Any] | None:
    """Percentile band of an ensemble at one gauge.

    Two forms are accepted for ``ensemble[variable]`` (units as for the gauges):

    * a ``realization`` dimension (members): the ``band`` percentiles and the median are computed
      over members (missing members ignored);
    * a ``percentile`` dimension whose coordinate holds percentiles in 0-100 (already reduced):
      the lowest and highest are the band, 50 (if present) the median.

    The gauge is found by id (``<instance>_id``) or, without ids, by position. Returns None when
    the gauge is not in the ensemble; a dict ``time``, ``low``, ``median`` (or None), ``high``,
    ``label`` otherwise.
    """
    if variable not in ensemble:
        raise InputDataError(f"ensemble: no {variable!r} variable")
    da = ensemble[variable]
    if "realization" in da.dims:
        member_dim = "realization"
    elif "percentile" in da.dims:
        member_dim = "percentile"
    else:
        raise InputDataError(f"ensemble:{variable} has dims {da.dims}; it needs a 'realization' (members) or "
                             "'percentile' dimension")
    dim = _instance_dim(da, "ensemble", extra=(member_dim,))
    times = _times(ensemble, "ensemble")
    fac = flow_factor(da, f"ensemble:{variable}")
    if dim is not None:
        ids, _ = _labels(ensemble, dim, da.sizes[dim])
        has_ids = f"{dim}_id" in ensemble or any(ensemble[v].attrs.get("cf_role") == "timeseries_id" for v in ensemble.variables)
        if has_ids:
            if gauge_id not in ids:
                return None
            j = ids.index(gauge_id)
        else:
            if da.sizes[dim] != n_gauges:
                return None
            j = index
        da = da.isel({dim: j})
    vals = np.asarray(da.transpose(member_dim, "time").values, dtype=np.float64) * fac
    if member_dim == "realization":
        ok = np.isfinite(vals).any(axis=0)
        lo, med, hi = (np.full(vals.shape[1], np.nan) for _ in range(3))
        if ok.any():
            lo[ok], med[ok], hi[ok] = np.nanpercentile(vals[:, ok], [band[0], 50.0, band[1]], axis=0)
        label = f"ensemble {band[0]:g}-{band[1]:g} % ({vals.shape[0]} members)"
    else:
        pc = np.asarray(da["percentile"].values, dtype=np.float64)
        if pc.min() < 0 or pc.max() > 100:
            raise InputDataError("ensemble: percentile coordinate must be in 0-100")
        lo, hi = vals[int(np.argmin(pc))], vals[int(np.argmax(pc))]
        med = vals[int(np.flatnonzero(pc == 50.0)[0])] if np.any(pc == 50.0) else None
        label = f"ensemble {pc.min():g}-{pc.max():g} %"
    return {"time": times, "low": lo, "median": med, "high": hi, "label": label}


# ------------------------------------------------------------------------------------ flood
def depth_map(flood: xr.Dataset | xr.DataArray, what: str = "flood") -> xr.DataArray:
    """The maximum depth map (y, x) [m] of a flood product.

    ``max_flood_depth`` of a 2-D run, or ``flood_depth`` of a HAND map (maximum over ``time`` when
    it has one), or a depth DataArray. Length-1 dimensions other than y/x (``time``, ``band``) are
    dropped. Depths in cm or mm (``units``) are converted to m; other units are an InputDataError.
    """
    if isinstance(flood, xr.Dataset):
        for name in ("max_flood_depth", "flood_depth"):
            if name in flood:
                da = flood[name]
                break
        else:
            raise InputDataError(f"{what}: no 'max_flood_depth' or 'flood_depth' variable")
        # read from a CF file the grid mapping is a data variable of the Dataset, not a coordinate of ``da``:
        # without it the CRS (degrees or metres) is lost and cell areas are taken as |dx dy|
        gm = da.encoding.get("grid_mapping", da.attrs.get("grid_mapping"))
        if isinstance(gm, str) and gm in flood.data_vars and gm not in da.coords:
            da = da.assign_coords({gm: flood[gm]})
    elif isinstance(flood, xr.DataArray):
        da = flood
    else:
        raise InputDataError(f"{what}: expected an xarray Dataset or DataArray, got {type(flood).__name__}")
    fac = depth_factor(da, what)
    out = raster2d(da, what, reduce_time=True)
    if fac != 1.0:
        out = out.copy(data=np.asarray(out.values) * fac)
        out.attrs["units"] = "m"
    return out


def raster2d(da: xr.DataArray, what: str, reduce_time: bool = False) -> xr.DataArray:
    """``da`` as (y, x) sorted x ascending and y descending (north-up)."""
    for d in list(da.dims):
        if d in ("y", "x"):
            continue
        if da.sizes[d] == 1:
            da = da.isel({d: 0}, drop=True)
        elif d == "time" and reduce_time:
            da = da.max("time", skipna=True)
        else:
            raise InputDataError(f"{what}: expected a 2-D (y, x) map, got dims {da.dims}")
    if set(da.dims) != {"y", "x"}:
        raise InputDataError(f"{what}: expected dims (y, x), got {da.dims}")
    for c in ("x", "y"):
        if c not in da.coords:
            raise InputDataError(f"{what}: no {c!r} coordinate")
        v = np.asarray(da[c].values, dtype=np.float64)
        if v.size > 1:
            d = np.diff(v)
            if not np.allclose(d, d[0], rtol=1e-6, atol=0.0) or d[0] == 0:
                raise InputDataError(f"{what}: {c} coordinate is not regularly spaced")
    return da.transpose("y", "x").sortby("x").sortby("y", ascending=False)


def spacing(da: xr.DataArray, c: str) -> float:
    """Cell size along coordinate ``c`` (from the coordinate, or the rio transform for 1 cell)."""
    v = np.asarray(da[c].values, dtype=np.float64)
    if v.size > 1:
        return float(abs(v[1] - v[0]))
    try:
        tr = da.rio.transform()
        return float(abs(tr.a if c == "x" else tr.e))
    except Exception as exc:  # noqa: BLE001 - rioxarray raises several types
        raise InputDataError(f"cannot tell the cell size of a 1-cell {c} axis: {exc}") from None


def is_geographic(da: xr.DataArray) -> bool:
    """True when ``da`` has a geographic (degrees) CRS."""
    try:
        import rioxarray  # noqa: F401

        crs = da.rio.crs
    except Exception:  # noqa: BLE001
        return False
    return bool(crs is not None and crs.is_geographic)


def _has_crs(da: xr.DataArray) -> bool:
    """True when ``da`` has a CRS rioxarray can read."""
    try:
        import rioxarray  # noqa: F401

        return da.rio.crs is not None
    except Exception:  # noqa: BLE001
        return False


def cell_area_m2(da: xr.DataArray) -> np.ndarray:
    """Area of every cell of a (y, x) map [m2], broadcast to (y, x).

    Grids with a CRS: the cell areas of :func:`hydro.terrain.grid.grid_geometry` (the CRS's linear unit
    converted to metres, per-row true areas on Web Mercator-like grids, per-row geodesic areas on the ellipsoid
    of a geographic grid), the areas the flood alerts and the run's facts use
    (:func:`hydro.flood.products.flooded_area_km2`). Grids without a CRS: ``|dx| |dy|``. A geographic grid of
    one row or column: ``R² Δλ (sin φ2 − sin φ1)`` per row (spherical Earth, R = 6 371 008.8 m).
    """
    dx, dy = spacing(da, "x"), spacing(da, "y")
    ny, nx = da.sizes["y"], da.sizes["x"]
    # a geographic grid on the sphere was ~0.45 % larger than the ellipsoidal areas of the alerts near the equator
    if not is_geographic(da) or (nx > 1 and ny > 1):
        if _has_crs(da) and nx > 1 and ny > 1:
            from hydro.terrain.grid import grid_geometry

            grid = da.transpose("y", "x")
            yv = np.asarray(grid["y"].values, dtype=np.float64)
            south_up = bool(yv[0] < yv[-1])
            rows = np.broadcast_to(np.asarray(grid_geometry(grid.isel(y=slice(None, None, -1)) if south_up else grid)
                                              .area_m2, dtype=np.float64), (ny,))
            rows = rows[::-1] if south_up else rows
            return np.broadcast_to(rows[:, None], (ny, nx)).copy()
        if _has_crs(da):
            # one row or column of a projected grid: the cell size is in the CRS's linear unit (US feet: the
            # area in ft², 10.76 times too large, unlike the 2-row grid and the alerts' grid_geometry areas)
            from pyproj import CRS

            from hydro.io.netcdf import _metres_per_unit

            f = _metres_per_unit(CRS.from_wkt(da.rio.crs.to_wkt()))
            return np.full((ny, nx), dx * dy * f * f)
        return np.full((ny, nx), dx * dy)
    r = 6371008.8
    lat = np.asarray(da["y"].values, dtype=np.float64)
    band = np.abs(np.sin(np.radians(lat + dy / 2)) - np.sin(np.radians(lat - dy / 2)))
    return np.broadcast_to((r * r * np.radians(dx) * band)[:, None], (ny, nx)).copy()


# ------------------------------------------------------------------------------------ allocation
@dataclass
class RegionSeries:
    """Demand, delivery and shortfall of one region [m3 s-1, step means] on period ``edges``."""

    id: str
    name: str
    edges: np.ndarray
    demand: np.ndarray
    delivered: np.ndarray
    shortfall: np.ndarray
    by_source: dict[str, np.ndarray] | None = None
    step_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def volumes(self) -> dict[str, float]:
        """Demand, delivered and shortfall volumes over the run [m3] and shortfall % of demand.

        A step with a missing (NaN) value makes that volume NaN (unknown), never a zero.
        """
        dem = float(np.sum(self.demand * self.step_s))
        dl = float(np.sum(self.delivered * self.step_s))
        sh = float(np.sum(self.shortfall * self.step_s))
        pct = 100.0 * sh / dem if dem > 0 else (float("nan") if np.isnan(dem) else 0.0)
        return {"demand_volume_m3": dem, "delivered_volume_m3": dl, "shortfall_volume_m3": sh,
                "shortfall_percent": pct}


def region_series(allocation: xr.Dataset) -> list[RegionSeries]:
    """Demand, delivery and shortfall by region from an allocation dataset.

    Accepted forms (what :mod:`hydro.allocation` writes, ``AllocationResult.to_dataset(kind)``):

    * ``kind="region"``: instance dimension ``region`` with ``water_demand``, ``delivery`` and
      ``shortfall`` [m3 s-1] — used as is;
    * ``kind="demand"``: instance dimension ``demand`` with a ``region_id`` variable — summed by
      region (regions in order of first appearance);
    * any other instance dimension without ``region_id``: each instance is shown as a region.

    Optional source breakdown: a variable ``delivery_by_source`` on (instance, ``source``, time)
    [m3 s-1] with source labels in a ``source`` coordinate or a ``source_id`` variable; it is
    summed like ``delivery``. ``shortfall`` is ``max(water_demand − delivery, 0)`` when absent.

    Raises
    ------
    InputDataError
        Missing ``water_demand``/``delivery``, units that are not a flow, no step length.
    """
    if not isinstance(allocation, xr.Dataset):
        raise InputDataError(f"allocation: expected an xarray Dataset, got {type(allocation).__name__}")
    for v in ("water_demand", "delivery"):
        if v not in allocation:
            raise InputDataError(f"allocation: no {v!r} variable (pass AllocationResult.to_dataset('region'))")
    dim = _instance_dim(allocation["delivery"], "allocation")
    times = _times(allocation, "allocation")
    edges = step_edges(allocation, times, "allocation")
    step_s = (np.diff(edges) / np.timedelta64(1, "s")).astype(np.float64)

    def arr(name: str) -> np.ndarray:
        da = allocation[name]
        da2 = da.transpose(dim, "time") if dim else da.expand_dims("_instance")
        return np.asarray(da2.values, dtype=np.float64) * flow_factor(da, f"allocation:{name}")

    dem, dl = arr("water_demand"), arr("delivery")
    sh = arr("shortfall") if "shortfall" in allocation else np.maximum(dem - dl, 0.0)
    # LP round-off (1e-12 m3 s-1 "shortfalls") is not a shortfall: same relative tolerance as the explanations
    # (a missing demand or delivery leaves the shortfall missing, not zero)
    sh = np.where(np.isnan(sh) | (sh > SHORTFALL_RTOL * np.maximum(np.abs(dem), 1e-3)), sh, 0.0)
    ids, names = _labels(allocation, dim, dem.shape[0])
    src: np.ndarray | None = None
    src_names: list[str] = []
    if "delivery_by_source" in allocation:
        da = allocation["delivery_by_source"]
        if "source" not in da.dims or "time" not in da.dims:
            raise InputDataError(f"allocation: delivery_by_source needs dims (instance, source, time), got {da.dims}")
        order = ([dim] if dim else []) + ["source", "time"]
        src = np.asarray(da.transpose(*order).values, dtype=np.float64) * flow_factor(da, "allocation:delivery_by_source")
        if dim is None:
            src = src[None]
        if "source_id" in allocation:
            src_names = [decode_str(v) for v in np.asarray(allocation["source_id"].values).reshape(-1)]
        elif "source" in allocation.coords:
            src_names = [decode_str(v) for v in np.asarray(allocation["source"].values)]
        else:
            src_names = [f"source {k + 1}" for k in range(src.shape[1])]
    if dim is not None and dim != "region" and "region_id" in allocation and allocation["region_id"].dims == (dim,):
        reg = [decode_str(v) for v in np.asarray(allocation["region_id"].values)]
        groups = list(dict.fromkeys(reg))
        idx = [np.array([k for k, r in enumerate(reg) if r == g]) for g in groups]
        ids = names = groups
        dem = np.stack([dem[i].sum(axis=0) for i in idx])
        dl = np.stack([dl[i].sum(axis=0) for i in idx])
        sh = np.stack([sh[i].sum(axis=0) for i in idx])
        if src is not None:
            src = np.stack([src[i].sum(axis=0) for i in idx])
    out = []
    for k in range(dem.shape[0]):
        by = None if src is None else {s: src[k, j] for j, s in enumerate(src_names)}
        out.append(RegionSeries(ids[k], names[k], edges, dem[k], dl[k], sh[k], by, step_s))
    return out


def exposure_numbers(exposure: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the exposure numbers (people, roads ...): finite numbers or strings, by name; or such a mapping
    per flood map (``{"coastal plain (2-D)": {"people_affected": 120}, ...}``), validated map by map."""
    nested = [isinstance(v, Mapping) for v in exposure.values()]
    if nested and all(nested):
        return {str(k): exposure_numbers(v) for k, v in exposure.items()}
    if any(nested):
        raise InputDataError("exposure: give numbers by name, or a mapping of numbers per flood map, not a mix")
    out: dict[str, float | str] = {}
    for k, v in exposure.items():
        if isinstance(v, str):
            out[str(k)] = v
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise InputDataError(f"exposure {k!r}: {v!r} is not a number") from None
        if not np.isfinite(f):
            raise InputDataError(f"exposure {k!r}: {v!r} is not finite")
        out[str(k)] = f
    return out
