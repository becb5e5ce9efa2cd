"""The one CF-1.11 / ACDD-1.3 NetCDF writer of the package.

Every file hydro writes goes through :func:`write_netcdf`: global attributes (ACDD), variable
attributes from the vocabulary table, a ``grid_mapping`` with ``crs_wkt`` that GDAL and
rioxarray read back (both ``GeoTransform`` and CF x/y attributes, see design note netcdf.md §2),
no ``_FillValue`` on coordinates and bounds, zlib compression with map-sized chunks, provenance,
and an atomic write (temporary file in the same directory, then ``os.replace``).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import contextlib
import contextvars
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputMissingError, OutputError
from hydro.times import naive_utc
from hydro.vocabulary import VOCABULARY

__all__ = ["write_netcdf", "open_netcdf", "netcdf4_dataset", "NETCDF_LOCK", "sha256_file", "atomic_path", "CONVENTIONS",
           "STANDARD_NAME_VOCABULARY", "replace_atomically"]

logger = logging.getLogger(__name__)



class SerializableRLock:
    """A re-entrant lock that survives pickling (dask processes, distributed workers).

    Copies unpickled in one process share the lock of their token, like xarray's
    ``SerializableLock``; unlike it, the owning thread may take it again (an open inside a
    locked block re-enters when xarray's file manager takes the same lock).
    """

    _locks: dict[str, threading.RLock] = {}
    _registry_lock = threading.Lock()

    def __init__(self, token: str | None = None) -> None:
        self.token = token or str(uuid.uuid4())
        with SerializableRLock._registry_lock:
            self.lock = SerializableRLock._locks.setdefault(self.token, threading.RLock())

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self.lock.acquire(blocking, timeout)

    def release(self) -> None:
        self.lock.release()

    def locked(self) -> bool:
        """Whether another thread would have to wait (True when held by anyone)."""
        if self.lock.acquire(blocking=False):
            self.lock.release()
            return False
        return True

    def __enter__(self) -> "SerializableRLock":
        self.lock.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()

    def __getstate__(self) -> str:
        return self.token

    def __setstate__(self, token: str) -> None:
        self.__init__(token)  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<SerializableRLock {self.token}>"


#: One lock for every netCDF-C/HDF5 call of the package. The libraries are not thread-safe and
#: netCDF4-python releases the GIL around their calls, so two threads (ensemble members on dask's
#: threaded scheduler) opening or reading files at the same time crash the process (bus error).
#: :func:`open_netcdf` holds it while opening and hands it to xarray for every later (lazy) read;
#: :func:`write_netcdf` and :func:`netcdf4_dataset` hold it while they touch a file.
NETCDF_LOCK = SerializableRLock("hydro-netcdf-c")


def open_netcdf(path: str | os.PathLike[str], **kwargs: Any) -> xr.Dataset:
    """``xarray.open_dataset`` with the netCDF4 engine, safe to call from several threads.

    The file's metadata is read under :data:`NETCDF_LOCK` and every later read of its data (also a
    lazy dask read in another thread) takes the same lock. Keyword arguments go to
    ``xarray.open_dataset`` (``engine`` defaults to ``"netcdf4"``).

    Never compute a dask-backed array of such a file on the threaded scheduler while holding
    :data:`NETCDF_LOCK` yourself: the reading threads would wait for it.
    """
    kwargs.setdefault("engine", "netcdf4")
    if kwargs["engine"] == "netcdf4":
        kwargs.setdefault("lock", NETCDF_LOCK)
    _check_readable(path)
    with NETCDF_LOCK:
        return xr.open_dataset(path, **kwargs)


def _check_readable(path: Any) -> None:
    """An existing file this process may not read is :class:`~hydro.errors.InputMissingError` (exit 66, "cannot be
    read"), not the "not a readable NetCDF file" (65) that the netCDF-C "Permission denied" became in the readers."""
    from hydro.errors import InputMissingError

    if isinstance(path, (str, os.PathLike)) and os.path.isfile(path) and not os.access(path, os.R_OK):
        raise InputMissingError(f"{path}: cannot be read (permission denied)")


@contextlib.contextmanager
def netcdf4_dataset(path: str | os.PathLike[str], mode: str = "r", **kwargs: Any) -> Iterator[Any]:
    """A ``netCDF4.Dataset`` opened, used and closed under :data:`NETCDF_LOCK` (the whole block)."""
    import netCDF4

    if mode == "r":
        _check_readable(path)
    with NETCDF_LOCK:
        nc = netCDF4.Dataset(path, mode, **kwargs)
        try:
            yield nc
        finally:
            nc.close()


CONVENTIONS = "CF-1.11, ACDD-1.3"
STANDARD_NAME_VOCABULARY = "CF Standard Name Table v93"
#: default ACDD attributes (override per call)
DEFAULT_GLOBAL_ATTRS: dict[str, str] = {
    "institution": "hydro open-source project",
    "creator_name": "hydro",
    "creator_type": "group",
    "creator_url": "https://pypi.org/project/hydro-kaltim/",
    "creator_email": "hydro-kaltim@users.noreply.github.com",
    "publisher_name": "hydro",
    "publisher_type": "group",
    "publisher_url": "https://pypi.org/project/hydro-kaltim/",
    "publisher_email": "hydro-kaltim@users.noreply.github.com",
    "license": "CC-BY-4.0 (model outputs); inputs keep their own terms",
    "naming_authority": "id.hydro-kaltim",
    "processing_level": "model output",
    "project": "hydro: flood and water-sharing hydrology for Balikpapan and neighbouring regions",
    "keywords_vocabulary": "GCMD Science Keywords",
    "keywords": "EARTH SCIENCE > TERRESTRIAL HYDROSPHERE > SURFACE WATER",
    "acknowledgement": "Built with numpy, xarray, rasterio, numba and netCDF4.",
    "references": "https://pypi.org/project/hydro-kaltim/",
    "comment": "Written by the hydro package.",
    "product_version": "1",
    "contributor_name": "hydro developers",
    "contributor_role": "developer",
    "creator_institution": "hydro open-source project",
    "publisher_institution": "hydro open-source project",
    "program": "hydro",
    "metadata_link": "https://pypi.org/project/hydro-kaltim/",
    "platform": "Models/Analyses > Hydrological Models",
    "platform_vocabulary": "GCMD Platform Keywords",
    "instrument": "Computer > Computer",
    "instrument_vocabulary": "GCMD Instrument Keywords",
}
_MAP_CHUNK_BYTES = 2 * 2**20


def sha256_file(path: str | os.PathLike[str], blocksize: int = 2**20) -> str:
    """sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(blocksize), b""):
            h.update(block)
    return h.hexdigest()


def atomic_path(path: Path) -> Path:
    """Temporary name in the same directory as ``path`` (same filesystem, so ``os.replace`` is atomic), unique
    per process and thread (two threads writing the same name must not publish each other's half-written file)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


#: zlib level of :func:`write_netcdf` when the caller gives none (``[outputs] compression_level`` of a run, set with
#: :func:`netcdf_compression` around the whole run so that every file of it, not only some, has that level)
_COMPLEVEL: contextvars.ContextVar[int] = contextvars.ContextVar("hydro_netcdf_complevel", default=4)


@contextlib.contextmanager
def netcdf_compression(level: int) -> Iterator[None]:
    """Default zlib level (0-9) of every :func:`write_netcdf` call without ``complevel`` inside the block."""
    token = _COMPLEVEL.set(int(level))
    try:
        yield
    finally:
        _COMPLEVEL.reset(token)


def discard_temp(tmp: Path) -> None:
    """Remove a temporary file of a failed write if it is there.

    An error doing so (ENOTDIR: the output's parent is a file, so the temporary file was never created) is ignored:
    it must not hide the write error being reported (``NotADirectoryError`` instead of :class:`OutputError`).
    """
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def replace_atomically(tmp: Path, final: Path) -> None:
    """fsync ``tmp`` and rename it over ``final``."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)


def _iso(t: Any) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    out = "P" + (f"{d}D" if d else "")
    if h or m or s or not d:
        out += "T" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s or not (h or m) else "")
    return out


def _is_grid(ds: xr.Dataset) -> bool:
    return "x" in ds.dims and "y" in ds.dims and ds.rio.crs is not None


#: spatial dimension names (x, y) of gridded data that are not ``x``/``y``
_OTHER_XY_DIMS = (("lon", "lat"), ("longitude", "latitude"), ("easting", "northing"), ("X", "Y"))


def _grid_mapping_as_coord(ds: xr.Dataset) -> xr.Dataset:
    """The grid mapping variable (``spatial_ref``) of a y/x grid as a coordinate.

    ``xr.open_dataset`` (without ``decode_coords="all"``) reads it back as a data variable: rioxarray then finds no
    CRS, and a file read, sliced or coarsened and written again kept the stale ``GeoTransform``, ``x_bnds``/``y_bnds``
    and ACDD extent of the original grid.
    """
    if "x" not in ds.dims or "y" not in ds.dims:
        return ds
    names = {v.encoding.get("grid_mapping") or v.attrs.get("grid_mapping") for v in ds.data_vars.values()}
    gms = [n for n in names if isinstance(n, str) and n in ds.data_vars and ds[n].ndim == 0
           and ("crs_wkt" in ds[n].attrs or "spatial_ref" in ds[n].attrs)]
    return ds.set_coords(gms) if gms else ds


def _check_spatial_dims(ds: xr.Dataset) -> None:
    """OutputError for a grid with a CRS whose spatial dimensions are not named ``x``/``y`` (e.g. ``lat``/``lon``).

    The writer georeferences x/y grids only: such a grid was written without ``GeoTransform``, bounds or
    coordinate attributes (GDAL read it with an identity transform, the CF and ACDD checks failed).
    """
    if "x" in ds.dims and "y" in ds.dims:
        return
    try:
        xdim, ydim = ds.rio.x_dim, ds.rio.y_dim  # longitude/latitude, or 1-D coordinates with CF axis attributes
    except Exception:
        xdim, ydim = next(((x, y) for x, y in _OTHER_XY_DIMS if x in ds.dims and y in ds.dims), (None, None))
    if xdim is None or xdim not in ds.dims or ydim not in ds.dims:
        return  # no spatial dimensions (DSG, series): nothing to georeference
    try:
        crs = ds.rio.crs
    except Exception:
        crs = None
    if crs is not None:
        raise OutputError(f"cannot georeference the grid: its spatial dimensions are ({ydim!r}, {xdim!r}), the writer "
                          f"needs ('y', 'x'); rename them first (ds.rename({{{xdim!r}: 'x', {ydim!r}: 'y'}}))")


def _explicit_transform(ds: xr.Dataset) -> Any:
    """The transform stored with the grid (``GeoTransform`` of the grid mapping), or None."""
    from affine import Affine

    gm = ds.rio.grid_mapping
    gt = ds[gm].attrs.get("GeoTransform") if gm in ds.variables else None
    if gt is None:
        return None
    try:
        c, a, b, f, d, e = (float(v) for v in str(gt).split())
    except ValueError:
        return None
    return Affine.from_gdal(c, a, b, f, d, e)


def _grid_transform(ds: xr.Dataset) -> tuple[xr.Dataset, Any]:
    """The affine transform of the grid, derived from the x/y coordinates (netcdf.md §2).

    A stored ``GeoTransform`` goes stale when a grid is coarsened, sorted or sliced, so the
    coordinates win whenever they define the cell size (two or more values on an axis). An axis
    with a single value (or without coordinates) takes its cell size from an explicit transform
    (``ds.rio.write_transform``); without one the grid cannot be georeferenced: OutputError.
    Missing x/y coordinates are added (cell centres).
    """
    from affine import Affine

    explicit = _explicit_transform(ds)
    if explicit is not None and (explicit.b != 0.0 or explicit.d != 0.0):
        # its 1-D coordinates cannot describe it: GDAL and rioxarray.open_rasterio read the x/y coordinates back
        # and lose the rotation (every cell misplaced); x/y_bnds would be wrong as well
        raise OutputError(f"cannot georeference the grid: rotated or sheared transform ({tuple(explicit)[:6]}); "
                          "warp it to a north-up grid first")
    out: dict[str, tuple[float, float]] = {}
    for axis, res_i, off_i in (("x", "a", "c"), ("y", "e", "f")):
        n = ds.sizes[axis]
        coord = np.asarray(ds[axis].values, np.float64) if axis in ds.coords else None
        if coord is not None and n >= 2:
            res = (coord[-1] - coord[0]) / (n - 1)
        elif explicit is not None:
            res = float(getattr(explicit, res_i))
        else:
            raise OutputError(
                f"cannot georeference the grid: {axis} has {n} value(s) and "
                + ("no coordinate" if coord is None else "a single coordinate")
                + "; give at least 2 coordinate values per axis or an explicit transform (ds.rio.write_transform)"
            )
        if res == 0.0 or not np.isfinite(res):
            raise OutputError(f"cannot georeference the grid: {axis} coordinates give a cell size of {res}")
        if coord is not None and n >= 2:
            # one transform for the whole axis: unevenly spaced coordinates would be read back (GDAL) at the
            # positions of an evenly spaced grid; tolerate rounding (float32 coordinates)
            dev = np.max(np.abs(coord - (coord[0] + res * np.arange(n))))
            if dev > max(0.01 * abs(res), 8 * np.finfo(ds[axis].dtype if ds[axis].dtype.kind == "f" else np.float64).eps
                         * float(np.max(np.abs(coord)))):
                raise OutputError(f"cannot georeference the grid: {axis} coordinates are not evenly spaced (a cell "
                                  f"lies {dev:g} from the regular grid of step {res:g}); regrid it first")
        origin = coord[0] - res / 2.0 if coord is not None else float(getattr(explicit, off_i))
        out[axis] = (res, origin)
        if coord is None:
            ds = ds.assign_coords({axis: (axis, origin + res * (np.arange(n) + 0.5))})
    (a, c), (e, f) = out["x"], out["y"]
    return ds, Affine(a, 0.0, c, 0.0, e, f)


def _metres_per_unit(crs: Any) -> float:
    """Metres per unit of the first axis of a projected CRS (1 when the CRS does not say)."""
    info = crs.axis_info
    factor = float(info[0].unit_conversion_factor) if info and info[0].unit_conversion_factor else 1.0
    return factor if np.isfinite(factor) and factor > 0 else 1.0


#: UDUNITS names of the linear units of projected CRSs (pyproj ``unit_name``)
_UDUNITS_LENGTH = {"metre": "m", "meter": "m", "US survey foot": "US_survey_foot", "foot": "ft",
                   "kilometre": "km", "kilometer": "km"}


def linear_units(crs: Any) -> str:
    """UDUNITS string of the x/y unit of a CRS ("m", "US_survey_foot", "ft", "degrees", or "<factor> m"); ``crs``
    is a pyproj or rasterio CRS, "m" when None."""
    if crs is None:
        return "m"
    if not hasattr(crs, "axis_info"):  # a rasterio CRS
        from pyproj import CRS

        crs = CRS.from_wkt(crs.to_wkt())
    info = crs.axis_info
    if info and info[0].unit_name == "degree":
        return "degrees"
    name = info[0].unit_name if info else "metre"
    if name in _UDUNITS_LENGTH:
        return _UDUNITS_LENGTH[name]
    factor = _metres_per_unit(crs)
    return "m" if factor == 1.0 else f"{factor!r} m"


def _grid_attrs(ds: xr.Dataset, latlon: bool | None) -> tuple[xr.Dataset, dict[str, Any]]:
    """CRS, transform, x/y attributes and bounds, optional 2-D lat/lon, ACDD geospatial attributes."""
    from pyproj import CRS, Transformer

    crs = CRS.from_wkt(ds.rio.crs.to_wkt())
    ds, transform = _grid_transform(ds)
    # rioxarray writes spatial_ref with crs_wkt, spatial_ref, CF grid-mapping attrs and GeoTransform
    ds = ds.rio.write_crs(crs).rio.write_transform(transform)
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    xb = transform.c + transform.a * np.arange(nx + 1)
    yb = transform.f + transform.e * np.arange(ny + 1)
    if crs.is_geographic:
        xattrs = dict(standard_name="longitude", long_name="longitude of cell centre", units="degrees_east", axis="X")
        yattrs = dict(standard_name="latitude", long_name="latitude of cell centre", units="degrees_north", axis="Y")
    else:
        # the CRS's linear unit (UDUNITS): US-foot state planes are not in metres
        xy_units = linear_units(crs)
        xattrs = dict(standard_name="projection_x_coordinate", long_name="x coordinate of cell centre", units=xy_units, axis="X")
        yattrs = dict(standard_name="projection_y_coordinate", long_name="y coordinate of cell centre", units=xy_units, axis="Y")
    ds["x"].attrs = {**xattrs, "bounds": "x_bnds"}
    ds["y"].attrs = {**yattrs, "bounds": "y_bnds"}
    ds["x_bnds"] = (("x", "nv"), np.stack([xb[:-1], xb[1:]], axis=1))
    ds["y_bnds"] = (("y", "nv"), np.stack([yb[:-1], yb[1:]], axis=1))
    # ACDD extent in WGS84 (cell centres: the checker compares with the lat/lon values)
    xc = np.asarray(ds["x"].values, float)
    yc = np.asarray(ds["y"].values, float)
    xb_c, yb_c = xb, yb
    xb, yb = np.r_[xc[0], xc[-1]], np.r_[yc[0], yc[-1]]
    corners_x = np.array([xb[0], xb[-1], xb[-1], xb[0]])
    corners_y = np.array([yb[0], yb[0], yb[-1], yb[-1]])
    if crs.is_geographic:
        lon_c, lat_c = corners_x, corners_y
    else:
        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        # densify the boundary so the lat/lon box encloses the whole grid
        t = np.linspace(0, 1, 21)
        bx = np.concatenate([xb[0] + (xb[-1] - xb[0]) * t, np.full(21, xb[-1]), xb[-1] - (xb[-1] - xb[0]) * t, np.full(21, xb[0])])
        by = np.concatenate([np.full(21, yb[0]), yb[0] + (yb[-1] - yb[0]) * t, np.full(21, yb[-1]), yb[-1] - (yb[-1] - yb[0]) * t])
        lon_c, lat_c = tr.transform(bx, by)
    geo: dict[str, Any] = {
        "geospatial_lat_min": float(np.min(lat_c)),
        "geospatial_lat_max": float(np.max(lat_c)),
        "geospatial_lon_min": float(np.min(lon_c)),
        "geospatial_lon_max": float(np.max(lon_c)),
        "geospatial_lat_units": "degrees_north",
        "geospatial_lon_units": "degrees_east",
        "geospatial_bounds_crs": "EPSG:4326",
    }
    geo["geospatial_bounds"] = (
        "POLYGON(({a} {b}, {a} {d}, {c} {d}, {c} {b}, {a} {b}))".format(
            a=geo["geospatial_lat_min"], b=geo["geospatial_lon_min"], c=geo["geospatial_lat_max"], d=geo["geospatial_lon_max"]
        )
    )
    xb, yb = xb_c, yb_c
    if crs.is_geographic:
        geo["geospatial_lat_resolution"] = f"{abs(transform.e)} degrees"
        geo["geospatial_lon_resolution"] = f"{abs(transform.a)} degrees"
    else:
        to_m = _metres_per_unit(crs)
        geo["geospatial_lat_resolution"] = f"{abs(transform.e) * to_m} m"
        geo["geospatial_lon_resolution"] = f"{abs(transform.a) * to_m} m"
    if latlon is None:
        latlon = ny * nx <= 4_000_000
    if latlon and not crs.is_geographic:
        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        xx, yy = np.meshgrid(ds["x"].values, ds["y"].values)
        lon, lat = tr.transform(xx, yy)
        ds = ds.assign_coords(
            lat=(("y", "x"), lat.astype(np.float64), dict(standard_name="latitude", long_name="latitude", units="degrees_north")),
            lon=(("y", "x"), lon.astype(np.float64), dict(standard_name="longitude", long_name="longitude", units="degrees_east")),
        )
    return ds, geo


#: CF time units tried from the coarsest: the first in which every time is a whole number is used
_TIME_UNITS: tuple[tuple[str, int], ...] = (
    ("hours", 3600 * 10**9), ("minutes", 60 * 10**9), ("seconds", 10**9),
    ("milliseconds", 10**6), ("microseconds", 10**3), ("nanoseconds", 1),
)


def _time_encoding(values: np.ndarray) -> dict[str, Any]:
    """``units``/``dtype`` in which every time of ``values`` (datetime64) is an exact integer.

    Whole hours keep ``hours since`` (float64, exact for integers); finer steps (10 minutes,
    7 seconds, ...) use the coarsest of minutes/seconds/... that holds them exactly, as int64, so
    a time never reads back as ``02:09:59.999999999``.
    """
    t = pd.DatetimeIndex(np.asarray(values, dtype="datetime64[ns]").ravel())
    t = t[~t.isna()]
    if len(t) == 0:
        return {"units": "hours since 1970-01-01 00:00:00", "calendar": "standard", "dtype": "float64"}
    ref = t[0].floor("s")
    off = np.asarray(t.asi8, np.int64) - ref.value
    unit, _ = next((u, ns) for u, ns in _TIME_UNITS if not np.any(off % ns))
    has_nat = bool(pd.isna(np.asarray(values, dtype="datetime64[ns]")).any())
    dtype = "float64" if unit == "hours" or has_nat else "int64"
    return {"units": f"{unit} since {ref.strftime('%Y-%m-%d %H:%M:%S')}", "calendar": "standard", "dtype": dtype}


def _time_attrs(ds: xr.Dataset, encoding: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "time" not in ds.variables:
        return out
    for name in ("time", "time_bnds"):
        if name in ds.variables and ds[name].dtype.kind != "M":
            # CF time here is the standard calendar in UTC: numbers (a file read with decode_times=False) or cftime
            # dates of another calendar (noleap, 360_day) were a TypeError or a confusing encoding error
            cal = ds[name].attrs.get("calendar") or ds[name].encoding.get("calendar") or getattr(
                np.asarray(ds[name].values).ravel()[0] if ds[name].size else None, "calendar", None)
            raise OutputError(f"variable {name!r} is not datetime64 (dtype {ds[name].dtype}"
                              + (f", calendar {cal!r}" if cal else "") + "): hydro writes standard-calendar UTC times; "
                              "decode or convert it first (e.g. ds.convert_calendar('standard'))")
    t = pd.to_datetime(np.atleast_1d(ds["time"].values).ravel())
    if t.isna().any():
        raise OutputError("time has missing values (NaT): a CF time coordinate must be complete")
    if ds["time"].ndim == 1 and len(t) > 1 and not ((t[1:] > t[:-1]).all() or (t[1:] < t[:-1]).all()):
        raise OutputError("time is not strictly monotonic (repeated or unsorted times): sort it and drop duplicates first")
    ds["time"].attrs.update(standard_name="time", long_name="time", axis="T")
    ds["time"].attrs.setdefault("units_metadata", "leap_seconds: none")
    ds["time"].attrs.pop("units", None)
    ds["time"].attrs.pop("calendar", None)
    has_bnds = "time_bnds" in ds.variables
    all_times = np.atleast_1d(ds["time"].values).astype("datetime64[ns]").ravel()
    if has_bnds:
        all_times = np.concatenate([all_times, np.asarray(ds["time_bnds"].values).astype("datetime64[ns]").ravel()])
    encoding.setdefault("time", {}).update(_time_encoding(all_times))
    if len(t):
        # a decreasing time axis (legal CF) covers the same period: earliest to latest
        start = t.min()
        end = t.max()
        if has_bnds:
            tb = pd.to_datetime(np.asarray(ds["time_bnds"].values).ravel())
            encoding.setdefault("time_bnds", {}).update(
                units=encoding["time"]["units"], calendar="standard", dtype=encoding["time"]["dtype"])
            ds["time"].attrs["bounds"] = "time_bnds"
        out["time_coverage_start"] = _iso(start)
        out["time_coverage_end"] = _iso(end)
        out["time_coverage_duration"] = _iso_duration((end - start).total_seconds())
        if len(t) > 1:
            out["time_coverage_resolution"] = _iso_duration(float(np.median(np.abs(np.diff(t.values).astype("timedelta64[s]").astype(float)))))
        elif has_bnds and len(tb) >= 2 and not (pd.isna(tb[0]) or pd.isna(tb[1])):
            # one step: its period is the bound interval
            out["time_coverage_resolution"] = _iso_duration(abs((tb[1] - tb[0]).total_seconds()))
    return out


#: chunk size of station/series variables (chunked along time)
_SERIES_CHUNK_BYTES = 2**20


def _chunks(shape: tuple[int, ...], dims: tuple[str, ...], itemsize: int) -> tuple[int, ...] | None:
    """Chunk sizes: maps ``(1, ny_c, nx_c)`` of about 2 MiB; time series along time (netcdf.md §5)."""
    if not shape or 0 in shape:
        return None
    nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize
    if "x" not in dims and "y" not in dims:
        if "time" not in dims:
            return None
        if nbytes <= _SERIES_CHUNK_BYTES:
            return tuple(int(n) for n in shape)  # one chunk
        it = dims.index("time")
        # one instance (station, member...) per chunk; dims after time (nv of bounds) stay whole
        chunks = [1 if i < it else int(n) for i, n in enumerate(shape)]
        per_time = itemsize * int(np.prod([c for i, c in enumerate(chunks) if i != it], dtype=np.int64))
        chunks[it] = int(max(1, min(shape[it], _SERIES_CHUNK_BYTES // max(per_time, 1))))
        return tuple(chunks)
    if nbytes < _MAP_CHUNK_BYTES // 2:
        return None
    chunks = list(shape)
    for i, d in enumerate(dims):
        if d not in ("x", "y"):
            chunks[i] = 1
    # shrink the spatial chunk to ~2 MiB
    while int(np.prod(chunks)) * itemsize > _MAP_CHUNK_BYTES:
        i = int(np.argmax(chunks))
        chunks[i] = max(1, (chunks[i] + 1) // 2)
    return tuple(int(c) for c in chunks)


def _to_utc(ds: xr.Dataset) -> xr.Dataset:
    """Time zone-aware times (any variable) as naive UTC ``datetime64[ns]`` (CF time is UTC here)."""
    for name in list(ds.variables):
        var = ds.variables[name]
        tz = isinstance(var.dtype, pd.DatetimeTZDtype)
        if not tz and var.dtype.kind == "O" and var.size:
            first = np.asarray(var.values).ravel()[0]
            tz = isinstance(first, (pd.Timestamp, _dt.datetime)) and first.tzinfo is not None
        if not tz:
            continue
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(list(np.asarray(var.values, dtype=object).ravel()), utc=True))
        except (TypeError, ValueError) as exc:
            raise OutputError(f"variable {name!r}: cannot convert its times to UTC: {exc}") from exc
        new = xr.Variable(var.dims, idx.tz_localize(None).values.reshape(var.shape), dict(var.attrs))
        if name in ds.coords:
            ds = ds.assign_coords({name: new})
        else:
            ds[name] = new
    return ds


def _cf_dim_order(dims: tuple[Any, ...], ds: xr.Dataset) -> tuple[Any, ...]:
    """Dimensions in CF §2.4 order: other dimensions first, then T, Z, Y, X."""
    def is_z(d: Any) -> bool:
        c = ds.variables.get(d)
        return c is not None and (c.attrs.get("axis") == "Z" or "positive" in c.attrs)

    t = [d for d in dims if d == "time"]
    z = [d for d in dims if d != "time" and is_z(d)]
    yx = [d for d in ("y", "x") if d in dims]
    rest = [d for d in dims if d not in t and d not in z and d not in yx]
    return tuple(rest + t + z + yx)


def _reorder_dims(ds: xr.Dataset) -> xr.Dataset:
    """Transpose data variables and multi-dimensional coordinates to ``(…, time, z, y, x)``.

    Bounds variables (``*_bnds``, trailing ``nv``) keep their order.
    """
    for name in list(ds.variables):
        var = ds.variables[name]
        if var.ndim < 2 or str(name).endswith("_bnds") or name in ds.dims:
            continue
        order = _cf_dim_order(var.dims, ds)
        if order == var.dims:
            continue
        new = var.transpose(*order)
        if name in ds.coords:
            ds = ds.assign_coords({name: new})
        else:
            ds[name] = new
    return ds


def _is_text(var: xr.Variable) -> bool:
    """True for a variable of strings (numpy str/bytes, or objects that are str/bytes; not e.g. cftime dates)."""
    if var.dtype.kind in "SU":
        return True
    if var.dtype.kind != "O" or var.size == 0:
        return False
    return all(isinstance(v, (str, bytes)) for v in np.asarray(var.values, dtype=object).ravel())


def _attr_value(value: Any) -> Any:
    """A global attribute netCDF can store: bool -> int, times -> ISO 8601, paths -> str; None for a missing time
    (NaT: the attribute is left out, as for None)."""
    if value is pd.NaT or (isinstance(value, np.datetime64) and np.isnat(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (pd.Timestamp, _dt.datetime, np.datetime64)):
        ts = naive_utc(value)
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts == ts.floor("s") else ts.isoformat() + "Z"
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        return _iso_duration(pd.Timedelta(value).total_seconds())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, tuple):
        if value and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in value):
            return np.asarray(value)
        return json.dumps(list(value), default=str)
    return value


def write_netcdf(
    ds: xr.Dataset | xr.DataArray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    summary: str | None = None,
    attrs: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    input_files: Iterable[str | os.PathLike[str]] = (),
    complevel: int | None = None,
    latlon: bool | None = None,
    float64_state: bool = False,
) -> Path:
    """Write a Dataset as CF-1.11 / ACDD-1.3 NetCDF-4, atomically.

    Parameters
    ----------
    ds : xarray.Dataset or DataArray
        Gridded data with a rioxarray CRS and x/y coordinates (the transform is derived from them;
        an explicit transform is needed only for an axis of length 1), or a DSG dataset built by
        :func:`hydro.io.timeseries_dataset`. Dimensions are written in CF order
        ``(…, time, y, x)`` and tz-aware times in UTC. Variables named in the vocabulary get its
        attributes and on-disk encoding; other variables keep theirs. ``source`` and
        ``hydro_version`` attributes of ``ds`` are kept.
    path : path-like
        Target file; its directory must exist (or be creatable).
    title, summary : str
        ACDD title and summary (defaults are derived from the variables).
    attrs : mapping
        Further global attributes (override the defaults, e.g. ``id`` = run id).
    parameters : mapping
        Model parameters recorded as JSON in ``hydro_parameters``.
    input_files : iterable of paths
        Recorded with sha256 checksums in ``hydro_input_files``.
    complevel : int, optional
        zlib level (0 = no compression; shuffle on). Default: 4, or the level set by :func:`netcdf_compression`
        (a run's ``[outputs] compression_level``).
    latlon : bool, optional
        Add 2-D ``lat``/``lon`` auxiliary coordinates for projected grids (default: when the grid
        has at most 4 M cells; needed for the ACDD extent check).
    float64_state : bool
        Keep float64 data as float64 (state files); otherwise the vocabulary dtype is used.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OutputError
        The file cannot be written (nothing is left behind), a grid cannot be georeferenced
        (one row/column and no explicit transform, spatial dimensions not named ``y``/``x``), or
        ``time`` has missing (NaT) or repeated/unsorted values.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor: without it a y/x grid was an AttributeError)

    if complevel is None:
        complevel = _COMPLEVEL.get()

    from hydro import __version__

    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "data")
    ds = ds.copy(deep=False)
    ds = _grid_mapping_as_coord(ds)
    _check_spatial_dims(ds)
    ds = _to_utc(ds)
    ds = _reorder_dims(ds)
    path = Path(path)
    encoding: dict[str, dict[str, Any]] = {}
    global_attrs: dict[str, Any] = dict(DEFAULT_GLOBAL_ATTRS)
    global_attrs.update({k: v for k, v in ds.attrs.items() if not k.startswith("_")})
    # auxiliary coordinates (named in a ``coordinates`` attribute) carry no fill value (netcdf.md §4)
    aux_coords = {c for v in ds.variables.values() for c in str(v.attrs.get("coordinates", "")).split()}

    for name in list(ds.data_vars):
        var = ds[name]
        voc = VOCABULARY.get(str(var.attrs.get("hydro_name", name)), None)
        enc: dict[str, Any] = {}
        if voc is not None:
            for key, value in voc.items():
                if key not in ("dtype", "fill"):
                    var.attrs.setdefault(key, value)
            var.attrs.setdefault("hydro_name", str(var.attrs.get("hydro_name", name)))
            dtype = np.dtype(voc.get("dtype", var.dtype))
            if float64_state and var.dtype == np.float64:
                dtype = np.dtype("float64")
            enc["dtype"] = dtype
            if "fill" in voc:
                enc["_FillValue"] = np.array(voc["fill"], dtype=dtype)
            elif dtype.kind == "f":
                enc["_FillValue"] = np.array(-9999.0, dtype=dtype)
            if "flag_values" in voc:
                var.attrs["flag_values"] = np.array(voc["flag_values"], dtype=dtype)
        elif var.dtype.kind == "f":
            # a complete auxiliary coordinate has no fill; one with unknown (NaN) positions keeps it
            aux = name in aux_coords and var.ndim <= 1 and not bool(np.isnan(np.asarray(var.values)).any())
            enc["_FillValue"] = None if aux else np.array(-9999.0, dtype=var.dtype)
        elif var.dtype.kind in "iu":
            # other integer variables keep their own fill value (e.g. -1 = no data of a class map): passing
            # ``encoding`` to ``to_netcdf`` replaces the variable's, and without it the no-data cells read back as data
            fill = var.encoding.get("_FillValue", var.attrs.get("_FillValue"))
            if fill is not None and np.ndim(fill) == 0 and np.isfinite(fill) and float(fill) == int(fill) \
                    and np.iinfo(var.dtype).min <= int(fill) <= np.iinfo(var.dtype).max:
                enc["_FillValue"] = np.array(int(fill), dtype=var.dtype)
        elif var.dtype.kind in "SUO":
            enc["dtype"] = "S1"
        elif var.dtype.kind == "M" and name not in ("time", "forecast_reference_time") and not name.endswith("_bnds"):
            # times as data (e.g. the time of the peak per station): xarray writes a missing time (NaT) as the int64
            # minimum without a _FillValue, which netCDF4/cftime, GDAL and Panoply read as a time 2.5e16 years away
            # (num2date: OverflowError); declare it as the fill value, in the writer's exact units
            t = np.asarray(var.values, dtype="datetime64[ns]")
            if np.isnat(t).any():
                enc.update(_time_encoding(t[~np.isnat(t)]))
                enc.update(dtype="int64", _FillValue=np.int64(np.iinfo(np.int64).min))
        # CF §2.5/§3.5: these attributes have the type of the variable on disk (every variable)
        disk = np.dtype(enc.get("dtype", var.dtype)) if enc.get("dtype") != "S1" else np.dtype("S1")
        if disk.kind == "b":
            disk = np.dtype("int8")  # xarray stores bool as int8
        if disk.kind in "iuf":
            for key in ("flag_values", "flag_masks", "valid_range", "valid_min", "valid_max"):
                if key in var.attrs:
                    var.attrs[key] = np.asarray(var.attrs[key]).astype(disk)
        if name.endswith("_bnds"):
            enc = {"_FillValue": None}
            var.attrs = {}
            var.encoding["coordinates"] = None
        var.attrs.pop("_FillValue", None)
        # keep rioxarray's grid_mapping (design note gotcha 2)
        gm = var.encoding.get("grid_mapping") or var.attrs.pop("grid_mapping", None)
        if gm is not None:
            enc["grid_mapping"] = gm
        if complevel and var.dtype.kind not in "SUO" and var.ndim >= 1:
            enc.update(zlib=True, complevel=int(complevel), shuffle=True)
            ch = _chunks(var.shape, var.dims, np.dtype(enc.get("dtype", var.dtype)).itemsize)
            if ch is not None:
                enc["chunksizes"] = ch
        encoding[name] = enc
        var.attrs.setdefault("coverage_content_type", "modelResult")
        ds[name] = var

    if _is_grid(ds):
        ds, geo = _grid_attrs(ds, latlon)
        global_attrs.update({k: v for k, v in geo.items() if k not in global_attrs or k.startswith("geospatial")})
        for name in ds.data_vars:
            if {"x", "y"} <= set(ds[name].dims):
                encoding.setdefault(name, {})["grid_mapping"] = "spatial_ref"
                if "lat" in ds.coords:
                    # keep the variable's other (e.g. scalar time) coordinates; never list the grid mapping
                    extra = [str(c) for c in ds[name].coords if c not in ds[name].dims and c not in ("lat", "lon", "spatial_ref")]
                    ds[name].attrs["coordinates"] = " ".join(["lat", "lon", *extra])
                    # a variable read back (open_dataset) keeps the file's list in its encoding: xarray refuses both
                    ds[name].encoding.pop("coordinates", None)
        for name in ("x_bnds", "y_bnds"):
            encoding[name] = {"_FillValue": None}
            ds[name].encoding["coordinates"] = None
    elif str(ds.attrs.get("featureType", "")) == "timeSeries" and "lat" in ds.variables and "lon" in ds.variables:
        # DSG: the extent of the positions written (a subset of stations read back is not the extent of the original
        # file); unknown (NaN) positions are left out, and no extent is stated when no position is known
        from hydro.io.dsg import dsg_geospatial

        for key in [k for k in global_attrs if k.startswith("geospatial_")]:
            del global_attrs[key]
        global_attrs.update(dsg_geospatial(ds["lat"].values, ds["lon"].values))
    # coordinates never carry a fill value
    for name in ds.coords:
        c = ds.variables[name]
        if name not in ds.dims and c.dtype.kind == "f" and c.ndim <= 1 and bool(np.isnan(np.asarray(c.values)).any()):
            continue  # unknown (NaN) positions of an auxiliary coordinate keep a fill value
        encoding.setdefault(str(name), {})["_FillValue"] = None
        ds[name].attrs.pop("_FillValue", None)
        if name not in ds.dims and _is_text(c):
            # ids/names as char arrays (netcdf.md §6), also when they are coordinates (a DSG read back)
            encoding[str(name)]["dtype"] = "S1"
    if "spatial_ref" in ds.variables:
        ds["spatial_ref"].attrs.pop("coverage_content_type", None)
    if "time_bnds" in ds.variables:
        encoding.setdefault("time_bnds", {})["_FillValue"] = None
        ds["time_bnds"].attrs = {}
    for name in ("time", "forecast_reference_time"):
        if name in ds.variables:  # also as scalar coordinates or data variables
            encoding.setdefault(name, {})["_FillValue"] = None
            ds[name].attrs.pop("_FillValue", None)
    frt = "forecast_reference_time"
    if frt in ds.variables and ds[frt].dtype.kind == "M" and not np.isnat(np.asarray(ds[frt].values)).any():
        # the forecast's issue time (netcdf.md §3): without a standard name the CF gate fails (§3.3), and xarray's
        # own encoding labelled it "proleptic_gregorian" while time says "standard"
        ds[frt].attrs.setdefault("standard_name", frt)
        ds[frt].attrs.setdefault("long_name", "forecast reference time")
        encoding[frt].update(_time_encoding(np.asarray(ds[frt].values)))
    for cname in ("x", "y", "lat", "lon"):
        if cname in ds.coords:
            ds[cname].attrs.setdefault("coverage_content_type", "coordinate")
    time_attrs = _time_attrs(ds, encoding)
    global_attrs.update(time_attrs)

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = [n for n in ds.data_vars if not n.endswith("_bnds")]
    global_attrs.setdefault("title", "hydro output")
    global_attrs.setdefault("summary", "hydro output: " + ", ".join(names))
    if title:
        global_attrs["title"] = title
    if summary:
        global_attrs["summary"] = summary
    global_attrs.update(
        Conventions=CONVENTIONS,
        standard_name_vocabulary=STANDARD_NAME_VOCABULARY,
        date_created=global_attrs.get("date_created", now),
        date_modified=now,
        date_issued=global_attrs.get("date_issued", now),
        date_metadata_modified=now,
    )
    # provenance of the producer given with the data (e.g. an exchange file) is kept
    global_attrs.setdefault("source", f"hydro {__version__}")
    global_attrs.setdefault("hydro_version", __version__)
    global_attrs["history"] = (str(global_attrs.get("history", "")) + f"\n{now}: written by hydro {__version__}").strip()
    global_attrs.setdefault("id", path.stem)

    if parameters:
        global_attrs["hydro_parameters"] = json.dumps(parameters, sort_keys=True, default=str)
    files = []
    for f in input_files:
        f = Path(f)
        if not f.exists():
            raise InputMissingError(f"input file for provenance not found: {f}")
        files.append({"path": str(f), "sha256": sha256_file(f)})
    if files:
        global_attrs["hydro_input_files"] = json.dumps(files)
    if attrs:
        global_attrs.update(attrs)
    ds.attrs = {k: a for k, v in global_attrs.items() if (a := _attr_value(v)) is not None}

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {path.parent}: {exc}") from exc
    tmp = atomic_path(path)
    try:
        # dask-backed variables are computed in this thread (synchronous), which holds the lock: the
        # threaded scheduler's workers would wait for the lock held here (deadlock)
        with NETCDF_LOCK:
            pending = ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=encoding, compute=False)
            pending.compute(scheduler="synchronous")
        replace_atomically(tmp, path)
    except BaseException as exc:  # also Ctrl-C / SystemExit: no temporary file is left behind
        discard_temp(tmp)
        if isinstance(exc, OutputError) or not isinstance(exc, Exception):
            raise
        raise OutputError(f"cannot write {path}: {exc}") from exc
    logger.info("wrote %s", path)
    return path
