"""Checking and reading incoming ``hydro-exchange-1.0`` files (untrusted input).

An incoming file is handled as hostile until proven otherwise:

1. ``stat`` first: it must be a regular file no larger than ``max_bytes``;
2. at most ``max_bytes + 1`` bytes are read into memory **once** (no second look at the path, so
   the checked bytes are the parsed bytes), and they must start with the HDF5 signature
   (NetCDF-4); anything else — netCDF-3, a pickle, gzip, text — is refused before any parser sees
   it, naming what it looks like;
3. the bytes are parsed by netCDF-C from memory (``netCDF4.Dataset(memory=...)``) with no time
   decoding by xarray; nothing is ever unpickled, evaluated or fetched from a URL;
4. the declared (decompressed) size of the variables is bounded before any value is read
   (compression bombs);
5. untrusted strings are shown ``repr``-escaped and cut to 60 characters in messages.

:func:`validate_exchange` returns every problem found; :func:`read_exchange` raises
:class:`~hydro.errors.InputDataError` with one line for the first error.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError, InputMissingError
from hydro.times import naive_utc
from hydro.io.netcdf import NETCDF_LOCK
from hydro.exchange.profile import (
    CONFIG_HASH_ATTR,
    DEFAULT_MAX_BYTES,
    DISCHARGE_STANDARD_NAME,
    DISCHARGE_UNITS,
    MAX_DISCHARGE,
    PROFILE,
    PROFILE_ATTR,
    PROFILE_NAME,
    REALIZATION_DIM,
    REGION_ATTR,
    RUN_ID_ATTR,
    VERSION_ATTR,
    discharge_factor,
    xy_unit,
)

__all__ = ["HDF5_SIGNATURE", "MAX_DECODED_FACTOR", "Problem", "read_exchange", "validate_exchange"]

logger = logging.getLogger(__name__)

#: first 8 bytes of an HDF5 (NetCDF-4) file
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: the variables' declared in-memory size may be at most this many times ``max_bytes``
#: (and at least 64 MiB): bounds decompression bombs
MAX_DECODED_FACTOR = 4
#: distance allowed between the lat/lon given and the one computed from x/y and crs [m]
LATLON_TOLERANCE_M = 250.0
#: the units CF §4.1/§4.2 allows for latitude and longitude (UDUNITS spellings), and "degrees"
_LATLON_UNITS = {
    "latitude": ("degrees_north", "degree_north", "degree_N", "degrees_N", "degreeN", "degreesN", "degrees"),
    "longitude": ("degrees_east", "degree_east", "degree_E", "degrees_E", "degreeE", "degreesE", "degrees"),
}

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`validate_exchange`.

    Attributes
    ----------
    severity : {"error", "warning"}
        Errors make a file unusable (``hydro validate`` exits 65); warnings are reported only.
    code : str
        Short stable key of the check (``size``, ``format``, ``profile``, ``units``, ``ids``,
        ``time``, ``values``, ``cf``…), for scripts and tests.
    message : str
        One line for a person.
    """

    severity: Severity
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message} [{self.code}]"


def _show(value: Any, limit: int = 60) -> str:
    """Untrusted text for a message: repr-escaped (no control characters), cut to ``limit``."""
    s = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return repr(s[:limit] + ("…" if len(s) > limit else ""))


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


# ----------------------------------------------------------------------------------------------
# bytes: size and signature
def _sniff(head: bytes) -> str | None:
    """What a non-HDF5 file looks like (None when it has the HDF5 signature)."""
    if head.startswith(HDF5_SIGNATURE):
        return None
    if len(head) == 0:
        return "an empty file"
    if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
        return "a netCDF-3 classic file (the profile needs NetCDF-4/HDF5)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (never unpickled)"
    if head[:2] == b"\x1f\x8b":
        return "a gzip archive"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "a TIFF image"
    if head.lstrip()[:1] in (b"{", b"[", b"<"):
        return "a text (JSON/XML/HTML) file"
    if len(head) < len(HDF5_SIGNATURE) and HDF5_SIGNATURE.startswith(head):
        return "a truncated file"
    return f"unknown data (first bytes {head[:8]!r})"


