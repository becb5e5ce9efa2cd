"""Routing on the D8 network: parameters, reservoirs, inflow boundaries and the routing engine.

:class:`RoutingNetwork` turns a :class:`hydro.terrain.FlowNetwork` plus elevation into the flat,
topologically sorted arrays of :mod:`hydro.routing._kernels` (reach length, bed slope, channel
geometry from upstream area, kinematic ``α``), and steps them. The xarray layer is
:func:`hydro.routing.route`.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.times import naive_utc
from hydro.io.netcdf import open_netcdf
from hydro.routing import _kernels as k

__all__ = [
    "RoutingParameters",
    "Reservoir",
    "Inflow",
    "Gauge",
    "RoutingNetwork",
    "series_step_values",
    "AbstractionSchedule",
]


class RoutingParameters(BaseModel):
    """Parameters of kinematic-wave routing on the D8 network (SI units).

    Channel cells are cells with upstream area ``>= channel_threshold_m2``; their bankfull width
    and depth follow hydraulic-geometry power laws of the upstream area ``A`` in km2
    (``W = width_coef·A^width_exp``, ``D = depth_coef·A^depth_exp``); the wetted perimeter is
    evaluated at half bankfull depth (``P = W + D``, LISFLOOD). Overland cells are sheet flow
    of width ``cell area / reach length`` (``P = W``). The coefficients are regional: fit them to
    local surveys (the defaults are mid-range values for small humid-tropical rivers).
    Every value must be finite: an infinite roughness, width or threshold gave NaN discharge on every cell
    downstream, an infinite ``min_slope`` a ZeroDivisionError in the kernel.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    manning_n_overland: float = Field(0.15, gt=0, description="Manning n of overland (sheet) flow [s m-1/3]")
    manning_n_channel: float = Field(0.035, gt=0, description="Manning n of channels [s m-1/3]")
    channel_threshold_m2: float = Field(1.0e6, gt=0, description="upstream area from which a cell is a channel [m2]")
    width_coef: float = Field(2.5, gt=0, description="a_W of W = a_W A_km2^b_W [m]")
    width_exp: float = Field(0.5, ge=0, le=1, description="b_W [-]")
    depth_coef: float = Field(0.3, gt=0, description="a_D of D_bf = a_D A_km2^b_D [m]")
    depth_exp: float = Field(0.3, ge=0, le=1, description="b_D [-]")
    min_slope: float = Field(1.0e-4, gt=0, description="minimum bed slope [m m-1]")
    beta: float = Field(0.6, gt=0, lt=1, description="exponent of A = alpha Q^beta [-] (0.6: Manning, wide channel)")
    channel_substep_s: float = Field(900.0, gt=0, description="longest routing sub-step of channel cells [s]")
    overland_substep_s: float = Field(3600.0, gt=0, description="longest routing sub-step of overland cells [s]")

    def hash(self) -> str:
        """sha256 of the parameter values (identifies them in state files). ``overland_substep_s`` at its default
        is left out, so the hashes (and warm states) of parameter sets from before it existed stay valid."""
        d = self.model_dump()
        if d["overland_substep_s"] == type(self).model_fields["overland_substep_s"].default:
            d.pop("overland_substep_s")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


StepValues = Callable[[pd.Timestamp, pd.Timestamp, float], float]


class AbstractionSchedule:
    """Abstraction [m3 s-1] of each reservoir at each model step, from a constant, a ``pandas.Series`` (step values
    by :func:`series_step_values`) or a callable ``f(step_start, step_end, storage_m3)`` (the allocation hook).

    Parameters
    ----------
    reservoirs : sequence of Reservoir
    starts : DatetimeIndex
        Start of every model step.
    dt : Timedelta
        Model step.
    overrides : dict reservoir name -> constant, Series or callable, optional
        Replace the reservoirs' own ``abstraction_m3s`` for this run.
    """

    def __init__(self, reservoirs: Sequence["Reservoir"], starts: pd.DatetimeIndex, dt: pd.Timedelta,
                 overrides: dict[str, Any] | None = None) -> None:
        overrides = overrides or {}
        self.check_names(reservoirs, overrides)
        self.starts = pd.DatetimeIndex(starts)
        self.dt = pd.Timedelta(dt)
        self._specs: list[Any] = []
        for r in reservoirs:
            spec = overrides.get(r.name, r.abstraction_m3s)
            if isinstance(spec, pd.Series):
                spec = series_step_values(spec, self.starts, self.dt, what=f"abstraction of reservoir {r.name!r}")
            elif not callable(spec):
                v = float(spec)
                if not np.isfinite(v) or v < 0:
                    raise ConfigError(f"abstraction of reservoir {r.name!r} must be >= 0, got {spec!r}")
                spec = np.full(len(self.starts), v)
            self._specs.append(spec)

    @staticmethod
    def check_names(reservoirs: Sequence["Reservoir"], overrides: dict[str, Any] | None) -> None:
        """:class:`~hydro.errors.ConfigError` when ``overrides`` names a reservoir that is not in ``reservoirs``."""
        unknown = set(overrides or {}) - {r.name for r in reservoirs}
        if unknown:
            raise ConfigError(f"abstraction given for unknown reservoirs {sorted(unknown)}")

    def at(self, t: int, storage_m3: np.ndarray) -> np.ndarray:
        """Abstraction of every reservoir at step ``t`` [m3 s-1]; a non-finite or negative value is an
        :class:`~hydro.errors.InputDataError` naming the step."""
        start = self.starts[t]
        out = np.array([float(a(start, start + self.dt, float(storage_m3[i]))) if callable(a) else float(a[t])
                        for i, a in enumerate(self._specs)])
        if np.any(~np.isfinite(out)) or np.any(out < 0):
            raise InputDataError(f"reservoir abstraction must be finite and >= 0 at {start + self.dt}: {out}")
        return out


