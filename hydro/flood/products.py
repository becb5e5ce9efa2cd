"""Flood products: CF NetCDF (shared writer), cloud-optimised GeoTIFF maps, GeoJSON extent polygons."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hydro.errors import InputDataError, OutputError

__all__ = ["write_flood_netcdf", "write_cog", "extent_polygons", "write_extent_geojson", "flooded_area_km2"]


def flooded_area_km2(mask: Any, like: xr.DataArray) -> float:
    """Area [km2] of the cells where ``mask`` is true, with the true cell areas of the grid of ``like``.

    Parameters
    ----------
    mask : array-like of bool, shape of ``like``
        Cells to count (e.g. ``flood_extent == 1`` or a probability above a threshold). An integer extent flag
        (1 flooded, 0 dry, -1 no data) counts its cells equal to 1; a float map other than 0/1 (a depth, NaN) is an
        input error.
    like : xarray.DataArray
        A map on the grid (CRS and transform), e.g. the DEM or HAND.

    Notes
    -----
    Areas come from :func:`hydro.terrain.grid.grid_geometry`: the transform's cell size in metres on
    local projected grids (feet converted), per-row ellipsoidal areas on geographic and Web Mercator
    grids (``|dx * dy|`` of the transform would be in square feet or degrees, or 1/cos² too large).
    """
    from hydro.terrain.grid import grid_geometry

    m = np.asarray(mask)
    if like.ndim == 2 and like.dims == ("x", "y"):
        # an (x, y) grid (and its mask): the per-row areas were taken along x (wrong on degree and Web Mercator grids)
        like, m = like.transpose("y", "x"), m.T
    if m.dtype.kind in "iu":
        # an extent flag (1 flooded, 0 dry, -1 no data): as a bool, the no-data cells counted as flooded
        m = m == 1
    elif m.dtype.kind == "f" and np.all((m == 0) | (m == 1)):
        m = m == 1  # a 0/1 mask in floats
    elif m.dtype.kind != "b":
        # a float map (depth, a flag read back with NaN) is no mask: NaN was True, any depth > 0 flooded
        raise InputDataError(f"mask must be boolean or an integer extent flag (1 = flooded), not {m.dtype}: "
                             f"compare a depth map with its threshold first")
    g = grid_geometry(like)
    if m.shape != tuple(g.shape):
        raise InputDataError(f"mask {m.shape} and grid {tuple(g.shape)} differ")
    area_row = np.broadcast_to(np.asarray(g.area_m2, dtype=np.float64), (g.shape[0],))
    return float(m.sum(axis=1) @ area_row / 1e6)


def write_flood_netcdf(ds: xr.Dataset, path: str | os.PathLike[str], **kwargs: Any) -> list[Path]:
    """Write the result of :func:`~hydro.flood.simulate_2d` or :func:`~hydro.flood.hand_inundation` as CF NetCDF.

    Uses :func:`hydro.io.write_netcdf` (CF-1.11/ACDD-1.3, atomic). Depth is ``flood_water_thickness``; the
    extent is a byte flag (``flag_values`` 0/1, ``flag_meanings = "not_flooded flooded"``).

    A 2-D run is written as two files: ``path`` with the snapshots on ``time`` (depth, speed, velocity, volume
    balance) and ``<stem>_max.nc`` with the summary maps (maximum depth/speed/hazard, first wetting, duration,
    hazard class, extent) on a length-1 ``time`` with ``time_bnds`` = run start and end, so that their
    ``cell_methods = "time: maximum"`` refer to a real time coordinate. Runs without a ``start`` date have
    relative times: give ``start`` to :func:`simulate_2d` for CF output. ``kwargs`` go to ``write_netcdf``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from hydro.io import write_netcdf

    kwargs.setdefault("title", "hydro flood extents")
    kwargs.setdefault("summary", "Flood depth, speed, timing, hazard and extent computed by hydro.flood")
    path = Path(path)
    ds = ds.copy()
    for name in ("stage_capped",):
        if name in ds and ds[name].dtype == bool:
            attrs = dict(ds[name].attrs)
            ds[name] = ds[name].astype(np.int8)
            ds[name].attrs.update(attrs, flag_values=np.array([0, 1], np.int8), flag_meanings="within_table capped",
                                  units="1")
    if "time" not in ds.dims:
        if "time" in ds.coords and "time_coverage_resolution" in ds.attrs:
            # one step of a series (hand_inundation(..., time=i)): a scalar time, resolution = the series' step
            kwargs["attrs"] = {"time_coverage_resolution": ds.attrs["time_coverage_resolution"],
                               **dict(kwargs.get("attrs") or {})}
        return [write_netcdf(ds, path, **kwargs)]
    if np.issubdtype(ds["time"].dtype, np.timedelta64):
        raise InputDataError("flood dataset has relative times; run simulate_2d(..., start=...) for CF output")
    # scalars (the initial stored volume of the balance) go with the balance series
    timed = [v for v in ds.data_vars if "time" in ds[v].dims or ds[v].ndim == 0]
    maps = [v for v in ds.data_vars if v not in timed]
    out = [write_netcdf(ds[timed], path, **kwargs)]
    if maps:
        start = ds.attrs.get("hydro_flood_start")
        end = ds["time"].values[-1]
        start = np.datetime64(start, "ns") if start else ds["time"].values[0]
        summ = ds[maps].expand_dims(time=[end])
        summ["time_bnds"] = xr.DataArray(np.array([[start, end]], dtype="datetime64[ns]"), dims=("time", "nv"))
        summ["time_bnds"].encoding["coordinates"] = None
        secs = int((end - start) / np.timedelta64(1, "s"))
        kw = dict(kwargs)
        kw["title"] = kwargs["title"] + " (maxima over the run)"
        kw["attrs"] = {"time_coverage_resolution": f"PT{secs}S", **dict(kwargs.get("attrs") or {})}
        out.append(write_netcdf(summ, path.with_name(path.stem + "_max" + path.suffix), **kw))
    return out


