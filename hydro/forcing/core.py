"""Gridded forcing to the model grid, lazily: units → mm per step, regridding, step changes."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError, InputMissingError
from hydro.times import naive_utc
from hydro.io.netcdf import open_netcdf
from hydro.forcing.grid import GridSpec, grid_of, regrid_weights
from hydro.forcing.units import check_standard_name, parse_water_units

__all__ = ["open_forcing", "prepare", "to_mm_per_step", "change_step", "source_name", "check_time_axis",
           "period_end_times", "grid_centre_longitude", "real_times"]

_FILL_POLICIES = (None, "zero")


def source_name(da: xr.DataArray) -> str:
    """'file:variable' for error messages."""
    src = da.attrs.get("hydro_source") or da.encoding.get("source") or "<in memory>"
    return f"{src}:{da.name}"


#: CF calendars whose date labels are real (proleptic Gregorian) dates and are read as such; a
#: ``noleap``/``365_day`` series over a leap year then lacks 29 February, which is a gap (an error)
_REAL_DATE_CALENDARS = ("standard", "gregorian", "proleptic_gregorian", "noleap", "365_day", "all_leap", "366_day")


def real_times(time: Any, where: str) -> np.ndarray:
    """Time labels as ``datetime64[ns]`` (UTC, naive), also from CF non-standard calendars (cftime).

    ``noleap``/``365_day``/``all_leap``/``366_day`` labels are real dates and are kept as they are (a
    label that is no real date, e.g. 29 February 2023 of ``all_leap``, is an error). ``360_day`` and
    ``julian`` labels are not real dates: :class:`InputDataError` (convert the file first, e.g. with
    ``xarray``'s ``convert_calendar``, choosing how days are dropped or added).
    """
    v = np.asarray(time)
    if v.dtype.kind == "M":
        return _datetime64_ns(v, where)
    if v.dtype == object and v.size and hasattr(v.flat[0], "calendar"):
        cal = str(getattr(v.flat[0], "calendar", "") or "standard").lower()
        if cal not in _REAL_DATE_CALENDARS:
            raise InputDataError(f"{where}: CF calendar {cal!r} has dates that are not real dates; the model runs on "
                                 f"the real (proleptic Gregorian) calendar: convert the file first (e.g. xarray "
                                 f"convert_calendar, choosing how days are dropped or added)")
        out = np.empty(v.shape, "datetime64[ns]")
        for i, c in enumerate(v.flat):
            if cal in ("standard", "gregorian") and (c.year, c.month, c.day) < (1582, 10, 15):
                raise InputDataError(f"{where}: date {c} before 1582-10-15 in the mixed Julian/Gregorian calendar")
            try:
                ts = pd.Timestamp(c.year, c.month, c.day, c.hour, c.minute, c.second, c.microsecond)
            except ValueError as exc:
                raise InputDataError(f"{where}: time {c} (calendar {cal!r}) is not a real date") from exc
            # np.datetime64(ts, "ns") wrapped a date after 2262 (or before 1677) around silently: 2300 read as 1715
            out.flat[i] = _datetime64_ns(np.asarray(ts.to_datetime64()), where)
        return out
    if v.dtype.kind in "biufc":
        # pandas reads bare numbers as nanoseconds since 1970: a time variable xarray could not decode (units
        # "hours" without "since", or none) became 1970-01-01 00:00:00.000000001, … instead of an error
        raise InputDataError(f"{where}: time values are numbers ({v.dtype}), not date-times: the time variable needs "
                             f"CF units such as 'hours since 2024-01-01 00:00:00'")
    try:
        idx = pd.DatetimeIndex(v)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{where}: time values are not date-times ({v.dtype})") from exc
    return _datetime64_ns(idx.values, where)


def _datetime64_ns(v: np.ndarray, where: str) -> np.ndarray:
    """``v`` (datetime64 of any unit) as ``datetime64[ns]``; a time outside the nanosecond range (1677-09-21 …
    2262-04-11), which numpy's ``astype`` wraps around without a word, is an :class:`InputDataError`."""
    out = v.astype("datetime64[ns]")
    unit = np.datetime_data(v.dtype)[0]
    if unit in ("Y", "M", "W", "D", "h", "m", "s", "ms", "us"):
        bad = ~np.isnat(v) & (out.astype(v.dtype) != v)
        if bad.any():
            raise InputDataError(f"{where}: time {v[bad].flat[0]} is outside the time range the package supports "
                                 f"({pd.Timestamp.min:%Y-%m-%d} … {pd.Timestamp.max:%Y-%m-%d})")
    return out


def check_time_axis(time: Any, where: str) -> pd.Timedelta | None:
    """Raise on duplicate, unsorted or irregular times; return the step (None for one value)."""
    t = pd.DatetimeIndex(real_times(time, where))
    if t.has_duplicates:
        raise InputDataError(f"{where}: duplicate times, e.g. {t[t.duplicated()][0]}")
    if not t.is_monotonic_increasing:
        raise InputDataError(f"{where}: times are not sorted")
    if t.size < 2:
        return None
    d = np.diff(t.values)
    if np.any(d != d[0]):
        k = int(np.flatnonzero(d != d[0])[0])
        raise InputDataError(f"{where}: gap or irregular step after {t[k]} (step {pd.Timedelta(d[k])} instead of "
                             f"{pd.Timedelta(d[0])})")
    return pd.Timedelta(d[0])


def period_end_times(time: Any, bounds: Any, where: str) -> pd.DatetimeIndex:
    """Period-end labels from CF time bounds ``(time, 2)``: the upper bound of every period.

    Each period must be non-empty and contain its time label; with more than one time, every period
    must last one time step (a field of amounts per step), else :class:`InputDataError`.
    """
    t = pd.DatetimeIndex(real_times(time, where))
    b = np.asarray(bounds)
    if b.ndim != 2 or b.shape != (t.size, 2):
        raise InputDataError(f"{where}: time bounds have shape {b.shape}, expected ({t.size}, 2)")
    b = real_times(b, where + " (time bounds)")
    lo, hi = pd.DatetimeIndex(b.min(axis=1)), pd.DatetimeIndex(b.max(axis=1))
    if lo.hasnans or hi.hasnans:
        raise InputDataError(f"{where}: missing values in the time bounds")
    if np.any(hi <= lo):
        raise InputDataError(f"{where}: empty time-bounds period at {t[np.flatnonzero(hi <= lo)[0]]}")
    if np.any((t < lo) | (t > hi)):
        k = int(np.flatnonzero((t < lo) | (t > hi))[0])
        raise InputDataError(f"{where}: time {t[k]} lies outside its bounds [{lo[k]}, {hi[k]}]")
    if t.size > 1:
        step = check_time_axis(hi, where + " (upper time bounds)")
        length = hi - lo
        if np.any(length != step):
            k = int(np.flatnonzero(length != step)[0])
            raise InputDataError(f"{where}: time-bounds period {lo[k]} … {hi[k]} lasts {length[k]}, not the time step "
                                 f"{step}: not a series of amounts per step")
    return hi


def _with_real_times(da: xr.DataArray, where: str) -> xr.DataArray:
    """``da`` with a ``datetime64`` time coordinate (CF non-standard calendars converted, see :func:`real_times`)."""
    if "time" not in da.coords or da["time"].dtype.kind == "M":
        return da
    attrs, enc = dict(da["time"].attrs), dict(da["time"].encoding)
    out = da.assign_coords(time=real_times(da["time"].values, where))
    out["time"].attrs.update(attrs)
    out["time"].encoding.update({k: v for k, v in enc.items() if k in ("bounds", "source")})
    return out


def _bounds_name(time: xr.DataArray) -> str | None:
    return time.attrs.get("bounds") or time.encoding.get("bounds")


def _relabel_to_period_end(da: xr.DataArray, bounds: Any, where: str, name: str) -> xr.DataArray:
    """``da`` with its time labels replaced by the upper time bounds (the bounds ``name`` dropped)."""
    ends = period_end_times(da["time"].values, bounds, where)
    attrs = {k: v for k, v in da["time"].attrs.items() if k != "bounds"}
    out = da.drop_vars([name] if name in da.coords else []).assign_coords(time=ends.values)
    out["time"].attrs.update(attrs)
    out["time"].attrs["comment"] = "period-end labels: the upper time bounds of the source file"
    # the length of the periods (checked equal above): the source step of a file with one time, which has no spacing
    b0 = real_times(np.asarray(bounds)[0], where + " (time bounds)")
    out["time"].attrs["hydro_bounds_period"] = str(pd.Timedelta(b0.max() - b0.min()))
    return out


def _bounds_from_source(da: xr.DataArray, name: str, where: str) -> np.ndarray:
    """The time bounds ``name`` of a DataArray opened outside :func:`open_forcing` (a DataArray cannot
    carry a (time, nv) variable): read from its source file, else an error (never ignored)."""
    if name in da.coords:
        return np.asarray(da[name].values)
    src = da.encoding.get("source") or da["time"].encoding.get("source")
    if src and Path(src).is_file():
        try:
            with open_netcdf(src, decode_coords="all") as ds:
                if name in ds.variables and "time" in ds.coords:
                    pos = pd.DatetimeIndex(real_times(ds["time"].values, where)).get_indexer(
                        pd.DatetimeIndex(real_times(da["time"].values, where)))
                    if np.all(pos >= 0):  # the rows of da's times (da may be a subset of the file)
                        return np.asarray(ds[name].values)[pos]
        except (OSError, ValueError):
            pass
    raise InputDataError(f"{where}: time has CF bounds {name!r} that are not available here; open the file with "
                         f"hydro.forcing.open_forcing (which labels each period by its end)")


def _float_encoded(var: xr.DataArray) -> bool:
    """True when a decoded time variable was stored as floating-point offsets in the file."""
    dt = var.encoding.get("dtype")
    return dt is not None and np.dtype(dt).kind == "f"


def open_forcing(path: str | os.PathLike[str], variable: str, *, time_chunk: int = 24) -> xr.DataArray:
    """Open ``variable`` of a CF NetCDF lazily (dask, ``time_chunk`` steps per chunk).

    Checks that the file and variable exist and that times are unique, sorted and regular; keeps
    the ``units`` attribute for :func:`prepare` (missing units are an error there). When ``time``
    has CF ``bounds`` (e.g. ``time_bnds``), each period is labelled by its **upper** bound (its end),
    wherever the file puts the time label; without bounds the labels are taken as period ends.
    """
    path = Path(path)
    if not path.is_file():
        raise InputMissingError(f"{path}: forcing file not found")
    try:
        with warnings.catch_warnings():
            # a file stored in other time chunks is still read one block of steps at a time (memory stays flat);
            # xarray's performance notice is not the user's concern
            warnings.filterwarnings("ignore", message="The specified chunks separate the stored chunks", category=UserWarning)
            ds = open_netcdf(path, chunks={"time": time_chunk}, decode_coords="all")
    except InputMissingError:  # no read permission (66)
        raise
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot open as NetCDF: {exc}") from exc
    if variable not in ds.data_vars:
        raise InputMissingError(f"{path}: no variable {variable!r} (variables: {list(ds.data_vars)})")
    da = ds[variable]
    da.attrs["hydro_source"] = str(path)
    if "time" not in da.dims:
        raise InputDataError(f"{path}:{variable}: no time dimension")
    da = _with_real_times(da, f"{path}:{variable}")
    if _float_encoded(ds["time"]) and da["time"].dtype.kind == "M":
        # float offsets (10-minute steps in "hours since", hours in "days since") decode a few ns off
        # (02:09:59.999999999): a regular series read as irregular; round to the millisecond as hydro.exchange does
        attrs, enc = dict(da["time"].attrs), dict(da["time"].encoding)
        da = da.assign_coords(time=pd.DatetimeIndex(da["time"].values).round("ms").values)
        da["time"].attrs.update(attrs)
        da["time"].encoding.update(enc)
    bname = _bounds_name(ds["time"])
    if bname:
        if bname not in ds.variables:
            raise InputDataError(f"{path}:{variable}: time has bounds {bname!r} but the file has no such variable")
        bounds = ds[bname].values
        if _float_encoded(ds[bname]) and np.asarray(bounds).dtype.kind == "M":
            b = np.asarray(bounds)
            bounds = pd.DatetimeIndex(b.ravel()).round("ms").values.reshape(b.shape)
        da = _relabel_to_period_end(da, bounds, f"{path}:{variable}", bname)
    check_time_axis(da["time"].values, f"{path}:{variable}")
    return da


def _source_step(da: xr.DataArray, source_step: Any, where: str) -> pd.Timedelta | None:
    """The source step: the regular spacing of ``da``'s times (a gap or irregular step is an error even
    when ``source_step`` is given) or ``source_step``, which must equal that spacing. With one time, the period of
    its CF time bounds (kept by :func:`open_forcing`) is the step, and ``source_step`` must equal it."""
    step = check_time_axis(da["time"].values, where)
    # one time: the CF time bounds (see open_forcing) state its period, which is the source step
    period = da["time"].attrs.get("hydro_bounds_period") if step is None else None
    period = pd.Timedelta(period) if period else None
    if source_step is None:
        return step if step is not None else period
    ss = pd.Timedelta(source_step)
    if ss <= pd.Timedelta(0):
        raise InputDataError(f"{where}: source_step {ss} must be positive")
    if step is not None and step != ss:
        raise InputDataError(f"{where}: source_step {ss} differs from the spacing of the times ({step})")
    if period is not None and period != ss:
        raise InputDataError(f"{where}: source_step {ss} differs from the period of the time bounds ({period})")
    return ss


def max_plausible_mm(step: pd.Timedelta | None) -> float | None:
    """Largest plausible depth [mm] in one period of ``step``: three times the envelope of the world's greatest
    observed point rainfalls, 422 mm × (hours)^0.475 (Jennings 1950; WMO-No. 1045), e.g. 1 266 mm in 1 h (the
    record is about 305 mm), 5 700 mm in 1 day (record 1 825 mm).

    A field above it is in other units than its ``units`` attribute says (mm labelled 'm', an amount per step
    labelled as a rate in kg m-2 s-1, ...) or holds a fill value: it is refused, never run.
    """
    if step is None or pd.Timedelta(step) <= pd.Timedelta(0):
        return None
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    return 3.0 * 422.0 * hours ** 0.475


def _validate_block(block: np.ndarray, where: str, fill_policy: str | None, max_mm: float | None = None,
                    units: Any = None, step: pd.Timedelta | None = None) -> np.ndarray:
    bad = ~np.isfinite(block)
    if bad.any():
        if fill_policy == "zero":
            block = np.where(bad, 0.0, block)
        else:
            raise InputDataError(f"{where}: {int(bad.sum())} NaN/missing values inside the model domain "
                                 f"(set fill_policy='zero' to treat them as no rain)")
    if np.any(block < 0):
        raise InputDataError(f"{where}: negative values (min {block.min()})")
    if max_mm is not None and block.size and float(block.max()) > max_mm:
        raise InputDataError(f"{where}: {float(block.max()):.4g} mm in one {pd.Timedelta(step).total_seconds() / 3600:g} h "
                             f"step (units {units!r}) is above any rain ever observed (plausible up to {max_mm:.0f} mm): "
                             "check the units attribute (mm vs m, an amount per step vs a rate per second) or a fill "
                             "value")
    return block


def _time_method(cell_methods: Any) -> str | None:
    """The CF cell method of the time axis (``"sum"``, ``"mean"``, ``"maximum"``, ...) or None."""
    import re

    m = re.search(r"\btime\s*:\s*([a-z_]+)", str(cell_methods or "").lower())
    return m.group(1) if m else None


def to_mm_per_step(da: xr.DataArray, source_step: pd.Timedelta | None = None) -> xr.DataArray:
    """Convert to mm per **source** step from the ``units`` attribute (rates × step; amounts as is)."""
    from hydro.forcing.accumulation import check_not_accumulated

    where = source_name(da)
    kind, factor = parse_water_units(da.attrs.get("units"), where)
    check_not_accumulated(da)  # forecast accumulations since a reset are never read as amounts per step
    check_standard_name(kind, da.attrs.get("standard_name"), da.attrs.get("units"), where)
    method = _time_method(da.attrs.get("cell_methods"))
    if kind == "amount" and method not in (None, "sum"):
        raise InputDataError(
            f"{where}: units {da.attrs.get('units')!r} (an amount) with cell_methods "
            f"{da.attrs.get('cell_methods')!r}: an amount per step must be a 'time: sum' (a 'time: mean' amount is a "
            f"mean over sub-periods, e.g. the mean hourly amount of a day: set a rate unit such as 'mm h-1' instead)")
    if kind == "rate":
        step = source_step if source_step is not None else check_time_axis(da["time"].values, where)
        if step is None:
            raise InputDataError(f"{where}: one time step and a rate unit: pass source_step")
        factor = factor * pd.Timedelta(step).total_seconds()
    out = da.astype(np.float64) * factor if factor != 1.0 else da.astype(np.float64)
    out.attrs = {k: v for k, v in da.attrs.items() if k != "units"}
    out.attrs["units"] = "mm"
    out.name = da.name
    return out


def _utc_offset_hours(value: Any, where: str) -> float:
    """An explicit UTC offset as hours: a number of hours (also as text, ``"8"``), an ISO offset (``"+08:00"``,
    ``"+0800"``) or a duration such as ``"8h"`` (whole minutes; pandas reads ``"+0800"`` as 800 ns)."""
    import re

    try:
        if isinstance(value, (int, float, np.integer, np.floating)):
            h = float(value)
        elif isinstance(value, str) and (m := re.fullmatch(r"\s*(?:UTC)?([+-])(\d{2}):?(\d{2})\s*", value)):
            h = (1.0 if m.group(1) == "+" else -1.0) * (int(m.group(2)) + int(m.group(3)) / 60.0)  # "+08:00", "+0800"
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*", value):
            h = float(value)  # "8" is 8 hours (pandas reads a bare number as nanoseconds)
        else:
            td = pd.Timedelta(value)
            if td.value % 60_000_000_000:  # a UTC offset is whole minutes: "+0800" as 800 ns is no offset
                raise ValueError(f"{td} is not a whole number of minutes")
            h = td.total_seconds() / 3600.0
    except (ValueError, TypeError) as exc:
        raise InputDataError(f"{where}: utc_offset {value!r}: expected hours or a duration such as '8h'") from exc
    if not np.isfinite(h) or abs(h) > 14.0:
        raise InputDataError(f"{where}: utc_offset {value!r} outside -14 … +14 h")
    return h


def grid_centre_longitude(da: xr.DataArray, crs: Any = None) -> float | None:
    """Longitude [degrees east] of the centre of ``da``'s grid (x/y coordinates in its CRS), or None
    when ``da`` has no grid with a CRS (a scalar ``lon``/``longitude`` coordinate is used then)."""
    from pyproj import CRS, Transformer

    xdim = next((d for d in ("x", "lon", "longitude") if d in da.dims), None)
    ydim = next((d for d in ("y", "lat", "latitude") if d in da.dims), None)
    if xdim is None or ydim is None:
        for name in ("lon", "longitude"):
            if name in da.coords and da[name].size >= 1:
                v = np.asarray(da[name].values, np.float64)
                if np.all(np.isfinite(v)):
                    return float((0.5 * (v.min() + v.max()) + 180.0) % 360.0 - 180.0)
        return None
    if crs is None:
        try:
            crs = da.rio.crs
        except Exception:  # noqa: BLE001 - odd metadata: no CRS
            crs = None
    if crs is None:
        if xdim in ("lon", "longitude"):
            crs = "EPSG:4326"
        else:
            return None
    x = np.asarray(da[xdim].values, np.float64)
    y = np.asarray(da[ydim].values, np.float64)
    xc, yc = 0.5 * (x.min() + x.max()), 0.5 * (y.min() + y.max())
    c = CRS.from_user_input(crs)
    lon = xc if c.is_geographic else Transformer.from_crs(c, "EPSG:4326", always_xy=True).transform(xc, yc)[0]
    return float((lon + 180.0) % 360.0 - 180.0)


def change_step(da: xr.DataArray, model_step: Any, *, source_step: Any = None, profile: str = "uniform",
                utc_offset: Any = None, longitude: float | None = None, anchor: Any = None) -> xr.DataArray:
    """Aggregate (sum) or disaggregate a mm-per-step series to ``model_step`` (period-end labels).

    Coarser source: each source amount is split over the n model steps it contains, uniformly or,
    for PET (``profile="diurnal"``), with a half-sine between 06 and 18 h **local** time (zero at
    night), conserving every source total exactly. Model times are UTC; local time is local solar
    time ``UTC + longitude/15 h`` (solar noon at ``12:00 − lon/15 h`` UTC), with the longitude of the
    centre of the grid (from its CRS) or ``longitude`` [degrees east], unless ``utc_offset`` (hours
    or a duration, e.g. ``8`` for WITA) is given. A diurnal split with neither a grid CRS, a longitude
    nor an offset is an error (it is never taken on the UTC clock).
    Finer source: the source steps are summed into model steps that end **on the clock**: at
    multiples of the model step from 00:00 UTC (daily totals are UTC calendar days, 3-hourly totals
    end at 00, 03, … UTC), or from local midnight when ``utc_offset`` is given (``utc_offset=8``:
    days end at 16:00 UTC). Source steps before the first or after the last complete model step are
    dropped with a ``UserWarning`` (a partial day is never presented as a full day); no complete
    model step, or source periods that straddle model-step boundaries, is an error. ``anchor`` (a
    time at which a model step ends, e.g. the first label of the run) overrides both: model steps
    then end at ``anchor + k·model_step`` (:func:`prepare` passes its ``start``, so a daily model that
    starts at local midnight gets local days).
    The source step must be a multiple/divisor of the model step.
    """
    where = source_name(da)
    ms = pd.Timedelta(model_step)
    da = _with_real_times(da, where)
    ss = _source_step(da, source_step, where)
    if ss is None:
        raise InputDataError(f"{where}: one time step: pass source_step")
    t = pd.DatetimeIndex(da["time"].values)
    if ss == ms:
        return da
    if ss > ms:
        if ss % ms:
            raise InputDataError(f"{where}: source step {ss} is not a multiple of the model step {ms}")
        n = int(ss // ms)
        tv = t.values.astype("datetime64[ns]")
        offs = (np.arange(1, n + 1) * ms.value - ss.value).astype("timedelta64[ns]")
        new_t = pd.DatetimeIndex((tv[:, None] + offs[None, :]).ravel())  # ends of the sub-steps
        if profile == "uniform":
            w = np.full(n, 1.0 / n)
            wt = np.tile(w, t.size)
        elif profile == "diurnal":
            if utc_offset is not None:
                offset_h = _utc_offset_hours(utc_offset, where)
            else:
                lon = longitude if longitude is not None else grid_centre_longitude(da)
                if lon is None or not np.isfinite(lon):
                    raise InputDataError(f"{where}: the diurnal PET profile needs local time: give the field a grid "
                                         f"with a CRS, or pass longitude= or utc_offset= (model times are UTC)")
                offset_h = float(lon) / 15.0  # local solar time
            mid = new_t - ms / 2
            hours_mid = (mid.hour + mid.minute / 60.0 + mid.second / 3600.0).to_numpy(float)
            hours_mid = np.mod(hours_mid + offset_h, 24.0)
            prof = np.clip(np.sin((hours_mid - 6.0) / 12.0 * np.pi), 0.0, None)
            prof = prof.reshape(t.size, n)
            s = prof.sum(axis=1, keepdims=True)
            prof = np.where(s > 0, prof / np.where(s > 0, s, 1.0), 1.0 / n)
            wt = prof.ravel()
        else:
            raise InputDataError(f"{where}: profile {profile!r}: expected 'uniform' or 'diurnal'")
        idx = np.repeat(np.arange(t.size), n)
        out = da.isel(time=idx)
        wda = xr.DataArray(wt, dims=("time",))
        out = out * wda
        out = out.assign_coords(time=new_t)
        out.attrs = da.attrs
        out.name = da.name
        return out
    if ms % ss:
        raise InputDataError(f"{where}: model step {ms} is not a multiple of the source step {ss}")
    n = int(ms // ss)
    # model steps end on the clock: multiples of the model step from 00:00 UTC (daily steps = UTC
    # calendar days), or from local midnight when utc_offset is given (e.g. 8 → days end 16:00 UTC)
    if anchor is not None:
        off_ns = int(naive_utc(anchor).value) % ms.value
    else:
        off_ns = 0 if utc_offset is None else int(round(-_utc_offset_hours(utc_offset, where) * 3600e9))
    clock = ("00:00 UTC" if utc_offset is None else "local midnight") if anchor is None else f"{pd.Timestamp(anchor)}"
    tv = t.values.astype("datetime64[ns]").astype(np.int64)
    if np.any((tv - off_ns) % ss.value):
        raise InputDataError(f"{where}: source periods ending at {t[0]} (step {ss}) straddle the boundaries of the "
                             f"{ms} model steps (which end at multiples of {ms} from "
                             f"{clock})")
    starts = tv - ss.value  # period starts
    on_boundary = (starts - off_ns) % ms.value == 0  # source periods that start a model step
    first = int(np.argmax(on_boundary)) if on_boundary.any() else t.size
    nfull = (t.size - first) // n
    if nfull == 0:
        raise InputDataError(f"{where}: {t[0] - ss} … {t[-1]} holds no complete model step of {ms} "
                             f"(model steps end at multiples of {ms} from "
                             f"{clock})")
    last = first + nfull * n  # exclusive
    if first > 0 or last < t.size:
        parts = []
        if first > 0:
            parts.append(f"{first} leading source step(s) {t[0] - ss} … {t[first - 1]}")
        if last < t.size:
            parts.append(f"{t.size - last} trailing source step(s) {t[last] - ss} … {t[-1]}")
        warnings.warn(f"{where}: dropped {' and '.join(parts)}: they do not fill a whole model step of {ms} "
                      f"(a partial total is never presented as a full step)", UserWarning, stacklevel=2)
        da = da.isel(time=slice(first, last))
        t = t[first:last]
    out = da.coarsen(time=n, boundary="exact").reduce(np.sum)  # NaN stays NaN: a step with a missing part has no total
    out = out.assign_coords(time=t[n - 1::n])
    out.attrs = da.attrs
    out.name = da.name
    return out


def _target_spec(target_grid: Any) -> tuple[GridSpec, np.ndarray | None]:
    if isinstance(target_grid, GridSpec):
        return target_grid, None
    if not isinstance(target_grid, xr.DataArray):
        raise InputDataError("target_grid must be a DataArray (y, x) with a CRS (e.g. from hydro.io.open_dem)")
    spec = grid_of(target_grid, "target grid")
    # the mask in the (y, x) row-major order of the weights, whatever the order of the target's dims
    mask = np.isfinite(np.asarray(target_grid.transpose(..., spec.ydim, spec.xdim).values, dtype=np.float64)).ravel()
    return spec, mask


def _spec_centre_longitude(spec: GridSpec, mask: np.ndarray | None = None) -> float:
    """Longitude [degrees east] of the centre of a target grid's domain (its valid cells)."""
    from pyproj import Transformer

    x, y = spec.x, spec.y
    if mask is not None and mask.any():
        m = mask.reshape(spec.shape)
        x, y = x[m.any(axis=0)], y[m.any(axis=1)]
    xc = 0.5 * (float(x.min()) + float(x.max()))
    yc = 0.5 * (float(y.min()) + float(y.max()))
    lon = xc if spec.crs.is_geographic else Transformer.from_crs(spec.crs, "EPSG:4326", always_xy=True).transform(xc, yc)[0]
    return float((lon + 180.0) % 360.0 - 180.0)


def prepare(
    da: xr.DataArray,
    target_grid: Any,
    model_step: Any,
    *,
    method: str = "conservative",
    fill_policy: str | None = None,
    source_step: Any = None,
    start: Any = None,
    end: Any = None,
    profile: str = "uniform",
    crs: Any = None,
    dtype: Any = np.float64,
    vocabulary_name: str = "precipitation",
    utc_offset: Any = None,
) -> xr.DataArray:
    """Forcing on the model grid in **mm per model step**, lazily chunked in time.

    Parameters
    ----------
    da : DataArray (time, y, x)
        Source field with a ``units`` attribute (see :func:`hydro.forcing.units.parse_water_units`);
        from :func:`open_forcing` or any CRS/resolution.
    target_grid : DataArray (y, x) with a rio CRS (e.g. the DEM); NaN cells are outside the domain.
    model_step : str or Timedelta, 5 minutes to 1 day.
    method : "conservative" (area-weighted, default) or "bilinear".
    fill_policy : None (NaN inside the domain is an error when computed) or "zero".
    start, end : optional period (period-end labels) the forcing must cover. When the source is finer
        than the model step, model steps are summed so that they end at ``start + k·model_step``
        (the run's own labels), whatever the clock time of ``start``. With ``start``, forcing steps
        that do not end at these labels (e.g. ending at :30 for steps ending on the hour) are an error.
        Time-zone-aware values are converted to UTC.
    profile : "uniform" or "diurnal" (PET) for disaggregation; "diurnal" follows local solar time at
        the centre of the target grid (longitude from its CRS), see :func:`change_step`.
    utc_offset : optional, hours (or a duration) of local time ahead of UTC: for the diurnal profile,
        instead of local solar time; when aggregating (finer source), model steps end at multiples of
        the model step from local midnight instead of 00:00 UTC (see :func:`change_step`).
    vocabulary_name : vocabulary entry whose CF attributes are attached.

    Returns
    -------
    DataArray (time, y, x) on the target grid's coordinates; values are computed per time chunk
    when accessed (memory independent of the run length). Data errors inside chunks (NaN,
    negative) raise :class:`hydro.errors.InputDataError` naming file and variable at compute time.
    """
    from hydro.vocabulary import cf_attrs

    where = source_name(da)
    ms = pd.Timedelta(model_step)
    if ms < pd.Timedelta("5min") or ms > pd.Timedelta("1D"):
        raise InputDataError(f"model step {ms}: supported 5 minutes to 1 day")
    if fill_policy not in _FILL_POLICIES:
        raise InputDataError(f"fill_policy {fill_policy!r}: expected one of {_FILL_POLICIES}")
    if "time" not in da.dims:
        raise InputDataError(f"{where}: no time dimension")
    da = _with_real_times(da, where)
    bname = _bounds_name(da["time"])
    if bname:  # CF time bounds not yet applied (open_forcing applies them and drops the attribute)
        da = _relabel_to_period_end(da, _bounds_from_source(da, bname, where), where, bname)
    ss = _source_step(da, source_step, where)
    src = grid_of(da, where, crs=crs)
    extra = [d for d in da.dims if d not in ("time", src.ydim, src.xdim)]
    if extra:  # e.g. a height or level axis: a size-1 one is dropped, a longer one cannot be guessed
        if all(da.sizes[d] == 1 for d in extra):
            da = da.squeeze(extra, drop=True)
        else:
            raise InputDataError(f"{where}: dimensions {dict((d, da.sizes[d]) for d in extra)} besides time, "
                                 f"{src.ydim}, {src.xdim}: select one level/member first (e.g. da.isel(...))")
    units = da.attrs.get("units")
    max_mm = max_plausible_mm(ss)
    tgt, mask = _target_spec(target_grid)
    W = regrid_weights(src, tgt, method, where, mask=mask)  # coverage checked on the domain cells only
    amount = to_mm_per_step(da, ss)
    amount = amount.transpose("time", src.ydim, src.xdim)
    arr = amount.data if isinstance(amount.data, dsa.Array) else dsa.from_array(amount.values, chunks=(24, -1, -1))
    arr = arr.rechunk({1: -1, 2: -1})
    ny, nx = tgt.shape
    domain = mask if mask is not None else np.ones(ny * nx, bool)

    def regrid_block(block: np.ndarray) -> np.ndarray:
        nt = block.shape[0]
        flat = block.reshape(nt, -1)
        # NaN source cells only matter where they carry weight
        nan_src = ~np.isfinite(flat)
        if nan_src.any() and fill_policy == "zero":
            # missing source cells are no rain: a target cell partly on them keeps the rain of the rest
            vals = (W @ np.where(nan_src, 0.0, flat).T).T
        elif nan_src.any():
            touched = (W @ nan_src.T.astype(np.float64)).T > 0
            vals = (W @ np.where(nan_src, 0.0, flat).T).T
            vals[touched] = np.nan
        else:
            vals = (W @ flat.T).T
        vals = np.where(domain[None, :], vals, np.nan)
        inside = vals[:, domain]
        inside = _validate_block(inside, where, fill_policy, max_mm, units, ss)
        vals[:, domain] = inside
        return vals.reshape(nt, ny, nx).astype(dtype, copy=False)

    out_arr = arr.map_blocks(regrid_block, chunks=(arr.chunks[0], (ny,), (nx,)), dtype=dtype)
    tcoord = pd.DatetimeIndex(da["time"].values)
    out = xr.DataArray(out_arr, dims=("time", "y", "x"),
                       coords={"time": tcoord, "y": tgt.y, "x": tgt.x}, name=da.name)
    out.attrs["hydro_source"] = da.attrs.get("hydro_source", "<in memory>")
    lon = None
    if profile == "diurnal" and utc_offset is None:
        lon = _spec_centre_longitude(tgt, mask)
    # model steps end on the run's own labels when the run is known (start), else on the clock
    anchor = start if (start is not None and ss < ms) else None
    out = change_step(out, ms, source_step=ss, profile=profile, utc_offset=utc_offset, longitude=lon, anchor=anchor)
    if start is not None or end is not None:
        t = pd.DatetimeIndex(out["time"].values)
        a = naive_utc(start) if start is not None else t[0]
        b = naive_utc(end) if end is not None else t[-1]
        if a < t[0] or b > t[-1]:
            raise InputDataError(f"{where}: forcing covers {t[0]}…{t[-1]}, the run needs {a}…{b}")
        out = out.sel(time=slice(a, b))
        got = pd.DatetimeIndex(out["time"].values)
        if start is not None and not got.equals(pd.date_range(a, b, freq=ms)):
            # e.g. hourly amounts ending at :30 for a run whose steps end on the hour: every step would get
            # rain shifted by half a step (and the run fewer steps than start…end)
            raise InputDataError(f"{where}: forcing steps end at {t[0]}, {t[1] if t.size > 1 else t[0]}, …, not at the "
                                 f"run's labels {a} + k·{ms}: the rain would be shifted against the run (check the "
                                 f"time labels: period ends, time_bnds)")
    attrs = cf_attrs(vocabulary_name)
    attrs["units"] = "mm" if vocabulary_name == "precipitation" else attrs.get("units", "mm")
    attrs["cell_methods"] = f"time: sum (interval: {int(ms.total_seconds())} s)"
    attrs["hydro_source"] = where
    attrs["hydro_regridding"] = method
    out.attrs = attrs
    if isinstance(target_grid, xr.DataArray):
        try:
            out = out.rio.write_crs(tgt.crs)
        except Exception:  # noqa: BLE001 - the CRS is informative only
            pass
    return out
