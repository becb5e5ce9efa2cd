"""2-D local-inertial flood model (LISFLOOD-FP "ACC" / de Almeida et al. 2012) on a DEM grid.

The public entry point is :func:`simulate_2d`; edge boundaries are built with :func:`closed`,
:func:`inflow`, :func:`water_level` and :func:`free_outflow`. The per-cell work is done by the numba
kernels in :mod:`hydro.flood._inertial`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Literal, NamedTuple, Sequence

import numba
import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import HydroError, InputDataError
from hydro.times import naive_utc
from hydro.flood import _inertial as K
from hydro.flood.hazard import HAZARD_CLASS_ATTRS, LANDUSE_CODES, _landuse_codes, hazard_class, hazard_rating
from hydro.vocabulary import cf_attrs

__all__ = [
    "EdgeBoundary",
    "closed",
    "inflow",
    "water_level",
    "free_outflow",
    "simulate_2d",
    "Simulation2DResult",
    "SolverInstabilityError",
    "rain_rate_m_per_s",
    "effective_rainfall",
    "GRAVITY",
    "SMALL_GRID_CELLS",
]

GRAVITY = 9.80665
#: grids smaller than this run on one thread unless ``num_threads`` is given
SMALL_GRID_CELLS = 50_000
SIDES = ("west", "east", "north", "south")
_KIND = {"closed": K.BC_CLOSED, "inflow": K.BC_INFLOW, "level": K.BC_LEVEL, "free": K.BC_FREE}


class SolverInstabilityError(HydroError):
    """The 2-D solver produced a non-physical depth or velocity (names where and when); reduce ``alpha``."""


# --------------------------------------------------------------------------------------------- boundaries
@dataclass(frozen=True)
class EdgeBoundary:
    """One boundary condition on (part of) one edge of the grid.

    Attributes
    ----------
    side : {"west", "east", "north", "south"}
        Edge of the raster: west = first column, east = last column, north = first row, south = last row
        (for a north-up raster these are the compass directions).
    kind : {"closed", "inflow", "level", "free"}
        ``closed`` wall (q = 0); ``inflow`` prescribed inward unit discharge (m2 s-1, >= 0; every cell of an inflow
        edge must be ground, not nodata); ``level`` prescribed water
        level (m, same datum as the DEM) in a ghost cell outside the edge — flow either way (tide);
        ``free`` outflow at normal depth ``q = h^(5/3) S^(1/2) / n`` with friction slope ``S``.
    series : xarray.DataArray or float, optional
        Unit discharge (inflow) or water level (level): a constant, or a DataArray with a ``time`` dim
        (datetime64, or seconds since the start) and optionally a second dim of length ``len(cells)`` for values
        per edge cell. Linear interpolation in time; the series must cover the whole run.
    cells : slice, sequence of int, boolean mask or None
        Cells along the edge (row indices on west/east, column indices on north/south, no repeats), or a boolean
        mask as long as the edge; ``None`` = the whole edge.
    slope : float, optional
        Friction slope of the ``free`` boundary (m/m); ``None`` = local bed slope towards the edge, floored at
        ``min_slope``.
    min_slope : float
        Floor of the local slope for ``free`` boundaries (> 0).
    """

    side: str
    kind: str
    series: Any = None
    cells: Any = None
    slope: float | None = None
    min_slope: float = 1e-4


def closed(side: str, cells: Any = None) -> EdgeBoundary:
    """Closed wall on ``side`` (the default for every edge not given)."""
    return EdgeBoundary(side, "closed", cells=cells)


def inflow(side: str, unit_discharge_m2_s: Any, cells: Any = None) -> EdgeBoundary:
    """Inflow edge: inward unit discharge (m2 s-1, constant or series) on each face of ``cells``.

    A total discharge ``Q`` (m3 s-1) spread over ``k`` faces of width ``dx`` is ``q = Q / (k * dx)``.
    """
    return EdgeBoundary(side, "inflow", series=unit_discharge_m2_s, cells=cells)


def water_level(side: str, level_m: Any, cells: Any = None) -> EdgeBoundary:
    """Water-level edge (tide, surge, lake): level in m on the DEM datum, constant or series."""
    return EdgeBoundary(side, "level", series=level_m, cells=cells)


def free_outflow(side: str, slope: float | None = None, cells: Any = None, min_slope: float = 1e-4) -> EdgeBoundary:
    """Free-outflow edge at normal depth with friction slope ``slope`` (None = local bed slope)."""
    return EdgeBoundary(side, "free", slope=slope, cells=cells, min_slope=min_slope)


# --------------------------------------------------------------------------------------------- units and time
_RATE_FACTORS = {  # to m s-1
    "m s-1": 1.0, "m/s": 1.0, "m s**-1": 1.0,
    "mm s-1": 1e-3, "mm/s": 1e-3,
    "kg m-2 s-1": 1e-3, "kg/m2/s": 1e-3, "kg m**-2 s**-1": 1e-3,
    "mm h-1": 1e-3 / 3600.0, "mm/h": 1e-3 / 3600.0, "mm/hr": 1e-3 / 3600.0, "mm hr-1": 1e-3 / 3600.0,
    "mm hour-1": 1e-3 / 3600.0,
    "mm d-1": 1e-3 / 86400.0, "mm/d": 1e-3 / 86400.0, "mm/day": 1e-3 / 86400.0, "mm day-1": 1e-3 / 86400.0,
    "m h-1": 1.0 / 3600.0, "m/h": 1.0 / 3600.0,
}
_AMOUNT_FACTORS = {"mm": 1e-3, "kg m-2": 1e-3, "m": 1.0, "mm/step": 1e-3, "mm per step": 1e-3}


def rain_rate_m_per_s(values: np.ndarray, units: str, interval_s: np.ndarray | float) -> np.ndarray:
    """Convert rainfall (rate or amount per interval) to a rate in m s-1.

    Parameters
    ----------
    values : array
        Rainfall values.
    units : str
        One of mm/h (mm h-1), mm/d (mm d-1, mm day-1), mm/s, m s-1, kg m-2 s-1 (rates) or mm, kg m-2, m
        (amount per interval, "mm per step"), or any other spelling :func:`hydro.forcing.parse_water_units`
        accepts (mm/hour, kg m-2 h-1, mm min-1, cm, ...).
    interval_s : float or array broadcastable to ``values``
        Length of the interval each value covers (s), used for amounts.

    Returns
    -------
    numpy.ndarray
        Rate in m s-1 (float64).

    Raises
    ------
    InputDataError
        Unknown units.
    """
    key = " ".join(str(units).strip().split())
    values = np.asarray(values, dtype=np.float64)
    if key in _RATE_FACTORS:
        return values * _RATE_FACTORS[key]
    if key in _AMOUNT_FACTORS:
        return values * _AMOUNT_FACTORS[key] / np.asarray(interval_s, dtype=np.float64)
    # every other spelling the forcing module accepts (mm/hour, kg m-2 h-1, cm, mm min-1, MM/H, ...): the same
    # rain must not be refused here after hydro.forcing prepared it
    from hydro.forcing.units import parse_water_units

    try:
        kind, factor = parse_water_units(key, "rainfall")  # mm per unit (amount) or mm s-1 per unit (rate)
    except InputDataError:
        kind = None
    if kind == "rate":
        return values * (factor * 1e-3)
    if kind == "amount":
        return values * (factor * 1e-3) / np.asarray(interval_s, dtype=np.float64)
    raise InputDataError(
        f"rainfall units {units!r} unknown; use a rate (mm/h, mm/d, mm/s, m s-1, kg m-2 s-1) "
        "or an amount per interval (mm, kg m-2, m)"
    )


def effective_rainfall(rainfall: xr.DataArray, loss_model: Any, *, like: xr.DataArray | None = None,
                       units: str | None = None) -> xr.DataArray:
    """Rainfall minus losses on the grid, step by step, from any loss model with ``step(precip_mm) -> mm``.

    Works with the event operators of :mod:`hydro.runoff` (``SCSCurveNumber``, ``GreenAmpt``, built with
    ``ncell = ny * nx``) without importing them (flood and runoff are peers).

    Parameters
    ----------
    rainfall : xarray.DataArray
        ``(time,)`` uniform or ``(time, y, x)`` rain with a ``units`` attribute (period-end labels).
    loss_model : object
        ``loss_model.step(precip_mm_flat) -> runoff_mm_flat`` for each time step, in row-major cell order.
    like : xarray.DataArray, optional
        Grid template (y, x) when ``rainfall`` is uniform.
    units : str, optional
        Units when ``rainfall`` has none.

    Returns
    -------
    xarray.DataArray
        Effective rainfall ``(time, y, x)`` in mm per interval (``units = "mm"``) for ``simulate_2d(rainfall=...)``.
    """
    u = rainfall.attrs.get("units", units)
    if u is None:
        raise InputDataError("effective_rainfall: rainfall has no 'units' attribute")
    tv = _time_values(rainfall["time"])
    t = _to_seconds(tv, tv[0] if _is_datetime(tv) else None, "rainfall")
    if t.size < 2:
        raise InputDataError("effective_rainfall: need at least two time labels")
    interval = np.diff(np.concatenate([[t[0] - (t[1] - t[0])], t]))
    dt_hours = getattr(loss_model, "dt_hours", None)  # a rate-based operator (Green-Ampt) has its own step
    if dt_hours is not None and not np.allclose(interval, float(dt_hours) * 3600.0, rtol=1e-9, atol=0.0):
        # its infiltration capacity per step is K dt: 10-min rain through an hourly Green-Ampt infiltrated six
        # hours' worth per hour (effective rain about half the true value)
        raise InputDataError(f"effective_rainfall: the loss model steps {float(dt_hours) * 3600.0:g} s but the "
                             f"rainfall intervals are {np.unique(interval).tolist()} s: build it with dt_seconds = "
                             "the rainfall interval")
    if rainfall.ndim == 1:
        if like is None:
            raise InputDataError("effective_rainfall: uniform rainfall needs like= (the grid)")
        ny, nx = like.shape
        mm = rain_rate_m_per_s(rainfall.values, u, interval) * interval * 1000.0
        mm = np.broadcast_to(mm[:, None, None], (mm.size, ny, nx))
        coords = {"time": rainfall["time"].values, "y": like["y"].values, "x": like["x"].values}
    else:
        r = rainfall.transpose("time", "y", "x")
        mm = rain_rate_m_per_s(r.values, u, interval[:, None, None]) * interval[:, None, None] * 1000.0
        ny, nx = r.shape[1:]
        coords = {"time": r["time"].values, "y": r["y"].values, "x": r["x"].values}
    out = np.empty((mm.shape[0], ny, nx))
    for k in range(mm.shape[0]):
        out[k] = np.asarray(loss_model.step(np.ascontiguousarray(mm[k]).ravel()), dtype=np.float64).reshape(ny, nx)
    return xr.DataArray(out, dims=("time", "y", "x"), coords=coords, name="effective_rainfall",
                        attrs={"units": "mm", "long_name": "rainfall minus losses per interval"})


def _time_values(t: Any) -> np.ndarray:
    """Time labels as a numpy array. Timezone-aware dates (a pandas ``datetime64[ns, tz]`` coordinate, whose
    ``.values`` are bare integer nanoseconds, or an object array of Timestamps) become naive UTC ``datetime64``,
    the convention of ``start``."""
    if isinstance(getattr(t, "dtype", None), pd.DatetimeTZDtype):
        data = t.data if isinstance(t, (xr.DataArray, xr.Variable)) else t
        return pd.DatetimeIndex(np.ravel(data)).tz_convert("UTC").tz_localize(None).values
    arr = np.asarray(t.values if isinstance(t, (xr.DataArray, xr.Variable, pd.Index, pd.Series)) else t)
    if arr.dtype == object and arr.size and isinstance(arr.flat[0], (pd.Timestamp, np.datetime64)):
        idx = pd.to_datetime(arr.ravel(), utc=True).tz_localize(None)
        arr = np.asarray(idx.values, dtype="datetime64[ns]").reshape(arr.shape)
    return arr


def _is_datetime(arr: np.ndarray) -> bool:
    return np.issubdtype(arr.dtype, np.datetime64)


def _to_seconds(t: Any, start: np.datetime64 | None, what: str) -> np.ndarray:
    arr = _time_values(t)
    if arr.dtype == object:
        raise InputDataError(f"{what}: time coordinate of {arr.dtype} values is neither numbers (s since the start), "
                             "timedeltas nor dates")
    if np.issubdtype(arr.dtype, np.datetime64):
        if start is None:
            raise InputDataError(f"{what}: time coordinate is a date but simulate_2d(start=...) was not given")
        out = (arr - start) / np.timedelta64(1, "s")
    elif np.issubdtype(arr.dtype, np.timedelta64):
        out = arr / np.timedelta64(1, "s")
    else:
        out = arr.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        # a NaT/NaN time (an empty timestamp in a gauge file) passed every order and coverage test (comparisons with
        # NaN are False): a tide with one missing time was never applied, rain before it was dropped
        raise InputDataError(f"{what}: {int(bad.sum())} missing time value(s) (NaT/NaN), the first at position "
                             f"{int(np.flatnonzero(bad)[0])}; drop or fill those samples")
    return out


def _as_seconds(value: Any, what: str) -> float:
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return pd.Timedelta(value).total_seconds()
    if hasattr(value, "total_seconds"):
        return float(value.total_seconds())
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{what} must be seconds or a timedelta, not {value!r}") from exc


def _check_gaps(times: np.ndarray, what: str, t_end: float | None = None) -> None:
    """Refuse missing samples in a regularly sampled series (e.g. a tide gauge record with a hole).

    A series is regular when at least 75 % (and at least 4) of its (≥ 5) intervals equal its most common
    interval (to 1 s); an interval longer than twice that is then a gap, never bridged by interpolation.
    Irregular breakpoint series (a hydrograph given by its turning points) are interpolated as given.
    """
    if times.size < 6:
        return
    dt = np.round(np.diff(times), 0)
    vals, counts = np.unique(dt, return_counts=True)
    step = float(vals[np.argmax(counts)])
    if step <= 0 or counts.max() < max(4, 0.75 * dt.size):
        return
    big = np.flatnonzero(dt > 2.0 * step)
    if t_end is not None:
        # only a hole the run interpolates across matters: a month-long gauge record with a hole on another day
        # refused a 6-h run that never comes near it (the step is still judged on the whole record)
        big = big[(times[big] < t_end) & (times[big + 1] > 0.0)]
    if big.size:
        k = int(big[0])
        raise InputDataError(f"{what}: gap of {dt[k]:.0f} s after {times[k]:.0f} s from the start in a series sampled "
                             f"every {step:.0f} s ({big.size} gap(s)); fill or resample the series explicitly")


class _Series:
    """Piecewise-linear series (time in s since start) for k values; constant if time is None."""

    def __init__(self, times: np.ndarray | None, values: np.ndarray, what: str, t_end: float):
        self.times = times
        self.values = values  # (nt, k)
        if not np.all(np.isfinite(values)):
            raise InputDataError(f"{what}: NaN/inf value")
        if times is not None:
            if np.any(np.diff(times) <= 0):
                raise InputDataError(f"{what}: time coordinate must be strictly increasing")
            if times[0] > 1e-9 or times[-1] < t_end - 1e-9:
                raise InputDataError(
                    f"{what}: series covers {times[0]:.0f} s to {times[-1]:.0f} s after start but the run needs "
                    f"0 s to {t_end:.0f} s (no extrapolation)"
                )
            if not np.all(np.isfinite(values)):
                raise InputDataError(f"{what}: series contains NaN/inf")
            _check_gaps(times, what, t_end)

    def at(self, t: float) -> np.ndarray:
        if self.times is None:
            return self.values[0]
        k = int(np.searchsorted(self.times, t, side="right")) - 1
        k = min(max(k, 0), self.times.size - 2) if self.times.size > 1 else 0
        if self.times.size == 1:
            return self.values[0]
        t0, t1 = self.times[k], self.times[k + 1]
        w = (t - t0) / (t1 - t0)
        return self.values[k] * (1.0 - w) + self.values[k + 1] * w


def _series(obj: Any, k: int, start: np.datetime64 | None, t_end: float, what: str) -> _Series:
    if isinstance(obj, xr.DataArray):
        if "time" not in obj.dims:
            vals = np.asarray(obj.values, dtype=np.float64).reshape(1, -1)
            times = None
        else:
            other = [d for d in obj.dims if d != "time"]
            if len(other) > 1:
                raise InputDataError(f"{what}: series has dims {obj.dims}; expected (time,) or (time, cell)")
            o = obj.transpose("time", *other)
            vals = np.asarray(o.values, dtype=np.float64).reshape(o.sizes["time"], -1)
            times = _to_seconds(obj["time"], start, what)
    elif isinstance(obj, pd.Series):
        vals = np.asarray(obj.values, dtype=np.float64).reshape(-1, 1)
        times = _to_seconds(obj.index, start, what)
    else:
        vals = np.asarray(obj, dtype=np.float64).reshape(1, -1)
        times = None
    if vals.shape[1] not in (1, k):
        raise InputDataError(f"{what}: {vals.shape[1]} values per time but {k} cells")
    if vals.shape[1] == 1 and k > 1:
        vals = np.repeat(vals, k, axis=1)
    return _Series(times, vals, what, t_end)


# --------------------------------------------------------------------------------------------- results
class Simulation2DResult(NamedTuple):
    """Result of :func:`simulate_2d`: gridded outputs and the volume-balance table."""

    dataset: xr.Dataset
    balance: pd.DataFrame


def _grid_info(bed: xr.DataArray) -> tuple[float, Any, Any]:
    if not isinstance(bed, xr.DataArray) or bed.ndim != 2:
        raise InputDataError("bed_elevation must be a 2-D xarray.DataArray (y, x) with a projected CRS")
    if bed.dims != ("y", "x"):
        raise InputDataError(f"bed_elevation dims are {bed.dims}; expected ('y', 'x')")
    crs = None
    transform = None
    try:
        import rioxarray  # noqa: F401

        crs = bed.rio.crs
        from hydro.io.raster import grid_transform

        transform = grid_transform(bed)
    except Exception:  # pragma: no cover - rioxarray is a dependency
        crs = None
    if crs is None:
        raise InputDataError(
            "bed_elevation has no CRS; write one with da.rio.write_crs(...) (a projected CRS in metres)"
        )
    if crs.is_geographic:
        raise InputDataError(
            f"bed_elevation is on a geographic grid ({crs.to_string()}, degrees); reproject to a projected CRS in "
            "metres (e.g. UTM 50S, EPSG:32750) first: da.rio.reproject('EPSG:32750')"
        )
    a, b, _, d, e, _ = tuple(transform)[:6]
    if b != 0 or d != 0:
        raise InputDataError("bed_elevation: rotated grid; warp to a north-up grid first")
    if e > 0 or a < 0:
        # the kernel's sides (north = row 0) and the sign of the northward velocity assume rows running north to
        # south and columns west to east (GeoTIFF order); a south-up grid would silently swap north and south
        raise InputDataError(
            "bed_elevation: rows must run north to south and columns west to east (north-up, as GeoTIFFs); this "
            f"grid has {'y increasing' if e > 0 else ''}{' and ' if e > 0 and a < 0 else ''}"
            f"{'x decreasing' if a < 0 else ''} down the array: flip it first, e.g. "
            "da.sortby('y', ascending=False).sortby('x') (and every gridded input the same way)"
        )
    if not math.isclose(abs(a), abs(e), rel_tol=1e-6):
        raise InputDataError(
            f"bed_elevation: non-square cells ({abs(a)} m x {abs(e)} m); resample to square cells first"
        )
    if bed.shape[0] < 2 or bed.shape[1] < 2:
        raise InputDataError(f"bed_elevation: grid {bed.shape} too small (need at least 2 x 2 cells)")
    from hydro.terrain.grid import grid_geometry

    geo = grid_geometry(bed)  # the cell size in metres (feet grids converted); the true size on the ellipsoid
    if not geo.planar:
        raise InputDataError(
            f"bed_elevation: the cells of {crs.to_string()} differ from their nominal size by more than 0.5 % "
            f"(e.g. Web Mercator: x{float(np.sqrt(geo.area_m2.mean())) / abs(a):.3f} here); the 2-D solver needs "
            "uniform square cells in metres: reproject to a local UTM zone first")
    return float(geo.dx_m[0]), crs, transform


def _same_grid(da: xr.DataArray, bed: xr.DataArray | None, name: str) -> None:
    """A gridded input given as DataArray must carry the bed's x/y coordinates (same order): no silent flips."""
    if bed is None or "x" not in da.coords or "y" not in da.coords:
        return
    for c in ("x", "y"):
        a, b = np.asarray(da[c].values, float), np.asarray(bed[c].values, float)
        if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-6 * max(1.0, float(np.abs(b).max()))):
            raise InputDataError(f"{name}: its {c} coordinates differ from bed_elevation's; regrid/align it first")


