"""Station rainfall (CSV) interpolated to the model grid: inverse distance or Thiessen polygons."""
from __future__ import annotations

import csv as _csv
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import CRS, Transformer

from hydro.errors import InputDataError, InputMissingError
from hydro.forcing.core import check_time_axis
from hydro.forcing.grid import grid_of, transform_points
from hydro.io.tables import read_csv

__all__ = ["stations_to_grid", "station_weights"]

#: envelope of the world's greatest point rainfalls, P [mm] = 422 · D[h]^0.475 (Jennings 1950; WMO-No. 1045):
#: 422 mm in 1 h, ~1,900 mm in 24 h; a station amount above it for the record step is a code or an error
_WORLD_RECORD_MM_PER_H475 = 422.0


def _great_circle(cell_xy: np.ndarray, station_xy: np.ndarray) -> np.ndarray:
    """Central angles [rad] (ncell × nstation) between longitude/latitude points in degrees (haversine)."""
    lon1, lat1 = np.deg2rad(cell_xy[:, None, 0]), np.deg2rad(cell_xy[:, None, 1])
    lon2, lat2 = np.deg2rad(station_xy[None, :, 0]), np.deg2rad(station_xy[None, :, 1])
    a = np.sin(0.5 * (lat2 - lat1)) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(0.5 * (lon2 - lon1)) ** 2
    return 2.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def station_weights(cell_xy: np.ndarray, station_xy: np.ndarray, method: str = "idw", power: float = 2.0, *,
                    geographic: bool = False) -> np.ndarray:
    """Weights (ncell × nstation), rows summing to 1. IDW: 1/d^p (a station on a cell centre
    takes all); Thiessen: the nearest station (ties: the first).

    ``geographic``: x/y are longitude/latitude in degrees and d is the great-circle distance (a degree of
    longitude is cos(latitude) of a degree of latitude, and 245° E is 115° W); else d is the planar distance
    in the (projected) coordinates.
    """
    cell_xy, station_xy = np.asarray(cell_xy, dtype=np.float64), np.asarray(station_xy, dtype=np.float64)
    if method == "idw" and not (np.isfinite(power) and power >= 0):  # NaN gave NaN cells, < 0 favoured far stations
        raise InputDataError(f"station interpolation: IDW power {power!r} must be a number >= 0 (usually 2)")
    if geographic:
        d = _great_circle(cell_xy, station_xy)
    else:
        d = np.hypot(cell_xy[:, None, 0] - station_xy[None, :, 0], cell_xy[:, None, 1] - station_xy[None, :, 1])
    if method == "thiessen":
        w = np.zeros_like(d)
        w[np.arange(d.shape[0]), np.argmin(d, axis=1)] = 1.0
        return w
    if method != "idw":
        raise InputDataError(f"station interpolation {method!r}: expected 'idw' or 'thiessen'")
    zero = d <= 1e-9
    with np.errstate(divide="ignore"):
        w = np.where(zero, 0.0, 1.0 / np.maximum(d, 1e-300) ** power)
    hit = zero.any(axis=1)
    w[hit] = zero[hit].astype(float)
    return w / w.sum(axis=1, keepdims=True)


def _utc_dates(col: pd.Series, where: Any) -> pd.DatetimeIndex:
    """Dates of a CSV column as naive UTC: dates with an offset (``2024-01-01 08:00+08:00``) are
    converted to UTC, dates without one are taken as UTC (the model's clock); a mix is an error."""
    s = col.astype(str).str.strip()
    empty = (col.isna() | (s == "")).to_numpy()
    if empty.any():  # a row without a date (e.g. a trailing ",,," row) was reported as "times are not sorted"
        raise InputDataError(f"{where}: data row {int(np.flatnonzero(empty)[0]) + 1} has no date")
    # an offset: +08:00, +0800, Z, an hour-only +08 after a time (08:00+08), or a UTC/GMT suffix
    has_tz = s.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z|(?<=:\d{2})\s?[+-]\d{2}|\s(?:UTC|GMT))$", regex=True)
    if has_tz.any() and not has_tz.all():
        raise InputDataError(f"{where}: some dates have a UTC offset and some not")
    try:
        with warnings.catch_warnings():  # "+08" offsets: pandas parses each date with dateutil (correctly) and says so
            warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
            if has_tz.any():
                return pd.DatetimeIndex(pd.to_datetime(s, utc=True)).tz_convert(None).rename(None)
            return pd.DatetimeIndex(pd.to_datetime(s)).rename(None)
    except (ValueError, TypeError) as exc:
        raise InputDataError(f"{where}: dates not understood: {exc}") from exc