def write_cog(da: xr.DataArray, path: str | os.PathLike[str], *, compress: str = "DEFLATE",
              blocksize: int = 512) -> Path:
    """Write a 2-D map (e.g. ``max_flood_depth``, ``max_hazard_rating``) as a cloud-optimised GeoTIFF, atomically.

    Nodata: NaN for float maps; for integer maps (classes, flags) their ``_FillValue`` (or rioxarray nodata), else
    the ``fill`` of their hydro vocabulary entry (``hydro_name``, e.g. ``flood_extent``: -1), else -1 for a signed
    map whose ``valid_range`` / ``flag_values`` exclude it (e.g. ``hazard_class``, -1 = no data). Tiles of
    ``blocksize`` and internal overviews (GDAL COG driver) resampled by the mean of valid cells for float maps and by
    the nearest cell for integer maps (classes keep their values); a south-up map is written north-up; a boolean
    mask as 0/1 bytes.
    """
    import rasterio
    import rioxarray  # noqa: F401

    from hydro.io import atomic_path, discard_temp, replace_atomically

    if da.ndim != 2:
        raise InputDataError(f"write_cog needs a 2-D map, got dims {da.dims}")
    if da.rio.crs is None:
        raise InputDataError(f"{da.name}: no CRS; cannot write a GeoTIFF")
    path = Path(path)
    tmp = atomic_path(path)
    if da.dtype.kind == "b":  # a mask: 0/1 bytes (GDAL has no boolean type), no nodata (a comparison keeps the
        da = da.astype(np.uint8)  # float map's NaN _FillValue and units)
        da.attrs = {k: v for k, v in da.attrs.items() if k not in ("_FillValue", "missing_value", "units")}
    from hydro.io.raster import grid_transform

    if grid_transform(da).e > 0:  # rows running south: written north-up, as GDAL and web maps expect
        da = da.isel({da.dims[0]: slice(None, None, -1)})
    try:
        out = da.astype(np.float32) if da.dtype.kind == "f" else da
        if da.dtype.kind == "f":
            nd = da.rio.nodata
            if nd is not None and not np.isnan(nd):  # -9999, also -inf: a NaN nodata needs nothing
                # a numeric nodata (e.g. the -9999 of a map read without masking) is no data, not a value: written
                # as data under a NaN nodata it read back as a -9999 m depth (and entered the overview means)
                bad = np.asarray(da.values) == np.asarray(nd).astype(da.dtype)
                if bad.any():
                    out = out.copy(data=np.where(bad, np.float32(np.nan), out.values))
            out = out.rio.write_nodata(np.nan, encoded=False)
        else:
            # integer maps (classes, flags): their fill value (e.g. -1 = no data) is the GeoTIFF nodata
            try:
                nd = da.rio.nodata
            except ValueError:  # a NaN _FillValue inherited from a float map: rioxarray cannot cast it ("cannot
                nd = None  # convert float NaN to integer", an OutputError and no file)
            fill = nd if nd is not None else da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
            if fill is None or (isinstance(fill, (float, np.floating)) and not np.isfinite(fill)):
                fill = _integer_fill(da)  # (a NaN fill inherited from a float map cannot be an integer nodata)
                out = out.copy()
                for key in ("_FillValue", "missing_value"):
                    out.attrs.pop(key, None)
                    out.encoding.pop(key, None)
            if fill is not None:
                out = out.rio.write_nodata(fill, encoded=False)
        out.attrs = {k: v for k, v in da.attrs.items() if isinstance(v, (str, int, float))
                     and not (k in ("_FillValue", "missing_value") and da.dtype.kind != "f" and v != v)}
        # overviews: the mean of the valid cells for quantities (GDAL's default, cubic, overshoots: negative depths),
        # the nearest cell for classes and flags (no class that is not in the map)
        resampling = "AVERAGE" if da.dtype.kind == "f" else "NEAREST"
        out.rio.to_raster(tmp, driver="COG", compress=compress, blocksize=blocksize, resampling=resampling,
                          overview_resampling=resampling)
        with rasterio.open(tmp) as src:
            if src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "").upper() != "COG":
                raise OutputError(f"{path}: GDAL did not write a COG layout")
        replace_atomically(tmp, path)
    except OutputError:
        discard_temp(tmp)
        raise
    except Exception as exc:
        discard_temp(tmp)
        raise OutputError(f"cannot write {path}: {exc}") from exc
    except BaseException:  # Ctrl-C / SystemExit: no temporary file is left behind
        discard_temp(tmp)
        raise
    return path


