"""CF discrete-sampling-geometry (DSG) timeSeries datasets: gauges, reservoirs, regions, links.

Orthogonal multidimensional representation (CF §9, App. H.2): data ``(instance, time)``, an id
variable with ``cf_role = "timeseries_id"``, ``lat``/``lon`` per instance, a ``crs`` variable,
and no coordinate variable on the instance dimension. Write it with :func:`hydro.io.write_netcdf`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError
from hydro.times import naive_utc
from hydro.vocabulary import VOCABULARY, cf_attrs

__all__ = ["timeseries_dataset", "dsg_geospatial"]


def dsg_geospatial(lat: Any, lon: Any) -> dict[str, Any]:
    """ACDD ``geospatial_*`` attributes of instance positions (WGS84 degrees).

    Unknown (NaN) positions are left out; an empty dict when no position is known (the extent is
    not stated rather than written as NaN, which the ACDD checks cannot read).
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    known = np.isfinite(lat) & np.isfinite(lon)
    if not known.any():
        return {}
    lat, lon = lat[known], lon[known]
    la0, la1, lo0, lo1 = float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max())
    out: dict[str, Any] = {
        "geospatial_lat_min": la0, "geospatial_lat_max": la1, "geospatial_lon_min": lo0, "geospatial_lon_max": lo1,
        "geospatial_lat_units": "degrees_north", "geospatial_lon_units": "degrees_east", "geospatial_bounds_crs": "EPSG:4326",
    }
    if lat.size == 1:
        out["geospatial_bounds"] = f"POINT({la0} {lo0})"
    elif la0 == la1 or lo0 == lo1:
        out["geospatial_bounds"] = f"LINESTRING({la0} {lo0}, {la1} {lo1})"
    else:
        out["geospatial_bounds"] = f"POLYGON(({la0} {lo0}, {la0} {lo1}, {la1} {lo1}, {la1} {lo0}, {la0} {lo0}))"
    return out