def stations_to_grid(
    csv: str | os.PathLike[str],
    stations_csv: str | os.PathLike[str],
    target_grid: xr.DataArray,
    method: str = "idw",
    *,
    power: float = 2.0,
    date_column: str = "date",
    units: str = "mm",
    station_crs: Any = "EPSG:4326",
    label: str = "end",
) -> xr.DataArray:
    """Grid station rainfall [mm per record step] onto ``target_grid`` (y, x with a CRS).

    ``csv``: a ``date_column`` and one column per station id (amounts in ``units``, "mm" only; empty
    cells are missing values, other text is an error; duplicate columns are an error; negative values and
    amounts above the world-record envelope 422·D[h]^0.475 mm for the record step, such as the BMKG codes
    8888/9999, are errors). Dates with a
    UTC offset are converted to UTC, dates without one are UTC.
    ``stations_csv``: ``id, x, y`` in ``station_crs`` (default lon/lat EPSG:4326); duplicate ids and
    missing coordinates are errors; rain columns without a station are ignored with a warning.
    At each time the stations with a value are used (weights renormalised); a time with no station
    is an error. Stations outside the grid count like the others (IDW/Thiessen use distances only).
    Distances are planar in a projected target CRS and great-circle distances in a geographic one.

    ``label`` says what the dates of the CSV mark: ``"end"`` (default, the package's convention: the
    amount fell in the step *ending* at the date) or ``"start"`` (the step beginning at it, e.g. daily
    totals dated by their day: 2024-01-05 = rain of 5 January). The output is always labelled by
    period ends (a ``"start"`` record of 2024-01-05 becomes 2024-01-06 00:00); with ``"start"`` the
    step is taken from the dates, so at least two records are needed.
    """
    csv, stations_csv = Path(csv), Path(stations_csv)
    for p in (csv, stations_csv):
        if not p.is_file():
            raise InputMissingError(f"{p}: station file not found")
    if units != "mm":
        raise InputDataError(f"{csv}: station rain units {units!r}: only 'mm' (per record step) is supported")
    st = read_csv(stations_csv, dtype={"id": str})
    for c in ("id", "x", "y"):
        if c not in st.columns:
            raise InputDataError(f"{stations_csv}: column {c!r} missing (need id, x, y)")
    st["id"] = st["id"].str.strip()
    dup = st["id"][st["id"].duplicated()]
    if len(dup):
        raise InputDataError(f"{stations_csv}: duplicate station ids {sorted(set(dup))}")
    for c in ("x", "y"):
        xy = pd.to_numeric(st[c], errors="coerce")
        if not np.all(np.isfinite(xy)):
            bad = st["id"][~np.isfinite(xy.to_numpy(float))].tolist()
            raise InputDataError(f"{stations_csv}: missing or non-numeric {c} for stations {bad}")
        st[c] = xy
    with open(csv, newline="", encoding="utf-8-sig") as fh:
        header = [c.strip() for c in next(_csv.reader(fh), [])]
    dup_cols = sorted({c for c in header if header.count(c) > 1})
    if dup_cols:
        raise InputDataError(f"{csv}: duplicate columns {dup_cols} (one column per station)")
    df = read_csv(csv, dtype={date_column: str})
    df.columns = [str(c).strip() for c in df.columns]
    if date_column not in df.columns:
        raise InputDataError(f"{csv}: no column {date_column!r}")
    t = _utc_dates(df[date_column], csv)
    step = check_time_axis(t, str(csv))
    if label not in ("end", "start"):
        raise InputDataError(f"{csv}: label {label!r}: expected 'end' (dates mark period ends) or 'start'")
    if label == "start":
        if step is None:
            raise InputDataError(f"{csv}: label 'start' needs at least two records to know the step")
        t = t + step
    ids = [i for i in st["id"] if i in df.columns]
    missing = [i for i in st["id"] if i not in df.columns]
    if missing:
        raise InputDataError(f"{csv}: no column for stations {missing}")
    unused = [c for c in df.columns if c != date_column and c not in set(ids)]
    if unused:
        warnings.warn(f"{csv}: columns {unused} have no station in {stations_csv.name}: not used", UserWarning,
                      stacklevel=2)
    values = np.empty((len(df), len(ids)))
    for j, i in enumerate(ids):
        col = df[i]
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna() & (col.astype(str).str.strip() != "")
        if bad.any():
            k = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputDataError(f"{csv}: station {i}: value {col.iloc[k]!r} at {t[k]} is not a number "
                                 f"(leave missing values empty)")
        values[:, j] = num.to_numpy(np.float64)
    if np.isinf(values).any():  # "inf" was read as a missing value, silently
        r, c = np.argwhere(np.isinf(values))[0]
        raise InputDataError(f"{csv}: station {ids[c]}: value {values[r, c]:g} at {t[r]} is not a rainfall "
                             f"amount (leave missing values empty)")
    if np.any(values[np.isfinite(values)] < 0):
        r, c = np.argwhere(np.isfinite(values) & (values < 0))[0]
        raise InputDataError(f"{csv}: negative rainfall values, e.g. {values[r, c]:g} at station {ids[c]} on {t[r]} "
                             f"(a missing-value code such as -999 must be an empty cell)")
    if step is not None:  # positive missing-value codes (BMKG: 8888 not measured, 9999 no data) are no rain
        hours = step.total_seconds() / 3600.0
        limit = _WORLD_RECORD_MM_PER_H475 * hours ** 0.475
        over = np.isfinite(values) & (values > limit)
        if over.any():
            r, c = np.argwhere(over)[0]
            raise InputDataError(f"{csv}: station {ids[c]}: {values[r, c]:g} mm in one {step} step on {t[r]} exceeds the "
                                 f"world-record point rainfall for that duration ({limit:.0f} mm): a missing-value code "
                                 f"(e.g. BMKG 8888 'not measured', 9999 'no data')? Leave missing values empty")
    tgt = grid_of(target_grid, "target grid")
    try:
        scrs = CRS.from_user_input(station_crs)
    except Exception as exc:  # noqa: BLE001 - pyproj raises CRSError (a ValueError) or TypeError
        raise InputDataError(f"{stations_csv}: station_crs {station_crs!r} not understood: {exc}") from exc
    x0, y0 = st["x"].to_numpy(float), st["y"].to_numpy(float)
    hint = (f"x is the longitude (or easting), y the latitude (or northing) in station_crs {scrs.to_string()!r}; "
            f"projected coordinates need station_crs= (e.g. 'EPSG:32750')")
    if scrs.is_geographic:
        off = (np.abs(y0) > 90.0) | (np.abs(x0) > 360.0)
        if off.any():
            raise InputDataError(f"{stations_csv}: stations {st['id'][off].tolist()} have x/y outside longitude/latitude "
                                 f"ranges ({hint})")
    tr = Transformer.from_crs(scrs, tgt.crs, always_xy=True)
    sx, sy = transform_points(tr, x0, y0)
    off = ~(np.isfinite(sx) & np.isfinite(sy))
    if off.any():  # a station with no position in the grid's CRS would silently get no weight (or NaN the grid)
        raise InputDataError(f"{stations_csv}: stations {st['id'][off].tolist()} cannot be placed in the grid's CRS "
                             f"({hint})")
    X, Y = np.meshgrid(tgt.x, tgt.y)
    cells = np.column_stack([X.ravel(), Y.ravel()])
    sxy = np.column_stack([np.asarray(sx), np.asarray(sy)])
    out = np.empty((t.size, X.size))
    avail = np.isfinite(values)
    if not avail.any(axis=1).all():
        k = int(np.flatnonzero(~avail.any(axis=1))[0])
        raise InputDataError(f"{csv}: no station has a value at {t[k]}")
    # group times by availability pattern (usually one or a few) to reuse weights
    patterns, inverse = np.unique(avail, axis=0, return_inverse=True)
    for k, pat in enumerate(patterns):
        w = station_weights(cells, sxy[pat], method, power, geographic=tgt.crs.is_geographic)
        rows = np.flatnonzero(inverse.ravel() == k)
        out[rows] = values[np.ix_(rows, np.flatnonzero(pat))] @ w.T
    # (y, x) row-major like ``cells``, whatever the order of the target's dims
    mask = np.isfinite(np.asarray(target_grid.transpose(..., tgt.ydim, tgt.xdim).values, float)).ravel()
    out[:, ~mask] = np.nan
    from hydro.vocabulary import cf_attrs

    attrs = cf_attrs("precipitation")
    attrs["comment"] = f"station rainfall from {csv.name}, {method} interpolation"
    return xr.DataArray(out.reshape(t.size, *tgt.shape), dims=("time", "y", "x"),
                        coords={"time": t, "y": tgt.y, "x": tgt.x}, name="precipitation", attrs=attrs)
