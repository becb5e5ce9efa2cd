"""The ``hydro-exchange-1.0`` NetCDF profile: border discharge swapped between regions.

This module is the single source of truth of the profile (``docs/exchange.md`` describes it for
people): the names below are what :func:`exchange_dataset` writes and what
:mod:`hydro.exchange.validate` checks.

A file of the profile is a CF-1.11 discrete-sampling-geometry ``timeSeries`` (orthogonal
multidimensional representation, CF §9 / App. H.2):

* instance dimension ``station`` = the agreed border points; ``station_id`` (char,
  ``cf_role = "timeseries_id"``), ``station_name``, ``lat``/``lon`` (WGS84) and projected
  ``x``/``y`` in the producer's CRS, described by the grid-mapping variable ``crs`` (``crs_wkt``);
* ``discharge([realization,] station, time)``: ``standard_name =
  water_volume_transport_in_river_channel``, ``units = "m3 s-1"``, ``cell_methods = "time: mean"``
  with ``time_bnds`` (values label the end of each averaging period);
* scalar ``forecast_reference_time`` (CF standard name), optional ``realization`` dimension
  (ensemble members, ``standard_name = realization``);
* global attributes: ``hydro_exchange_profile = "hydro-exchange-1.0"``,
  ``hydro_issuing_region``, ``hydro_run_id``, ``hydro_config_hash``, ``hydro_version``,
  ``source``, ``date_created`` and the ACDD set of :func:`hydro.io.write_netcdf`.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError, OutputError
from hydro.io.dsg import dsg_geospatial
from hydro.times import naive_utc
from hydro.vocabulary import cf_attrs

__all__ = [
    "CONFIG_HASH_ATTR",
    "DEFAULT_MAX_BYTES",
    "DISCHARGE_STANDARD_NAME",
    "DISCHARGE_UNITS",
    "DISCHARGE_VAR",
    "FRT_VAR",
    "ID_VAR",
    "INSTANCE_DIM",
    "MAX_DISCHARGE",
    "NAME_VAR",
    "PROFILE",
    "PROFILE_ATTR",
    "PROFILE_NAME",
    "PROFILE_VERSION",
    "REALIZATION_DIM",
    "REGION_ATTR",
    "RUN_ID_ATTR",
    "discharge_factor",
    "exchange_dataset",
    "exchange_filename",
    "write_exchange",
]

logger = logging.getLogger(__name__)

#: profile name and version; the global attribute :data:`PROFILE_ATTR` holds ``PROFILE``
PROFILE_NAME = "hydro-exchange"
PROFILE_VERSION = "1.0"
PROFILE = f"{PROFILE_NAME}-{PROFILE_VERSION}"
PROFILE_ATTR = "hydro_exchange_profile"
#: global attributes of provenance
REGION_ATTR = "hydro_issuing_region"
RUN_ID_ATTR = "hydro_run_id"
CONFIG_HASH_ATTR = "hydro_config_hash"
VERSION_ATTR = "hydro_version"
#: file layout
INSTANCE_DIM = "station"
ID_VAR = "station_id"
NAME_VAR = "station_name"
DISCHARGE_VAR = "discharge"
DISCHARGE_STANDARD_NAME = "water_volume_transport_in_river_channel"
DISCHARGE_UNITS = "m3 s-1"
REALIZATION_DIM = "realization"
FRT_VAR = "forecast_reference_time"
CRS_VAR = "crs"
#: largest incoming file accepted by default [bytes] (50 MiB; ``exchange.inflows[].max_mb``)
DEFAULT_MAX_BYTES = 50 * 2**20
#: largest plausible discharge at a border point [m3 s-1]: above any river on Earth (Amazon record
#: about 3.7e5); larger values are a fill value or a units error, not a flood
MAX_DISCHARGE = 1.0e6
#: the coordinates attribute of the discharge variable
COORDINATES = f"time lat lon x y {ID_VAR} {NAME_VAR} {FRT_VAR}"


def exchange_filename(region: str, reference_time: Any) -> str:
    """Conventional file name ``<region>_<YYYYmmddTHHMMZ>_border_discharge.nc`` (netcdf.md §10)."""
    return f"{region}_{naive_utc(reference_time):%Y%m%dT%H%MZ}_border_discharge.nc"


def discharge_factor(units: str) -> float | None:
    """Factor converting ``units`` to m3 s-1 (1.0 for any spelling of m3 s-1; None: not a discharge).

    Parsed with UDUNITS-2 (cf_units); strings longer than 64 characters are refused unparsed, and so
    are units with an offset (``"m3 s-1 @ 100"``) and units whose factor is not a finite positive
    number (``"-1 m3 s-1"`` would flip the sign of every value).
    """
    import warnings

    if not isinstance(units, str) or not units.strip() or len(units) > 64:
        return None
    try:
        import cf_units

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u = cf_units.Unit(units)
            target = cf_units.Unit(DISCHARGE_UNITS)
            if u.is_time_reference() or not u.is_convertible(target):
                return None
            if float(u.convert(0.0, target)) != 0.0:
                return None  # an offset ("m3 s-1 @ 100") is not a unit of discharge: no factor converts it
            factor = float(u.convert(1.0, target))
            if not (np.isfinite(factor) and factor > 0.0):
                return None  # "-1 m3 s-1": a negative (or zero) scale is not a conversion of discharge
    except Exception:  # noqa: BLE001 - cf_units raises ValueError and others on unparsable input
        return None
    return 1.0 if abs(factor - 1.0) < 1e-12 else factor


def _utc(value: Any, what: str) -> pd.Timestamp:
    """``value`` as a naive UTC time; :class:`~hydro.errors.InputDataError` naming ``what`` when it is none."""
    try:
        ts = naive_utc(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputDataError(f"exchange: {what} {value!r} is not a time: {exc}") from None
    if pd.isna(ts):
        raise InputDataError(f"exchange: {what} {value!r} is not a time")
    return ts


def xy_unit(crs: Any) -> str | None:
    """The name of the x/y axis unit of a projected pyproj CRS when it is not the metre (None for metres)."""
    for a in (crs.axis_info or [])[:2]:
        factor = a.unit_conversion_factor
        if factor is not None and abs(float(factor) - 1.0) > 1e-12:
            return str(a.unit_name)
    return None


def _crs_variable(crs: Any) -> tuple[dict[str, Any], Any, float]:
    from pyproj import CRS

    try:
        c = CRS.from_user_input(crs)
    except Exception as exc:
        raise InputDataError(f"exchange: cannot read CRS {crs!r}: {exc}") from exc
    if c.is_geographic:
        raise InputDataError(f"exchange: x/y need a projected CRS, got geographic {c.to_string()}")
    # the profile's x/y are metres (units = "m"): x/y of a CRS in feet go out in metres, with the same projection
    c, factor = _metre_crs(c)
    attrs: dict[str, Any] = {}
    for k, v in c.to_cf().items():
        if isinstance(v, (str, int, float)):
            attrs[k] = v
        elif isinstance(v, (tuple, list)) and v and all(isinstance(e, (int, float)) for e in v):
            attrs[k] = np.asarray(v, dtype=np.float64)  # e.g. the two standard_parallel of a conic projection
    if factor != 1.0:
        # pyproj's to_cf() keeps the false easting/northing in the conversion's unit (feet): CF states them in
        # the unit of x/y, metres here
        for k in ("false_easting", "false_northing"):
            if k in attrs:
                attrs[k] = float(attrs[k]) * factor
    attrs["crs_wkt"] = c.to_wkt()
    attrs["spatial_ref"] = attrs["crs_wkt"]
    return attrs, c, factor


def _metre_crs(c: Any) -> tuple[Any, float]:
    """``(c, 1.0)`` when the x/y of the projected CRS ``c`` are metres; else the same projection with x/y in
    metres and the factor from ``c``'s x/y unit to the metre (e.g. 1200/3937 for US survey feet)."""
    unit = xy_unit(c)
    if unit is None:
        return c, 1.0
    horizontal = c.sub_crs_list[0] if c.is_compound and c.sub_crs_list else c
    factors = {float(a.unit_conversion_factor) for a in horizontal.axis_info[:2]}
    if len(factors) != 1 or horizontal.coordinate_operation is None or horizontal.geodetic_crs is None:
        raise InputDataError(f"exchange: x/y of {c.name!r} are in {unit!r}, the profile's x/y are metres: "
                             "give the points in a projected CRS in metres (e.g. the UTM zone)")
    from pyproj.crs import ProjectedCRS
    from pyproj.crs.coordinate_system import Cartesian2DCS

    try:
        metre = ProjectedCRS(conversion=horizontal.coordinate_operation, geodetic_crs=horizontal.geodetic_crs,
                             cartesian_cs=Cartesian2DCS(), name=f"{horizontal.name} (metres)")
    except Exception as exc:  # noqa: BLE001 - pyproj.CRSError and others
        raise InputDataError(f"exchange: cannot express {c.name!r} (x/y in {unit!r}) in metres: {exc}") from exc
    return metre, factors.pop()