def _field(value: Any, shape: tuple[int, int], name: str, dtype: Any, allow_uniform: bool = True,
           bed: xr.DataArray | None = None) -> np.ndarray:
    if isinstance(value, xr.DataArray):
        _same_grid(value, bed, name)
        value = value.transpose("y", "x").values if set(value.dims) == {"y", "x"} else value.values
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        out = np.full((1, 1) if allow_uniform else shape, float(arr))
    elif arr.shape == shape:
        out = arr
    else:
        raise InputDataError(f"{name}: shape {arr.shape} does not match the grid {shape}")
    return np.ascontiguousarray(out, dtype=dtype)


def _edge_cells(b: EdgeBoundary, ny: int, nx: int) -> np.ndarray:
    length = ny if b.side in ("west", "east") else nx
    if b.cells is None:
        idx = np.arange(length)
    elif isinstance(b.cells, slice):
        idx = np.arange(length)[b.cells]
    else:
        raw = np.asarray(getattr(b.cells, "values", b.cells)).ravel()
        if raw.dtype == bool:
            # a mask along the edge (True = boundary cell); cast to int it would silently pick cells 0 and 1
            if raw.size != length:
                raise InputDataError(f"{b.side} {b.kind} boundary: boolean cells mask has {raw.size} values but the "
                                     f"{b.side} edge has {length} cells")
            idx = np.flatnonzero(raw)
        else:
            if raw.size and (raw.dtype.kind not in "iuf" or np.any(raw != np.round(raw))):
                raise InputDataError(f"{b.side} {b.kind} boundary: cells {b.cells!r} must be whole cell indices")
            idx = raw.astype(np.int64)
            if np.unique(idx).size != idx.size:
                raise InputDataError(f"{b.side} {b.kind} boundary: cells {b.cells!r} repeat an index (a per-cell "
                                     "series would be matched to the wrong cells)")
    if idx.size == 0 or idx.min() < 0 or idx.max() >= length:
        raise InputDataError(f"{b.side} {b.kind} boundary: cells {b.cells!r} outside 0..{length - 1}")
    return idx