def timeseries_dataset(
    variables: Mapping[str, Any],
    *,
    ids: Sequence[str],
    time: Sequence[Any],
    lat: Sequence[float],
    lon: Sequence[float],
    names: Sequence[str] | None = None,
    instance_dim: str = "station",
    id_name: str | None = None,
    attrs: Mapping[str, Mapping[str, Any]] | None = None,
    instance_variables: Mapping[str, Sequence[Any]] | None = None,
    time_bounds: Sequence[Any] | None = None,
    cdm_data_type: str = "Station",
) -> xr.Dataset:
    """Build a CF DSG timeSeries Dataset.

    Parameters
    ----------
    variables : mapping name -> array (n_instance, n_time)
        Data; names found in the vocabulary get its attributes (override with ``attrs``).
    ids : sequence of str
        Stable instance ids (written as ``<instance_dim>_id`` with ``cf_role = timeseries_id``).
    time : sequence of datetime-like
        Time of each value (UTC; the end of the period for accumulations/means).
    lat, lon : sequence of float
        WGS84 position of each instance [degrees]; NaN for an unknown position (left out of the
        ACDD extent).
    names : sequence of str, optional
        Human-readable names (``<instance_dim>_name``).
    instance_dim : str
        Name of the instance dimension (``station``, ``reservoir``, ``region``, ``link``, ``demand``).
    id_name : str, optional
        Name of the id variable (default ``<instance_dim>_id``).
    attrs : mapping name -> attributes
        Extra or overriding attributes per variable.
    instance_variables : mapping name -> sequence
        Further per-instance variables (strings become char arrays).
    time_bounds : sequence of (start, end), optional
        Period of each time step; adds ``time_bnds``.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    InputDataError
        No instance, ids not unique, lat/lon not one per id or outside [-90, 90] / [-180, 360]
        degrees, times that cannot be read, missing (NaT) or not strictly monotonic, or data of
        the wrong shape.
    """
    n = len(ids)
    if n == 0:
        raise InputDataError(f"no {instance_dim} to write: a timeSeries file needs at least one instance")
    if len(set(ids)) != n:
        raise InputDataError(f"{instance_dim} ids are not unique: {list(ids)}")
    if len(lat) != n or len(lon) != n:
        raise InputDataError(f"{instance_dim}: lat/lon need one value per id ({n})")
    la, lo = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    bad = (np.abs(la) > 90.0) | (lo < -180.0) | (lo > 360.0)
    if bad.any():
        # e.g. lat and lon swapped, or projected x/y given as degrees
        raise InputDataError(f"{instance_dim} {[ids[i] for i in np.flatnonzero(bad)]}: lat/lon outside [-90, 90] / "
                             f"[-180, 360] degrees (lat {la[bad].tolist()}, lon {lo[bad].tolist()}); "
                             "are lat and lon swapped or not WGS84 degrees?")
    # zone-aware times as naive UTC; times in different zones (or naive and aware) one by one, as ``time_bounds``
    try:
        time_index = naive_utc(pd.DatetimeIndex(pd.to_datetime(list(time))))
    except (TypeError, ValueError):
        try:
            time_index = pd.DatetimeIndex([naive_utc(t) for t in time])
        except (TypeError, ValueError) as exc:
            raise InputDataError(f"{instance_dim}: cannot read the times: {exc}") from exc
    if time_index.hasnans:
        raise InputDataError(f"{instance_dim}: time has missing values (NaT)")
    if not (time_index.is_monotonic_increasing or time_index.is_monotonic_decreasing) or not time_index.is_unique:
        raise InputDataError(f"{instance_dim}: times are not strictly monotonic (repeated or unsorted times)")
    id_name = id_name or f"{instance_dim}_id"
    coords_attr = f"time lat lon {id_name}" + (f" {instance_dim}_name" if names is not None else "")
    data_vars: dict[str, Any] = {}
    for name, values in variables.items():
        arr = np.asarray(values)
        if arr.shape != (n, len(time_index)):
            raise InputDataError(f"variable {name!r} has shape {arr.shape}, expected ({n}, {len(time_index)})")
        a = cf_attrs(name) if name in VOCABULARY else {}
        if attrs and name in attrs:
            a.update(attrs[name])
        a["coordinates"] = coords_attr
        a["grid_mapping"] = "crs"
        a.setdefault("coverage_content_type", "modelResult")
        data_vars[name] = ((instance_dim, "time"), arr, a)
    data_vars[id_name] = ((instance_dim,), np.asarray(list(ids), dtype=object), dict(cf_role="timeseries_id", long_name=f"{instance_dim} identifier"))
    if names is not None:
        data_vars[f"{instance_dim}_name"] = ((instance_dim,), np.asarray(list(names), dtype=object), dict(long_name=f"{instance_dim} name"))
    data_vars["lat"] = ((instance_dim,), np.asarray(lat, float), dict(standard_name="latitude", long_name=f"{instance_dim} latitude", units="degrees_north"))
    data_vars["lon"] = ((instance_dim,), np.asarray(lon, float), dict(standard_name="longitude", long_name=f"{instance_dim} longitude", units="degrees_east"))
    for name, values in (instance_variables or {}).items():
        arr = np.asarray(list(values))
        if arr.dtype.kind in "UO":
            arr = arr.astype(object)
        data_vars[name] = ((instance_dim,), arr, dict((attrs or {}).get(name, {"long_name": name.replace("_", " ")})))
    data_vars["crs"] = ((), np.int32(0), dict(grid_mapping_name="latitude_longitude", longitude_of_prime_meridian=0.0,
                                           semi_major_axis=6378137.0, inverse_flattening=298.257223563,
                                           crs_wkt='GEOGCRS["WGS 84",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,298.257223563]],CS[ellipsoidal,2],AXIS["latitude",north],AXIS["longitude",east],UNIT["degree",0.0174532925199433],ID["EPSG",4326]]'))
    ds = xr.Dataset(data_vars, coords={"time": ("time", time_index.values)})
    if time_bounds is not None:
        # zone-aware bounds as naive UTC, like ``time`` (numpy has no zone-aware datetime64)
        tb = np.asarray([[naive_utc(a).to_datetime64(), naive_utc(b).to_datetime64()] for a, b in time_bounds],
                        dtype="datetime64[ns]")
        if tb.shape != (len(time_index), 2):
            raise InputDataError("time_bounds need one (start, end) pair per time")
        ds["time_bnds"] = (("time", "nv"), tb)
    ds.attrs.update(featureType="timeSeries", cdm_data_type=cdm_data_type)
    for key in ("lat", "lon"):
        ds[key].attrs.setdefault("coverage_content_type", "coordinate")
    # unknown (NaN) positions are left out of the extent (none known: no extent)
    ds.attrs.update(dsg_geospatial(la, lo))
    return ds