def _integer_fill(da: xr.DataArray) -> int | None:
    """No-data value of an integer map without a ``_FillValue`` in memory (``cf_attrs`` keeps the vocabulary's
    fill out of the attributes: flood_extent and hazard_class carry -1 cells that would be written as data)."""
    from hydro.vocabulary import VOCABULARY

    if da.dtype.kind not in "iu":
        return None
    info = np.iinfo(da.dtype)
    entry = VOCABULARY.get(str(da.attrs.get("hydro_name", "")), {})
    if entry.get("fill") is not None and info.min <= int(entry["fill"]) <= info.max:
        return int(entry["fill"])
    if da.dtype.kind != "i":
        return None
    vr = da.attrs.get("valid_range")
    fv = da.attrs.get("flag_values")
    if vr is not None and np.asarray(vr).min() > -1:
        return -1
    if vr is None and fv is not None and -1 not in np.asarray(fv).tolist():
        return -1
    return None


def _orient_rings(geom: dict[str, Any]) -> dict[str, Any]:
    """RFC 7946 right-hand rule: exterior ring counter-clockwise, holes clockwise (in x/y, lon/lat order)."""
    rings = []
    for k, ring in enumerate(geom["coordinates"]):
        xy = np.asarray(ring, dtype=np.float64)
        signed = 0.5 * (np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1]))
        ccw = signed > 0
        ring = [list(p) for p in ring]
        rings.append(ring if ccw == (k == 0) else ring[::-1])
    return {**geom, "coordinates": rings}


def _polygon_area(geom: dict[str, Any], transform: Any = None, area_row: Any = None) -> float:
    """Area of a GeoJSON polygon (outer ring minus holes) traced along the cell edges of a grid.

    Without ``area_row``: the shoelace area in the grid CRS's units squared. With ``area_row`` (true area [m2] of a
    cell of each row, :func:`hydro.terrain.grid.grid_geometry`) and the grid's ``transform``: the area in m2 with
    the true cell area of every row it covers, the same as :func:`flooded_area_km2` of its cells (feet grids, Web
    Mercator rows, geodesic cells on geographic grids): the shoelace formula with ``y`` replaced by the true area
    above the ring's row edge per unit of ``x``."""
    total = 0.0
    cum = None
    if area_row is not None:
        cum = np.r_[0.0, np.cumsum(np.asarray(area_row, dtype=np.float64))] / abs(transform.a)  # m2 per x unit
    for k, ring in enumerate(geom["coordinates"]):
        xy = np.asarray(ring, dtype=np.float64)
        x, y = xy[:, 0], xy[:, 1]
        if cum is not None:
            x = x - transform.c
            row_edge = np.clip(np.rint((y - transform.f) / transform.e).astype(np.int64), 0, cum.size - 1)
            y = cum[row_edge]
        a = 0.5 * abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
        total += a if k == 0 else -a
    return total


