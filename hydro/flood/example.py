"""The Balikpapan flood example: HAND map of the whole embedded catchment + a 2-D run on the coastal plain.

Forcing follows ``balikpapan.md`` (section 3, 5, 6; scenario values tagged [A] there are assumptions):

* design storm: R24 of 140 mm (~10-yr, Samarinda analogue) as a triangular hyetograph, here concentrated in a
  6-hour event with the peak at 40 % of the duration (peak intensity ~47 mm/h), 10-minute steps;
* spring tide on the coastal (south) edge: M2 1.2 m + S2 0.2 m around MSL (the DEM datum), high water
  ~+1.4 m timed with the storm peak (compound flooding: "heavy rain + high tide");
* the Ampal-like river entering the plain from the north as a point inflow (routed discharge when given,
  otherwise a rational-method triangular hydrograph, C = 0.5 [A]).

:func:`balikpapan_flood` is what ``hydro run models/balikpapan.toml`` calls for its flood part.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import ConfigError, InputDataError, OutputError
from hydro.terrain import _kernels as _K

__all__ = ["design_storm", "spring_tide", "balikpapan_flood", "flood_event", "screening_peak_discharge", "plain_inflow_point", "domain_inflow_points",
           "crossing_cells", "routed_back_cells"]


def plain_inflow_point(terrain: xr.Dataset, resolution_m: float = 30.0) -> tuple[float, float, float]:
    """Where the Ampal-like river enters the embedded coastal plain: ``(x, y, upstream_area_m2)``."""
    from hydro.datasets import balikpapan_features

    pts = domain_inflow_points(terrain, balikpapan_features(resolution_m).urban_plain_bounds, edges=("north",),
                               min_area_m2=0.0, max_points=1)
    return pts[0]


def domain_inflow_points(terrain: xr.Dataset, bounds: Sequence[float], *, edges: Sequence[str] = ("north", "south", "east", "west"),
                         min_area_m2: float = 5e6, max_points: int = 5) -> list[tuple[float, float, float]]:
    """Rivers entering a 2-D domain: cells on its land edges whose upstream area is a local maximum along the edge
    and at least ``min_area_m2``, largest first, each cell once; with ``flow_direction`` in ``terrain`` only
    those that drain into the domain and are not on the flow path of another one (see :func:`_entering_points`).
    Returns ``[(x, y, upstream_area_m2), ...]``.

    Parameters
    ----------
    terrain : xarray.Dataset
        :func:`hydro.terrain.analyse` output (``upstream_area``).
    bounds : (x_min, y_min, x_max, y_max)
        The domain in the terrain's CRS [m].
    edges : sequence of {"north", "south", "east", "west"}
        Edges where rivers may come in (not the sea edge).
    """
    x0, y0, x1, y1 = bounds
    up = terrain["upstream_area"].sel(x=slice(x0, x1), y=slice(y1, y0))
    if up.sizes["x"] < 3 or up.sizes["y"] < 3:
        raise InputDataError(f"flood domain {tuple(bounds)} holds fewer than 3 x 3 DEM cells")
    found: list[tuple[float, float, float]] = []
    lines = {"north": up.isel(y=0), "south": up.isel(y=-1), "west": up.isel(x=0), "east": up.isel(x=-1)}
    for edge in edges:
        line = lines[edge]
        a = np.nan_to_num(np.asarray(line.values, np.float64), nan=0.0)
        for k in range(a.size):
            left = a[k - 1] if k > 0 else -1.0
            right = a[k + 1] if k + 1 < a.size else -1.0
            if a[k] >= min_area_m2 and a[k] > 0 and a[k] >= left and a[k] > right:
                found.append((float(line["x"].values if line["x"].ndim == 0 else line["x"].values[k]),
                              float(line["y"].values if line["y"].ndim == 0 else line["y"].values[k]), float(a[k])))
    found = _entering_points(terrain, bounds, found)
    found.sort(key=lambda p: -p[2])
    return found[:max_points]


#: ESRI D8 code -> (row, column) step, from the terrain module's tables
_D8_STEP = {int(c): (int(r), int(k)) for c, r, k in zip(_K.D8_CODES, _K.DROW, _K.DCOL)}


def _entering_points(terrain: xr.Dataset, bounds: Sequence[float],
                     found: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """The edge maxima where water really enters the domain, each once.

    A river crossing a corner of the domain is a maximum on both edges (its routed discharge was given to the 2-D
    run twice). With ``flow_direction`` (ESRI D8) in ``terrain``: a river that drains out of the domain brings
    nothing in (its routed discharge holds the rain the 2-D run already puts on the domain), and a point whose
    river reaches another entering point is held in that point's routed discharge already: both are left out.
    """
    out = list(dict.fromkeys(found))
    if "flow_direction" not in terrain or not out:
        return out
    codes = np.nan_to_num(np.asarray(terrain["flow_direction"].values, np.float64), nan=255.0).astype(np.int64)
    xs = np.asarray(terrain["x"].values, np.float64)
    ys = np.asarray(terrain["y"].values, np.float64)
    ny, nx = codes.shape
    x0, y0, x1, y1 = bounds

    def down(cell: tuple[int, int]) -> tuple[int, int] | None:
        step = _D8_STEP.get(int(codes[cell]))
        if step is None:
            return None
        r, c = cell[0] + step[0], cell[1] + step[1]
        return (r, c) if 0 <= r < ny and 0 <= c < nx else None

    def inside(cell: tuple[int, int] | None) -> bool:
        return cell is not None and x0 <= xs[cell[1]] <= x1 and y0 <= ys[cell[0]] <= y1

    cells = [(int(np.argmin(np.abs(ys - y))), int(np.argmin(np.abs(xs - x)))) for x, y, _ in out]
    entering = {c for c in cells if inside(down(c))}

    def drains_into_another(cell: tuple[int, int]) -> bool:
        k, n = down(cell), 0
        while k is not None and n < ny * nx:
            if k in entering:
                return True
            k, n = down(k), n + 1
        return False

    return [p for p, c in zip(out, cells) if c in entering and not drains_into_another(c)]


class _D8Paths:
    """The D8 graph of ``terrain["flow_direction"]`` on flat arrays (terrain kernels), with the cells inside ``bounds``."""

    def __init__(self, terrain: xr.Dataset, bounds: Sequence[float]):
        codes = np.nan_to_num(np.asarray(terrain["flow_direction"].values, np.float64), nan=255.0)
        codes = np.where((codes >= 0) & (codes <= 255), codes, 255.0).astype(np.uint8)
        self.xs = np.asarray(terrain["x"].values, np.float64)
        self.ys = np.asarray(terrain["y"].values, np.float64)
        self.shape = ny, nx = codes.shape
        x0, y0, x1, y1 = bounds
        inside = ((self.xs[None, :] >= x0) & (self.xs[None, :] <= x1)) & ((self.ys[:, None] >= y0) & (self.ys[:, None] <= y1))
        self.inside = inside.ravel()
        self.fdir = np.ascontiguousarray(codes.ravel())
        self.down = np.empty(self.fdir.size, np.int32)
        _K.downstream_index(self.fdir, ny, nx, self.down, threads=1)  # -1: outlet, off the grid or into nodata
        self.order, _ = _K.topological_order(self.down, self.fdir)  # a cycle leaves its cells unordered (no mark)
        d = np.maximum(self.down, 0)
        self.drains_in = (self.down >= 0) & self.inside[d]  # the downstream cell is inside the domain

    def cell(self, x: float, y: float) -> int:
        """Flat index of the cell nearest to (x, y)."""
        return int(np.argmin(np.abs(self.ys - y))) * self.shape[1] + int(np.argmin(np.abs(self.xs - x)))

    def first_marked(self, marked: np.ndarray) -> np.ndarray:
        """Flat index of the first ``marked`` cell on each cell's D8 path, the cell itself included; -1 for none."""
        labels = np.where(marked, np.arange(marked.size, dtype=np.int64) + 1, 0)
        _K.label_catchments(self.order, self.down, labels)  # each cell takes the first label downstream
        return labels - 1

    def xy(self, i: int) -> tuple[float, float]:
        return float(self.xs[i % self.shape[1]]), float(self.ys[i // self.shape[1]])


def crossing_cells(terrain: xr.Dataset, bounds: Sequence[float],
                   points: Sequence[tuple[float, float, float]]) -> list[list[tuple[float, float]]]:
    """For each entering point, the cells *outside* the domain whose D8 outflow crosses into it and reaches that point.

    The river a 2-D run must receive at an entering point is the water that crosses the domain edge: the sum of the
    routed outflows of these cells. The routed discharge of the point cell itself would also hold the runoff of the
    domain cells that drain to it (a river running along the edge row collects ~0.1 km2 of the embedded plain), rain
    the 2-D run already puts on the domain: counted twice. Each crossing cell belongs to the first point on its
    flow path; a crossing cell whose path leaves the domain again and crosses back in through another crossing cell
    of the same point is left out (that cell's outflow holds it).

    Parameters
    ----------
    terrain : xarray.Dataset
        :func:`hydro.terrain.analyse` output with ``flow_direction`` (ESRI D8).
    bounds : (x_min, y_min, x_max, y_max)
        The domain in the terrain's CRS [m].
    points : sequence of (x, y, upstream area)
        The entering points (:func:`domain_inflow_points`).

    Returns
    -------
    list of list of (x, y)
        Cell centres per point, in the terrain's CRS; without ``flow_direction``, each point itself (the routed
        discharge of the point cell is then used as before).
    """
    if "flow_direction" not in terrain:
        return [[(float(x), float(y))] for x, y, _ in points]
    g = _D8Paths(terrain, bounds)
    target = np.zeros(g.fdir.size, bool)
    point_of = {}
    for k, (x, y, _) in enumerate(points):
        point_of.setdefault(g.cell(x, y), k)
        target[g.cell(x, y)] = True
    d = np.maximum(g.down, 0)
    # outside cells draining into the domain, and the first entering point on the path from there
    first = g.first_marked(target)
    cross = ~g.inside & g.drains_in & (first[d] >= 0)
    # a crossing cell whose path crosses back in through another crossing cell is held in that cell's outflow
    via = g.first_marked(cross | target)
    keep = cross & ~cross[np.maximum(via[d], 0)]
    out: list[list[tuple[float, float]]] = [[] for _ in points]
    for i in np.flatnonzero(keep):  # row-major: north to south, west to east
        out[point_of[int(first[d[i]])]].append(g.xy(int(i)))
    return out


def routed_back_cells(terrain: xr.Dataset, bounds: Sequence[float],
                      crossing: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray:
    """Domain cells whose D8 path leaves the domain and comes back in through a crossing cell (:func:`crossing_cells`).

    Their runoff reaches the 2-D run twice: as 2-D rain on the cell, and inside the routed river of the crossing
    cell. The area is small where the domain edge follows the valley sides (0.1 km2 of the embedded plain's 35 km2);
    it is reported with the 2-D balance, not hidden.

    Returns
    -------
    ndarray of bool, shape of the terrain grid
    """
    g = _D8Paths(terrain, bounds)
    cross = np.zeros(g.fdir.size, bool)
    for cells in crossing:
        for cx, cy in cells:
            cross[g.cell(cx, cy)] = True
    if not cross.any():
        return np.zeros(g.shape, bool)
    # the first re-entry on each path (an outside cell draining into the domain): the cell's runoff comes back in
    # with a routed river when that re-entry is a crossing cell; an inside cell reaching one has left the domain
    reentry = ~g.inside & g.drains_in
    first = g.first_marked(reentry)
    back = g.inside & (first >= 0) & cross[np.maximum(first, 0)]
    return back.reshape(g.shape)


def design_storm(start: Any, *, total_mm: float = 140.0, duration_h: float = 6.0, peak_fraction: float = 0.4,
                 step_min: float = 10.0, lead_h: float = 0.0, tail_h: float = 0.0) -> xr.DataArray:
    """Triangular design hyetograph (mm per step, period-end labels) totalling ``total_mm``.

    ``lead_h``/``tail_h`` add dry hours before and after the storm (the series then covers the whole run).
    """
    n = int(round(duration_h * 60 / step_min))
    k = np.arange(n) + 0.5
    tp = peak_fraction * n
    w = np.where(k <= tp, k / tp, (n - k) / (n - tp))
    mm = total_mm * w / w.sum()
    nl = int(round(lead_h * 60 / step_min))
    nt = int(round(tail_h * 60 / step_min))
    mm = np.concatenate([np.zeros(nl), mm, np.zeros(nt)])
    t0 = pd.Timestamp(start)
    times = t0 + pd.to_timedelta((np.arange(mm.size) + 1) * step_min, unit="min")
    return xr.DataArray(mm, dims="time", coords={"time": times.values}, name="precipitation",
                        attrs={"units": "mm", "long_name": f"design storm {total_mm} mm in {duration_h} h",
                               "cell_methods": "time: sum"})


def spring_tide(start: Any, duration_h: float, *, high_water: Any = None, m2_amplitude_m: float = 1.2,
                s2_amplitude_m: float = 0.2, msl_m: float = 0.0, surge_m: float = 0.0,
                step_min: float = 10.0) -> xr.DataArray:
    """Spring-tide water level (m, DEM datum = MSL) from M2 + S2 in phase at ``high_water``, plus a surge."""
    t0 = pd.Timestamp(start)
    hw = t0 + pd.Timedelta(hours=3) if high_water is None else pd.Timestamp(high_water)
    times = t0 + pd.to_timedelta(np.arange(0, duration_h * 60 + step_min, step_min), unit="min")
    dt_h = (times - hw) / pd.Timedelta(hours=1)
    level = (msl_m + surge_m + m2_amplitude_m * np.cos(2 * np.pi * dt_h / 12.4206)
             + s2_amplitude_m * np.cos(2 * np.pi * dt_h / 12.0))
    return xr.DataArray(np.asarray(level), dims="time", coords={"time": times.values}, name="sea_level",
                        attrs={"units": "m", "long_name": "spring tide level above MSL (M2 + S2)"})


def _storm_peak_time(rainfall: Any, start: Any) -> pd.Timestamp:
    """Middle of the wettest step of a rain series [mm per step, period-end labels]; ``start`` + 3 h without rain."""
    if rainfall is not None and getattr(rainfall, "ndim", 0) == 1 and "time" in rainfall.dims and rainfall.sizes["time"]:
        v = np.asarray(rainfall.values, dtype=np.float64)
        if np.any(np.nan_to_num(v) > 0):
            t = pd.DatetimeIndex(rainfall["time"].values)
            k = int(np.nanargmax(v))
            step = t[1] - t[0] if len(t) > 1 else pd.Timedelta(0)
            return t[k] - (t[k] - t[k - 1] if k > 0 else step) / 2
    return pd.Timestamp(start) + pd.Timedelta(hours=3)


def rational_river(start: Any, duration_h: float, storm_total_mm: float, storm_duration_h: float,
                   area_m2: float) -> xr.DataArray:
    """Rational-method triangular river hydrograph [m3 s-1] (C = 0.5 [A], the peak intensity of the triangular
    :func:`design_storm`, peak an hour after the rain peak) of ``area_m2`` from ``start`` over ``duration_h``."""
    peak_intensity_m_s = 2.0 * storm_total_mm / 1000.0 / (storm_duration_h * 3600.0)
    times = pd.Timestamp(start) + pd.to_timedelta(np.arange(0, duration_h * 60 + 10, 10), unit="min")
    th = (times - pd.Timestamp(start)) / pd.Timedelta(hours=1)
    tp = 0.4 * storm_duration_h + 1.0  # peak an hour after the rain peak
    base = storm_duration_h + 3.0
    shape = np.clip(np.where(th <= tp, th / tp, (base - th) / (base - tp)), 0.0, None)
    return xr.DataArray(0.5 * peak_intensity_m_s * area_m2 * shape, dims="time", coords={"time": times.values},
                        attrs={"units": "m3 s-1"})


def balikpapan_flood(
    resolution_m: float = 30.0,
    *,
    start: Any = "2025-08-25T00:00",
    duration_h: float = 12.0,
    storm_total_mm: float = 140.0,
    storm_duration_h: float = 6.0,
    plain_resolution_m: float | None = None,
    river_discharge: xr.DataArray | None = None,
    stream_threshold_m2: float = 0.5e6,
    output_dir: str | Path | None = None,
    output_interval_min: float = 30.0,
    seed: int | None = None,
    terrain: xr.Dataset | None = None,
    peak_discharge: xr.DataArray | None = None,
    rainfall: xr.DataArray | None = None,
) -> dict[str, Any]:
    """HAND map over the embedded catchment and a 2-D run of its coastal plain (spring tide + design storm).

    Parameters
    ----------
    resolution_m : float
        Cell size of the embedded DEM (:func:`hydro.datasets.balikpapan_dem`), m.
    start : datetime-like
        Storm start (UTC); the spring high water is timed with the storm peak.
    duration_h : float
        Length of the 2-D run (h).
    storm_total_mm, storm_duration_h : float
        Design storm depth (mm) and duration (h).
    plain_resolution_m : float, optional
        Resample the coastal plain to this cell size for the 2-D run (default: the DEM's).
    river_discharge : xarray.DataArray, optional
        Routed discharge (m3 s-1, ``time``) of the Ampal-like river where it enters the plain; default: a
        rational-method triangular hydrograph (C = 0.5, storm mean intensity, upstream area from the terrain).
    stream_threshold_m2 : float
        Stream initiation area for the HAND network (m2).
    output_dir : path, optional
        Write ``hand_flood.nc``, ``plain_flood.nc`` (+ ``plain_flood_max.nc``), ``plain_max_depth.tif``,
        ``plain_hazard.tif`` and ``plain_extent.geojson`` there.
    output_interval_min : float
        Snapshot interval of the 2-D run (min).
    seed : int, optional
        DEM seed (default: the package default).
    terrain : xarray.Dataset, optional
        :func:`hydro.terrain.analyse` of that DEM with ``stream_threshold_m2`` (computed when not given).
    peak_discharge : xarray.DataArray (y, x), optional
        Routed peak discharge of every cell [m3 s-1] (``hydro.forecast.hydrology.run_hydrology``); the HAND map
        then uses it at each reach outlet instead of the rational-method screening discharge.
    rainfall : xarray.DataArray (time), optional
        Rain on the plain [mm per step, period-end labels] (e.g. the storm the catchment model ran with);
        default: a triangular design storm of ``storm_total_mm`` in ``storm_duration_h``.

    Returns
    -------
    dict
        ``terrain``, ``reaches``, ``rating``, ``hand`` (HAND inundation Dataset), ``plain`` (the 2-D
        :class:`~hydro.flood.Simulation2DResult`), ``forcing`` (storm, tide, inflow) and ``files``.
    """
    from hydro.datasets import DEFAULT_SEED, balikpapan_dem, balikpapan_features
    from hydro.terrain import analyse

    # the options of `hydro flood`: a typo was a pandas traceback, a zero or negative duration an IndexError or a
    # ZeroDivisionError deep in the storm and tide series
    from hydro.times import parse_timestamp

    parse_timestamp(start, "start")
    for name, value in (("duration_h", duration_h), ("storm_duration_h", storm_duration_h),
                        ("output_interval_min", output_interval_min)):
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        if not (np.isfinite(v) and v > 0):
            raise ConfigError(f"{name} must be a positive number, got {value!r}")
    # also option values (78, as the durations): nan or a negative depth was "rainfall contains NaN" (65), a
    # resolution of 0 "resolution_m must be between ..." (65, bad input data)
    if not (np.isfinite(storm_total_mm) and storm_total_mm >= 0):
        raise ConfigError(f"storm_total_mm must be a number >= 0, got {storm_total_mm!r}")
    if not (np.isfinite(resolution_m) and 5.0 <= resolution_m <= 1000.0):
        raise ConfigError(f"resolution_m must be between 5 and 1000 m, got {resolution_m!r}")
    feats = balikpapan_features(resolution_m)
    if terrain is None:
        dem = balikpapan_dem(resolution_m, seed=DEFAULT_SEED if seed is None else seed)
        terrain = analyse(dem, stream_threshold_m2=stream_threshold_m2)
    if rainfall is None:
        rainfall = design_storm(start, total_mm=storm_total_mm, duration_h=storm_duration_h,
                                tail_h=max(duration_h - storm_duration_h, 0.0))
    x_in, y_in, area_in = plain_inflow_point(terrain, resolution_m)
    if river_discharge is None:
        river_discharge = rational_river(start, duration_h, storm_total_mm, storm_duration_h, area_in)
    if peak_discharge is None:  # HAND screening discharge: rational method with the peak intensity
        peak_discharge = screening_peak_discharge(terrain, storm_total_mm, storm_duration_h)
    return flood_event(
        terrain, feats.urban_plain_bounds, start=start, duration_h=duration_h, rainfall=rainfall,
        river_inflows={"ampal": (x_in, y_in, river_discharge)}, peak_discharge=peak_discharge,
        tide_edge="south", tide_high_water=pd.Timestamp(start) + pd.Timedelta(hours=0.4 * storm_duration_h),
        plain_resolution_m=plain_resolution_m, output_dir=output_dir, output_interval_min=output_interval_min,
        title="Balikpapan",
    )


def screening_peak_discharge(terrain: xr.Dataset, storm_total_mm: float, storm_duration_h: float) -> xr.DataArray:
    """Peak discharge of every cell [m3 s-1] by the rational method, ``Q = C i A`` with C = 0.5 and the peak
    intensity ``i`` of a triangular storm (twice the mean: ``2 P / D``), for a HAND screening map without routing."""
    peak_intensity_m_s = 2.0 * storm_total_mm / 1000.0 / (storm_duration_h * 3600.0)
    q = 0.5 * peak_intensity_m_s * terrain["upstream_area"]
    # the upstream area's attributes (units m2) must not label the discharge: hand_inundation honours its units
    q.attrs = {"long_name": "screening peak discharge (rational method, C = 0.5)", "units": "m3 s-1"}
    return q.rename("peak_discharge")


def flood_event(
    terrain: xr.Dataset,
    bounds: Sequence[float] | None,
    *,
    start: Any,
    duration_h: float,
    rainfall: xr.DataArray,
    river_inflows: Mapping[str, tuple[float, float, xr.DataArray]] | None = None,
    peak_discharge: xr.DataArray | None = None,
    hand_map: bool = True,
    tide_edge: str | None = "south",
    tide_high_water: Any = None,
    m2_amplitude_m: float = 1.2,
    s2_amplitude_m: float = 0.2,
    msl_m: float = 0.0,
    surge_m: float = 0.0,
    sea_bed_m: float = -2.0,
    manning_n_sea: float = 0.02,
    manning_n_urban: float = 0.035,
    manning_n_vegetated: float = 0.08,
    urban_below_m: float = 8.0,
    hand_threshold_m: float = 0.1,
    plain_resolution_m: float | None = None,
    output_dir: str | Path | None = None,
    output_interval_min: float = 30.0,
    title: str = "hydro",
) -> dict[str, Any]:
    """An event's flood maps: HAND over the whole terrain and a 2-D local-inertial run of one domain.

    Parameters
    ----------
    terrain : xarray.Dataset
        :func:`hydro.terrain.analyse` output (projected CRS).
    bounds : (x_min, y_min, x_max, y_max) or None
        The 2-D domain [m, terrain CRS]; None skips the 2-D run. Sea (nodata) inside it gets a ``sea_bed_m``
        bed and the tide.
    start, duration_h
        Start (UTC) and length [h] of the 2-D run.
    rainfall : xarray.DataArray (time)
        Rain on the domain [mm per step, period-end labels].
    river_inflows : mapping id -> (x, y, discharge (time) [m3 s-1])
        Rivers entering the domain (routed discharge; see :func:`domain_inflow_points`).
    peak_discharge : xarray.DataArray (y, x)
        Peak discharge of every cell [m3 s-1]: the HAND map uses it at each reach outlet.
    tide_edge : {"north", "south", "east", "west"} or None
        Edge held at the tide level (M2 + S2 in phase at ``tide_high_water``, plus ``surge_m`` above ``msl_m``);
        None = all edges closed.
    tide_high_water : datetime-like, optional
        Time of spring high water; default the storm peak: the middle of the wettest step of ``rainfall`` (start +
        3 h when there is no rain).
    manning_n_* : float
        Manning n [s m-1/3] of sea cells, land below ``urban_below_m`` (urban plain) and land above (vegetated).
    output_dir : path, optional
        Writes ``hand_flood.nc``, ``plain_flood.nc`` (+ ``_max``), ``plain_max_depth.tif``, ``plain_hazard.tif``,
        ``plain_extent.geojson``.

    Returns
    -------
    dict
        ``terrain``, ``reaches``, ``rating``, ``hand`` (or None), ``plain`` (:class:`~hydro.flood.Simulation2DResult`
        or None), ``forcing`` and ``files``.
    """
    from hydro.flood.hand import hand_inundation, rating_curves, reaches
    from hydro.flood.inertial import simulate_2d, water_level

    crs = terrain["filled_elevation"].rio.crs
    transform = terrain["filled_elevation"].rio.transform()
    rd = rating = hand = None
    if hand_map:
        if peak_discharge is None:
            raise ConfigError("flood_event: the HAND map needs peak_discharge (routed, or a screening estimate)")
        rd = reaches(terrain, max_length_m=2000.0, manning_n=0.05)
        rating = rating_curves(terrain, rd, stage_max_m=10.0, stage_step_m=0.1)
        q_values = np.asarray(peak_discharge.values, np.float64).ravel()[rd["outlet_index"].values]
        q_values = np.where(np.isfinite(q_values), q_values, 0.0)
        # the map's own units (e.g. L s-1) go with it: hand_inundation converts them (m3 s-1 was stamped over any)
        q_reach = xr.DataArray(q_values, dims="reach", coords={"reach": rd["reach"].values},
                               attrs={"units": peak_discharge.attrs.get("units", "m3 s-1")})
        hand = hand_inundation(terrain, rd, rating, q_reach, threshold_m=hand_threshold_m)
    result = None
    tide = None
    inflows = None
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        # bed: the depression-filled DEM (a synthetic DEM's noise pits would fill as ponds); pass a surveyed DEM's
        # raw elevation as filled_elevation to keep real depressions
        filled = terrain["filled_elevation"].rio.write_crs(crs).rio.write_transform(transform)
        plain = filled.sel(x=slice(x0, x1), y=slice(y1, y0))
        if plain.sizes["x"] < 3 or plain.sizes["y"] < 3:
            raise InputDataError(f"flood domain {tuple(bounds)} holds fewer than 3 x 3 DEM cells")
        res = abs(float(transform.a))
        if plain_resolution_m and plain_resolution_m != res:
            k = int(round(plain_resolution_m / res))
            if k < 1 or abs(plain_resolution_m - k * res) > 1e-6 * plain_resolution_m:
                # int(400 // 150) = 2 ran the domain at 300 m, and 100 m on a 150 m DEM at 150 m, without a word
                raise ConfigError(f"flood_event: plain_resolution_m = {plain_resolution_m:g} m is not a whole multiple "
                                  f"of the DEM cell size {res:g} m")
            plain = plain.coarsen(x=k, y=k, boundary="trim").mean()
            plain = plain.rio.write_crs(crs).rio.write_transform(plain.rio.transform(recalc=True))
        sea = ~np.isfinite(plain.values)
        bed = plain.copy(data=np.where(sea, sea_bed_m, plain.values).astype(np.float32))
        boundaries = []
        if tide_edge is not None:
            hw = _storm_peak_time(rainfall, start) if tide_high_water is None else tide_high_water
            tide = spring_tide(start, duration_h, high_water=hw, m2_amplitude_m=m2_amplitude_m,
                               s2_amplitude_m=s2_amplitude_m, msl_m=msl_m, surge_m=surge_m)
            boundaries.append(water_level(tide_edge, tide))
            h0 = np.where(sea, np.maximum(float(tide[0]) - bed.values, 0.0), 0.0)
        else:
            h0 = np.zeros(bed.shape)
        if river_inflows:
            ids = list(river_inflows)
            series = []
            for rid in ids:
                q = river_inflows[rid][2].copy()
                q.attrs = {"units": "m3 s-1"}
                series.append(q)
            inflows = xr.concat(series, dim="point").assign_coords(point=ids).transpose("time", "point")
            inflows = inflows.assign_coords(x=("point", [float(river_inflows[r][0]) for r in ids]),
                                            y=("point", [float(river_inflows[r][1]) for r in ids]))
            inflows.attrs["units"] = "m3 s-1"
        landuse = np.where(bed.values > urban_below_m, 1, 2).astype(np.int8)  # vegetated hills, urban plain
        n_map = np.where(sea, manning_n_sea, np.where(landuse == 2, manning_n_urban, manning_n_vegetated))
        result = simulate_2d(
            bed, duration_h * 3600.0, manning_n=n_map, rainfall=rainfall, initial_depth=h0, inflows=inflows,
            boundaries=boundaries, start=start, output_interval=output_interval_min * 60.0, threshold_m=0.1,
            landuse=landuse, permanent_water=sea, friction="implicit", output_variables=("depth", "speed"),
        )
    files: list[Path] = []
    if output_dir is not None:
        from hydro.flood.products import write_cog, write_extent_geojson, write_flood_netcdf

        out = Path(output_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, no permission: 73, not a NotADirectoryError traceback
            raise OutputError(f"cannot create output directory {out}: {exc}") from exc
        # all files or none: each is written into a staging folder beside them and renamed into place only when
        # every one is written (a disk full at the fourth file left three new files beside two of an earlier run)
        stage = out / f".staging-{os.getpid()}-{threading.get_ident()}"
        staged: list[Path] = []
        try:
            try:
                stage.mkdir()
                if hand is not None:
                    hand_out = hand.copy()
                    hand_out["hand"] = terrain["hand"]
                    staged += write_flood_netcdf(hand_out, stage / "hand_flood.nc", title=f"{title} HAND flood map")
                if result is not None:
                    staged += write_flood_netcdf(result.dataset, stage / "plain_flood.nc", title=f"{title} 2-D flood")
                    staged.append(write_cog(result.dataset["max_flood_depth"], stage / "plain_max_depth.tif"))
                    staged.append(write_cog(result.dataset["max_hazard_rating"], stage / "plain_hazard.tif"))
                    staged.append(write_extent_geojson(result.dataset["flood_extent"], stage / "plain_extent.geojson"))
                for p in staged:
                    if (out / Path(p).name).is_dir():
                        raise OutputError(f"cannot write {out / Path(p).name}: a folder of that name is in the way")
                for p in staged:
                    os.replace(p, out / Path(p).name)
                    files.append(out / Path(p).name)
            except OSError as exc:
                if isinstance(exc, OutputError):
                    raise
                raise OutputError(f"cannot write the flood maps in {out}: {exc}") from exc
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return dict(terrain=terrain, reaches=rd, rating=rating, hand=hand, plain=result,
                forcing=dict(storm=rainfall, tide=tide, inflow=inflows), files=files)