# --------------------------------------------------------------------------------------------- main
def simulate_2d(
    bed_elevation: xr.DataArray,
    duration: float | pd.Timedelta,
    *,
    manning_n: float | xr.DataArray | np.ndarray = 0.035,
    rainfall: Any = None,
    rainfall_units: str | None = None,
    infiltration_mm_per_h: float | xr.DataArray | np.ndarray = 0.0,
    initial_depth: float | xr.DataArray | np.ndarray = 0.0,
    inflows: xr.DataArray | None = None,
    boundaries: Sequence[EdgeBoundary] = (),
    start: Any = None,
    output_interval: float | pd.Timedelta | None = None,
    output_variables: Iterable[str] = ("depth", "speed"),
    summary_maps: bool = True,
    threshold_m: float = 0.1,
    landuse: Any = "urban",
    permanent_water: Any = None,
    theta: float = 0.8,
    alpha: float = 0.5,
    dt_max: float = 60.0,
    advective_dt: bool = True,
    h_dry: float = 1e-3,
    froude_limit: float | None = None,
    velocity_limit: float | None = None,
    friction: Literal["semi-implicit", "implicit"] = "semi-implicit",
    velocity_bound: float = 50.0,
    depth_bound: float | None = None,
    dtype: Literal["float32", "float64"] = "float32",
    num_threads: int | None = None,
) -> Simulation2DResult:
    """Simulate 2-D flooding with the local-inertial equations (Bates et al. 2010; de Almeida et al. 2012).

    Parameters
    ----------
    bed_elevation : xarray.DataArray
        Bed/ground elevation (m) with dims ``(y, x)``, a **projected** CRS in metres and square cells
        (``rio`` CRS/transform as written by :func:`hydro.io.open_dem`). NaN cells are inactive (walls).
    duration : float or pandas.Timedelta
        Run length (s).
    manning_n : float or array (y, x)
        Manning roughness (s m-1/3), >= 0; face value = mean of the two cells.
    rainfall : float, xarray.DataArray or pandas.Series, optional
        Rain on the grid: a constant, a series ``(time)`` or a grid ``(time, y, x)``. Values are **period-end
        labelled** (CF): the value at ``t_k`` is held constant over ``(t_{k-1}, t_k]``; the first interval has the
        length of the second. The units come from the ``units`` attribute (or ``rainfall_units``): rates mm/h,
        mm/d, mm/s, m s-1, kg m-2 s-1 or amounts per interval mm, kg m-2, m (and every spelling
        :func:`hydro.forcing.parse_water_units` accepts). A grid may be NaN on nodata cells of the DEM. Pass the
        effective rainfall of
        :mod:`hydro.runoff` here (and ``infiltration_mm_per_h=0``) to use its loss model.
    rainfall_units : str, optional
        Units of ``rainfall`` when it carries none (required for plain numbers).
    infiltration_mm_per_h : float or array (y, x)
        Constant infiltration capacity (mm h-1), limited each step to the water present (``f <= h/dt + r``).
    initial_depth : float or array (y, x)
        Initial water depth (m), >= 0.
    inflows : xarray.DataArray, optional
        Point inflow hydrographs (m3 s-1) with dims ``(time, point)`` (or ``(point,)`` for constants) and
        coordinates ``x(point)``, ``y(point)`` in the grid CRS, e.g. routed discharge of the rivers entering the
        domain. Values >= 0; linear interpolation in time.
    boundaries : sequence of EdgeBoundary
        Edge conditions (:func:`inflow`, :func:`water_level`, :func:`free_outflow`, :func:`closed`); edges not
        covered are closed walls. Later entries override earlier ones on the same cells.
    start : datetime-like, optional
        Start time; required when a series has a date time coordinate; output times are dates when given.
        Timezone-aware dates (start or series) are compared in UTC; naive dates are taken as UTC.
    output_interval : float or pandas.Timedelta, optional
        Interval (s) of the gridded snapshots and volume-balance rows (default: ``duration``, one snapshot).
    output_variables : iterable of {"depth", "speed", "velocity"}
        Snapshot fields: depth (m), speed (m s-1) and velocity components (eastward, northward; m s-1).
    summary_maps : bool
        Keep the running summary maps (maximum depth, maximum speed, time of first wetting, duration above
        threshold, maximum hazard rating, hazard class, extent), updated on every time step. False leaves them
        out of the result (depth snapshots, velocities and the volume balance only, as landlab's OverlandFlow
        gives): about a quarter less work per cell update, for runs that only need snapshots or totals.
    threshold_m : float
        Depth (m) above which a cell counts as flooded: time of first wetting, duration above threshold, the
        extent flag and the maximum speed (speeds of thinner sheets, e.g. at wetting fronts, are not recorded).
    landuse : {"pasture", "woodland", "urban"} or int array (y, x)
        Land use for the debris factor of the hazard rating (codes 0 pasture/arable, 1 woodland, 2 urban).
    permanent_water : bool array (y, x), optional
        Cells normally covered by water (sea, river channel): simulated as usual but never counted in the
        ``flood_extent`` flag (CF: flood water is water on land not normally covered).
    theta : float
        de Almeida et al. (2012) weighting in (0, 1]; 1 = Bates et al. (2010) (no numerical diffusion);
        0.7-0.9 damps checkerboard oscillations at low friction. Default 0.8 (as landlab): with theta = 1 a 1 m
        deep pond with n = 0.03 develops growing checkerboard oscillations (tests/flood, pond stability test).
    alpha : float
        Courant coefficient of the adaptive step ``dt = alpha * dx / sqrt(g * h_max)`` (0.2-0.7 recommended).
        Default 0.5: the 2-D staggered wave equation is stable only up to ``1/sqrt(2) = 0.707``, so the
        LISFLOOD-FP default 0.7 is marginal for deep, low-friction water.
    dt_max : float
        Upper bound of the time step (s), used when the domain is dry.
    advective_dt : bool
        Add the largest cell speed to the wave celerity, ``dt = alpha dx / (sqrt(g h_max) + |u|_max)`` (SFINCS
        variant): keeps thin, fast sheets over weirs and steep rain-on-grid slopes stable. False = the plain
        LISFLOOD-FP step ``alpha dx / sqrt(g h_max)``.
    h_dry : float
        Wet/dry threshold (m), > 0: a face carries flow only if the flow depth exceeds it (LISFLOOD-FP
        DepthThresh). Larger values slow wetting fronts and leave up to ``h_dry`` ponded in shallow depressions.
    froude_limit : float, optional
        Steep-slope safeguard for rain-on-grid: cap ``|q| <= Fr * h * sqrt(g h)`` on every face, free-outflow
        edges included (landlab ``steep_slopes`` uses 1). Off by default.
    velocity_limit : float, optional
        Cap face velocities at this value (m s-1; SFINCS ``uvlim`` = 10), free-outflow edges included. Off by
        default.
    friction : {"semi-implicit", "implicit"}
        ``semi-implicit`` (Bates et al. 2010): explicit ``|q|`` in the friction term — the larger of the face's
        old flux and its theta-smoothed flux (identical to Bates et al. 2010 for theta = 1; for theta < 1 it keeps
        neighbour flux smoothed onto thin wet/dry faces from escaping friction) — followed by the
        friction-equilibrium limiter: the new flux never passes the Manning normal flux of the current slope
        (which the exact momentum ODE never crosses), so thin, steep rain-on-grid sheets with long steps stay
        stable. ``implicit``: the friction magnitude is implicit too and the quadratic ``q (1 + a |q|) = b`` is
        solved exactly (backward Euler).
    velocity_bound : float
        Plausibility bound (m s-1): a face velocity beyond it (or a non-finite value) stops the run with
        :class:`SolverInstabilityError` naming the place and time.
    depth_bound : float, optional
        Plausibility bound of depth (m); default ``100 m + relief + max initial depth + max boundary level``.
    dtype : {"float32", "float64"}
        Storage of bed, fluxes and Manning n. Depth and every volume sum are float64 in both cases.
    num_threads : int, optional
        numba threads for this run (``numba.set_num_threads``, restored afterwards); default: numba's current
        setting, or 1 thread for grids below ``SMALL_GRID_CELLS`` (50 000) cells.

    Returns
    -------
    Simulation2DResult
        ``dataset``: snapshots ``flood_depth``, ``flood_speed``, ``eastward_flood_velocity``,
        ``northward_flood_velocity`` on ``(time, y, x)`` and the summary maps ``max_flood_depth``,
        ``max_flood_speed``, ``time_of_first_wetting`` (s since start, NaN if never), ``flood_duration`` (s),
        ``max_hazard_rating``, ``hazard_class``, ``flood_extent`` and the volume balance on ``time``;
        ``balance``: a DataFrame per output time with volumes (m3) since the start: ``storage``, ``rain``,
        ``infiltration``, ``point_inflow``, ``boundary_inflow``, ``boundary_outflow``, ``clipped`` (water created by
        zeroing round-off negatives), ``residual`` and ``relative_residual``.

    Raises
    ------
    InputDataError
        Geographic or non-square grid, negative Manning n or depth, unknown rainfall units, an inflow point outside
        the domain, an inflow edge cell on nodata or a negative edge inflow, a series not covering the run, bad
        option values (``h_dry <= 0``, ``min_slope <= 0``, ...).
    SolverInstabilityError
        Depth or velocity beyond physical bounds (names the cell coordinates and the time).

    Notes
    -----
    Momentum per face (old depths, semi-implicit friction)::

        q_new = (q_s - g dt hflow dS/dx) / (1 + g dt n^2 |q| / hflow^(7/3)),  q_s = theta q + (1-theta)(q_W+q_E)/2

    with ``hflow = max(eta_L, eta_R) - max(z_L, z_R)``, then clipped to lie between ``q_s`` and the friction
    equilibrium ``q_eq = -sign(dS) hflow^(5/3) |dS/dx|^(1/2) / n``. A donor-cell limiter scales outgoing fluxes so
    that no cell gives more than it holds, hence depths stay >= 0 without creating water; continuity::

        h_new = h + dt/dx (q_in - q_out) + dt (r - f) + dt Q_src / dx^2

    ``qy`` is positive towards increasing row index (south for north-up rasters); the northward velocity output
    has the opposite sign. Each time step is one fused parallel sweep (:func:`hydro.flood._inertial.step`):
    momentum, limiter, continuity, volume balance, the max-depth/speed reductions of the next step and the
    running products, with no per-step allocation.

    References
    ----------
    Bates, Horritt & Fewtrell (2010), J. Hydrol. 387, 33-45. de Almeida, Bates, Freer & Souvignet (2012), WRR 48,
    W05528. Defra/EA (2006) FD2321/TR2 Flood Risks to People.

    Examples
    --------
    >>> res = simulate_2d(dem, 3 * 3600, manning_n=0.05, rainfall=storm,            # doctest: +SKIP
    ...                   boundaries=[water_level("south", tide)], output_interval=900)
    >>> res.dataset["max_flood_depth"].plot()                                        # doctest: +SKIP
    """
    dx, crs, transform = _grid_info(bed_elevation)
    ny, nx = bed_elevation.shape
    t_end = _as_seconds(duration, "duration")
    if not (t_end > 0 and math.isfinite(t_end)):
        raise InputDataError(f"duration must be a finite number of seconds > 0, not {t_end}")
    out_dt = t_end if output_interval is None else _as_seconds(output_interval, "output_interval")
    if not (out_dt > 0 and math.isfinite(out_dt)):
        raise InputDataError(f"output_interval must be a finite number of seconds > 0, not {out_dt}")
    # numeric options as numbers (theta="0.8" from a config was a raw TypeError in the comparison below)
    opts = {"theta": theta, "alpha": alpha, "dt_max": dt_max, "threshold_m": threshold_m, "h_dry": h_dry,
            "velocity_bound": velocity_bound, "depth_bound": depth_bound}
    for name, value in opts.items():
        if value is None and name == "depth_bound":
            continue
        try:
            opts[name] = float(value)
        except (TypeError, ValueError):
            raise InputDataError(f"{name} must be a number, not {value!r}") from None
    theta, alpha, dt_max, threshold_m, h_dry = (opts[k] for k in ("theta", "alpha", "dt_max", "threshold_m", "h_dry"))
    velocity_bound, depth_bound = opts["velocity_bound"], opts["depth_bound"]
    for name in ("velocity_bound", "depth_bound"):
        # plausibility bounds of the instability check: NaN or 0 flagged every step as unstable ("solver unstable"
        # instead of a bad option value)
        if opts[name] is not None and not (0.0 < opts[name] < math.inf):
            raise InputDataError(f"{name} must be a finite bound > 0, not {opts[name]}")
    if not (0.0 < theta <= 1.0):
        raise InputDataError(f"theta must be in (0, 1], not {theta}")
    if not (alpha > 0.0):
        raise InputDataError(f"alpha must be > 0, not {alpha}")
    if alpha > 0.7:
        import warnings

        warnings.warn(f"alpha = {alpha} > 0.7: above the stability range of the local-inertial scheme (Bates et "
                      f"al. 2010; 0.2-0.7 recommended): fronts may run too fast or the run fail", UserWarning,
                      stacklevel=2)
    for name, value in (("froude_limit", froude_limit), ("velocity_limit", velocity_limit)):
        if value is not None and not (float(value) >= 0.0):  # 0 or None = off; a negative limit is not "off"
            raise InputDataError(f"{name} must be >= 0 (0 or None: no limit), not {value}")
    if num_threads is not None and not (int(num_threads) >= 1 and int(num_threads) == num_threads):
        raise InputDataError(f"num_threads must be a whole number >= 1, not {num_threads}")
    if num_threads is not None and int(num_threads) > numba.config.NUMBA_NUM_THREADS:
        raise InputDataError(f"num_threads = {num_threads}: numba has {numba.config.NUMBA_NUM_THREADS} threads "
                             "(NUMBA_NUM_THREADS)")
    if not (dt_max > 0.0) or not (threshold_m >= 0.0):
        raise InputDataError("dt_max must be > 0, threshold_m >= 0")
    if not (0.0 < h_dry < math.inf):
        # h_dry = 0 let a draining cell's film of 1e-30 m carry face flux: its speed q/h overflowed, the advective
        # step became 0 s and the run never ended
        raise InputDataError(f"h_dry must be a finite depth > 0 m (e.g. 1e-3; 1e-5 as landlab), not {h_dry}")
    if friction not in ("semi-implicit", "implicit"):
        raise InputDataError(f"friction must be 'semi-implicit' or 'implicit', not {friction!r}")
    if dtype not in ("float32", "float64"):
        raise InputDataError(f"dtype must be 'float32' or 'float64', not {dtype!r}")
    out_vars = set(output_variables)
    if not out_vars <= {"depth", "speed", "velocity"}:
        raise InputDataError(f"output_variables: unknown {sorted(out_vars - {'depth', 'speed', 'velocity'})}")
    fdt = np.dtype(dtype)
    start64 = None
    if start is not None:
        start64 = np.datetime64(naive_utc(start), "ns")  # naive UTC (CF writer convention)

    z64 = np.asarray(bed_elevation.values, dtype=np.float64)
    active = np.isfinite(z64)
    for nodata in (bed_elevation.rio.nodata, bed_elevation.attrs.get("_FillValue"),
                   bed_elevation.encoding.get("_FillValue")):
        if nodata is not None and np.isfinite(nodata):
            # e.g. -9999 not masked on reading: not ground 10 km deep (compared in the raster's own precision)
            nd = np.asarray(nodata).astype(bed_elevation.dtype) if bed_elevation.dtype.kind == "f" else nodata
            active &= z64 != np.float64(nd)
    if not active.any():
        raise InputDataError("bed_elevation: every cell is NaN")
    z64 = np.where(active, z64, 0.0)
    z = np.ascontiguousarray(z64, dtype=fdt)

    n = _field(manning_n, (ny, nx), "manning_n", fdt, bed=bed_elevation)
    if not np.all(np.isfinite(n[active if n.shape == (ny, nx) else np.ones((1, 1), bool)])) or np.any(n < 0):
        raise InputDataError("manning_n must be finite and >= 0 (s m-1/3); got negative or NaN values")
    h0 = _field(initial_depth, (ny, nx), "initial_depth", np.float64, bed=bed_elevation)
    h = np.array(np.broadcast_to(h0, (ny, nx)))
    if np.any(~np.isfinite(h[active])) or np.any(h < 0):
        raise InputDataError("initial_depth must be finite and >= 0 m")
    h[~active] = 0.0
    infil = _field(infiltration_mm_per_h, (ny, nx), "infiltration_mm_per_h", np.float64, bed=bed_elevation)
    if infil.shape == (ny, nx):
        # a soil/infiltration map is NaN where the DEM is nodata (as manning_n and initial_depth may be): ignored
        infil = np.where(active, infil, 0.0)
    if np.any(infil < 0) or not np.all(np.isfinite(infil)):
        raise InputDataError("infiltration_mm_per_h must be finite and >= 0 on the active (non-nodata) cells")
    infil = infil * (1e-3 / 3600.0)

    if isinstance(landuse, str):
        if landuse not in LANDUSE_CODES:
            raise InputDataError(f"landuse {landuse!r} unknown; use one of {sorted(LANDUSE_CODES)} or a code map")
        lu = np.full((1, 1), LANDUSE_CODES[landuse], dtype=np.int8)
    else:
        if isinstance(landuse, xr.DataArray):
            _same_grid(landuse, bed_elevation, "landuse")
            landuse = landuse.transpose("y", "x").values if set(landuse.dims) == {"y", "x"} else landuse.values
        lu_raw = np.asarray(landuse)
        if lu_raw.shape != (ny, nx):
            raise InputDataError(f"landuse map shape {lu_raw.shape} does not match the grid {(ny, nx)}")
        if lu_raw.dtype.kind in "USO":  # a map of names, as hydro.flood.hazard takes them (was a raw numpy error)
            lu_raw = _landuse_codes(np.where(active, lu_raw, "urban"))
        if lu_raw.dtype.kind == "f":  # a float raster: NaN allowed on nodata cells, whole codes elsewhere
            lu_raw = np.where(active, lu_raw, 0.0)
            if not np.all(np.isfinite(lu_raw)) or np.any(lu_raw != np.round(lu_raw)):
                raise InputDataError("landuse map must hold whole codes 0 pasture, 1 woodland, 2 urban (NaN only on "
                                     "nodata cells of bed_elevation)")
        if lu_raw.min() < 0 or lu_raw.max() > 2:
            raise InputDataError("landuse map must be (y, x) with codes 0 pasture, 1 woodland, 2 urban")
        lu = np.ascontiguousarray(lu_raw, dtype=np.int8)
    if permanent_water is not None:  # checked before the run (it was checked after it, by shape only)
        if isinstance(permanent_water, xr.DataArray):
            _same_grid(permanent_water, bed_elevation, "permanent_water")
            if set(permanent_water.dims) == {"y", "x"}:
                permanent_water = permanent_water.transpose("y", "x")
        pw_raw = np.asarray(getattr(permanent_water, "values", permanent_water))
        if pw_raw.shape != (ny, nx):
            raise InputDataError(f"permanent_water shape {pw_raw.shape} does not match the grid {(ny, nx)}")
        if pw_raw.dtype.kind == "f" and not np.all(np.isfinite(pw_raw[active])):
            raise InputDataError("permanent_water holds NaN on active cells of bed_elevation")
        permanent_water = np.asarray(np.nan_to_num(pw_raw, nan=0.0) if pw_raw.dtype.kind == "f" else pw_raw,
                                     dtype=bool)

    # --- rainfall: piecewise-constant intervals
    rain_edges, rain_rates, rain_grid = _prepare_rain(rainfall, rainfall_units, bed_elevation, start64, t_end,
                                                      active)

    # --- point inflows
    src_rows, src_cols, src_series = _prepare_inflows(inflows, bed_elevation, start64, t_end, active, transform)

    # --- edge boundaries
    bcx_kind = np.zeros((ny, 2), np.int8)
    bcy_kind = np.zeros((2, nx), np.int8)
    bcx_val = np.zeros((ny, 2), np.float64)
    bcy_val = np.zeros((2, nx), np.float64)
    bc_updates: list[tuple[bool, Any, _Series]] = []
    # which boundary (position in ``boundaries``) owns each edge cell: a later entry overrides an earlier one, so
    # the earlier one's time series must stop writing there (it overwrote a free edge's slope with a tide level)
    ownx = np.full((ny, 2), -1, np.int64)
    owny = np.full((2, nx), -1, np.int64)
    pending: list[tuple[int, bool, np.ndarray, int, _Series]] = []
    level_max = -np.inf
    series_times: list[np.ndarray] = []
    if isinstance(boundaries, EdgeBoundary) or boundaries is None or isinstance(boundaries, str):
        raise InputDataError("boundaries must be a list of EdgeBoundary objects, e.g. [water_level('south', tide)]"
                             f", not {boundaries!r}")
    for ib_, b in enumerate(boundaries):
        if not isinstance(b, EdgeBoundary):
            raise InputDataError(f"boundaries: expected EdgeBoundary objects (see hydro.flood.inflow ...), got {b!r}")
        if b.side not in SIDES:
            raise InputDataError(f"boundary side {b.side!r} unknown; use one of {SIDES}")
        if b.kind not in _KIND:
            raise InputDataError(f"boundary kind {b.kind!r} unknown; use one of {sorted(_KIND)}")
        idx = _edge_cells(b, ny, nx)
        col = {"west": 0, "east": 1, "north": 0, "south": 1}[b.side]
        if b.kind != "closed":
            edge = {"west": (idx, 0), "east": (idx, nx - 1), "north": (0, idx), "south": (ny - 1, idx)}[b.side]
            edge_active = active[edge]
            if not edge_active.any():
                raise InputDataError(
                    f"{b.side} {b.kind} boundary: all its {idx.size} edge cells are nodata, so no water can pass "
                    "(the kernel's edge faces are on the grid's outer edge); crop the DEM to its valid area or "
                    "give cells=... where the edge is ground"
                )
            if b.kind == "inflow" and not edge_active.all():
                # the unit discharge of a nodata face never entered: Q / (k dx) over k faces, one of them nodata,
                # delivered (k - 1)/k of Q without a word
                raise InputDataError(
                    f"{b.side} inflow boundary: edge cells {idx[~edge_active].tolist()} are nodata, so their "
                    "inflow would be dropped; give cells=... only where the edge is ground (and q = Q / (k dx) "
                    "over those k cells)"
                )
            if b.kind == "free" and b.slope is None and not (0.0 < b.min_slope < math.inf):
                raise InputDataError(f"{b.side} free-outflow min_slope must be a finite slope > 0, not {b.min_slope}")
            if b.kind == "free" and n.shape == (ny, nx):
                if np.any(n[edge][edge_active] <= 0):
                    raise InputDataError(f"{b.side} free-outflow boundary needs manning_n > 0 on its edge cells")
        kind_arr, val_arr = (bcx_kind, bcx_val) if b.side in ("west", "east") else (bcy_kind, bcy_val)
        view = (idx, col) if b.side in ("west", "east") else (col, idx)
        kind_arr[view] = _KIND[b.kind]
        val_arr[view] = 0.0
        (ownx if b.side in ("west", "east") else owny)[view] = ib_
        if b.kind in ("inflow", "level"):
            if b.series is None:
                raise InputDataError(f"{b.side} {b.kind} boundary needs a value or series")
            s = _series(b.series, idx.size, start64, t_end, f"{b.side} {b.kind} boundary series")
            if b.kind == "inflow" and np.any(s.values < 0):
                raise InputDataError(f"{b.side} inflow boundary: unit discharge must be >= 0 m2 s-1 (inward; "
                                     "abstractions are not supported)")
            if b.kind == "level":
                level_max = max(level_max, float(np.max(s.values)))
            if s.times is not None:
                series_times.append(s.times)
            pending.append((ib_, kind_arr is bcx_kind, idx, col, s))
        elif b.kind == "free":
            if b.slope is not None:
                if not b.slope > 0:
                    raise InputDataError(f"{b.side} free-outflow slope must be > 0, not {b.slope}")
                val_arr[view] = b.slope
            else:
                inner = {"west": (idx, 1), "east": (idx, nx - 2), "north": (1, idx), "south": (ny - 2, idx)}[b.side]
                sl = (z64[inner] - z64[edge]) / dx
                # no bed slope next to a nodata cell (its elevation is a 0 m fill): use the floor there
                val_arr[view] = np.where(active[inner] & active[edge], np.maximum(sl, b.min_slope), b.min_slope)
    for ib_, is_x, idx, col, s in pending:
        owner = ownx[idx, col] if is_x else owny[col, idx]
        keep = owner == ib_
        if not keep.any():
            continue  # wholly overridden by later entries
        if not keep.all():
            idx = idx[keep]
            s = _Series(s.times, s.values[:, keep], "boundary series", t_end)
        bc_updates.append((is_x, (idx, col) if is_x else (col, idx), s))
    # faces that can carry flow: a closed face (wall, nodata) is no neighbour of the theta smoothing
    open_x = np.zeros((ny, nx + 1), bool)
    open_x[:, 1:nx] = active[:, :-1] & active[:, 1:]
    open_x[:, 0] = active[:, 0] & (bcx_kind[:, 0] != K.BC_CLOSED)
    open_x[:, nx] = active[:, -1] & (bcx_kind[:, 1] != K.BC_CLOSED)
    open_y = np.zeros((ny + 1, nx), bool)
    open_y[1:ny] = active[:-1] & active[1:]
    open_y[0] = active[0] & (bcy_kind[0] != K.BC_CLOSED)
    open_y[ny] = active[-1] & (bcy_kind[1] != K.BC_CLOSED)
    has_level = bool(np.any(bcx_kind == K.BC_LEVEL) or np.any(bcy_kind == K.BC_LEVEL))
    has_inflow = bool(np.any(bcx_kind == K.BC_INFLOW) or np.any(bcy_kind == K.BC_INFLOW))
    if n.shape == (1, 1) and n[0, 0] == 0 and (np.any(bcx_kind == K.BC_FREE) or np.any(bcy_kind == K.BC_FREE)):
        raise InputDataError("free-outflow boundaries need manning_n > 0")

    # edge elevations for the ghost depth of level boundaries: a nodata edge cell (0 m fill) exchanges no water and
    # must not set the time step (a tide at 100.5 m over a DEM at 100 m took 10x the steps)
    z_ghost = np.where(active, z64, np.inf)

    if depth_bound is None:
        relief = float(np.nanmax(z64[active]) - np.nanmin(z64[active]))
        extra = 0.0 if not np.isfinite(level_max) else max(0.0, level_max - float(np.min(z64[active])))
        depth_bound = 100.0 + relief + float(h.max()) + extra

    # --- break points: outputs, rain intervals, series samples
    out_times = np.arange(out_dt, t_end + 1e-9 * max(1.0, t_end), out_dt)
    if out_times.size == 0 or abs(out_times[-1] - t_end) > 1e-6 * max(1.0, t_end):
        out_times = np.append(out_times, t_end)
    out_times[-1] = t_end
    breaks = [out_times]
    if rain_edges is not None:
        breaks.append(rain_edges)
    breaks.extend(series_times)
    if src_series is not None and src_series.times is not None:
        breaks.append(src_series.times)
    bp = np.unique(np.concatenate(breaks))
    bp = bp[(bp > 1e-9) & (bp <= t_end + 1e-9)]

    # --- state (double-buffered: the fused step reads one buffer and writes the other), products, scratch
    qx = np.zeros((ny, nx + 1), fdt)
    qy = np.zeros((ny + 1, nx), fdt)
    qx_new = np.zeros_like(qx)
    qy_new = np.zeros_like(qy)
    h_new = np.zeros_like(h)
    workspace = K.make_workspace(ny, nx, K.ROWS_PER_BLOCK, fdt)
    # np.full, not np.zeros: calloc'ed zero pages that are never written make the kernel's masked vector stores
    # take a slow assist on every step (measured: the first-wetting loop 25x slower)
    # without summary maps the kernel never reads or writes them: one column each (row views stay valid)
    mx = nx if summary_maps else 1
    max_depth = np.array(h, dtype=np.float32) if summary_maps else np.full((ny, 1), 0.0, np.float32)
    max_speed = np.full((ny, mx), 0.0, np.float32)
    t_wet = np.full((ny, mx), -1.0, np.float32)
    if summary_maps:
        t_wet[h > threshold_m] = 0.0
    duration_s = np.full((ny, mx), 0.0, np.float64)  # a sum of every step's dt: float64 (float32 drifted 0.5 %/day)
    max_hazard = np.full((ny, mx), 0.0, np.float32)
    if summary_maps:
        # the maximum includes the initial state, as max_depth and t_wet do (water at rest: v = 0); it started at 0,
        # so a cell starting 0.26 m deep (urban HR 1.13) that drained in the first step was rated 0.2, "low"
        max_hazard[...] = hazard_rating(np.where(active, max_depth, 0.0), 0.0, lu)
    row_hmax = np.zeros(ny, np.float64)
    row_umax = np.zeros(ny, np.float64)
    row_store = np.zeros(ny, np.float64)
    acc = np.zeros((ny, 5), np.float64)  # per row: rain, infiltration, clipped, boundary in, boundary out (m3)
    bad_v = np.full(ny + 1, -1, np.int64)
    bad_d = np.full(ny, -1, np.int64)
    if rain_grid is not None:
        rain_grid = np.ascontiguousarray(rain_grid, dtype=np.float64)
    rain_now = np.zeros((1, 1), np.float64) if rain_grid is None else rain_grid[0]
    # point inflows enter continuity as a rate on their cells (flood.md 1.4: h^{n+1} = h^n + ... + dt Q_src / A, with
    # the momentum of every face from h^n): added to the depth before the step, the inflow cell's depth was always
    # dt Q / A below the level that drove its outflow (its output depth changed with the time step)
    src_grid = np.zeros((ny, nx), np.float64) if src_rows is not None else None
    src_base = None
    src_rain_k = -2
    src_rain_q = 0.0  # rain of the current interval on the active cells (m3 s-1), for the rain volume
    n_active = int(active.sum())
    area = dx * dx
    v0 = float(h.sum()) * area
    vol = dict(point_inflow=0.0, rain=0.0)
    snapshots: dict[str, list[np.ndarray]] = {k: [] for k in ("depth", "speed", "u", "v")}
    rows: list[dict[str, float]] = []
    u_tmp = np.zeros((ny, nx), np.float64)
    v_tmp = np.zeros((ny, nx), np.float64)

    old_threads = numba.get_num_threads()
    if num_threads is None and ny * nx < SMALL_GRID_CELLS:
        num_threads = 1  # thread start-up and barriers cost more than they save on small grids
    if num_threads is not None:
        numba.set_num_threads(int(num_threads))
    try:
        t = 0.0
        hmax = float(h.max())
        umax = 0.0
        ib = 0
        iout = 0
        rain_k = -1
        nsteps = 0
        froude = float(froude_limit) if froude_limit else 0.0
        ulim = float(velocity_limit) if velocity_limit else 0.0
        while iout < out_times.size:
            target = bp[ib]
            # time step from the deepest water, ghost cells of level boundaries included
            hm = hmax
            if bc_updates:
                for is_x, view, s in bc_updates:
                    (bcx_val if is_x else bcy_val)[view] = s.at(t)
                if has_level:
                    hm = max(hm, _ghost_depth_max(bcx_kind, bcx_val, bcy_kind, bcy_val, z_ghost))
                if has_inflow:  # critical depth of the inflow unit discharge (a dry domain must not take dt_max)
                    qmax = max(float(np.max(np.abs(bcx_val[bcx_kind == K.BC_INFLOW]), initial=0.0)),
                               float(np.max(np.abs(bcy_val[bcy_kind == K.BC_INFLOW]), initial=0.0)))
                    hm = max(hm, (qmax * qmax / GRAVITY) ** (1.0 / 3.0))
            if src_rows is not None:
                qmax = float(np.max(src_series.at(t))) / dx
                hm = max(hm, (qmax * qmax / GRAVITY) ** (1.0 / 3.0))
            if hm > h_dry:
                dt = min(dt_max, alpha * dx / (math.sqrt(GRAVITY * hm) + umax))
            else:
                dt = dt_max
            if t + dt >= target - 1e-9 * max(1.0, target):
                dt = target - t
                t_next = target
                ib += 1
            elif t + 2 * dt > target:  # avoid a sliver step: split the rest in two
                dt = 0.5 * (target - t)
                t_next = t + dt
            else:
                t_next = t + dt
            tmid = t + 0.5 * dt
            # boundary values at mid-step
            for is_x, view, s in bc_updates:
                (bcx_val if is_x else bcy_val)[view] = s.at(tmid)
            # rain intensity of the interval containing this step
            if rain_edges is not None:
                k = int(np.searchsorted(rain_edges, tmid, side="right")) - 1
                if k != rain_k:
                    rain_k = k
                    if rain_grid is None:
                        rain_now[0, 0] = rain_rates[k]
                    else:
                        rain_now = rain_grid[k]  # a view: no full-grid copy
            # point sources: rain + Q/A on their cells for this step (the kernel's rain volume then includes them)
            step_rain = rain_now
            if src_rows is not None:
                if src_rain_k != rain_k:  # new rain interval: the grid of this interval's rain
                    src_grid[...] = rain_now
                    src_base = src_grid[src_rows, src_cols].copy()
                    src_rain_k = rain_k
                    src_rain_q = (float(rain_now.sum()) if rain_now.shape == (ny, nx)
                                  else float(rain_now[0, 0]) * n_active) * area
                qsrc = np.asarray(src_series.at(tmid), dtype=np.float64)
                src_grid[src_rows, src_cols] = src_base
                np.add.at(src_grid, (src_rows, src_cols), qsrc / area)
                vol["point_inflow"] += dt * float(qsrc.sum())
                vol["rain"] += dt * src_rain_q
                step_rain = src_grid
            K.step(z, h, h_new, active, qx, qy, qx_new, qy_new, open_x, open_y, n, step_rain, infil, lu, bcx_kind, bcx_val,
                   bcy_kind, bcy_val, max_depth, max_speed, t_wet, duration_s, max_hazard, acc, row_hmax, row_umax,
                   row_store, bad_v, bad_d, *workspace, K.ROWS_PER_BLOCK, dt, dx, GRAVITY, theta, h_dry, froude,
                   ulim, velocity_bound, depth_bound, threshold_m, t_next, friction == "implicit", bool(summary_maps),
                   bool(summary_maps or advective_dt))
            if bad_v.max() >= 0:
                _raise_unstable(bad_v, "velocity", t_next, bed_elevation, start64, velocity_bound, alpha)
            if bad_d.max() >= 0:
                _raise_unstable(bad_d, "depth", t_next, bed_elevation, start64, depth_bound, alpha)
            h, h_new = h_new, h
            qx, qx_new = qx_new, qx
            qy, qy_new = qy_new, qy
            hmax = float(row_hmax.max())
            umax = float(row_umax.max()) if advective_dt else 0.0
            t = t_next
            nsteps += 1
            if abs(t - out_times[iout]) <= 1e-9 * max(1.0, t_end):
                t = out_times[iout]
                storage = float(row_store.sum())
                rain_v, infil_v, clip_v, bin_v, bout_v = (float(v) for v in acc.sum(axis=0))
                if src_rows is not None:  # the kernel counted the point inflows with the rain: rain from the forcing
                    rain_v = vol["rain"]
                expected = v0 + rain_v - infil_v + vol["point_inflow"] + bin_v - bout_v + clip_v
                resid = storage - expected
                scale = max(v0, storage, rain_v + vol["point_inflow"] + bin_v, 1e-300)
                rows.append(dict(time_s=t, storage=storage, rain=rain_v, infiltration=infil_v,
                                 point_inflow=vol["point_inflow"], boundary_inflow=bin_v,
                                 boundary_outflow=bout_v, clipped=clip_v, residual=resid,
                                 relative_residual=resid / scale, initial_storage=v0, steps=nsteps, last_dt=dt))
                if "depth" in out_vars:
                    snapshots["depth"].append(h.astype(np.float32))
                if "speed" in out_vars or "velocity" in out_vars:
                    K.cell_velocity(h, qx, qy, h_dry, u_tmp, v_tmp)
                    if "speed" in out_vars:
                        snapshots["speed"].append(np.hypot(u_tmp, v_tmp).astype(np.float32))
                    if "velocity" in out_vars:
                        snapshots["u"].append(u_tmp.astype(np.float32))
                        snapshots["v"].append((-v_tmp).astype(np.float32))
                iout += 1
    finally:
        if num_threads is not None:
            numba.set_num_threads(old_threads)

    ds = _build_dataset(bed_elevation, out_times, start64, snapshots, max_depth, max_speed, t_wet, duration_s,
                        max_hazard, active, threshold_m, h_dry, rows, permanent_water, bool(summary_maps),
                        dict(theta=theta, alpha=alpha, dt_max=dt_max, advective_dt=int(advective_dt), h_dry=h_dry,
                             dtype=dtype,
                             froude_limit=froude, velocity_limit=ulim, friction=friction), transform)
    balance = pd.DataFrame(rows).set_index("time_s")
    return Simulation2DResult(ds, balance)