def extent_polygons(extent: xr.DataArray, *, crs: Any = "EPSG:4326", simplify_m: float = 0.0,
                    connectivity: int = 4, threshold_m: float = 0.0) -> dict[str, Any]:
    """Flood-extent polygons (GeoJSON FeatureCollection) from an extent flag or a depth map.

    Parameters
    ----------
    extent : xarray.DataArray
        On ``(y, x)`` with a CRS: a boolean, an integer flag (1 = flooded; 0 dry, -1/nodata ignored) or a float
        depth map in m (flooded = depth > ``threshold_m``; NaN ignored).
    crs : str or None
        Output CRS; ``"EPSG:4326"`` (default) as RFC 7946 wants for web maps, ``None`` keeps the grid CRS. Any
        output CRS other than WGS84 lon/lat is named in a ``crs_wkt`` member of the collection.
    simplify_m : float
        Douglas-Peucker tolerance in grid units before reprojection (0 = exact cell edges).
    connectivity : {4, 8}
        Pixel connectivity of polygons (rasterio.features.shapes).
    threshold_m : float
        Flooded-depth threshold for a depth map (m); not used for flags.

    Returns
    -------
    dict
        FeatureCollection; each feature has ``area_m2`` (m2, the true areas of its cells as in
        :func:`flooded_area_km2`: feet converted, per-row sizes on Web Mercator, geodesic on degree grids; computed
        before simplification and reprojection) and ``cells``.
    """
    from rasterio import features
    from rasterio.warp import transform_geom

    if extent.ndim != 2:
        raise InputDataError(f"extent must be 2-D (y, x), got {extent.dims}")
    if set(extent.dims) == {"y", "x"}:
        # an (x, y) map: its values were traced as rows under the transform of the coordinates (polygons mirrored
        # about the diagonal, at the wrong place)
        extent = extent.transpose("y", "x")
    if not (np.isfinite(threshold_m) and threshold_m >= 0.0):
        # NaN gave no polygon at all, a negative one flagged every dry (depth 0) cell flooded
        raise InputDataError(f"threshold_m must be finite and >= 0, not {threshold_m}")
    if connectivity not in (4, 8):
        raise InputDataError(f"connectivity must be 4 or 8, not {connectivity}")
    values = np.asarray(extent.values)
    if values.dtype == bool:
        mask = values
    elif values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            mask = values > threshold_m  # NaN -> not flooded
    else:
        mask = values == 1
    from hydro.io.raster import grid_transform

    # the transform of the x/y coordinates: the stored GeoTransform is stale after coarsen() or a flip
    # (isel(y=slice(None, None, -1)), sortby): polygons came out at the old cell size and position
    transform = grid_transform(extent)
    src_crs = extent.rio.crs
    if src_crs is None:
        raise InputDataError("extent has no CRS")
    cell_area_crs = abs(transform.a * transform.e)
    from hydro.terrain.grid import grid_geometry

    # true cell areas of each row (m2): feet converted, per-row sizes on Web Mercator, geodesic on degree grids
    # (the shoelace area of a Web Mercator ring was 1/cos2(lat) too large: 2.4x at 50 degrees)
    area_row = np.broadcast_to(np.asarray(grid_geometry(extent).area_m2, dtype=np.float64), (mask.shape[0],))
    feats = []
    for geom, value in features.shapes(mask.astype(np.uint8), mask=mask, transform=transform,
                                       connectivity=connectivity):
        if value != 1:
            continue
        area = _polygon_area(geom, transform, area_row)
        cells = int(round(_polygon_area(geom) / cell_area_crs))
        gj = geom
        if simplify_m > 0:
            from shapely.geometry import mapping, shape  # optional: only for simplification

            gj = mapping(shape(geom).simplify(simplify_m, preserve_topology=True))
        if crs is not None:
            gj = transform_geom(src_crs, crs, gj)
        if gj.get("type") == "Polygon":
            # rasterio traces rings in pixel space: on a south-up grid (transform.e > 0) the exterior came out
            # clockwise, against RFC 7946 section 3.1.6
            gj = _orient_rings(gj)
        feats.append({"type": "Feature", "geometry": gj,
                      "properties": {"area_m2": float(area), "cells": cells}})
    out: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if crs is None:
        out["crs_wkt"] = src_crs.to_wkt()
    else:
        from pyproj import CRS

        out_crs = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
        if not out_crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            # GeoJSON readers take coordinates without a CRS as WGS84 lon/lat (RFC 7946): name any other CRS
            out["crs_wkt"] = out_crs.to_wkt()
    return out


def write_extent_geojson(extent: xr.DataArray, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write :func:`extent_polygons` to ``path`` atomically."""
    from hydro.io import atomic_path, discard_temp, replace_atomically

    path = Path(path)
    fc = extent_polygons(extent, **kwargs)
    tmp = atomic_path(path)
    try:
        tmp.write_text(json.dumps(fc), encoding="utf-8")
        replace_atomically(tmp, path)
    except OSError as exc:
        discard_temp(tmp)
        raise OutputError(f"cannot write {path}: {exc}") from exc
    except BaseException:  # Ctrl-C / SystemExit: no temporary file is left behind
        discard_temp(tmp)
        raise
    return path
