"""Forecast accumulations (ERA5/IFS ``tp`` style: amounts accumulated since a reset) → amounts per step.

ERA5 *forecast* fields and IFS/GRIB ``accum`` fields hold, at each step, the total since the start of
the forecast (the reset): the values grow through the forecast and drop back at the reset hours
(06 and 18 UTC for ERA5 forecasts). :func:`hydro.forcing.prepare` wants amounts per step. Use
:func:`deaccumulate` first; :func:`check_not_accumulated` (called by
:func:`hydro.forcing.to_mm_per_step`) refuses a field whose attributes say ``GRIB_stepType = "accum"``
and whose values show the pattern (rises with drops at fixed hours), instead of reading it silently
as amounts per step. ERA5 *reanalysis* hourly ``tp`` (also ``accum`` in GRIB, but over one hour) is
per step already and passes.
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError

__all__ = ["deaccumulate", "check_not_accumulated", "accumulation_resets"]

#: number of leading steps inspected by :func:`check_not_accumulated`
_PROBE_STEPS = 73


def _where(da: xr.DataArray) -> str:
    src = da.attrs.get("hydro_source") or da.encoding.get("source") or "<in memory>"
    return f"{src}:{da.name}"


def accumulation_resets(series: Any, times: Any, *, min_repeats: int = 1) -> list[int] | None:
    """UTC hours after which a (domain-mean) series drops back, if it looks like accumulations since a
    reset: it never falls except at a few fixed hours of the day (at most 2 in 24 hours on average,
    always at the same hours) and it rises in between (at least as often as it drops). None when it
    does not look like that.

    ``min_repeats``: the most frequent reset hour must show a drop at least this many times (on
    different days). One storm that stops at once (``0, 1, 2, 3, 0``) looks like one reset: it takes
    a drop that recurs at the same hour to tell accumulations from rain per step."""
    v = np.asarray(series, dtype=np.float64)
    t = pd.DatetimeIndex(times)
    ok = np.isfinite(v)
    if v.size < 6 or ok.sum() < 6:
        return None
    d = np.diff(v)
    valid = np.isfinite(d)
    scale = np.nanmax(np.abs(v)) if np.any(ok) else 0.0
    if not scale > 0:
        return None
    drops = valid & (d < -1e-6 * scale)
    rises = valid & (d > 1e-6 * scale)
    # at least one rise per drop: 6-hourly steps with resets every 12 h (ERA5 forecasts sampled every 6 h) rise
    # once and drop once per cycle (asking for two rises per drop let them pass as amounts per step)
    if not drops.any() or rises.sum() < drops.sum():
        return None
    step_h = (t[1] - t[0]).total_seconds() / 3600.0
    if drops.sum() > max(1, int(np.ceil(2 * valid.sum() * step_h / 24.0))):
        return None
    # the hour at which the new accumulation starts: the start of the period ending at the label after the drop
    starts = t[1:][drops] - pd.Timedelta(hours=step_h)
    hours = sorted(set(int(h) for h in starts.hour))
    if len(hours) > 2:
        return None
    repeats = max(len(set(starts[starts.hour == h].normalize())) for h in hours)  # days, not drops (sub-hourly steps)
    if repeats < min_repeats:
        return None
    return hours


def check_not_accumulated(da: xr.DataArray) -> None:
    """:class:`InputDataError` if ``da`` says it holds GRIB accumulations (``GRIB_stepType = "accum"``)
    and its first steps show accumulations since a reset (see :func:`accumulation_resets`): drops back
    at one or two fixed hours, one of them on at least two days. A single drop is a ``UserWarning``
    only (one storm that stops at once looks the same)."""
    if str(da.attrs.get("GRIB_stepType", "")).strip().lower() != "accum" or da.attrs.get("hydro_deaccumulated"):
        return
    if "time" not in da.dims or da.sizes["time"] < 6:
        return
    head = da.isel(time=slice(0, _PROBE_STEPS))
    other = [d for d in head.dims if d != "time"]
    m = head.mean(dim=other, skipna=True) if other else head
    series, times = np.asarray(m.values), m["time"].values
    hours = accumulation_resets(series, times, min_repeats=2)
    if hours is None:
        weak = accumulation_resets(series, times, min_repeats=1)
        if weak is not None:  # drops on one day only: as likely storms that stopped at once as resets
            warnings.warn(
                f"{_where(da)}: GRIB_stepType = 'accum' and the values only rise in the first {series.size} steps "
                f"except on one day after {', '.join(f'{h:02d}' for h in weak)} UTC (a file shorter than two days "
                f"shows each reset once): read as amounts per step (as ERA5 "
                f"reanalysis hourly tp is). If these are totals since a forecast reset, convert first: "
                f"hydro.forcing.deaccumulate(da, reset_hours=...)", UserWarning, stacklevel=3)
        return
    if hours is not None:
        raise InputDataError(
            f"{_where(da)}: GRIB_stepType = 'accum' and the values accumulate, dropping back after "
            f"{', '.join(f'{h:02d}' for h in hours)} UTC: these are totals since a forecast reset, not amounts per "
            f"step. Convert first: hydro.forcing.deaccumulate(da, reset_hours={tuple(hours)})")


def deaccumulate(da: xr.DataArray, reset_hours: Iterable[int] | None, *, tolerance: float = 1e-4) -> xr.DataArray:
    """Amounts per step from accumulations since a reset (period-end labels, regular step).

    ``reset_hours`` (UTC hours, e.g. ``(6, 18)`` for ERA5 forecasts): a step whose period **starts** at
    one of these hours (on the hour) is the first of a new accumulation and is kept as it is; every
    other step is its value minus the previous one. ``None``: the series is one accumulation from its
    first value (e.g. one forecast run), whose first step is kept as it is.

    Leading steps before the first reset (their accumulation start is unknown) are dropped with a
    ``UserWarning``. Negative differences no larger than ``tolerance`` × the largest accumulation of the
    field at that step (over all cells, this step and the previous one) become 0: GRIB packing rounds
    every value of a field to a quantum of its range (2**-16 of it with 16 bits), so a cell whose
    accumulation does not change can decrease by up to that much, whatever its own value. Larger
    negative differences stay and are reported as negative values by :func:`hydro.forcing.prepare`.
    Lazy with dask. Units are unchanged (an amount per step).
    """
    where = _where(da)
    if "time" not in da.dims:
        raise InputDataError(f"{where}: no time dimension")
    t = pd.DatetimeIndex(da["time"].values)
    if t.size < 2:
        raise InputDataError(f"{where}: deaccumulate needs at least two time steps")
    d = np.diff(t.values)
    if np.any(d != d[0]) or d[0] <= np.timedelta64(0, "ns"):
        raise InputDataError(f"{where}: deaccumulate needs a regular, increasing time axis")
    step = pd.Timedelta(d[0])
    period_start = t - step
    if reset_hours is None:
        is_reset = np.zeros(t.size, bool)
        is_reset[0] = True
    else:
        hrs = sorted({int(h) for h in reset_hours})
        if not hrs or any(h < 0 or h > 23 for h in hrs):
            raise InputDataError(f"{where}: reset_hours {reset_hours!r}: UTC hours 0…23")
        on_hour = (period_start.minute == 0) & (period_start.second == 0)
        is_reset = np.asarray(on_hour & np.isin(period_start.hour, hrs))
        if not is_reset.any():
            raise InputDataError(f"{where}: no period starts at the reset hours {hrs} UTC")
        first = int(np.flatnonzero(is_reset)[0])
        if first > 0:
            warnings.warn(f"{where}: dropped {first} leading step(s) {t[0]} … {t[first - 1]} before the first reset "
                          f"(their accumulation start is unknown)", UserWarning, stacklevel=2)
            da = da.isel(time=slice(first, None))
            is_reset = is_reset[first:]
    flag = xr.DataArray(is_reset, dims=("time",), coords={"time": da["time"]})
    prev = da.shift(time=1)
    diff = da - prev
    mag = np.maximum(abs(prev), abs(da))
    other = [d for d in da.dims if d != "time"]
    scale = mag.max(dim=other, skipna=True) if other else mag  # the field's range sets the packing quantum
    tiny = (diff < 0) & (diff >= -tolerance * scale)
    out = xr.where(flag, da, xr.where(tiny, 0.0, diff))
    out = out.transpose(*da.dims)
    out.attrs = {k: v for k, v in da.attrs.items() if k not in ("GRIB_stepType",)}
    out.attrs["hydro_deaccumulated"] = (f"amounts per step from accumulations reset at "
                                        f"{'the first step' if reset_hours is None else sorted(set(reset_hours))} UTC")
    out.name = da.name
    for c in da.coords:
        if c not in out.coords:
            out = out.assign_coords({c: da[c]})
    return out