def _ghost_depth_max(bcx_kind, bcx_val, bcy_kind, bcy_val, z64) -> float:
    hg = 0.0
    m = bcx_kind[:, 0] == K.BC_LEVEL
    if m.any():
        hg = max(hg, float(np.max(bcx_val[m, 0] - z64[m, 0])))
    m = bcx_kind[:, 1] == K.BC_LEVEL
    if m.any():
        hg = max(hg, float(np.max(bcx_val[m, 1] - z64[m, -1])))
    m = bcy_kind[0] == K.BC_LEVEL
    if m.any():
        hg = max(hg, float(np.max(bcy_val[0, m] - z64[0, m])))
    m = bcy_kind[1] == K.BC_LEVEL
    if m.any():
        hg = max(hg, float(np.max(bcy_val[1, m] - z64[-1, m])))
    return hg


def _raise_unstable(bad: np.ndarray, what: str, t: float, bed: xr.DataArray, start64, bound: float, alpha: float):
    i = int(np.flatnonzero(bad >= 0)[0])
    j = int(bad[i])
    face = ""
    if j >= 1_000_000_000:
        j -= 1_000_000_000
        face = " (y-face above the cell)"
    ii = min(i, bed.shape[0] - 1)
    jj = min(j, bed.shape[1] - 1)
    x = float(bed["x"].values[jj])
    y = float(bed["y"].values[ii])
    when = f"{t:.1f} s after start" + ("" if start64 is None else f" ({start64 + np.timedelta64(int(t * 1e9), 'ns')})")
    limit = f"{bound} m s-1" if what == "velocity" else f"{bound:.1f} m"
    raise SolverInstabilityError(
        f"2-D solver unstable: {what} beyond the physical bound {limit} (or not finite) at row {ii}, column {jj}"
        f"{face} (x={x:.1f}, y={y:.1f}) at {when}; reduce alpha (now {alpha}) or dt_max, or enable froude_limit"
    )


