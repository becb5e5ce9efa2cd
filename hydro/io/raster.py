"""Reading DEM rasters (GeoTIFF or anything GDAL opens) into georeferenced DataArrays."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hydro.errors import ConfigError, InputDataError, InputMissingError, ResourceError
from hydro.io.netcdf import NETCDF_LOCK, _check_readable

__all__ = ["open_dem", "check_grid", "check_dims", "available_memory_bytes", "BYTES_PER_CELL_ESTIMATE"]

logger = logging.getLogger(__name__)

#: working memory the terrain pipeline needs per cell beyond the DEM itself (bytes, measured)
BYTES_PER_CELL_ESTIMATE = 40


def available_memory_bytes() -> int:
    """Physical memory available to this process now (bytes)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover - psutil is a dask dependency
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def grid_transform(da: Any) -> Any:
    """The affine transform of ``da``'s grid, from its x/y coordinates when it has at least two of each (a stored
    ``GeoTransform`` goes stale after ``sortby``, ``isel(y=slice(None, None, -1))`` or ``coarsen``: rioxarray would
    mix the old pixel size with the new coordinates), else the stored one."""
    if "x" in da.coords and "y" in da.coords and da["x"].size >= 2 and da["y"].size >= 2:
        return da.rio.transform(recalc=True)
    if "x" not in da.coords or "y" not in da.coords or da["x"].size < 1 or da["y"].size < 1:
        return da.rio.transform(recalc=False)
    stored = da.rio._cached_transform()  # GeoTransform of the grid mapping, or a ``transform`` attribute
    # one row or one column: the cell size across it is in no coordinate. rioxarray then returned the identity
    # (1 m cells at the origin, whatever the coordinates said), so a 1 x n grid of 30 m cells measured 1 m2 a cell.
    # Take that size from the stored transform (a sliced grid keeps its source's) and the origin from the
    # coordinates (the stored origin goes stale on slicing); with no stored transform the size is unknown.
    from affine import Affine

    x = np.asarray(da["x"].values, dtype="float64")
    y = np.asarray(da["y"].values, dtype="float64")
    if stored is None or (stored.b != 0 or stored.d != 0):
        raise InputDataError(f"grid of {y.size} x {x.size} cells without a stored north-up transform: the cell size "
                             "across its single row/column is unknown; write one (rio.write_transform) or give the "
                             "grid at least 2 x 2 cells")
    a = float(x[1] - x[0]) if x.size >= 2 else stored.a
    e = float(y[1] - y[0]) if y.size >= 2 else stored.e
    return Affine(a, 0.0, float(x[0]) - a / 2.0, 0.0, e, float(y[0]) - e / 2.0)


def check_grid(transform: Any, shape: tuple[int, int], source: str = "DEM") -> None:
    """Check that a raster grid is usable: not rotated, square cells, more than one cell.

    Raises
    ------
    InputDataError
        With a message naming ``source`` and what is wrong.
    """
    a, b, _, d, e, _ = tuple(transform)[:6]
    if b != 0 or d != 0:
        raise InputDataError(f"{source}: rotated or sheared transform ({transform!r}); warp it to a north-up grid first")
    if a <= 0 or e >= 0:
        raise InputDataError(
            f"{source}: unsupported orientation (pixel width {a}, height {e}); expected west-to-east columns and north-up rows"
        )
    if not np.isclose(abs(a), abs(e), rtol=1e-6, atol=0):
        raise InputDataError(f"{source}: non-square cells ({abs(a)} x {abs(e)}); resample to square cells first")
    if shape[0] < 2 or shape[1] < 2:
        raise InputDataError(f"{source}: grid of {shape[0]} x {shape[1]} cells is too small for terrain analysis (need >= 2 x 2)")


def check_dims(da: Any, source: str = "DEM") -> None:
    """Check that the last two dims of a grid are its spatial dims in the order (y, x): rows north to south,
    columns west to east (the terrain kernels read ``da.values`` as rows of cells).

    Raises
    ------
    InputDataError
        The grid has no dims rioxarray takes as x/y (e.g. ``lat``/``lon``: rename them to ``y``/``x``), or they are
        in the order (x, y) (e.g. a NetCDF grid stored longitude-major: transpose it).
    """
    from rioxarray.exceptions import MissingSpatialDimensionError

    try:
        ydim, xdim = da.rio.y_dim, da.rio.x_dim
    except MissingSpatialDimensionError as exc:
        raise InputDataError(
            f"{source}: dims {tuple(da.dims)} are not spatial dims rioxarray recognises; rename them to ('y', 'x') "
            "(e.g. da.rename(lat='y', lon='x'))"
        ) from exc
    if tuple(da.dims[-2:]) != (ydim, xdim):
        raise InputDataError(
            f"{source}: dims {tuple(da.dims)} are not in (y, x) order; use da.transpose(..., {ydim!r}, {xdim!r})"
        )


#: stored values that are nodata fills, never elevations (GDAL/ESRI/SRTM conventions)
_NODATA_SENTINELS = np.array([-9999.0, -99999.0, -32768.0, -32767.0, -3.4028234663852886e38])