def _read_bytes(path: Path, max_bytes: int) -> tuple[bytes | None, list[Problem]]:
    """Read an incoming file into memory after the size and type checks."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputMissingError(f"exchange file not found: {path}") from None
    except OSError as exc:
        return None, [Problem("error", "file", f"cannot stat the file: {exc.strerror or exc}")]
    if not stat.S_ISREG(st.st_mode):
        return None, [Problem("error", "file", "not a regular file")]
    if st.st_size > max_bytes:
        return None, [Problem("error", "size", f"file is {_mb(st.st_size)}, larger than the limit of {_mb(max_bytes)} (not opened)")]
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        return None, [Problem("error", "file", f"cannot read the file: {exc.strerror or exc}")]
    if len(data) > max_bytes:  # grew since stat
        return None, [Problem("error", "size", f"file is larger than the limit of {_mb(max_bytes)} (not opened)")]
    kind = _sniff(data[:16])
    if kind is not None:
        return None, [Problem("error", "format", f"not a NetCDF-4/HDF5 file: it looks like {kind}")]
    return data, []


def _open_memory(data: bytes, name: str) -> Any:
    import netCDF4

    return netCDF4.Dataset(name, mode="r", memory=data)


# ----------------------------------------------------------------------------------------------
@dataclass
class _Info:
    """What the checks learnt about a file (used by :func:`read_exchange`)."""

    discharge: str | None = None
    factor: float = 1.0
    inst_dim: str | None = None
    ids: list[str] = field(default_factory=list)
    time: pd.DatetimeIndex | None = None
    frt: pd.Timestamp | None = None
    members: list[int] | None = None
    crs_wkt: str | None = None
    region: str | None = None
    #: averaging period of each value (from time_bnds, else the time step) and the cell methods
    period: pd.Timedelta | None = None
    cell_methods: str | None = None
    #: per-point variable of each standard name (latitude, …, projection_y_coordinate)
    point_vars: dict[str, str] = field(default_factory=dict)


def _attr_str(attrs: dict[str, Any], key: str) -> str | None:
    v = attrs.get(key)
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return None
    return str(v)


#: an ISO 8601 time with an optional Z or numeric offset (global forecast_reference_time)
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
#: the reference date of CF time units: date, optional time, optional Z / UTC / numeric offset
_REFERENCE_DATE = re.compile(r"\d{1,4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{1,2}(:\d{1,2}(\.\d+)?)?)?"
                             r"( ?(Z|UTC|GMT|(?P<sign>[+-])(?P<hh>\d{1,2})(:?(?P<mm>\d{2}))?))?")
#: the largest UTC offset in use (UTC+14, Kiribati; the smallest is UTC-12): "+80" for "+08" is a typo, not a zone
_MAX_OFFSET_H = 14


def _decode_times(var: xr.Variable, units: Any = None, calendar: Any = None) -> pd.DatetimeIndex:
    """Decode raw CF time values (units ``<unit> since <date>``) to UTC naive datetimes."""
    units = var.attrs.get("units") if units is None else units
    calendar = var.attrs.get("calendar", "standard") if calendar is None else calendar
    if not isinstance(units, str) or " since " not in units or len(units) > 80:
        raise ValueError(f"units {_show(units)} are not '<unit> since <date>'")
    # the reference date strictly: ISO 8601 with an optional Z, UTC or numeric offset (pandas drops zone names it
    # does not know, "WITA", "Asia/Makassar", and reads "UTC+8" with the sign flipped: silent 8-16 h shifts)
    ref = units.split(" since ", 1)[1].strip()
    m = _REFERENCE_DATE.fullmatch(ref)
    if not m:
        raise ValueError(f"units {_show(units)}: the reference date must be ISO 8601 in UTC or with a numeric offset "
                         f"(e.g. 'hours since 2026-01-10 00:00:00', '... 2026-01-10T08:00+08:00'), not a zone name")
    if m.group("hh") is not None and (int(m.group("hh")) + int(m.group("mm") or 0) / 60.0 > _MAX_OFFSET_H
                                      or int(m.group("mm") or 0) >= 60):
        # pandas applies any offset: "+80" (for "+08") or "+24" moved every time by days without a word
        raise ValueError(f"units {_show(units)}: UTC offset {m.group('sign')}{m.group('hh')}"
                         f"{':' + m.group('mm') if m.group('mm') else ''} is not a time zone offset "
                         f"(at most {_MAX_OFFSET_H} hours, e.g. +08:00)")
    if str(calendar).lower() not in ("standard", "gregorian", "proleptic_gregorian"):
        raise ValueError(f"calendar {_show(calendar)} is not 'standard'")
    raw = np.asarray(var.values)
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"values are {raw.dtype}, not numbers")
    if raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
        raise ValueError("missing (NaN/fill) time values")
    from xarray.coding.times import decode_cf_datetime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = decode_cf_datetime(raw.ravel(), units, str(calendar))
    idx = naive_utc(pd.DatetimeIndex(pd.to_datetime(np.asarray(out))))
    if raw.dtype.kind == "f":
        # float offsets (e.g. 10-minute steps in "hours since") decode a few ns off: 02:09:59.999999999
        idx = idx.round("ms")
    return idx


def _check_globals(ds: xr.Dataset, region: str | None, info: _Info) -> list[Problem]:
    p: list[Problem] = []
    a = ds.attrs
    prof = _attr_str(a, PROFILE_ATTR)
    if prof is None:
        p.append(Problem("error", "profile", f"no global attribute {PROFILE_ATTR} (expected {PROFILE!r})"))
    elif prof != PROFILE:
        major = PROFILE.rsplit(".", 1)[0] + "."
        if prof.startswith(major):
            p.append(Problem("warning", "profile", f"{PROFILE_ATTR} is {_show(prof)}, this reader knows {PROFILE!r} (same major version)"))
        else:
            p.append(Problem("error", "profile", f"{PROFILE_ATTR} is {_show(prof)}, expected {PROFILE!r} ({PROFILE_NAME} major version 1)"))
    conv = _attr_str(a, "Conventions") or ""
    cf = [c.strip() for c in conv.replace(" ", ",").split(",") if c.strip().startswith("CF-")]
    if not cf:
        p.append(Problem("error", "conventions", f"global Conventions {_show(conv)} names no CF version"))
    else:
        try:
            major, minor = (int(v) for v in cf[0][3:].split(".")[:2])
            if (major, minor) < (1, 8):
                p.append(Problem("error", "conventions", f"Conventions {cf[0]}: the profile needs CF-1.8 or later"))
        except ValueError:
            p.append(Problem("error", "conventions", f"cannot read the CF version in Conventions {_show(conv)}"))
    ft = _attr_str(a, "featureType")
    if ft is None or ft.lower() != "timeseries":
        p.append(Problem("error", "featuretype", f"global featureType is {_show(ft)}, expected 'timeSeries'"))
    reg = _attr_str(a, REGION_ATTR)
    info.region = reg
    if not reg or not reg.strip():
        p.append(Problem("error", "provenance", f"no issuing region (global attribute {REGION_ATTR})"))
    elif region is not None and reg != region:
        p.append(Problem("error", "region", f"issued by region {_show(reg)}, expected {_show(region)}"))
    for key in (RUN_ID_ATTR, "source", "date_created"):
        if not (_attr_str(a, key) or "").strip():
            p.append(Problem("error", "provenance", f"no global attribute {key} (provenance)"))
    dc = _attr_str(a, "date_created")
    if dc:
        try:
            pd.Timestamp(dc[:40])
        except (ValueError, TypeError):
            p.append(Problem("error", "provenance", f"date_created {_show(dc)} is not an ISO 8601 time"))
    for key in (CONFIG_HASH_ATTR, VERSION_ATTR, "institution", "title"):
        if not (_attr_str(a, key) or "").strip():
            p.append(Problem("warning", "provenance", f"no global attribute {key}"))
    return p


def _find_discharge(ds: xr.Dataset, info: _Info) -> list[Problem]:
    cands = [str(n) for n, v in ds.variables.items() if v.attrs.get("standard_name") == DISCHARGE_STANDARD_NAME]
    if not cands:
        return [Problem("error", "variable", f"no variable with standard_name {DISCHARGE_STANDARD_NAME!r}")]
    if len(cands) > 1:
        return [Problem("error", "variable", f"{len(cands)} variables have standard_name {DISCHARGE_STANDARD_NAME!r} "
                                             f"({', '.join(_show(c, 30) for c in cands[:4])}); the profile allows one")]
    name = cands[0]
    info.discharge = name
    var = ds.variables[name]
    p: list[Problem] = []
    units = var.attrs.get("units")
    factor = discharge_factor(units) if isinstance(units, str) else None
    if factor is None:
        p.append(Problem("error", "units", f"discharge {_show(name, 30)} has units {_show(units)}, expected {DISCHARGE_UNITS!r}"))
    else:
        info.factor = factor
        if factor != 1.0:
            p.append(Problem("warning", "units", f"discharge units {_show(units)} are converted to {DISCHARGE_UNITS!r} (×{factor:g})"))
    if var.dtype.kind != "f":
        p.append(Problem("error", "variable", f"discharge is stored as {var.dtype}, expected float"))
    cm = var.attrs.get("cell_methods")
    methods = _time_methods(cm[:2000]) if isinstance(cm, str) else []
    if isinstance(cm, str) and len(cm) > 2000:
        p.append(Problem("error", "variable", f"discharge cell_methods {_show(cm)} is longer than 2000 characters"))
    elif not methods:
        p.append(Problem("warning", "variable", f"discharge cell_methods {_show(cm)}: state 'time: mean' or 'time: point'"))
    elif len(methods) > 1 or methods[0] not in ("mean", "point"):
        # a peak, a sum or a climatology routed as a flow gives wrong volumes (hydro's own
        # max_discharge has the discharge standard name and "time: maximum")
        p.append(Problem("error", "variable", f"discharge cell_methods {_show(cm)}: the profile needs period means "
                                              "('time: mean') or instantaneous values ('time: point')"))
    else:
        assert isinstance(cm, str)
        info.cell_methods = cm if cm.replace(" ", "").startswith(f"time:{methods[0]}") else f"time: {methods[0]}"
    return p


def _time_methods(cm: str) -> list[str]:
    """The methods a CF ``cell_methods`` string applies to ``time`` (CF §7.3), in order.

    ``"area: mean time: maximum (interval: 1 hour)"`` -> ``["maximum"]``; ``"time: mean within
    days time: maximum over days"`` -> ``["mean", "maximum"]``; no ``time`` entry -> ``[]``.
    """
    text = re.sub(r"\([^)]*\)", " ", cm)  # comments and intervals
    tokens = re.sub(r"\s*:", ":", text).replace(":", ": ").split()
    out: list[str] = []
    names: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.endswith(":"):
            names.append(tok[:-1])
            i += 1
            continue
        if names:  # the method of the names collected so far
            if "time" in names:
                out.append(tok.lower())
            names = []
        i += 1
        while i < len(tokens) and tokens[i] in ("where", "over", "within"):  # qualifiers and their type
            i += 2
    return out


def _check_instances(ds: xr.Dataset, info: _Info, expected_ids: Sequence[str] | None) -> list[Problem]:
    idv = [str(n) for n, v in ds.variables.items() if v.attrs.get("cf_role") == "timeseries_id"]
    if not idv:
        return [Problem("error", "ids", "no variable with cf_role = 'timeseries_id' (not a CF DSG timeSeries file)")]
    if len(idv) > 1:
        return [Problem("error", "ids", f"{len(idv)} variables have cf_role = 'timeseries_id'; the profile allows one")]
    var = ds.variables[idv[0]]
    if var.ndim != 1:
        return [Problem("error", "ids", f"{_show(idv[0], 30)} has dims {var.dims}, expected one instance dimension")]
    info.inst_dim = str(var.dims[0])
    raw = np.asarray(var.values)
    if raw.dtype.kind not in "SUO":
        return [Problem("error", "ids", f"{_show(idv[0], 30)} holds {raw.dtype}, expected characters")]
    ids = [(s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s)).strip() for s in raw.ravel()]
    info.ids = ids
    p: list[Problem] = []
    if not ids:
        p.append(Problem("error", "ids", "no border points (empty instance dimension)"))
    if any(not i for i in ids):
        p.append(Problem("error", "ids", "empty point id"))
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        p.append(Problem("error", "ids", f"duplicate point ids {', '.join(_show(d, 30) for d in dup[:5])}"))
    if expected_ids is not None:
        missing = [i for i in expected_ids if i not in ids]
        extra = [i for i in ids if i not in set(expected_ids)]
        if missing:
            p.append(Problem("error", "ids", f"expected point ids missing: {', '.join(_show(i, 30) for i in missing[:10])}; "
                                             f"file has {', '.join(_show(i, 30) for i in ids[:10])}"))
        if extra:
            p.append(Problem("warning", "ids", f"unexpected point ids (ignored): {', '.join(_show(i, 30) for i in extra[:10])}"))
    n = len(ids)
    coords: dict[str, np.ndarray] = {}
    for name, std, units, required in (("lat", "latitude", "degrees_north", True), ("lon", "longitude", "degrees_east", True),
                                       ("x", "projection_x_coordinate", "m", True), ("y", "projection_y_coordinate", "m", True)):
        cand = _point_candidates(ds, info, std)
        if not cand:
            p.append(Problem("error", "coordinates", f"no per-point variable with standard_name {std!r}"))
            continue
        if len(cand) > 1:
            p.append(Problem("error", "coordinates", f"{len(cand)} per-point variables with standard_name {std!r} "
                                                     f"({', '.join(_show(c, 30) for c in cand[:4])}) and the discharge's "
                                                     "coordinates attribute does not name one of them"))
            continue
        info.point_vars[std] = cand[0]
        v = ds.variables[cand[0]]
        vals = np.asarray(v.values, dtype=np.float64) if v.dtype.kind in "iuf" else None
        if vals is None or vals.shape != (n,) or not np.all(np.isfinite(vals)):
            p.append(Problem("error", "coordinates", f"{std} of the points is missing or not finite"))
            continue
        u = v.attrs.get("units")
        if std in ("latitude", "longitude"):
            if u not in _LATLON_UNITS[std]:
                p.append(Problem("error", "coordinates", f"{std} units {_show(u)}, expected {units!r}"))
            lim = 90.0 if std == "latitude" else 360.0
            if np.any(np.abs(vals) > lim):
                p.append(Problem("error", "coordinates", f"{std} outside ±{lim:g}°"))
        elif u not in ("m", "metre", "meter", "metres", "meters"):
            p.append(Problem("error", "coordinates", f"{std} units {_show(u)}, expected 'm'"))
        coords[std] = vals
    p += _check_crs(ds, info, coords)
    return p


def _check_crs(ds: xr.Dataset, info: _Info, coords: dict[str, np.ndarray]) -> list[Problem]:
    from pyproj import CRS, Transformer

    gm = None
    if info.discharge is not None:
        gm = ds.variables[info.discharge].attrs.get("grid_mapping")
    if not isinstance(gm, str) or not gm.strip():
        return [Problem("error", "crs", "discharge has no grid_mapping attribute (the CRS of x/y)")]
    name = gm.split(":")[0].strip() if ":" in gm else gm.strip()
    if name not in ds.variables:
        return [Problem("error", "crs", f"grid_mapping variable {_show(name, 30)} does not exist")]
    wkt = ds.variables[name].attrs.get("crs_wkt")
    if not isinstance(wkt, str) or len(wkt) > 20000:
        return [Problem("error", "crs", f"grid_mapping variable {_show(name, 30)} has no crs_wkt")]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crs = CRS.from_wkt(wkt)
    except Exception:  # noqa: BLE001 - pyproj.CRSError and others
        return [Problem("error", "crs", f"crs_wkt of {_show(name, 30)} cannot be read")]
    if crs.is_geographic:
        return [Problem("error", "crs", "crs is geographic: x/y need a projected CRS")]
    unit = xy_unit(crs)
    if unit is not None:
        # x/y in feet labelled "m" (the profile's unit): 3.28 times too far from the origin for a CF reader
        return [Problem("error", "crs", f"crs has x/y in {_show(unit, 30)}, the profile's x/y are in metres (units 'm')")]
    info.crs_wkt = wkt
    need = ("latitude", "longitude", "projection_x_coordinate", "projection_y_coordinate")
    if all(k in coords for k in need):
        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        pts = [tr.transform(float(a), float(b)) for a, b in zip(coords["projection_x_coordinate"], coords["projection_y_coordinate"])]
        lon, lat = np.array([q[0] for q in pts]), np.array([q[1] for q in pts])
        dlat = (np.asarray(lat) - coords["latitude"]) * 111_320.0
        dlon = ((np.asarray(lon) - coords["longitude"] + 180.0) % 360.0 - 180.0) * 111_320.0 * np.cos(np.radians(coords["latitude"]))
        dist = np.hypot(dlat, dlon)
        if not np.all(np.isfinite(dist)) or np.max(dist) > LATLON_TOLERANCE_M:
            i = int(np.nanargmax(np.where(np.isfinite(dist), dist, np.inf)))
            return [Problem("error", "crs", f"lat/lon and x/y (crs) of point {_show(info.ids[i] if i < len(info.ids) else i, 30)} "
                                            f"disagree by {dist[i]:.0f} m (wrong CRS?)")]
    return []


def _check_time(ds: xr.Dataset, info: _Info) -> list[Problem]:
    if "time" not in ds.variables or ds.variables["time"].dims != ("time",):
        return [Problem("error", "time", "no time coordinate variable 'time'")]
    tv = ds.variables["time"]
    try:
        t = _decode_times(tv)
    except (ValueError, TypeError, OverflowError) as exc:
        return [Problem("error", "time", f"time cannot be decoded: {exc}")]
    except Exception as exc:  # noqa: BLE001 - cftime/pandas errors on hostile units
        return [Problem("error", "time", f"time cannot be decoded ({type(exc).__name__})")]
    p: list[Problem] = []
    if len(t) == 0:
        return [Problem("error", "time", "empty time axis")]
    info.time = t
    v = t.asi8
    d = np.diff(v)
    if np.any(d == 0):
        i = int(np.flatnonzero(d == 0)[0])
        p.append(Problem("error", "time", f"duplicate time {t[i]:%Y-%m-%dT%H:%MZ} ({int(np.sum(d == 0))} duplicates)"))
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        p.append(Problem("error", "time", f"times are not increasing: {t[i]:%Y-%m-%dT%H:%MZ} then {t[i + 1]:%Y-%m-%dT%H:%MZ}"))
    pos = d[d > 0]
    step: int | None = None
    if pos.size and not p:
        vals, counts = np.unique(pos, return_counts=True)
        step = int(vals[np.argmax(counts)])
        info.period = pd.Timedelta(step, "ns")
        bad = np.flatnonzero(d != step)
        if bad.size:
            i = int(bad[0])
            kind = "gap" if d[i] > step else "irregular step"
            p.append(Problem("error", "time", f"{kind}: {t[i]:%Y-%m-%dT%H:%MZ} to {t[i + 1]:%Y-%m-%dT%H:%MZ} "
                                              f"(step {pd.Timedelta(step, 'ns')}, {bad.size} irregular intervals)"))
    bname = tv.attrs.get("bounds")
    if not isinstance(bname, str):
        p.append(Problem("warning", "time", "time has no bounds (time_bnds): the averaging period is not stated"))
    elif bname not in ds.variables:
        p.append(Problem("error", "time", f"time bounds variable {_show(bname, 30)} does not exist"))
    else:
        bv = ds.variables[bname]
        try:
            if bv.shape != (len(t), 2):
                raise ValueError(f"shape {bv.shape}, expected ({len(t)}, 2)")
            b = _decode_times(bv, bv.attrs.get("units", tv.attrs.get("units")), bv.attrs.get("calendar", tv.attrs.get("calendar", "standard")))
            b = np.asarray(b.asi8).reshape(-1, 2)
            if np.any(b[:, 1] != v) or np.any(b[:, 0] >= b[:, 1]):
                raise ValueError("bounds must be (start, end = time) with start < end")
            # contiguous periods, no gap or overlap, each as long as the time step
            brk = np.flatnonzero(b[1:, 0] != b[:-1, 1])
            if brk.size:
                i = int(brk[0]) + 1
                kind = "gap" if b[i, 0] > b[i - 1, 1] else "overlap"
                raise ValueError(f"{kind}: the period ending {t[i]:%Y-%m-%dT%H:%MZ} starts at "
                                 f"{pd.Timestamp(b[i, 0]):%Y-%m-%dT%H:%MZ}, the previous one ends at "
                                 f"{pd.Timestamp(b[i - 1, 1]):%Y-%m-%dT%H:%MZ} ({brk.size} such periods)")
            width = b[:, 1] - b[:, 0]
            if step is not None and np.any(width != step):
                i = int(np.flatnonzero(width != step)[0])
                raise ValueError(f"the period ending {t[i]:%Y-%m-%dT%H:%MZ} lasts {pd.Timedelta(int(width[i]), 'ns')}, "
                                 f"the time step is {pd.Timedelta(step, 'ns')}")
            info.period = pd.Timedelta(int(width[0]), "ns")
        except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a reported problem
            p.append(Problem("error", "time", f"time bounds: {exc}"))
    frt = [str(n) for n, var in ds.variables.items() if var.attrs.get("standard_name") == "forecast_reference_time"]
    if not frt:
        p.append(Problem("error", "reference_time", "no forecast_reference_time variable (standard_name forecast_reference_time)"))
    else:
        fv = ds.variables[frt[0]]
        try:
            if fv.size != 1:
                raise ValueError(f"it has {fv.size} values, expected one")
            info.frt = _decode_times(fv)[0]
        except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a reported problem
            p.append(Problem("error", "reference_time", f"forecast_reference_time cannot be decoded: {exc}"))
        else:
            if info.frt > t[-1]:
                p.append(Problem("error", "reference_time", f"forecast_reference_time {info.frt:%Y-%m-%dT%H:%MZ} is after the last time "
                                                            f"{t[-1]:%Y-%m-%dT%H:%MZ}"))
            p += _check_global_frt(ds, info.frt)
    return p


def _check_global_frt(ds: xr.Dataset, frt: pd.Timestamp) -> list[Problem]:
    """The informative global ``forecast_reference_time`` must be the variable's time (profile §3):
    two different reference times in one file (e.g. local time in one place) leave the run unknown."""
    g = _attr_str(ds.attrs, "forecast_reference_time")
    if g is None or not g.strip():
        return []
    try:
        if not _ISO_TIME.fullmatch(g.strip()):  # a zone name would be dropped by pandas (read as UTC)
            raise ValueError(g)
        ts = naive_utc(g.strip()[:40])
        if pd.isna(ts):
            raise ValueError(g)
    except (ValueError, TypeError, OverflowError):
        return [Problem("warning", "reference_time", f"global forecast_reference_time {_show(g)} is not an ISO 8601 time")]
    if abs(ts - frt) >= pd.Timedelta(1, "s"):  # the attribute is written to the second
        return [Problem("error", "reference_time", f"global forecast_reference_time {_show(g)} is not the variable's "
                                                   f"{frt:%Y-%m-%dT%H:%MZ} (UTC)")]
    return []


def _check_values(ds: xr.Dataset, info: _Info) -> list[Problem]:
    assert info.discharge is not None and info.inst_dim is not None
    var = ds.variables[info.discharge]
    dims = var.dims
    has_real = REALIZATION_DIM in dims
    want = ((REALIZATION_DIM,) if has_real else ()) + (info.inst_dim, "time")
    if dims != want:
        return [Problem("error", "dims", f"discharge dims {dims}, expected {want}")]
    p: list[Problem] = []
    if has_real:
        if REALIZATION_DIM not in ds.variables:
            p.append(Problem("error", "realization", f"no coordinate variable {REALIZATION_DIM!r}"))
        else:
            rv = ds.variables[REALIZATION_DIM]
            members = np.asarray(rv.values)
            if rv.attrs.get("standard_name") != "realization":
                p.append(Problem("error", "realization", f"{REALIZATION_DIM} has standard_name {_show(rv.attrs.get('standard_name'))}, expected 'realization'"))
            if members.dtype.kind not in "iu":
                p.append(Problem("error", "realization", f"{REALIZATION_DIM} values are {members.dtype}, expected integers"))
            elif len(np.unique(members)) != members.size:
                p.append(Problem("error", "realization", "duplicate ensemble member numbers"))
            else:
                info.members = [int(m) for m in members]
            if members.size == 0:
                p.append(Problem("error", "realization", "empty realization dimension"))
    else:
        other = [d for d in dims if d not in (info.inst_dim, "time")]
        if other:
            p.append(Problem("error", "dims", f"unexpected dimensions {other}"))
    vals = np.asarray(var.values, dtype=np.float64)
    cf_missing = _missing_by_cf(var, vals)
    bad = ~np.isfinite(vals) | cf_missing
    if bad.any():
        idx = np.unravel_index(int(np.flatnonzero(bad)[0]), vals.shape)
        where = _where(info, idx, has_real)
        why = f" ({int(cf_missing.sum())} outside the valid range or netCDF's default fill)" if cf_missing.any() else ""
        p.append(Problem("error", "values", f"{int(bad.sum())} missing (NaN/fill) or infinite discharge values, first {where}{why}"))
    q = np.where(bad, np.nan, vals) * info.factor  # m3 s-1, as read_exchange returns them
    neg = np.isfinite(q) & (q < 0)
    if neg.any():
        idx = np.unravel_index(int(np.flatnonzero(neg)[0]), vals.shape)
        p.append(Problem("error", "values", f"{int(neg.sum())} negative discharge values (min {np.min(vals[neg]):g}), first {_where(info, idx, has_real)}"))
    big = np.isfinite(q) & (q > MAX_DISCHARGE)
    if big.any():
        idx = np.unravel_index(int(np.flatnonzero(big)[0]), vals.shape)
        p.append(Problem("error", "values", f"{int(big.sum())} implausible discharge values above {MAX_DISCHARGE:g} {DISCHARGE_UNITS} "
                                            f"(max {np.max(q[big]):g}; a fill value or wrong units?), first {_where(info, idx, has_real)}"))
    return p


def _missing_by_cf(var: xr.Variable, vals: np.ndarray) -> np.ndarray:
    """Values CF treats as missing that xarray's decoding leaves in (CF §2.5.1, §8.1).

    ``_FillValue``/``missing_value`` are already NaN. Also missing: values outside ``valid_min``,
    ``valid_max`` or ``valid_range`` (given in packed units when the variable is packed), and,
    without any declared fill value, netCDF's default fill of the on-disk type (unwritten values).
    """
    enc = var.encoding
    scale = float(enc.get("scale_factor", 1.0))
    offset = float(enc.get("add_offset", 0.0))
    packed = "scale_factor" in enc or "add_offset" in enc

    def unpack(v: Any) -> float:
        return float(v) * scale + offset if packed else float(v)

    lo, hi = -np.inf, np.inf
    a = var.attrs
    try:
        vr = np.asarray(a["valid_range"], dtype=np.float64).ravel() if "valid_range" in a else None
        if vr is not None and vr.size == 2:
            lo, hi = sorted((unpack(vr[0]), unpack(vr[1])))
        if "valid_min" in a:
            lo = unpack(np.asarray(a["valid_min"], dtype=np.float64).ravel()[0])
        if "valid_max" in a:
            hi = unpack(np.asarray(a["valid_max"], dtype=np.float64).ravel()[0])
    except (ValueError, TypeError, IndexError):
        lo, hi = -np.inf, np.inf  # unreadable limits: the other checks still apply
    with np.errstate(invalid="ignore"):
        out = (vals < lo) | (vals > hi)
        if "_FillValue" not in enc and "missing_value" not in enc:
            import netCDF4

            disk = np.dtype(enc.get("dtype", var.dtype))
            default = netCDF4.default_fillvals.get(f"{disk.kind}{disk.itemsize}")
            if default is not None:
                fill = unpack(np.asarray(default, dtype=disk))
                out |= np.isclose(vals, fill, rtol=1e-6, atol=0.0)
    return out


def _where(info: _Info, idx: tuple[int, ...], has_real: bool) -> str:
    r = f"member {idx[0]}, " if has_real else ""
    i, k = idx[-2], idx[-1]
    pid = _show(info.ids[i], 30) if i < len(info.ids) else str(i)
    tt = f"{info.time[k]:%Y-%m-%dT%H:%MZ}" if info.time is not None and k < len(info.time) else f"step {k}"
    return f"at {r}point {pid}, {tt}"


def _declared_bytes(ds: Any) -> int:
    """Declared in-memory size [bytes] of the variables of a netCDF4 Dataset (or xarray Dataset), from metadata only."""
    total = 0
    for v in ds.variables.values():
        try:
            item = max(int(np.dtype(v.dtype).itemsize), 1)
        except TypeError:  # vlen strings and other user types: at least a pointer per element
            item = 8
        total += int(np.prod(v.shape, dtype=np.float64)) * item
    return total


def _open_checked(
    path: str | os.PathLike[str],
    *,
    expected_ids: Sequence[str] | None,
    max_bytes: int,
    region: str | None,
) -> tuple[list[Problem], xr.Dataset | None, Any, _Info]:
    """Run the byte and profile checks; return the problems and the open dataset (or None)."""
    path = Path(path)
    info = _Info()
    data, problems = _read_bytes(path, int(max_bytes))
    if data is None:
        return problems, None, None, info
    try:
        nc = _open_memory(data, path.name)
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a reported problem
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return [Problem("error", "format", f"HDF5 signature but not a readable NetCDF-4 file (truncated or corrupt): {first[:120]}")], None, None, info
    limit = max(64 * 2**20, MAX_DECODED_FACTOR * int(max_bytes))
    # before xarray sees the file: it loads every dimension coordinate (e.g. a compressed 'time' of 10^8 values)
    # to build its indexes, so a bomb on 'time' was decompressed before the check below could refuse it
    try:
        declared = _declared_bytes(nc)
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a reported problem
        nc.close()
        return [Problem("error", "format", f"NetCDF-4 file cannot be decoded: {type(exc).__name__}")], None, None, info
    if declared > limit:
        nc.close()
        return [Problem("error", "size", f"variables declare {_mb(declared)} uncompressed, more than {_mb(limit)} (not read)")], None, None, info
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_dataset(xr.backends.NetCDF4DataStore(nc), decode_times=False, decode_timedelta=False,
                                 decode_coords=False, mask_and_scale=True)
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a reported problem
        nc.close()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return [Problem("error", "format", f"NetCDF-4 file cannot be decoded: {first[:120]}")], None, None, info
    declared = _declared_bytes(ds)
    if declared > limit:
        ds.close()
        return [Problem("error", "size", f"variables declare {_mb(declared)} uncompressed, more than {_mb(limit)} (not read)")], None, None, info
    try:
        problems += _check_globals(ds, region, info)
        problems += _find_discharge(ds, info)
        problems += _check_instances(ds, info, expected_ids)
        problems += _check_time(ds, info)
        if info.discharge is not None and info.inst_dim is not None and info.time is not None:
            problems += _check_values(ds, info)
    except Exception as exc:  # noqa: BLE001 - a hostile layout must not crash the checker
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        problems.append(Problem("error", "format", f"unexpected file layout: {type(exc).__name__}: {first[:120]}"))
    return problems, ds, nc, info


# ----------------------------------------------------------------------------------------------
class _OfflineCF:
    """compliance-checker's CF-1.11 check that never downloads a standard-name table (the name
    of the table is file content: untrusted) and never prints."""

    _cls: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls._cls is None:
            from compliance_checker.cf.cf_1_11 import CF1_11Check

            class OfflineCF1_11Check(CF1_11Check):
                def _find_cf_standard_name_table(self, ds: Any) -> bool:  # packaged table only
                    return False

            cls._cls = OfflineCF1_11Check
        return cls._cls


def _cf_problems(nc: Any) -> list[Problem]:
    """CF-1.11 findings of compliance-checker on an open netCDF4 Dataset (in memory).

    compliance-checker is an optional dependency (the ``test`` extra): without it the CF run is
    skipped with a warning naming it, the profile checks still decide.
    """
    try:
        from compliance_checker.suite import CheckSuite

        _OfflineCF.get()
    except ImportError:
        return [Problem("warning", "cf", "CF-1.11 checks skipped: compliance-checker is not installed "
                                         "(pip install 'compliance-checker>=6.0', the 'test' extra; or --no-cf)")]
    suite = CheckSuite()
    suite.checkers = {"cf:1.11": _OfflineCF.get()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            groups = suite.run_all(nc, ["cf:1.11"], skip_checks=[])
            results, errors = groups["cf:1.11"]
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure is a reported problem
        return [Problem("error", "cf", f"the CF checker failed on this file: {type(exc).__name__}")]
    out: list[Problem] = []
    seen: set[str] = set()
    for r in results:
        value = r.value
        ok = value[0] >= value[1] if isinstance(value, (list, tuple)) else bool(value)
        if ok:
            continue
        sev: Severity = "error" if r.weight >= 3 else "warning"
        for m in [m for m in (r.msgs or []) if m] or [str(r.name)]:
            text = f"CF-1.11 {r.name}: {' '.join(str(m).split())[:200]}"
            if text not in seen:
                seen.add(text)
                out.append(Problem(sev, "cf", text))
    for name in (errors or {}):
        out.append(Problem("error", "cf", f"CF-1.11 check {name} could not run on this file"))
    return out


def validate_exchange(
    path: str | os.PathLike[str],
    *,
    expected_ids: Iterable[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    region: str | None = None,
    check_cf: bool = True,
) -> list[Problem]:
    """Check a file against the ``hydro-exchange-1.0`` profile and CF-1.11.

    Parameters
    ----------
    path : path-like
        The incoming file (untrusted).
    expected_ids : iterable of str, optional
        Border point ids the receiver needs (missing ones are errors, extra ones warnings).
    max_bytes : int
        Size limit [bytes]: larger files are not opened.
    region : str, optional
        Expected issuing region (``hydro_issuing_region``).
    check_cf : bool
        Also run compliance-checker's CF-1.11 suite (offline, on the in-memory bytes); its
        high-priority failures are errors, the others warnings.

    Returns
    -------
    list of Problem
        Empty for a clean file. Checks that need an earlier one to pass (e.g. values need the
        discharge variable) are skipped when it fails.

    Raises
    ------
    InputMissingError
        The file does not exist.
    """
    ids = None if expected_ids is None else [str(i) for i in expected_ids]
    with NETCDF_LOCK:  # netCDF-C is not thread-safe (see hydro.io.netcdf.NETCDF_LOCK)
        problems, ds, nc, _ = _open_checked(path, expected_ids=ids, max_bytes=max_bytes, region=region)
        try:
            if nc is not None and check_cf:
                problems += _cf_problems(nc)
        finally:
            if ds is not None:
                ds.close()
            if nc is not None and nc.isopen():
                nc.close()
    return problems


def read_exchange(
    path: str | os.PathLike[str],
    point_id: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    region: str | None = None,
) -> xr.DataArray:
    """Discharge of one border point of an incoming exchange file, in m3 s-1.

    The file passes every profile check of :func:`validate_exchange` (not the CF checker run)
    before a value is returned.

    Parameters
    ----------
    path : path-like
        Incoming file (untrusted).
    point_id : str
        Border point id (``station_id``).
    max_bytes : int
        Size limit [bytes].
    region : str, optional
        Expected issuing region.

    Returns
    -------
    xarray.DataArray
        ``discharge`` on ``(time,)`` or ``(realization, time)`` [m3 s-1] (float64, UTC times
        labelling period ends); attributes ``units``, ``point_id``, ``x``, ``y`` [m] and
        ``crs_wkt`` (the producer's CRS), ``lat``, ``lon``, ``forecast_reference_time`` (ISO),
        ``issuing_region``, ``run_id``, ``source`` (file and variable, for messages).

    Raises
    ------
    InputMissingError
        The file does not exist.
    InputDataError
        Any profile error; the message is one line naming the file and the first problem.
    """
    path = Path(path)
    with NETCDF_LOCK:  # netCDF-C is not thread-safe (see hydro.io.netcdf.NETCDF_LOCK)
        return _read_exchange_locked(path, str(point_id), max_bytes=max_bytes, region=region)


def _read_exchange_locked(path: Path, point_id: str, *, max_bytes: int, region: str | None) -> xr.DataArray:
    problems, ds, nc, info = _open_checked(path, expected_ids=[str(point_id)], max_bytes=max_bytes, region=region)
    try:
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            more = f" (+{len(errors) - 1} more; run `hydro validate {path}`)" if len(errors) > 1 else ""
            raise InputDataError(f"{path}: {errors[0].message}{more}")
        assert ds is not None and info.time is not None and info.discharge is not None
        i = info.ids.index(str(point_id))
        var = ds.variables[info.discharge]
        vals = np.asarray(var.values, dtype=np.float64)[..., i, :] * info.factor
        xs = _per_point(ds, info, "projection_x_coordinate")
        ys = _per_point(ds, info, "projection_y_coordinate")
        lat = _per_point(ds, info, "latitude")
        lon = _per_point(ds, info, "longitude")
        if info.members is not None:
            da = xr.DataArray(vals, dims=(REALIZATION_DIM, "time"),
                              coords={REALIZATION_DIM: np.asarray(info.members, np.int32), "time": info.time.values})
        else:
            da = xr.DataArray(vals, dims=("time",), coords={"time": info.time.values})
        da.name = "discharge"
        da.attrs = {
            "standard_name": DISCHARGE_STANDARD_NAME,
            "units": DISCHARGE_UNITS,
            "point_id": str(point_id),
            "x": float(xs[i]),
            "y": float(ys[i]),
            "lat": float(lat[i]),
            "lon": float(lon[i]),
            "crs_wkt": info.crs_wkt,
            "forecast_reference_time": f"{info.frt:%Y-%m-%dT%H:%M:%SZ}",
            "issuing_region": info.region,
            "run_id": _attr_str(ds.attrs, RUN_ID_ATTR),
            "source": f"{path}:{info.discharge}[{point_id}]",
        }
        if info.cell_methods is not None:
            da.attrs["cell_methods"] = info.cell_methods
        if info.period is not None:
            da.attrs["period_s"] = info.period.total_seconds()
        return da
    finally:
        if ds is not None:
            ds.close()
        if nc is not None and nc.isopen():
            nc.close()


def _point_candidates(ds: xr.Dataset, info: _Info, std: str) -> list[str]:
    """Per-point variables with standard name ``std``; when there are several, the one(s) the
    discharge names in its ``coordinates`` attribute (CF §5: the auxiliary coordinates of the data)."""
    cand = [str(k) for k, v in ds.variables.items() if v.attrs.get("standard_name") == std and v.dims == (info.inst_dim,)]
    if len(cand) > 1 and info.discharge is not None:
        named = ds.variables[info.discharge].attrs.get("coordinates")
        if isinstance(named, str):
            listed = set(named[:4000].split())
            cand = [c for c in cand if c in listed] or cand
    return cand


def _per_point(ds: xr.Dataset, info: _Info, std: str) -> np.ndarray:
    return np.asarray(ds.variables[info.point_vars[std]].values, dtype=np.float64)