def _to_lonlat(crs: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    pts = [tr.transform(float(a), float(b)) for a, b in zip(np.ravel(x), np.ravel(y))]  # scalars: pyproj warns on 1-element arrays
    return np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)


def exchange_dataset(
    discharge: xr.DataArray,
    point_ids: Sequence[str],
    x: Sequence[float],
    y: Sequence[float],
    crs: Any,
    reference_time: Any,
    issuing_region: str,
    *,
    run_id: str,
    config_hash: str | None = None,
    hydro_version: str | None = None,
    date_created: Any = None,
    point_names: Sequence[str] | None = None,
    time_bounds: Any = None,
    cell_methods: str = "time: mean",
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a ``hydro-exchange-1.0`` dataset of border discharge.

    Parameters
    ----------
    discharge : xarray.DataArray
        Discharge [m3 s-1] on dims ``(time, point)`` or ``(time, point, realization)`` (any
        order); ``time`` holds UTC labels (end of each averaging period). A ``units`` attribute,
        when present, must be ``m3 s-1``. A ``point`` coordinate, when present, labels the
        columns: it must hold the ``point_ids`` (in any order; numbers such as gauge codes are
        compared as text) and the values are taken by label.
    point_ids : sequence of str
        Agreed border point ids, one per ``point`` (stable, unique, non-empty).
    x, y : sequence of float
        Border point positions in ``crs`` (in its unit: metres, or feet for a CRS in feet).
    crs : str, int or pyproj.CRS
        Projected CRS of ``x``/``y`` (e.g. ``"EPSG:32750"``). The file's x/y are metres (profile): the x/y
        of a CRS in feet are written in metres, with the same projection in metres as the file's CRS.
    reference_time : datetime-like
        Forecast reference time (UTC): the time of the state the run starts from.
    issuing_region : str
        Region id of the producer (``hydro_issuing_region``).
    run_id : str
        Producer's run id (``hydro_run_id`` and ACDD ``id``).
    config_hash : str, optional
        Hash of the producer's configuration (``hydro_config_hash``).
    hydro_version : str, optional
        Producer software version (default: this package's).
    date_created : datetime-like, optional
        Creation time (default: now, UTC).
    point_names : sequence of str, optional
        Human-readable names (default: the ids).
    time_bounds : array (time, 2) of datetime-like, optional
        Averaging period of each value (default: ``(t - Δt, t)`` from the regular time step);
        contiguous (each period starts where the previous one ends) and as long as the time step.
    cell_methods : str
        ``"time: mean"`` (default, period means) or ``"time: point"`` (instantaneous values).
    attrs : mapping, optional
        Further global attributes (e.g. ``hydro_warm_start``, ``hydro_forcing``).

    Returns
    -------
    xarray.Dataset
        Ready for :func:`write_exchange`.

    Raises
    ------
    InputDataError
        Mismatched lengths, duplicate or empty ids, a ``point`` coordinate that is not the ids,
        no or unreadable times, unsorted/duplicate/irregular times, NaN, infinite or negative
        discharge, wrong units, a geographic or unreadable CRS.
    """
    from hydro import __version__

    da = discharge
    dims = set(da.dims)
    if not ({"time", "point"} <= dims <= {"time", "point", REALIZATION_DIM}):
        raise InputDataError(f"exchange: discharge dims {da.dims} must be (time, point[, {REALIZATION_DIM}])")
    units = da.attrs.get("units")
    if units is not None and discharge_factor(str(units)) != 1.0:
        raise InputDataError(f"exchange: discharge units {units!r}, the profile needs {DISCHARGE_UNITS!r}")
    has_real = REALIZATION_DIM in dims
    ids = [str(i) for i in point_ids]
    if "point" in da.coords:
        # labelled columns (text or numeric gauge codes): the values of point id k are the column
        # labelled k, whatever the order; numeric labels are compared as text (101 is "101")
        labels = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(da["point"].values).ravel()]
        if sorted(labels) != sorted(ids) or len(set(labels)) != len(labels):
            raise InputDataError(f"exchange: discharge is labelled with points {labels[:10]}, not the point ids {ids[:10]}")
        da = da.isel(point=[labels.index(i) for i in ids])
    order = ((REALIZATION_DIM,) if has_real else ()) + ("point", "time")
    values = np.asarray(da.transpose(*order).values, dtype=np.float64)
    n = values.shape[-2]
    if len(ids) != n or len(x) != n or len(y) != n:
        raise InputDataError(f"exchange: {n} points in discharge but {len(ids)} ids, {len(x)} x, {len(y)} y")
    if n == 0:
        raise InputDataError("exchange: no border points")
    if any(not i.strip() for i in ids) or len(set(ids)) != n:
        raise InputDataError(f"exchange: point ids must be unique and non-empty: {ids}")
    names = [str(s) for s in (point_names if point_names is not None else ids)]
    if len(names) != n:
        raise InputDataError(f"exchange: {len(names)} point names for {n} points")
    if not np.all(np.isfinite(values)):
        raise InputDataError(f"exchange: discharge has {int(np.sum(~np.isfinite(values)))} NaN/infinite values")
    if np.any(values < 0):
        raise InputDataError(f"exchange: discharge has {int(np.sum(values < 0))} negative values (min {values.min():g} m3 s-1)")
    if "time" not in da.coords:
        raise InputDataError("exchange: discharge has no time coordinate (UTC labels of the period ends)")
    try:
        time = naive_utc(pd.DatetimeIndex(pd.to_datetime(np.asarray(da["time"].values))))
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputDataError(f"exchange: discharge time coordinate is not times: {exc}") from None
    if time.hasnans:
        raise InputDataError("exchange: discharge time coordinate has missing (NaT) times")
    if len(time) == 0:
        raise InputDataError("exchange: empty time axis")
    if time.has_duplicates or not time.is_monotonic_increasing:
        raise InputDataError("exchange: times must increase strictly (no duplicates)")
    if len(time) > 1 and len(set(np.diff(time.asi8))) != 1:
        raise InputDataError("exchange: times must be regular (no gaps)")
    if time_bounds is None:
        if len(time) < 2:
            raise InputDataError("exchange: a single time needs explicit time_bounds")
        step = time[1] - time[0]
        tb = np.stack([(time - step).values, time.values], axis=1)
    else:
        try:
            tb = np.asarray(pd.to_datetime(np.asarray(time_bounds).ravel()).values, dtype="datetime64[ns]").reshape(-1, 2)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputDataError(f"exchange: time_bounds are not (start, end) pairs of times: {exc}") from None
        if tb.shape != (len(time), 2) or np.any(tb[:, 1] != time.values) or np.any(tb[:, 0] >= tb[:, 1]):
            raise InputDataError("exchange: time_bounds must be (start, end = time) pairs, one per time")
        if len(time) > 1 and (np.any(tb[1:, 0] != tb[:-1, 1]) or np.any(tb[:, 1] - tb[:, 0] != tb[0, 1] - tb[0, 0])):
            raise InputDataError("exchange: time_bounds must be contiguous periods as long as the time step "
                                 "(no gap, no overlap)")
    if cell_methods not in ("time: mean", "time: point") and not cell_methods.startswith(("time: mean (", "time: point (")):
        raise InputDataError(f"exchange: cell_methods {cell_methods!r} is not 'time: mean' or 'time: point'")
    frt = _utc(reference_time, "forecast reference time")
    if frt > time[-1]:
        raise InputDataError(f"exchange: forecast reference time {frt} is after the last time {time[-1]}")
    if not str(issuing_region).strip():
        raise InputDataError("exchange: issuing_region is empty")
    crs_attrs, crs_obj, to_metres = _crs_variable(crs)
    xs, ys = np.asarray(x, float) * to_metres, np.asarray(y, float) * to_metres  # in the CRS's unit -> m
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise InputDataError("exchange: x/y must be finite")
    lon, lat = _to_lonlat(crs_obj, xs, ys)

    inst = INSTANCE_DIM
    dis_attrs = {**cf_attrs("discharge"), "cell_methods": cell_methods, "coordinates": COORDINATES, "grid_mapping": CRS_VAR,
                 "long_name": "river discharge at the border point" + (" (ensemble member)" if has_real else "")}
    data_dims = ((REALIZATION_DIM,) if has_real else ()) + (inst, "time")
    data_vars: dict[str, Any] = {
        DISCHARGE_VAR: (data_dims, values, dis_attrs),
        ID_VAR: ((inst,), np.asarray(ids, dtype=object), {"cf_role": "timeseries_id", "long_name": "border point identifier",
                                                                   "coverage_content_type": "referenceInformation"}),
        NAME_VAR: ((inst,), np.asarray(names, dtype=object), {"long_name": "border point name", "coverage_content_type": "referenceInformation"}),
        "lat": ((inst,), lat, {"standard_name": "latitude", "long_name": "border point latitude", "units": "degrees_north",
                               "coverage_content_type": "coordinate"}),
        "lon": ((inst,), lon, {"standard_name": "longitude", "long_name": "border point longitude", "units": "degrees_east",
                               "coverage_content_type": "coordinate"}),
        "x": ((inst,), xs, {"standard_name": "projection_x_coordinate", "long_name": "border point x in the producer CRS",
                            "units": "m", "coverage_content_type": "coordinate"}),
        "y": ((inst,), ys, {"standard_name": "projection_y_coordinate", "long_name": "border point y in the producer CRS",
                            "units": "m", "coverage_content_type": "coordinate"}),
        CRS_VAR: ((), np.int32(0), crs_attrs),
        FRT_VAR: ((), np.datetime64(frt.to_datetime64(), "ns"), {"standard_name": "forecast_reference_time",
                                                                "long_name": "forecast reference time",
                                                                "coverage_content_type": "coordinate"}),
        "time_bnds": (("time", "nv"), tb),
    }
    coords: dict[str, Any] = {"time": ("time", time.values)}
    if has_real:
        members = np.asarray(da[REALIZATION_DIM].values) if REALIZATION_DIM in da.coords else np.arange(values.shape[0])
        if members.dtype.kind not in "iu" or len(set(members.tolist())) != len(members):
            raise InputDataError(f"exchange: {REALIZATION_DIM} values must be unique integers, got {members.tolist()}")
        coords[REALIZATION_DIM] = (REALIZATION_DIM, members.astype(np.int32),
                                   {"standard_name": "realization", "long_name": "ensemble member number", "units": "1",
                                    "coverage_content_type": "coordinate"})
    ds = xr.Dataset(data_vars, coords=coords)
    created = _utc(date_created, "date_created") if date_created is not None else naive_utc(_dt.datetime.now(_dt.UTC))
    ds.attrs.update(
        featureType="timeSeries",
        cdm_data_type="Station",
        title=f"{issuing_region}: forecast discharge at the border points",
        summary=(f"River discharge forecast by region {issuing_region!s} at {n} agreed border point(s), "
                 f"{'ensemble of ' + str(values.shape[0]) + ' members, ' if has_real else ''}"
                 f"profile {PROFILE} (CF DSG timeSeries)."),
        id=str(run_id),
        **{PROFILE_ATTR: PROFILE, REGION_ATTR: str(issuing_region), RUN_ID_ATTR: str(run_id),
           VERSION_ATTR: str(hydro_version or __version__)},
        date_created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        forecast_reference_time=frt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **dsg_geospatial(lat, lon),
    )
    if config_hash:
        ds.attrs[CONFIG_HASH_ATTR] = str(config_hash)
    if attrs:
        ds.attrs.update(attrs)
    return ds


def write_exchange(ds: xr.Dataset, path: str | os.PathLike[str], *, complevel: int = 4) -> Path:
    """Write an exchange dataset atomically, after checking the written bytes against the profile.

    The file is written through :func:`hydro.io.write_netcdf` to a temporary name in the target
    directory, validated with :func:`hydro.exchange.validate_exchange` (profile checks, no CF
    checker run), and only then renamed to ``path``: a file at ``path`` is always complete and valid.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`exchange_dataset`.
    path : path-like
        Target file (``exchange_filename(region, reference_time)`` by convention).
    complevel : int
        zlib level (0–9; no other filters, partners' libraries may lack them).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputDataError
        The dataset does not satisfy the profile (nothing is written).
    OutputError
        The file cannot be written.
    """
    from hydro.exchange.validate import validate_exchange
    from hydro.io import write_netcdf
    from hydro.io.netcdf import discard_temp, replace_atomically

    path = Path(path)
    if ds.attrs.get(PROFILE_ATTR) != PROFILE:
        raise InputDataError(f"{path}: dataset is not a {PROFILE} dataset (build it with exchange_dataset)")
    # unique per process and thread (as hydro.io.netcdf.atomic_path): two threads writing the same
    # exchange file must not validate or publish each other's bytes
    tmp = path.with_name(f".{path.name}.unvalidated-{os.getpid()}-{threading.get_ident()}")
    attrs = {"id": ds.attrs.get("id"), "date_created": ds.attrs.get("date_created")}
    try:
        write_netcdf(ds, tmp, attrs=attrs, complevel=complevel)
        problems = validate_exchange(tmp, max_bytes=max(DEFAULT_MAX_BYTES, tmp.stat().st_size), check_cf=False)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise InputDataError(f"{path}: written file fails the {PROFILE} profile: {errors[0].message}")
        replace_atomically(tmp, path)
    except BaseException as exc:
        discard_temp(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write {path}: {exc}") from exc
        raise
    logger.info("wrote exchange file %s", path)
    return path