#: metres per vertical unit of a band (GDAL ``units``, lower case); no unit is taken as metres
_VERTICAL_UNITS = {"": 1.0, "m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0,
                   "ft": 0.3048, "foot": 0.3048, "feet": 0.3048, "international foot": 0.3048,
                   "us survey foot": 1200.0 / 3937.0, "us-ft": 1200.0 / 3937.0, "ftus": 1200.0 / 3937.0,
                   "us_survey_foot": 1200.0 / 3937.0}


def open_dem(
    path: str | os.PathLike[str],
    crs: Any = None,
    *,
    dtype: str = "float32",
    check_memory: bool = True,
    bytes_per_cell: int = BYTES_PER_CELL_ESTIMATE,
) -> xr.DataArray:
    """Open a DEM raster as a georeferenced, in-memory :class:`xarray.DataArray`.

    Parameters
    ----------
    path : path-like
        Any single-band raster GDAL reads (GeoTIFF, COG, ASCII grid, ...).
    crs : str, int or pyproj.CRS, optional
        CRS to assign when the file has none (e.g. ``"EPSG:32750"``). If the file has a CRS and
        ``crs`` differs, that is an error (reproject first).
    dtype : {"float32", "float64"}
        Floating type of the result; nodata cells become NaN.
    check_memory : bool
        Refuse (``ResourceError``) a DEM whose analysis would not fit in available memory.
    bytes_per_cell : int
        Working memory per cell assumed for that check (bytes).

    Returns
    -------
    xarray.DataArray
        Elevation (m) with dims ``(y, x)``, CRS and transform in ``.rio``, nodata as NaN, and
        attributes ``source_path``, ``source_nodata``, ``source_scale_factor``, ``source_add_offset``
        and ``source_mask`` (``"none"``, ``"alpha"`` or ``"mask"``).

    Notes
    -----
    The band's scale and offset (GDAL ``scales``/``offsets``) are applied: elevation [m] =
    stored value x scale + offset (e.g. an int16 DEM in decimetres with scale 0.1). A cell is
    nodata when its stored value equals the band's nodata value, when it is not finite, or when
    the band's GDAL mask marks it invalid (an alpha band, a per-dataset or internal/``.msk`` mask
    band; mask value 0). A band whose unit (GDAL ``units``) is feet is converted to metres; another unit than
    metres or feet is an error (no unit is taken as metres).

    Raises
    ------
    InputMissingError
        The file does not exist.
    InputDataError
        Not a raster, truncated, no CRS and none given, all nodata, rotated or non-square grid, too small.
    ResourceError
        The DEM would not fit in memory.
    """
    import rasterio
    import rioxarray  # noqa: F401  (registers .rio)
    from rasterio.enums import ColorInterp, MaskFlags
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    if not path.exists():
        raise InputMissingError(f"DEM file not found: {path}")
    _check_readable(path)  # GDAL's "Permission denied" was read as a corrupt file (65)
    if dtype not in ("float32", "float64"):
        raise InputDataError(f"dtype must be float32 or float64, not {dtype!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            # a NetCDF DEM is read by GDAL through netCDF-C, which is not thread-safe
            with NETCDF_LOCK, rasterio.open(path) as src:
                if src.count < 1:
                    raise InputDataError(f"{path}: raster has no band")
                # only band 1 is read: a second elevation/colour band would be dropped silently (an alpha band is a mask)
                nbands = sum(1 for ci in src.colorinterp if ci != ColorInterp.alpha)
                if nbands > 1:
                    raise InputDataError(f"{path}: raster has {nbands} bands; a DEM has one elevation band (extract it "
                                         f"first, e.g. gdal_translate -b 1 {path.name} dem.tif)")
                check_grid(src.transform, (src.height, src.width), str(path))
                ncell = src.height * src.width
                need = ncell * (np.dtype(dtype).itemsize + bytes_per_cell)
                if check_memory:
                    avail = available_memory_bytes()
                    if need > avail:
                        raise ResourceError(
                            f"{path}: DEM of {src.height} x {src.width} = {ncell:,} cells needs about "
                            f"{need / 2**30:.1f} GiB for terrain analysis but {avail / 2**30:.1f} GiB is available; "
                            "clip or tile it"
                        )
                file_crs = src.crs
                nodata = src.nodata
                data = src.read(1, masked=False)
                transform = src.transform
                scale = float(src.scales[0]) if src.scales and src.scales[0] is not None else 1.0
                offset = float(src.offsets[0]) if src.offsets and src.offsets[0] is not None else 0.0
                vunit = str(src.units[0] or "").strip() if src.units else ""
                flags = set(src.mask_flag_enums[0])
                # a nodata-derived mask is the nodata test below and "all valid" masks nothing: read only a
                # real mask (alpha band, per-dataset or per-band internal/.msk mask); 0 = masked
                mask_kind = "none" if flags & {MaskFlags.all_valid, MaskFlags.nodata} else (
                    "alpha" if MaskFlags.alpha in flags else "mask")
                gdal_mask = None if mask_kind == "none" else src.read_masks(1)
    except RasterioIOError as exc:
        raise InputDataError(f"{path}: not a readable raster ({exc})") from exc
    except rasterio.errors.RasterioError as exc:
        raise InputDataError(f"{path}: cannot read raster ({exc})") from exc

    from pyproj import CRS
    from pyproj.exceptions import CRSError

    given_crs = None
    if crs is not None:
        try:
            given_crs = CRS.from_user_input(crs)
        except CRSError as exc:  # a typo in --crs / dem.crs: an option, not the file, is wrong
            raise ConfigError(f"{path}: crs={crs!r} is not a known CRS (e.g. 'EPSG:32750'): {exc}") from None
    if file_crs is None or not file_crs.to_wkt():
        if crs is None:
            raise InputDataError(f"{path}: the DEM has no CRS; pass crs= (e.g. crs='EPSG:32750')")
        out_crs = given_crs
    else:
        out_crs = CRS.from_wkt(file_crs.to_wkt())
        # the axis order of a geographic CRS does not apply to raster grids (columns are always x): OGC:CRS84 or
        # "+proj=longlat +datum=WGS84" is the CRS of an EPSG:4326 GeoTIFF, not another one to reproject to
        if given_crs is not None and not given_crs.equals(out_crs, ignore_axis_order=True):
            raise InputDataError(f"{path}: file CRS {out_crs.to_string()} differs from crs={crs!r}; reproject first")

    if not (np.isfinite(scale) and np.isfinite(offset)) or scale == 0.0:
        raise InputDataError(f"{path}: unusable band scale/offset ({scale}, {offset})")
    # the whole unit, else its first word ("m a.s.l.", "metres above mean sea level")
    to_m = _VERTICAL_UNITS.get(vunit.lower(), _VERTICAL_UNITS.get((vunit.lower().split() or [""])[0]))
    if to_m is None:
        raise InputDataError(f"{path}: elevation unit {vunit!r} is neither metres nor feet; convert the DEM to metres")
    # over="ignore": a float64 nodata such as -1.8e308 (-DBL_MAX) becomes -inf in float32, masked below
    with np.errstate(over="ignore"):
        if scale == 1.0 and offset == 0.0 and to_m == 1.0:
            elev = data.astype(dtype, copy=True)
        else:  # stored values -> metres, in float64 so that e.g. int16 decimetres round once
            elev = ((data.astype(np.float64) * scale + offset) * to_m).astype(dtype, copy=False)
    invalid = ~np.isfinite(elev)
    if nodata is not None and not np.isnan(nodata):
        # the nodata value applies to the stored (unscaled) values
        invalid |= data == np.asarray(nodata).astype(data.dtype)
    if gdal_mask is not None:
        invalid |= gdal_mask == 0
    elev[invalid] = np.nan
    if invalid.all():
        raise InputDataError(f"{path}: every cell is nodata (nodata value {nodata}, mask: {mask_kind})")
    # an undeclared nodata value (no nodata tag, or another one than the tag says) was taken as ground: a -9999
    # block became a 10 km deep pit every basin around drained into. No elevation on Earth lies outside
    # -11 000 … 9 000 m, and the usual fill values are never real elevations.
    suspect = ~invalid & (np.isin(data, _NODATA_SENTINELS) | (elev < -11000.0) | (elev > 9000.0))
    if suspect.any():
        k = int(np.flatnonzero(suspect.ravel())[0])
        v = float(data.ravel()[k])
        raise InputDataError(
            f"{path}: {int(suspect.sum())} cells hold {v:g} (first at row {k // data.shape[1]}, column "
            f"{k % data.shape[1]}), a nodata fill value or no elevation on Earth, but the file declares nodata = "
            f"{nodata}: set the file's nodata value (e.g. gdal_edit.py -a_nodata {v:g} {path.name})")

    da = from_array(elev, transform, out_crs, name="elevation")
    da.attrs.update({
        "source_path": str(path),
        "source_nodata": "none" if nodata is None else repr(float(nodata)),
        "source_scale_factor": scale,
        "source_add_offset": offset,
        "source_mask": mask_kind,
        "source_vertical_units": vunit or "none",
    })
    return da


def from_array(elevation: np.ndarray, transform: Any, crs: Any, name: str = "elevation") -> xr.DataArray:
    """Wrap a 2-D array with an affine transform and CRS as a georeferenced DataArray (cell centres)."""
    import rioxarray  # noqa: F401
    from affine import Affine

    transform = Affine(*tuple(transform)[:6])
    ny, nx = elevation.shape
    x = transform.c + transform.a * (np.arange(nx) + 0.5)
    y = transform.f + transform.e * (np.arange(ny) + 0.5)
    da = xr.DataArray(elevation, dims=("y", "x"), coords={"y": y, "x": x}, name=name)
    da = da.rio.write_crs(crs)
    da = da.rio.write_transform(transform)
    da = da.rio.write_nodata(np.nan, encoded=False) if np.issubdtype(elevation.dtype, np.floating) else da
    da.attrs["units"] = "m"
    return da