def series_step_values(series: pd.Series, starts: pd.DatetimeIndex, dt: pd.Timedelta, *, what: str) -> np.ndarray:
    """Value of a time series for each model step.

    Point values (the default): the mean over the step of the series' linear interpolation (its
    volume over the step / the step), i.e. the value at the step midpoint when no point of the
    series falls inside the step. Period means — a
    series with ``attrs["cell_methods"]`` ``"time: mean"`` and ``attrs["period_s"]``, each value
    the mean over the ``period_s`` seconds ending at its label (exchange files with ``time_bnds``;
    set by :meth:`Inflow.from_netcdf` and :func:`hydro.exchange.read_exchange`): the time-weighted
    mean of the periods the step overlaps, i.e. exactly the period's value when step and period
    coincide.

    Raises
    ------
    InputDataError
        Times unsorted/duplicated, NaN inside the period, the series not covering it, or (period
        means) periods that overlap or leave a gap inside the run.
    """
    idx = naive_utc(pd.DatetimeIndex(series.index).as_unit("ns"))
    starts = pd.DatetimeIndex(starts).as_unit("ns")
    if idx.has_duplicates:
        raise InputDataError(f"{what}: duplicate times {list(idx[idx.duplicated()][:3])}")
    if not idx.is_monotonic_increasing:
        raise InputDataError(f"{what}: times are not sorted")
    values = np.asarray(series.values, dtype=np.float64)
    attrs = getattr(series, "attrs", {}) or {}
    period_s = attrs.get("period_s")
    if str(attrs.get("cell_methods", "")).replace(" ", "").startswith("time:mean") and period_s is not None:
        p_ns = int(round(float(period_s) * 1e9))
        dt_ns = int(pd.Timedelta(dt).value)
        if p_ns <= 0 or dt_ns <= 0:
            raise InputDataError(f"{what}: averaging period {period_s} s / step {dt} must be positive")
        ends = idx.asi8
        begins = ends - p_ns
        s0 = starts.asi8
        s1 = s0 + dt_ns
        if len(idx) == 0 or len(s0) == 0 or s0[0] < begins[0] or s1[-1] > ends[-1]:
            raise InputDataError(
                f"{what}: series covers {pd.Timestamp(begins[0]) if len(idx) else None} .. "
                f"{idx[-1] if len(idx) else None} (period means), the run needs "
                f"{starts[0] if len(s0) else None} .. {pd.Timestamp(s1[-1]) if len(s0) else None}"
            )
        if len(ends) > 1 and np.any(begins[1:] < ends[:-1]):
            i = int(np.flatnonzero(begins[1:] < ends[:-1])[0]) + 1
            raise InputDataError(f"{what}: averaging periods overlap: {idx[i - 1]} and {idx[i]} are less than "
                                 f"{pd.Timedelta(p_ns, 'ns')} apart")
        j0 = np.searchsorted(ends, s0, side="right")  # first period ending after the step start
        j1 = np.searchsorted(begins, s1, side="left")  # periods from j0 up to j1 (excl.) can overlap
        k = max(int(np.max(j1 - j0)), 1)
        out = np.empty(len(s0))
        block = max(1, 2**22 // k)
        for b in range(0, len(s0), block):
            e = min(b + block, len(s0))
            jj = j0[b:e, None] + np.arange(k)
            jc = np.minimum(jj, len(ends) - 1)
            lo = np.maximum(begins[jc], s0[b:e, None])
            hi = np.minimum(ends[jc], s1[b:e, None])
            w = np.where(jj < j1[b:e, None], np.maximum(hi - lo, 0), 0)
            short = np.flatnonzero(w.sum(axis=1) != dt_ns)
            if short.size:
                raise InputDataError(f"{what}: gap in the series: no value for part of the step starting "
                                     f"{starts[b + int(short[0])]} ({short.size} such steps in this block)")
            v = values[jc]
            if np.any((w > 0) & ~np.isfinite(v)):
                raise InputDataError(f"{what}: missing values (NaN) inside the run period")
            out[b:e] = np.sum(np.where(w > 0, v, 0.0) * (w / dt_ns), axis=1)
        return out
    mids = starts + dt / 2
    if len(idx) == 0 or mids[0] < idx[0] or mids[-1] > idx[-1]:
        raise InputDataError(
            f"{what}: series covers {idx[0] if len(idx) else None} .. {idx[-1] if len(idx) else None}, "
            f"the run needs {mids[0]} .. {mids[-1]}"
        )
    x = (idx.asi8 - idx.asi8[0]).astype(np.float64)
    out = np.interp((mids.asi8 - idx.asi8[0]).astype(np.float64), x, values)
    # a step holding points of the series inside it (a series finer than the step, e.g. 10-min gauge readings in an
    # hourly model): the mean of the linear interpolant over the step (its volume / dt), not the midpoint sample
    a = (starts.asi8 - idx.asi8[0]).astype(np.float64)
    b = a + float(pd.Timedelta(dt).value)
    j0 = np.searchsorted(x, a, side="right")
    j1 = np.searchsorted(x, b, side="left")
    inside = np.flatnonzero(j1 > j0)
    if inside.size:
        k = int(np.max(j1[inside] - j0[inside]))
        block = max(1, 2**22 // (k + 2))
        for s0 in range(0, inside.size, block):
            sel = inside[s0:s0 + block]
            jj = j0[sel, None] + np.arange(k)
            use = jj < j1[sel, None]
            jc = np.minimum(jj, len(x) - 1)
            fa = np.interp(a[sel], x, values)
            fb = np.interp(b[sel], x, values)
            px = np.concatenate([a[sel, None], np.where(use, x[jc], b[sel, None]), b[sel, None]], axis=1)
            pv = np.concatenate([fa[:, None], np.where(use, values[jc], fb[:, None]), fb[:, None]], axis=1)
            out[sel] = np.sum(0.5 * (pv[:, 1:] + pv[:, :-1]) * np.diff(px, axis=1), axis=1) / (b[sel] - a[sel])
    if not np.all(np.isfinite(out)):
        raise InputDataError(f"{what}: missing values (NaN) inside the run period")
    return out


@dataclass
class Reservoir:
    """A level-pool reservoir node on the network.

    Parameters
    ----------
    name : str
        Identifier (``reservoir_id`` in outputs).
    x, y : float
        Dam (outlet) position in the grid's CRS; snapped to the channel network.
    level_m, storage_m3, area_m2 : sequence of float
        Level–storage–area table (increasing level and storage); the first row is the dead
        storage level (no abstraction or release below it).
    crest_level_m : float
        Spillway crest level [m].
    spillway_coef : float
        Discharge coefficient ``C`` of ``O = C·L·(h − h_crest)^k`` [m^(3-k) s-1]; 1.7 for a
        broad-crested weir in SI with k = 1.5.
    spillway_length_m : float
        Crest length ``L`` [m].
    spillway_exponent : float
        ``k`` (1.5 for a weir; 1 gives a linear reservoir).
    initial_level_m : float
        Level at a cold start [m] (default: the crest).
    abstraction_m3s : float, pandas.Series or callable
        Abstraction ``W`` [m3 s-1]: a constant, a time series (its mean over each step, see :func:`series_step_values`),
        or ``f(step_start, step_end, storage_m3) -> m3 s-1`` (the allocation module's hook; it
        sees the start-of-step storage). Limited to the storage above dead storage.
    release_m3s : float
        Fixed controlled release to the river [m3 s-1] (limited likewise).
    max_snap_distance_m : float, optional
        Snapping radius (default three cells).
    upstream_area_km2 : float, optional
        The dam's published catchment area [km2]: the channel cell within the snapping radius whose upstream area
        is closest to it is taken (as for gauges), not the nearest one, which may lie on a tributary.
    """

    name: str
    x: float
    y: float
    level_m: Sequence[float]
    storage_m3: Sequence[float]
    area_m2: Sequence[float]
    crest_level_m: float
    spillway_coef: float = 1.7
    spillway_length_m: float = 10.0
    spillway_exponent: float = 1.5
    initial_level_m: float | None = None
    abstraction_m3s: float | pd.Series | StepValues = 0.0
    release_m3s: float = 0.0
    max_snap_distance_m: float | None = None
    upstream_area_km2: float | None = None

    def __post_init__(self) -> None:
        _check_snapping(f"reservoir {self.name!r}", self.max_snap_distance_m, self.upstream_area_km2)
        lv = np.asarray(self.level_m, float)
        st = np.asarray(self.storage_m3, float)
        ar = np.asarray(self.area_m2, float)
        if not (lv.ndim == 1 and lv.shape == st.shape == ar.shape and lv.size >= 2):
            raise ConfigError(f"reservoir {self.name!r}: level_m, storage_m3, area_m2 need the same length >= 2")
        if np.any(np.diff(lv) <= 0) or np.any(np.diff(st) <= 0):
            raise ConfigError(f"reservoir {self.name!r}: level_m and storage_m3 must increase strictly")
        if np.any(ar < 0) or np.any(st < 0):
            raise ConfigError(f"reservoir {self.name!r}: negative storage or area in the table")
        if not (lv[0] <= self.crest_level_m <= lv[-1]):
            raise ConfigError(f"reservoir {self.name!r}: crest level {self.crest_level_m} outside the table")
        if not (np.all(np.isfinite(lv)) and np.all(np.isfinite(st)) and np.all(np.isfinite(ar))):
            raise ConfigError(f"reservoir {self.name!r}: the level-storage-area table holds NaN or infinite values")
        for key, value, ok in (("release_m3s", self.release_m3s, "finite and >= 0"),
                               ("spillway_coef", self.spillway_coef, "finite and >= 0"),
                               ("spillway_length_m", self.spillway_length_m, "finite and >= 0"),
                               ("spillway_exponent", self.spillway_exponent, "finite and > 0")):
            v = float(value)
            if not (math.isfinite(v) and (v > 0 if ok.endswith("> 0") else v >= 0)):
                raise ConfigError(f"reservoir {self.name!r}: {key} = {value!r} must be {ok}")
        if self.initial_level_m is not None and not (math.isfinite(float(self.initial_level_m))
                                                     and float(self.initial_level_m) >= lv[0]):
            raise ConfigError(f"reservoir {self.name!r}: initial_level_m = {self.initial_level_m!r} must be finite and "
                              f"at or above the table's lowest level {lv[0]} (below it the storage would be "
                              f"extrapolated, possibly negative)")

    def storage_at(self, level_m: float | np.ndarray) -> np.ndarray:
        """Storage [m3] at a level [m] (linear in the table, extrapolated above it)."""
        return np.asarray(_interp_extrap(level_m, self.level_m, self.storage_m3))

    def level_at(self, storage_m3: float | np.ndarray) -> np.ndarray:
        """Level [m] at a storage [m3]."""
        return np.asarray(_interp_extrap(storage_m3, self.storage_m3, self.level_m))

    def area_at(self, level_m: float | np.ndarray) -> np.ndarray:
        """Water-surface area [m2] at a level [m] (clamped to the table)."""
        return np.asarray(np.interp(level_m, self.level_m, self.area_m2))

    def hash(self) -> str:
        """sha256 of what a saved storage depends on: the name, the table and the spillway. Operating choices (release,
        abstraction, the cold-start level, the snapping radius: the snapped cell is hashed by the network) are left
        out, so that changing them keeps the warm state."""
        d = {k: v for k, v in self.__dict__.items()
             if k not in ("abstraction_m3s", "release_m3s", "initial_level_m", "max_snap_distance_m", "upstream_area_km2")}
        d = {k: (list(map(float, v)) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in d.items()}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def _check_snapping(what: str, radius_m: float | None, area_km2: float | None) -> None:
    """A snapping radius must be finite and >= 0, a published upstream area finite and > 0 (ConfigError)."""
    if radius_m is not None and not (math.isfinite(float(radius_m)) and float(radius_m) >= 0):
        raise ConfigError(f"{what}: max_snap_distance_m = {radius_m!r} must be finite and >= 0")
    if area_km2 is not None and not (math.isfinite(float(area_km2)) and float(area_km2) > 0):
        raise ConfigError(f"{what}: upstream_area_km2 = {area_km2!r} must be finite and > 0")


def _interp_extrap(x: Any, xp: Sequence[float], fp: Sequence[float]) -> np.ndarray:
    xp = np.asarray(xp, float)
    fp = np.asarray(fp, float)
    x = np.asarray(x, float)
    y = np.interp(x, xp, fp)
    lo = x < xp[0]
    hi = x > xp[-1]
    y = np.where(lo, fp[0] + (x - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0]), y)
    y = np.where(hi, fp[-1] + (x - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2]), y)
    return y


@dataclass
class Inflow:
    """An upstream inflow boundary: a discharge time series entering the network at a point.

    Parameters
    ----------
    name : str
    x, y : float
        Entry point in the grid's CRS (snapped to the channel network).
    discharge_m3s : pandas.Series
        Discharge [m3 s-1] indexed by UTC time; the value of each model step is the mean of its
        linear interpolation over the step (the midpoint value when no point falls inside the
        step; it must cover the run).
    source : str
        Where the series came from (file and variable), named in errors.
    max_snap_distance_m : float, optional
        Snapping radius [m] (default three cells).
    upstream_area_km2 : float, optional
        The river's catchment area at the entry point [km2]: snap to the channel cell within the radius whose
        upstream area is closest to it (as for gauges), not the nearest one.
    """

    name: str
    x: float
    y: float
    discharge_m3s: pd.Series
    source: str = "<in memory>"
    max_snap_distance_m: float | None = None
    upstream_area_km2: float | None = None

    def __post_init__(self) -> None:
        _check_snapping(f"inflow {self.name!r}", self.max_snap_distance_m, self.upstream_area_km2)
        v = np.asarray(self.discharge_m3s.values, float)
        if np.any(v[np.isfinite(v)] < 0):
            raise InputDataError(f"inflow {self.name!r} ({self.source}): negative discharge")

    @classmethod
    def from_netcdf(
        cls,
        path: str | Path,
        station_id: str,
        x: float | None = None,
        y: float | None = None,
        *,
        variable: str = "water_volume_transport_in_river_channel",
        name: str | None = None,
        realization: int | str | None = None,
        ensemble_mean: bool = False,
        crs: Any = None,
        region: str | None = None,
    ) -> "Inflow":
        """Read a neighbouring region's border discharge (CF DSG timeSeries, netcdf.md §8/§10).

        The variable is found by name or by ``standard_name``; the station by the variable with
        ``cf_role = "timeseries_id"``. Values in any UDUNITS unit of discharge (``m3 s-1``,
        ``l s-1``, ``L/s``, ``m3 h-1``…) are converted to m3 s-1
        (:func:`hydro.exchange.profile.discharge_factor`).

        A file of the exchange profile (global ``hydro_exchange_profile``) is read with
        :func:`hydro.exchange.read_exchange`, which runs the profile checks of
        :func:`hydro.exchange.validate_exchange` first (profile errors such as time gaps are
        refused; the size limit is at least the file's size: the caller chose the file). Values with
        ``cell_methods = "time: mean"`` and ``time_bnds`` are period means (see
        :func:`series_step_values`).

        Parameters
        ----------
        path : str or Path
            The neighbour's file.
        station_id : str
            Border point id (the ``timeseries_id`` value).
        x, y : float, optional
            Entry point in the model grid's CRS [m]; used as given. Default: the station's position
            in the file (see ``crs``).
        variable : str
            Name or ``standard_name`` of the discharge variable (plain DSG files; an exchange file's
            discharge is the variable with the discharge standard name).
        name : str, optional
            Inflow name (default ``station_id``).
        realization : int or str, optional
            Ensemble member to use, selected by the **value** of the ``realization`` coordinate
            (member number or label, e.g. ``3`` or ``"m2"``; a string of digits matches an integer
            member), never by position. Without a ``realization`` coordinate variable the members
            are numbered 0, 1, … in file order. A file with one member needs no choice.
        ensemble_mean : bool
            Use the mean of all members (each time step) instead of one member. Without either
            choice, a file with several members is refused (never silently the first member). On
            a file without a ``realization`` dimension the series is used as it is.
        crs : str, int, pyproj.CRS, rasterio CRS or xarray object with ``.rio.crs``, optional
            CRS of the receiving model's grid (e.g. ``terrain.rio.crs`` or the DEM). When given and
            ``x``/``y`` are not, the station's position is transformed to it from the file's
            ``x``/``y`` and their CRS (an exchange file's ``crs_wkt``; a plain file's projected
            ``grid_mapping``), or, for a plain file that states no projected CRS, its ``x``/``y``
            are checked against ``lat``/``lon`` (WGS84) transformed to the model CRS, or, without
            ``x``/``y``, taken from ``lat``/``lon``. Positions from ``x``/``y`` and ``lat``/``lon``
            must agree within 250 m (``hydro.exchange.validate.LATLON_TOLERANCE_M``). Without
            ``crs`` the file's ``x``/``y`` are used unchecked (they must then be in the model CRS).
        region : str, optional
            Expected issuing region of an exchange file (``hydro_issuing_region``); a plain file
            cannot be checked and is refused when ``region`` is given.

        Returns
        -------
        Inflow
            ``discharge_m3s`` [m3 s-1] indexed by UTC time (period means keep ``attrs``
            ``cell_methods`` and ``period_s`` [s]); ``source`` names the file, variable, station and
            member (or ``ensemble mean``).

        Raises
        ------
        InputMissingError
            File, variable or station absent.
        InputDataError
            Units that are not a discharge, not a timeSeries file, an exchange file failing the
            profile checks (or from another region than ``region``), times with a gap (irregular
            step, time bounds not contiguous), several ensemble members and no choice, a member
            not in the file (or a member asked of a file without ``realization``), an unreadable
            model CRS, a position that cannot be transformed to it or whose ``x``/``y`` and
            ``lat``/``lon`` disagree there (wrong CRS), no position for the station.
        ConfigError
            Both ``realization`` and ``ensemble_mean`` given, or only one of ``x`` and ``y``.
        """
        from hydro.exchange.profile import discharge_factor

        if realization is not None and ensemble_mean:
            raise ConfigError(f"inflow {station_id!r}: choose one ensemble member (realization=) or the "
                              "ensemble mean (ensemble_mean=True), not both")
        if (x is None) != (y is None):
            # the one given was silently replaced by the file's position
            raise ConfigError(f"inflow {station_id!r}: give both x and y (the entry point in the model CRS) or neither, "
                              f"got x={x!r}, y={y!r}")
        path = Path(path)
        if not path.exists():
            raise InputMissingError(f"inflow file not found: {path}")
        model_crs = _as_crs(crs, f"inflow {station_id!r}") if crs is not None else None
        # an exchange file is untrusted: nothing of it is read here (read_exchange checks its declared sizes
        # before reading a value); xarray would load every dimension coordinate (a compressed 'time' of 10^8
        # values) to build its indexes, so the profile attribute is looked up with netCDF-C's metadata only
        exchange = _has_exchange_profile(path)
        try:
            ds = xr.Dataset() if exchange else open_netcdf(path)
        except InputMissingError:  # no read permission (66)
            raise
        except Exception as exc:  # garbage, truncated, pickle...: one clear line (exit 65), never a traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputDataError(f"{path}: not a readable NetCDF file ({first[:120]})") from exc
        with ds:
            # only plain DSG files are read directly
            exchange = exchange or "hydro_exchange_profile" in ds.attrs
            if not exchange:
                var = None
                for v in ds.data_vars:
                    if v == variable or ds[v].attrs.get("standard_name") == variable:
                        var = v
                        break
                if var is None:
                    raise InputMissingError(f"{path}: no variable {variable!r} (by name or standard_name)")
                id_var = [v for v in ds.variables if ds[v].attrs.get("cf_role") == "timeseries_id"]
                if not id_var:
                    raise InputDataError(f"{path}: no timeseries_id variable (not a CF DSG timeSeries file)")
                ids = [s.decode() if isinstance(s, bytes) else str(s)
                       for s in np.asarray(ds[id_var[0]].values).ravel()]
                if station_id not in ids:
                    shown = ", ".join(i[:60] for i in ids[:10]) + (f", ... ({len(ids)} ids)" if len(ids) > 10 else "")
                    raise InputMissingError(f"{path}: station {station_id!r} not in {id_var[0]} [{shown}]")
                if region is not None:
                    raise InputDataError(f"{path}: not a hydro-exchange file (no hydro_exchange_profile): its issuing "
                                         f"region cannot be checked against {region!r}")
                units = ds[var].attrs.get("units")
                factor = discharge_factor(units) if isinstance(units, str) else None
                if factor is None:
                    raise InputDataError(f"{path}: variable {var!r} has units {units!r}: not a discharge "
                                         "(units convertible to 'm3 s-1' by a positive factor, e.g. 'l s-1')")
                i = ids.index(station_id)
                inst_dim = ds[id_var[0]].dims[0]
                what = f"{path}:{var}[{station_id}]"
                da, member = _select_member(ds[var].isel({inst_dim: i}), realization, ensemble_mean, what)
                if da.dims != ("time",):
                    raise InputDataError(f"{what}: dims {da.dims} after choosing the station and member, "
                                         "expected ('time',)")
                file_xy = None
                if all(c in ds.variables and ds[c].dims == (inst_dim,) for c in ("x", "y")):
                    file_xy = (float(ds["x"].values[i]), float(ds["y"].values[i]))
                lonlat = _station_lonlat(ds, inst_dim, i)
                ll_crs = xy_crs = _grid_mapping_crs(ds, var)
                if xy_crs is not None and xy_crs.is_geographic:
                    xy_crs = None  # a geographic grid mapping (hydro.io.timeseries_dataset) describes lat/lon
                else:
                    ll_crs = "EPSG:4326"
                times = pd.DatetimeIndex(ds["time"].values).round("ms")
                d = np.diff(times.asi8)
                if d.size and (np.any(d <= 0) or np.any(d != d[0])):
                    k = int(np.flatnonzero(d != d[0])[0]) if np.any(d != d[0]) else int(np.flatnonzero(d <= 0)[0])
                    raise InputDataError(f"{path}: times of {var!r} are not regular (gap or irregular step at "
                                         f"{times[k]} .. {times[k + 1]})")
                series = pd.Series(np.asarray(da.values, float) * factor, index=times)
                cm = str(ds[var].attrs.get("cell_methods", ""))
                bname = ds["time"].attrs.get("bounds") or ds["time"].encoding.get("bounds")
                if cm.replace(" ", "").startswith("time:mean") and bname in ds.variables:
                    b = pd.DatetimeIndex(np.asarray(ds[bname].values).ravel()).round("ms").asi8.reshape(-1, 2)
                    w = b[:, 1] - b[:, 0]
                    if (b.shape[0] != len(times) or np.any(b[:, 1] != times.asi8) or np.any(w <= 0) or np.any(w != w[0])
                            or np.any(b[1:, 0] != b[:-1, 1])):
                        raise InputDataError(f"{path}: time bounds {bname!r} are not contiguous periods ending at "
                                             "the times")
                    series.attrs.update(cell_methods=cm, period_s=float(w[0]) / 1e9)
        if not exchange:
            if x is None or y is None:
                if model_crs is not None:
                    x, y = _entry_point(what, station_id, model_crs, file_xy, xy_crs, lonlat, ll_crs)
                elif file_xy is not None:
                    x, y = file_xy
                else:
                    raise InputDataError(f"{path}: no projected x/y for station {station_id!r}: pass x= and y= "
                                         "(or crs= to use its lat/lon)")
            return cls(name or station_id, float(x), float(y), series, source=what + member)
        from hydro.exchange import read_exchange
        from hydro.exchange.profile import DEFAULT_MAX_BYTES

        # the profile checks (size, layout, ids, units, time gaps and bounds, values); the user chose this
        # file, so the size limit is at least its size. Values come back in m3 s-1 (units converted).
        q = read_exchange(path, station_id, max_bytes=max(DEFAULT_MAX_BYTES, path.stat().st_size), region=region)
        what = str(q.attrs["source"])
        q, member = _select_member(q, realization, ensemble_mean, what)
        if x is None or y is None:
            if model_crs is not None:
                from pyproj import CRS

                x, y = _entry_point(what, station_id, model_crs, (float(q.attrs["x"]), float(q.attrs["y"])),
                                    CRS.from_wkt(q.attrs["crs_wkt"]), (float(q.attrs["lon"]), float(q.attrs["lat"])),
                                    "EPSG:4326")
            else:
                x, y = q.attrs["x"], q.attrs["y"]
        series = q.to_series()
        series.attrs.update({k: q.attrs[k] for k in ("cell_methods", "period_s") if k in q.attrs})
        return cls(name or station_id, float(x), float(y), series, source=what + member)


def _has_exchange_profile(path: Path) -> bool:
    """Does the NetCDF-4 file ``path`` have the global ``hydro_exchange_profile``? Read from its metadata
    only (no variable is read); False when netCDF-C cannot open it (the caller reports that)."""
    from hydro.io.netcdf import netcdf4_dataset

    try:
        with netcdf4_dataset(path) as nc:
            return "hydro_exchange_profile" in nc.ncattrs()
    except Exception:  # noqa: BLE001 - garbage, truncated, pickle...: left to open_netcdf's message
        return False


def _member_label(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, np.generic):
        value = value.item()
    return value.strip() if isinstance(value, str) else value


def _same_member(label: Any, want: Any) -> bool:
    """Does the ``realization`` coordinate value ``label`` name the member ``want``?"""
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        try:
            return float(label) == float(str(want).strip()) if isinstance(want, str) else float(label) == float(want)
        except (TypeError, ValueError):
            return False
    return str(label) == str(want).strip()


def _select_member(da: Any, realization: int | str | None, ensemble_mean: bool, what: str) -> tuple[Any, str]:
    """One member (by its ``realization`` label) or the ensemble mean of ``da``.

    Returns the data without the ``realization`` dimension and a suffix for ``Inflow.source``
    (``" realization=<label>"``, ``" ensemble mean of N members"`` or ``""``).
    """
    from hydro.exchange.profile import REALIZATION_DIM

    ok_type = realization is None or isinstance(realization, (str, int, np.integer))
    if isinstance(realization, (bool, np.bool_)) or not ok_type:
        raise ConfigError(f"{what}: realization must be a member number or label, got {realization!r}")
    if REALIZATION_DIM not in da.dims:
        if realization is not None:
            raise InputDataError(f"{what}: no realization dimension (not an ensemble file): "
                                 f"realization={realization!r} cannot be chosen")
        return da, ""
    n = int(da.sizes[REALIZATION_DIM])
    raw = np.asarray(da[REALIZATION_DIM].values).ravel() if REALIZATION_DIM in da.coords else np.arange(n)
    labels = [_member_label(v) for v in raw]
    shown = labels[:20] + (["…"] if n > 20 else [])
    if n == 0:
        raise InputDataError(f"{what}: empty realization dimension")
    if ensemble_mean:
        return da.mean(REALIZATION_DIM, skipna=False, keep_attrs=True), f" ensemble mean of {n} members"
    if realization is None:
        if n == 1:
            return da.isel({REALIZATION_DIM: 0}, drop=True), f" realization={labels[0]}"
        raise InputDataError(f"{what}: {n} ensemble members {shown}: choose one with realization=<member> "
                             "(by its realization value) or use ensemble_mean=True")
    hits = [k for k, lab in enumerate(labels) if _same_member(lab, realization)]
    if not hits:
        raise InputDataError(f"{what}: realization {realization!r} is not in the file (members {shown})")
    if len(hits) > 1:
        raise InputDataError(f"{what}: realization {realization!r} names {len(hits)} members (duplicate labels)")
    return da.isel({REALIZATION_DIM: hits[0]}, drop=True), f" realization={labels[hits[0]]}"


def _as_crs(crs: Any, what: str) -> Any:
    """A pyproj CRS of the model grid from a CRS-like or an xarray object with ``.rio.crs``."""
    from pyproj import CRS

    obj = crs
    if hasattr(obj, "rio") and not isinstance(obj, (str, CRS)):
        try:
            obj = obj.rio.crs
        except Exception as exc:  # noqa: BLE001 - rioxarray errors on odd metadata
            raise InputDataError(f"{what}: cannot read the model CRS of the grid given as crs= ({exc})") from exc
        if obj is None:
            raise InputDataError(f"{what}: the grid given as crs= has no CRS (model CRS unknown)")
    if not isinstance(obj, CRS) and hasattr(obj, "to_wkt"):
        obj = obj.to_wkt()  # rasterio CRS
    try:
        return CRS.from_user_input(obj)
    except Exception as exc:  # noqa: BLE001 - pyproj.CRSError and others
        raise InputDataError(f"{what}: cannot read the model CRS {str(crs)[:80]!r}: {exc}") from exc


def _grid_mapping_crs(ds: Any, var: str) -> Any:
    """CRS of the grid-mapping variable of ``var`` (``crs_wkt`` or ``spatial_ref``), or None."""
    from pyproj import CRS

    gm = ds[var].attrs.get("grid_mapping") or ds[var].encoding.get("grid_mapping")
    if not isinstance(gm, str) or not gm.strip():
        return None
    gname = gm.split(":")[0].strip()
    if gname not in ds.variables:
        return None
    wkt = ds[gname].attrs.get("crs_wkt") or ds[gname].attrs.get("spatial_ref")
    if not isinstance(wkt, str) or not wkt.strip():
        return None
    try:
        return CRS.from_wkt(wkt)
    except Exception:  # noqa: BLE001 - an unreadable grid mapping is treated as no stated CRS
        return None


def _station_lonlat(ds: Any, inst_dim: str, i: int) -> tuple[float, float] | None:
    """(lon, lat) [degrees] of station ``i`` from the per-station latitude/longitude variables, or None."""
    found: dict[str, float] = {}
    for std in ("longitude", "latitude"):
        cand = [v for v in ds.variables if ds[v].attrs.get("standard_name") == std and ds[v].dims == (inst_dim,)]
        if len(cand) == 1 and np.asarray(ds[cand[0]].values).dtype.kind in "iuf":
            val = float(np.asarray(ds[cand[0]].values, dtype=np.float64)[i])
            if np.isfinite(val):
                found[std] = val
    return (found["longitude"], found["latitude"]) if len(found) == 2 else None


def _transform_point(src: Any, dst: Any, x: float, y: float, what: str, label: str) -> tuple[float, float]:
    """``(x, y)`` in CRS ``src`` transformed to CRS ``dst`` (pyproj CRSs, axis order x/lon first)."""
    from pyproj import CRS, Transformer

    src, dst = CRS.from_user_input(src), CRS.from_user_input(dst)
    if src.equals(dst, ignore_axis_order=True):
        return float(x), float(y)
    try:
        tx, ty = Transformer.from_crs(src, dst, always_xy=True).transform(float(x), float(y), errcheck=True)
    except Exception as exc:  # noqa: BLE001 - pyproj.ProjError and others
        raise InputDataError(f"{what}: {label} ({x:g}, {y:g}) cannot be transformed from {src.name!r} to "
                             f"{dst.name!r}: {exc}") from exc
    if not (np.isfinite(tx) and np.isfinite(ty)):
        raise InputDataError(f"{what}: {label} ({x:g}, {y:g}) cannot be transformed from {src.name!r} to "
                             f"{dst.name!r} (outside the projection's domain)")
    return float(tx), float(ty)


def _distance_m(crs: Any, a: tuple[float, float], lonlat: tuple[float, float], what: str) -> float:
    """Geodesic distance [m] between point ``a`` (in ``crs``) and ``lonlat`` (WGS84)."""
    from pyproj import Geod

    lon, lat = _transform_point(crs, "EPSG:4326", a[0], a[1], what, "x/y")
    return float(Geod(ellps="WGS84").inv(lon, lat, lonlat[0], lonlat[1])[2])


def _entry_point(
    what: str,
    station: str,
    model_crs: Any,
    xy: tuple[float, float] | None,
    xy_crs: Any,
    lonlat: tuple[float, float] | None,
    lonlat_crs: Any,
) -> tuple[float, float]:
    """A station's position in the model CRS [m] from its file ``x``/``y`` and/or ``lat``/``lon``.

    ``x``/``y`` with a stated CRS are transformed; ``x``/``y`` without one are taken as model-CRS
    coordinates only when ``lat``/``lon`` confirm it; ``lat``/``lon`` alone are transformed. Any
    two positions must agree within ``LATLON_TOLERANCE_M``.
    """
    from hydro.exchange.validate import LATLON_TOLERANCE_M

    if lonlat is not None:
        lonlat = _transform_point(lonlat_crs, "EPSG:4326", lonlat[0], lonlat[1], what, "lon/lat")
    if xy is not None and xy_crs is None:
        if lonlat is None:
            raise InputDataError(f"{what}: the file states no CRS for x/y and has no lat/lon: the station cannot be "
                                 f"checked against the model CRS {model_crs.name!r}; pass x= and y= in the model CRS")
        dist = _distance_m(model_crs, xy, lonlat, what)
        if not dist <= LATLON_TOLERANCE_M:
            raise InputDataError(f"{what}: x/y of station {station!r} ({xy[0]:g}, {xy[1]:g}) "
                                 f"are not in the model CRS {model_crs.name!r}: they are {dist:.0f} m from its lat/lon "
                                 f"(the file states no CRS for x/y; pass x= and y= in the model CRS)")
        return float(xy[0]), float(xy[1])
    if xy is not None:
        if lonlat is not None:
            dist = _distance_m(xy_crs, xy, lonlat, what)
            if not dist <= LATLON_TOLERANCE_M:
                raise InputDataError(f"{what}: x/y ({xy_crs.name!r}) and lat/lon of the station disagree by "
                                     f"{dist:.0f} m (wrong CRS in the file?)")
        return _transform_point(xy_crs, model_crs, xy[0], xy[1], what, "x/y")
    if lonlat is not None:
        return _transform_point("EPSG:4326", model_crs, lonlat[0], lonlat[1], what, "lon/lat")
    raise InputDataError(f"{what}: no x/y or lat/lon for the station: pass x= and y= in the model CRS")


@dataclass
class Gauge:
    """A named point where hydrographs are written (snapped to the channel network: the nearest channel cell within
    ``max_snap_distance_m``, or, with ``upstream_area_km2`` (the gauge's published catchment area), the channel cell
    within that distance whose upstream area is closest to it). With ``snap_to_stream=False`` the hydrograph is that of
    the cell containing the point, channel or not (e.g. the cells whose outflow crosses into a 2-D flood domain)."""

    id: str
    x: float
    y: float
    name: str | None = None
    max_snap_distance_m: float | None = None
    upstream_area_km2: float | None = None
    snap_to_stream: bool = True


def _pos_sorted(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values[order], dtype=np.float64)


@dataclass
class RoutingNetwork:
    """Kinematic-wave routing arrays of a flow network, in topological position order.

    Build with :meth:`build`. The routing state is ``volume_m3`` (water volume of each reach,
    ``V = α L Q^β``, the prognostic variable), ``q`` (end-of-step discharge per position) and
    ``reservoir_storage_m3``.
    """

    ncell: int
    shape: tuple[int, int]
    order: np.ndarray
    downstream_pos: np.ndarray
    fine_pos: np.ndarray
    is_fine: np.ndarray
    alpha: np.ndarray
    length_m: np.ndarray
    slope: np.ndarray
    is_channel: np.ndarray
    width_m: np.ndarray
    upstream_area_m2: np.ndarray
    dt: float
    n_sub: int
    params: RoutingParameters
    reservoirs: list[Reservoir]
    reservoir_pos: np.ndarray
    inflows: list[Inflow]
    inflow_pos: np.ndarray
    network_hash: str
    res_pos_of: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    q: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    volume_m3: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    reservoir_storage_m3: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    _tables: tuple[np.ndarray, ...] = field(repr=False, default=())
    #: sub-steps of the overland (coarse) cells: ceil(dt / overland_substep_s)
    n_sub_overland: int = 1

    # ------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        network: Any,
        elevation: np.ndarray,
        params: RoutingParameters,
        dt_seconds: float,
        *,
        reservoirs: Sequence[Reservoir] = (),
        inflows: Sequence[Inflow] = (),
        manning_multiplier: np.ndarray | None = None,
        channel_mask: np.ndarray | None = None,
        channel_width_m: np.ndarray | None = None,
        channel_depth_m: np.ndarray | None = None,
    ) -> "RoutingNetwork":
        """Derive the routing arrays.

        Parameters
        ----------
        network : hydro.terrain.FlowNetwork
        elevation : ndarray (ny, nx) or flat
            (Filled) elevation [m] for bed slopes.
        params : RoutingParameters
        dt_seconds : float
            Model step [s].
        reservoirs, inflows : sequences
            Level-pool nodes and inflow boundaries (snapped to the channel cells).
        manning_multiplier : ndarray (ny, nx) or flat in (y, x) order, optional
            Per-cell multiplier of Manning n (per-reach calibration); another shape (an (x, y) array
            too) is an :class:`~hydro.errors.InputDataError`, as for the maps below.
        channel_mask : ndarray (ny, nx) of bool, optional
            Channel cells (default: upstream area >= ``params.channel_threshold_m2``).
        channel_width_m, channel_depth_m : ndarray (ny, nx), optional
            Surveyed bankfull width/depth [m] overriding the power laws where finite (per-reach
            overrides, e.g. from cross-section surveys); NaN keeps the power law.
        """
        ncell = int(network.ncell)
        ny, nx = (int(v) for v in network.shape)

        def grid_values(name: str, value: Any, dtype: Any) -> np.ndarray:
            # (y, x) or flat in (y, x) order: an (x, y) array has the right size and was raveled onto other cells
            arr = np.asarray(value, dtype=dtype)
            if arr.shape not in ((ny, nx), (ncell,)):
                raise InputDataError(f"{name} has {arr.size} cells in shape {arr.shape}, the flow network {ncell} "
                                     f"in (y, x) = {(ny, nx)} (give maps as (y, x) or flat in (y, x) order)")
            return arr.ravel()

        order = np.asarray(network.order, dtype=np.int64)
        nval = order.size
        pos_of = np.full(ncell, -1, np.int64)
        pos_of[order] = np.arange(nval)
        ds_cell = np.asarray(network.downstream, dtype=np.int64)[order]
        downstream_pos = np.where(ds_cell >= 0, pos_of[np.maximum(ds_cell, 0)], -1)
        if np.any((downstream_pos >= 0) & (downstream_pos <= np.arange(nval))):
            raise InputDataError("flow network order is not topological (a cell after its downstream cell)")
        z = np.asarray(elevation, dtype=np.float64).ravel()
        if z.size != ncell:
            raise InputDataError(f"elevation has {z.size} cells, the flow network {ncell}")
        zp = z[order]
        if not np.all(np.isfinite(zp)):
            raise InputDataError("elevation is NaN on valid cells of the flow network")
        area = _pos_sorted(network.cell_area_m2, order)
        up_area = _pos_sorted(network.upstream_area_m2(), order)
        dist = _pos_sorted(network.distance_to_downstream_m, order)
        has_ds = downstream_pos >= 0
        length = np.where(has_ds & (dist > 0), dist, np.sqrt(area))
        slope = np.full(nval, params.min_slope)
        dpos = np.maximum(downstream_pos, 0)
        slope[has_ds] = (zp[has_ds] - zp[dpos[has_ds]]) / length[has_ds]
        slope = np.maximum(slope, params.min_slope)
        # outlets: steepest slope of the cells draining into them
        outlet_slope = np.full(nval, params.min_slope)
        np.maximum.at(outlet_slope, dpos[has_ds], slope[has_ds])
        slope = np.where(has_ds, slope, outlet_slope)
        if channel_mask is None:
            is_channel = up_area >= params.channel_threshold_m2
        else:
            cm = grid_values("channel_mask", channel_mask, bool)
            is_channel = cm[order]
        a_km2 = up_area / 1e6
        w_ch, d_ch = k.channel_geometry(a_km2, params.width_coef, params.width_exp, params.depth_coef, params.depth_exp)
        for name, override, target in (("channel_width_m", channel_width_m, w_ch), ("channel_depth_m", channel_depth_m, d_ch)):
            if override is not None:
                ov = grid_values(name, override, np.float64)[order]
                use = np.isfinite(ov)
                if np.any(ov[use] <= 0):
                    raise InputDataError(f"{name} must be > 0 where given")
                target[use] = ov[use]
        w_ov = area / length
        width = np.where(is_channel, w_ch, w_ov)
        perimeter = np.where(is_channel, w_ch + d_ch, w_ov)
        n = np.where(is_channel, params.manning_n_channel, params.manning_n_overland)
        if manning_multiplier is not None:
            mult = grid_values("manning_multiplier", manning_multiplier, np.float64)[order]
            if np.any(~np.isfinite(mult)) or np.any(mult <= 0):
                raise InputDataError("manning_multiplier must be finite and > 0 on valid cells")
            n = n * mult
        alpha = k.kinematic_alpha(n, perimeter, slope, params.beta)

        # points: snap to channel cells
        stream_grid = np.zeros(ncell, bool)
        stream_grid[order] = is_channel
        cell_size = float(np.sqrt(np.median(area)))

        def snap(obj: Any, what: str) -> int:
            radius = obj.max_snap_distance_m if obj.max_snap_distance_m is not None else 3.0 * cell_size
            try:
                area = getattr(obj, "upstream_area_km2", None)
                cell = int(network.snap([(obj.x, obj.y)], radius, streams=stream_grid.reshape(network.shape),
                                        expected_area_m2=None if area is None else float(area) * 1e6)[0])
            except InputDataError as exc:
                raise InputDataError(f"{what} {obj.name!r}: {exc}") from exc
            return int(pos_of[cell])

        reservoirs = list(reservoirs)
        inflows = list(inflows)
        names = [r.name for r in reservoirs]
        if len(set(names)) != len(names):
            # the name is the reservoir's id in the state file and the products: two dams of one name restarted
            # both from the first one's storage, and the run's reservoir series could not be written
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"reservoir names are not unique: {dup}")
        res_pos = np.array([snap(r, "reservoir") for r in reservoirs], dtype=np.int64)
        if len(set(res_pos.tolist())) != len(res_pos):
            raise ConfigError("two reservoirs snap to the same cell")
        inf_pos = np.array([snap(f, "inflow") for f in inflows], dtype=np.int64)
        res_pos_of = np.full(nval, -1, np.int64)
        res_pos_of[res_pos] = np.arange(len(res_pos))

        is_fine = is_channel.copy()
        is_fine[res_pos] = True
        is_fine[inf_pos] = True
        k.propagate_downstream(downstream_pos, is_fine)
        fine_pos = np.flatnonzero(is_fine).astype(np.int64)
        n_sub = max(1, int(math.ceil(dt_seconds / params.channel_substep_s - 1e-9)))
        n_sub_overland = max(1, int(math.ceil(dt_seconds / params.overland_substep_s - 1e-9)))
        n_sub = n_sub_overland * int(math.ceil(n_sub / n_sub_overland))  # channel sub-steps nest in overland ones

        lt = np.concatenate([np.asarray(r.level_m, float) for r in reservoirs]) if reservoirs else np.zeros(1)
        stt = np.concatenate([np.asarray(r.storage_m3, float) for r in reservoirs]) if reservoirs else np.zeros(1)
        lens = np.array([len(r.level_m) for r in reservoirs], np.int64)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if reservoirs else np.zeros(0, np.int64)
        crest = np.array([r.crest_level_m for r in reservoirs], float)
        coef = np.array([r.spillway_coef * r.spillway_length_m for r in reservoirs], float)
        expo = np.array([r.spillway_exponent for r in reservoirs], float)
        self = cls(
            ncell=ncell, shape=tuple(network.shape), order=order, downstream_pos=downstream_pos,
            fine_pos=fine_pos, is_fine=is_fine, alpha=np.ascontiguousarray(alpha), length_m=length,
            slope=slope, is_channel=is_channel, width_m=width, upstream_area_m2=up_area, dt=float(dt_seconds),
            n_sub=n_sub, params=params, reservoirs=reservoirs, reservoir_pos=res_pos, inflows=inflows,
            inflow_pos=inf_pos, network_hash=str(network.hash), res_pos_of=res_pos_of, n_sub_overland=n_sub_overland,
        )
        self._tables = (lt, stt, starts, lens, crest, coef, expo)
        self.cold_start()
        return self

    # ------------------------------------------------------------------------------------
    @property
    def nvalid(self) -> int:
        return int(self.order.size)

    def cold_start(self) -> None:
        """Empty reaches; reservoirs at their initial level (default: the crest)."""
        self.q = np.zeros(self.nvalid)
        self.volume_m3 = np.zeros(self.nvalid)
        self.reservoir_storage_m3 = np.array(
            [float(r.storage_at(r.initial_level_m if r.initial_level_m is not None else r.crest_level_m)) for r in self.reservoirs],
            dtype=np.float64,
        )

    def hash(self) -> str:
        """sha256 of routing parameters, step, reservoirs and inflow points."""
        h = hashlib.sha256()
        h.update(self.params.hash().encode())
        h.update(repr((self.dt, self.n_sub)).encode())
        if self.n_sub_overland > 1:
            h.update(repr(("overland", self.n_sub_overland)).encode())
        for r in self.reservoirs:
            h.update(r.hash().encode())
        h.update(self.reservoir_pos.tobytes())
        h.update(self.inflow_pos.tobytes())
        h.update(self.alpha.tobytes())
        return h.hexdigest()

    def reach_storage_m3(self) -> float:
        """Water in the kinematic-wave reaches ``Σ V`` [m3]."""
        return float(np.sum(self.volume_m3))

    def volume_from_discharge(self, q: np.ndarray) -> np.ndarray:
        """Reach volume ``V = α L Q^β`` [m3] of a discharge per position (0 at reservoir nodes)."""
        v = self.alpha * self.length_m * np.asarray(q, np.float64) ** self.params.beta
        return np.where(self.res_pos_of < 0, v, 0.0)

    def reservoir_levels_m(self) -> np.ndarray:
        return np.array([float(r.level_at(s)) for r, s in zip(self.reservoirs, self.reservoir_storage_m3)])

    def to_grid(self, values_pos: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Flat grid array (ny*nx) of per-position values (``fill`` off the network)."""
        out = np.full(self.ncell, fill, dtype=np.float64)
        out[self.order] = values_pos
        return out

    def from_grid(self, values_grid: np.ndarray) -> np.ndarray:
        """Per-position values of a flat or 2-D grid array."""
        return np.ascontiguousarray(np.asarray(values_grid).ravel()[self.order], dtype=np.float64)

    def step(
        self,
        lateral_m3s: np.ndarray,
        boundary_m3s: np.ndarray | None = None,
        reservoir_evaporation_m3: np.ndarray | None = None,
        reservoir_abstraction_m3s: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Advance one model step.

        Parameters
        ----------
        lateral_m3s : float64 (nvalid,)
            Lateral inflow per position (cell runoff) [m3 s-1].
        boundary_m3s : float64 (nvalid,), optional
            External inflow per position [m3 s-1].
        reservoir_evaporation_m3 : float64 (nres,), optional
            Open-water evaporation demand over the step [m3].
        reservoir_abstraction_m3s : float64 (nres,), optional
            Requested abstraction [m3 s-1].

        Raises
        ------
        InputDataError
            An array of the wrong shape, or NaN/infinite or negative values in any of them (never dropped or
            clipped silently).

        Returns
        -------
        dict
            ``q_mean``, ``q_max`` (per position, m3 s-1), ``outflow_m3``, ``reservoir_evaporation_m3``,
            ``reservoir_abstraction_m3``, ``nonconverged`` and ``reservoir`` (nres, 4) volumes.
        """
        nv = self.nvalid
        nres = len(self.reservoirs)
        lateral = np.ascontiguousarray(lateral_m3s, dtype=np.float64)
        if lateral.shape != (nv,):
            raise InputDataError(f"lateral inflow has shape {lateral.shape}, expected ({nv},)")
        if nv and not (lateral.min() >= 0.0 and np.isfinite(lateral.sum())):
            # the kinematic solver cannot take water out of a reach: never drop it silently
            nbad = int(np.count_nonzero(~np.isfinite(lateral)))
            nneg = int(np.count_nonzero(lateral < 0.0))
            raise InputDataError(f"lateral inflow: {nbad} NaN/infinite and {nneg} negative value(s) on the network "
                                 f"(must be finite and >= 0 m3 s-1)")
        bnd = np.zeros(nv) if boundary_m3s is None else np.ascontiguousarray(boundary_m3s, dtype=np.float64)
        ev = np.zeros(nres) if reservoir_evaporation_m3 is None else np.ascontiguousarray(reservoir_evaporation_m3, float)
        ab = np.zeros(nres) if reservoir_abstraction_m3s is None else np.ascontiguousarray(reservoir_abstraction_m3s, float)
        # a NaN spread over every cell downstream; a negative value created water (the solver cannot take it out)
        for what, arr, n_exp in (("boundary inflow", bnd, nv), ("reservoir evaporation", ev, nres),
                                 ("reservoir abstraction", ab, nres)):
            if arr.shape != (n_exp,):
                raise InputDataError(f"{what} has shape {arr.shape}, expected ({n_exp},)")
            if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= 0.0):
                raise InputDataError(f"{what}: NaN/infinite or negative values (must be finite and >= 0)")
        rel = np.array([r.release_m3s for r in self.reservoirs], float)
        lt, stt, starts, lens, crest, coef, expo = self._tables
        q_mean = np.empty(nv)
        q_max = np.empty(nv)
        out = np.zeros(4)
        res_out = np.zeros((nres, 4))
        k.route_step_sub(
            self.dt, self.n_sub, self.n_sub_overland, self.downstream_pos, self.fine_pos, self.is_fine, self.alpha, self.length_m,
            1.0 / self.params.beta, self.q, self.volume_m3, lateral, bnd, self.res_pos_of,
            self.reservoir_storage_m3, lt, stt, starts, lens, crest, coef, expo, ev, ab, rel, q_mean, q_max, out,
            res_out,
        )
        return dict(q_mean=q_mean, q_max=q_max, outflow_m3=out[0], reservoir_evaporation_m3=out[1],
                    reservoir_abstraction_m3=out[2], nonconverged=int(out[3]), reservoir=res_out)