def _prepare_rain(rainfall, units, bed, start64, t_end, active=None):
    """Rain as interval edges (s) and rates (m s-1): (edges, rates (nt,) or None, grid (nt, ny, nx) or None)."""
    if rainfall is None:
        return None, None, None
    ny, nx = bed.shape
    if isinstance(rainfall, (int, float, np.floating, np.integer)):
        if units is None:
            raise InputDataError("rainfall given as a number needs rainfall_units (e.g. 'mm/h')")
        rate = float(rain_rate_m_per_s(np.asarray(rainfall), units, t_end))
        if not np.isfinite(rate) or rate < 0:
            raise InputDataError(f"rainfall must be finite and >= 0, not {rainfall} {units}")
        return np.array([0.0, t_end]), np.array([rate]), None
    if isinstance(rainfall, pd.Series):
        rainfall = xr.DataArray(rainfall.values, dims="time", coords={"time": rainfall.index.values},
                                attrs=dict(getattr(rainfall, "attrs", {})))
    if not isinstance(rainfall, xr.DataArray):
        raise InputDataError("rainfall must be a number, a pandas Series or an xarray DataArray with a units attribute")
    u = rainfall.attrs.get("units", units)
    if u is None:
        raise InputDataError(f"rainfall {rainfall.name or ''}: no 'units' attribute and no rainfall_units given")
    if "time" not in rainfall.dims:
        raise InputDataError(f"rainfall has dims {rainfall.dims}; expected (time,) or (time, y, x)")
    times = _to_seconds(rainfall["time"], start64, "rainfall")
    if times.size < 2:
        raise InputDataError("rainfall series needs at least two time labels (period-end labelled)")
    if np.any(np.diff(times) <= 0):
        raise InputDataError("rainfall time coordinate must be strictly increasing")
    # a hole in a regularly sampled record (radar, gauge) is missing data: held over the hole, the next rate made
    # rain that was never observed (the forcing module and the boundary series refuse gaps too)
    _check_gaps(times, "rainfall", t_end)
    edges = np.concatenate([[times[0] - (times[1] - times[0])], times])
    if edges[0] > 1e-9 or edges[-1] < t_end - 1e-9:
        raise InputDataError(
            f"rainfall covers {edges[0]:.0f} s to {edges[-1]:.0f} s after start (period-end labels) but the run "
            f"needs 0 s to {t_end:.0f} s"
        )
    interval = np.diff(edges)
    if rainfall.ndim == 1:
        vals = np.asarray(rainfall.values, dtype=np.float64)
        rates = rain_rate_m_per_s(vals, u, interval)
        grid = None
    elif set(rainfall.dims) == {"time", "y", "x"}:
        r = rainfall.transpose("time", "y", "x")
        _same_grid(r, bed, "rainfall")
        if r.shape[1:] != (ny, nx):
            raise InputDataError(f"gridded rainfall {r.shape[1:]} does not match the grid {(ny, nx)}; regrid first")
        grid = rain_rate_m_per_s(np.asarray(r.values, dtype=np.float64), u, interval[:, None, None])
        if active is not None:
            # gridded rain is NaN on the DEM's nodata cells (design_storm(target_grid=dem), radar masks): never used
            grid[:, ~active] = 0.0
        rates = None
    else:
        raise InputDataError(f"rainfall has dims {rainfall.dims}; expected (time,) or (time, y, x)")
    check = grid if grid is not None else rates
    if not np.all(np.isfinite(check)) or np.any(check < 0):
        raise InputDataError("rainfall contains NaN or negative values" +
                             (" on active (non-nodata) cells" if grid is not None else ""))
    if grid is not None:
        return edges, None, grid
    return edges, rates, None


