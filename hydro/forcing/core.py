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
from hydro.forcing.grid import GridSpec, grid_of, regrid_weights
from hydro.forcing.units import parse_water_units

__all__ = ["open_forcing", "prepare", "to_mm_per_step", "change_step", "source_name", "check_time_axis"]

_FILL_POLICIES = (None, "zero")


def source_name(da: xr.DataArray) -> str:
    """'file:variable' for error messages."""
    src = da.attrs.get("hydro_source") or da.encoding.get("source") or "<in memory>"
    return f"{src}:{da.name}"


def check_time_axis(time: Any, where: str) -> pd.Timedelta | None:
    """Raise on duplicate, unsorted or irregular times; return the step (None for one value)."""
    t = pd.DatetimeIndex(time)
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


def open_forcing(path: str | os.PathLike[str], variable: str, *, time_chunk: int = 24) -> xr.DataArray:
    """Open ``variable`` of a CF NetCDF lazily (dask, ``time_chunk`` steps per chunk).

    Checks that the file and variable exist and that times are unique, sorted and regular; keeps
    the ``units`` attribute for :func:`prepare` (missing units are an error there).
    """
    path = Path(path)
    if not path.is_file():
        raise InputMissingError(f"{path}: forcing file not found")
    try:
        with warnings.catch_warnings():
            # a file stored in other time chunks is still read one block of steps at a time (memory stays flat);
            # xarray's performance notice is not the user's concern
            warnings.filterwarnings("ignore", message="The specified chunks separate the stored chunks", category=UserWarning)
            ds = xr.open_dataset(path, chunks={"time": time_chunk}, decode_coords="all")
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot open as NetCDF: {exc}") from exc
    if variable not in ds.data_vars:
        raise InputMissingError(f"{path}: no variable {variable!r} (variables: {list(ds.data_vars)})")
    da = ds[variable]
    da.attrs["hydro_source"] = str(path)
    if "time" not in da.dims:
        raise InputDataError(f"{path}:{variable}: no time dimension")
    check_time_axis(da["time"].values, f"{path}:{variable}")
    return da


def _validate_block(block: np.ndarray, where: str, fill_policy: str | None) -> np.ndarray:
    bad = ~np.isfinite(block)
    if bad.any():
        if fill_policy == "zero":
            block = np.where(bad, 0.0, block)
        else:
            raise InputDataError(f"{where}: {int(bad.sum())} NaN/missing values inside the model domain "
                                 f"(set fill_policy='zero' to treat them as no rain)")
    if np.any(block < 0):
        raise InputDataError(f"{where}: negative values (min {block.min()})")
    return block


def to_mm_per_step(da: xr.DataArray, source_step: pd.Timedelta | None = None) -> xr.DataArray:
    """Convert to mm per **source** step from the ``units`` attribute (rates × step; amounts as is)."""
    where = source_name(da)
    kind, factor = parse_water_units(da.attrs.get("units"), where)
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


def change_step(da: xr.DataArray, model_step: Any, *, source_step: Any = None, profile: str = "uniform") -> xr.DataArray:
    """Aggregate (sum) or disaggregate a mm-per-step series to ``model_step`` (period-end labels).

    Coarser source: each source amount is split over the n model steps it contains, uniformly or,
    for PET (``profile="diurnal"``), with a half-sine between 06 and 18 h local clock (zero at night),
    conserving every source total. Finer source: complete blocks of n source steps are summed.
    The source step must be a multiple/divisor of the model step.
    """
    where = source_name(da)
    ms = pd.Timedelta(model_step)
    ss = pd.Timedelta(source_step) if source_step is not None else check_time_axis(da["time"].values, where)
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
            hours_mid = ((new_t - ms / 2).hour + (new_t - ms / 2).minute / 60.0).to_numpy(float)
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
    if t.size % n:
        raise InputDataError(f"{where}: {t.size} source steps do not fill whole model steps of {n}")
    out = da.coarsen(time=n, boundary="exact").sum()
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
    mask = np.isfinite(np.asarray(target_grid.values, dtype=np.float64)).ravel()
    return spec, mask


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
    start, end : optional period (period-end labels) the forcing must cover.
    profile : "uniform" or "diurnal" (PET) for disaggregation.
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
    ss = pd.Timedelta(source_step) if source_step is not None else check_time_axis(da["time"].values, where)
    src = grid_of(da, where, crs=crs)
    tgt, mask = _target_spec(target_grid)
    W = regrid_weights(src, tgt, method, where)
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
        if nan_src.any():
            touched = (W @ nan_src.T.astype(np.float64)).T > 0
            vals = (W @ np.where(nan_src, 0.0, flat).T).T
            vals[touched] = np.nan
        else:
            vals = (W @ flat.T).T
        vals = np.where(domain[None, :], vals, np.nan)
        inside = vals[:, domain]
        inside = _validate_block(inside, where, fill_policy)
        vals[:, domain] = inside
        return vals.reshape(nt, ny, nx).astype(dtype, copy=False)

    out_arr = arr.map_blocks(regrid_block, chunks=(arr.chunks[0], (ny,), (nx,)), dtype=dtype)
    tcoord = pd.DatetimeIndex(da["time"].values)
    out = xr.DataArray(out_arr, dims=("time", "y", "x"),
                       coords={"time": tcoord, "y": tgt.y, "x": tgt.x}, name=da.name)
    out.attrs["hydro_source"] = da.attrs.get("hydro_source", "<in memory>")
    out = change_step(out, ms, source_step=ss, profile=profile)
    if start is not None or end is not None:
        t = pd.DatetimeIndex(out["time"].values)
        a = pd.Timestamp(start) if start is not None else t[0]
        b = pd.Timestamp(end) if end is not None else t[-1]
        if a < t[0] or b > t[-1]:
            raise InputDataError(f"{where}: forcing covers {t[0]}…{t[-1]}, the run needs {a}…{b}")
        out = out.sel(time=slice(a, b))
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