def _prepare_inflows(inflows, bed, start64, t_end, active, transform=None):
    if inflows is None:
        return None, None, None
    if not isinstance(inflows, xr.DataArray) or "point" not in inflows.dims:
        raise InputDataError("inflows must be a DataArray with dims (time, point) and coords x(point), y(point)")
    if inflows.sizes["point"] == 0:
        return None, None, None  # no river enters (e.g. a selection of the points inside the domain came out empty)
    for c in ("x", "y"):
        if c not in inflows.coords:
            raise InputDataError(f"inflows: coordinate {c!r} (point position in the grid CRS) missing")
    units = inflows.attrs.get("units", "m3 s-1")
    if " ".join(str(units).split()) not in ("m3 s-1", "m3/s", "m^3/s", "m3 s**-1"):
        raise InputDataError(f"inflows units {units!r}: give discharge in m3 s-1")
    # the grid's transform from its coordinates (hydro.io.raster.grid_transform): the stored GeoTransform goes stale
    # after coarsen(), and with it a point landed in the wrong cell or "outside the domain"
    if transform is None:
        from hydro.io.raster import grid_transform

        transform = grid_transform(bed)
    xs = np.asarray(inflows["x"].values, dtype=np.float64).ravel()
    ys = np.asarray(inflows["y"].values, dtype=np.float64).ravel()
    inv = ~transform
    cols = np.empty(xs.size, np.int64)
    rows = np.empty(xs.size, np.int64)
    ny, nx = bed.shape
    x0, y1 = transform * (0, 0)
    x1, y0 = transform * (nx, ny)
    for k, (x, y) in enumerate(zip(xs, ys)):
        if not (math.isfinite(x) and math.isfinite(y)):
            pid = inflows["point"].values[k] if "point" in inflows.coords else k
            raise InputDataError(f"inflow point {pid!r}: position x={x}, y={y} is not finite (missing coordinates)")
        c, r = inv * (x, y)
        ci, ri = int(math.floor(c)), int(math.floor(r))
        if not (0 <= ci < nx and 0 <= ri < ny) or not active[ri, ci]:
            pid = inflows["point"].values[k] if "point" in inflows.coords else k
            raise InputDataError(
                f"inflow point {pid!r} at x={x:.1f}, y={y:.1f} lies outside the active domain "
                f"(bounds x {x0:.1f}..{x1:.1f}, y {y0:.1f}..{y1:.1f})"
            )
        cols[k] = ci
        rows[k] = ri
    s = _series(inflows.transpose(*(["time"] if "time" in inflows.dims else []), "point"), xs.size, start64, t_end,
                "inflows")
    if np.any(s.values < 0):
        raise InputDataError("inflows must be >= 0 m3 s-1 (abstractions are not supported)")
    return rows, cols, s


def _build_dataset(bed, out_times, start64, snaps, max_depth, max_speed, t_wet, duration_s, max_hazard, active,
                   threshold, h_dry, rows, permanent_water, summary_maps, options, transform=None) -> xr.Dataset:
    if start64 is None:
        time = pd.to_timedelta(out_times, unit="s").values
    else:
        time = start64 + (out_times * 1e9).astype("timedelta64[ns]")
    coords = {"y": bed["y"].values, "x": bed["x"].values}
    ds = xr.Dataset(coords={**coords, "time": time})
    dims3 = ("time", "y", "x")

    def put(name, data, vocab, dims=("y", "x"), **extra):
        attrs = cf_attrs(vocab)
        attrs.update(extra)
        ds[name] = xr.DataArray(data, dims=dims, attrs=attrs)

    if snaps["depth"]:
        put("flood_depth", np.stack(snaps["depth"]), "flood_depth", dims3)
    if snaps["speed"]:
        put("flood_speed", np.stack(snaps["speed"]), "flood_speed", dims3)
    if snaps["u"]:
        put("eastward_flood_velocity", np.stack(snaps["u"]), "eastward_flood_velocity", dims3)
        put("northward_flood_velocity", np.stack(snaps["v"]), "northward_flood_velocity", dims3)
    nan = np.float32(np.nan)
    all_active = bool(active.all())

    # summary maps describe flooding of land: inactive cells and permanent water (sea, channels) are NaN
    hide = ~active if permanent_water is None else (~active | permanent_water)
    any_hidden = bool(hide.any())

    def masked(a):
        if any_hidden:
            a[hide] = nan
        return a

    if not summary_maps:
        return _finish_dataset(ds, bed, rows, options, threshold, start64, transform)
    # the kernel stamps the first wetting with the END of the step that wetted the cell but adds that whole step to
    # the duration: a cell wet from t_wet on showed t_wet + duration > run length by one step (2.26 s + 600 s in a
    # 600 s run). The duration above threshold cannot exceed the time since first wetting: clamp it.
    wet = t_wet >= 0
    if wet.any():
        t_run = float(out_times[-1])
        duration_s[wet] = np.minimum(duration_s[wet], np.maximum(t_run - t_wet[wet].astype(np.float64), 0.0))
    t_wet[t_wet < 0] = nan
    put("max_flood_depth", masked(max_depth), "max_flood_depth")
    put("max_flood_speed", masked(max_speed), "max_flood_speed")
    put("time_of_first_wetting", masked(t_wet), "time_of_first_wetting",
        comment=f"seconds after the start when the depth first exceeded {threshold} m")
    put("flood_duration", masked(duration_s.astype(np.float32)), "flood_duration", comment=f"time with depth above {threshold} m")
    cls = hazard_class(max_hazard, max_depth, h_dry)
    ext = (max_depth > threshold).astype(np.int8)
    put("max_hazard_rating", masked(max_hazard), "max_hazard_rating")
    if any_hidden:
        cls[hide] = -1
    ds["hazard_class"] = xr.DataArray(cls, dims=("y", "x"), attrs=dict(HAZARD_CLASS_ATTRS))
    if permanent_water is not None:
        ext[permanent_water] = 0
    if not all_active:
        ext[~active] = -1
    attrs = cf_attrs("flood_extent")
    attrs["long_name"] = f"flood extent (maximum depth above {threshold} m)"
    if permanent_water is not None:
        attrs["comment"] = "permanent water (sea, channels) is not_flooded; the summary maps are NaN there"
    attrs["ancillary_variables"] = "max_flood_depth"
    ds["flood_extent"] = xr.DataArray(ext, dims=("y", "x"), attrs=attrs)
    return _finish_dataset(ds, bed, rows, options, threshold, start64, transform)


def _finish_dataset(ds, bed, rows, options, threshold, start64, transform=None) -> xr.Dataset:
    """Volume-balance series, georeference and run attributes (with or without the summary maps)."""
    bal = pd.DataFrame(rows)
    for col, long in [("storage", "water volume stored on the grid"),
                      ("rain", "rain volume since start"),
                      ("infiltration", "infiltrated volume since start"),
                      ("point_inflow", "point inflow volume since start"),
                      ("boundary_inflow", "volume entered through the edges since start"),
                      ("boundary_outflow", "volume left through the edges since start"),
                      ("clipped", "volume created by zeroing round-off negative depths since start"),
                      ("residual", "volume balance residual (storage minus expected)")]:
        ds[f"volume_{col}"] = xr.DataArray(bal[col].to_numpy(), dims=("time",),
                                           attrs={"long_name": long, "units": "m3",
                                                  "coverage_content_type": "auxiliaryInformation"})
    if len(bal):
        ds["volume_relative_residual"] = xr.DataArray(
            bal["relative_residual"].to_numpy(), dims=("time",),
            attrs={"long_name": "volume balance residual relative to the largest of initial storage, storage and "
                                "inflow volume", "units": "1", "coverage_content_type": "auxiliaryInformation"})
        ds["volume_initial_storage"] = xr.DataArray(
            float(bal["initial_storage"].iloc[0]),
            attrs={"long_name": "water volume stored on the grid at the start", "units": "m3",
                   "coverage_content_type": "auxiliaryInformation"})
        ds.attrs["hydro_volume_balance"] = ("volume_storage = volume_initial_storage + volume_rain - volume_infiltration"
                                            " + volume_point_inflow + volume_boundary_inflow - volume_boundary_outflow"
                                            " + volume_clipped + volume_residual")
        ds.attrs["hydro_volume_balance_max_relative_residual"] = float(np.abs(bal["relative_residual"]).max())
    if transform is None:
        from hydro.io.raster import grid_transform

        transform = grid_transform(bed)
    # the transform of the grid's coordinates: the bed's stored GeoTransform may be stale (after coarsen())
    ds = ds.rio.write_crs(bed.rio.crs).rio.write_transform(transform)
    ds.attrs.update({f"hydro_flood_{k}": (str(v) if isinstance(v, str) else v) for k, v in options.items()})
    ds.attrs["hydro_flood_threshold_m"] = threshold
    if start64 is not None:
        ds.attrs["hydro_flood_start"] = str(pd.Timestamp(start64).isoformat())
    ds.attrs["hydro_flood_scheme"] = "local inertial (Bates et al. 2010; de Almeida et al. 2012), donor-cell limiter"
    return ds
