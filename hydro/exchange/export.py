"""Export a finished run's discharge at the agreed border points as a ``hydro-exchange-1.0`` file."""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.io.netcdf import netcdf4_dataset, open_netcdf
from hydro.exchange.validate import _ISO_TIME
from hydro.exchange.profile import (
    DISCHARGE_STANDARD_NAME,
    DISCHARGE_UNITS,
    REALIZATION_DIM,
    discharge_factor,
    exchange_dataset,
    exchange_filename,
    write_exchange,
)

__all__ = ["GAUGES_FILE", "MEMBER_PATTERN", "export_boundary"]

logger = logging.getLogger(__name__)

#: the deterministic gauges file of a run folder (``RunResult.write(prefix="run")`` in ``runoff/``)
GAUGES_FILE = Path("runoff") / "run_gauges.nc"
#: per-member gauge files of an ensemble run
MEMBER_PATTERN = re.compile(r"^member_(\d+)_gauges\.nc$")
_MAX_MANIFEST_BYTES = 16 * 2**20


def _manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise InputMissingError(f"run folder {run_dir} has no manifest.json (not a finished run)")
    if path.stat().st_size > _MAX_MANIFEST_BYTES:
        raise InputDataError(f"{path}: larger than {_MAX_MANIFEST_BYTES // 2**20} MiB")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise InputDataError(f"{path}: expected a JSON object")
    if manifest.get("status", "complete") != "complete":
        raise InputDataError(f"{path}: run status is {manifest.get('status')!r}, not 'complete'")
    for key in ("run_id", "region"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise InputDataError(f"{path}: no {key!r}")
    # the parts read below must have their JSON types (an object, a list of objects): else an
    # AttributeError/ValueError traceback (exit 1) instead of "unreadable run files" (exit 65)
    cfg = manifest.get("config")
    if cfg is not None and not isinstance(cfg, dict):
        raise InputDataError(f"{path}: 'config' is {type(cfg).__name__}, expected a JSON object")
    gauges = (cfg or {}).get("gauges")
    if gauges is not None and not isinstance(gauges, list):
        raise InputDataError(f"{path}: 'config.gauges' is {type(gauges).__name__}, expected a JSON array")
    frt = manifest.get("forecast_reference_time")
    if frt is not None and (not isinstance(frt, str) or not _ISO_TIME.fullmatch(frt.strip())):
        # pandas drops zone names ("2026-01-10T08:00 WITA" read as 08:00 UTC, 8 h late) and reads a
        # number as nanoseconds since 1970
        raise InputDataError(f"{path}: forecast_reference_time {str(frt)[:60]!r} is not an ISO 8601 time "
                             "(UTC, 'Z' or a numeric offset such as '+08:00'; not a zone name)")
    return manifest


def _open_gauges(path: Path) -> xr.Dataset:
    if not path.is_file():
        raise InputMissingError(f"gauge hydrographs not found: {path}")
    try:
        ds = open_netcdf(path, decode_timedelta=False)
        ds.load()
        ds.close()
    except InputMissingError:  # no read permission (66)
        raise
    except Exception as exc:
        raise InputDataError(f"{path}: cannot read the gauges file ({type(exc).__name__}: {exc})") from exc
    return ds


def _ids(ds: xr.Dataset, path: Path) -> tuple[str, list[str]]:
    idv = [n for n in ds.variables if ds[n].attrs.get("cf_role") == "timeseries_id"]
    if not idv:
        raise InputDataError(f"{path}: no timeseries_id variable (not a gauges DSG file)")
    dim = str(ds[idv[0]].dims[0])
    ids = [s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(ds[idv[0]].values).ravel()]
    return dim, ids


def _discharge_name(ds: xr.Dataset, path: Path) -> str:
    if "discharge" in ds.data_vars:
        return "discharge"
    cands = [str(n) for n in ds.data_vars if ds[n].attrs.get("standard_name") == DISCHARGE_STANDARD_NAME
             and "maximum" not in str(ds[n].attrs.get("cell_methods", ""))]
    if not cands:
        raise InputDataError(f"{path}: no discharge variable")
    return cands[0]


def _discharge(ds: xr.Dataset, path: Path) -> xr.DataArray:
    da = ds[_discharge_name(ds, path)]
    factor = discharge_factor(str(da.attrs.get("units", "")))
    if factor is None:
        raise InputDataError(f"{path}: discharge units {da.attrs.get('units')!r} are not a discharge")
    return (da * factor).assign_attrs(units=DISCHARGE_UNITS)  # the product keeps the file's units attribute


def _crs(run_dir: Path, manifest: dict[str, Any], gauges: xr.Dataset) -> Any:
    """The model CRS of the gauges' x/y: manifest, gauges file, terrain.nc, config."""
    if manifest.get("crs"):
        return manifest["crs"]
    # hydro_model_crs: what hydro.model.CatchmentModel writes in its gauges files (the DEM's CRS)
    for key in ("hydro_model_crs", "hydro_crs_wkt", "crs_wkt"):
        if gauges.attrs.get(key):
            return gauges.attrs[key]
    terrain = run_dir / "terrain.nc"
    if terrain.is_file():
        try:
            with netcdf4_dataset(terrain) as nc:
                for name in ("spatial_ref", "crs"):
                    if name in nc.variables and "crs_wkt" in nc.variables[name].ncattrs():
                        return str(nc.variables[name].getncattr("crs_wkt"))
        except OSError as exc:
            raise InputDataError(f"{terrain}: cannot read its CRS ({exc})") from exc
    dem = (manifest.get("config") or {}).get("dem") or {}
    if not isinstance(dem, dict):
        raise InputDataError(f"{run_dir / 'manifest.json'}: 'config.dem' is {type(dem).__name__}, expected a JSON object")
    if dem.get("crs"):
        return dem["crs"]
    if dem.get("source", "embedded") == "embedded":
        from hydro.datasets import CRS

        return CRS
    raise ConfigError(f"{run_dir}: cannot tell the CRS of the gauge coordinates (no manifest 'crs', terrain.nc or dem.crs)")


def _member_files(run_dir: Path) -> list[tuple[int, Path]]:
    folder = run_dir / "ensemble"
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = MEMBER_PATTERN.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def export_boundary(
    run_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    points: Sequence[str] | None = None,
) -> Path:
    """Write the ``hydro-exchange-1.0`` file of a finished run for its border points.

    Parameters
    ----------
    run_dir : path-like
        Run folder with ``manifest.json`` (``run_id``, ``region``, ``config_hash``, optional
        ``forecast_reference_time`` and ``crs``, ``config.gauges`` with ``border`` flags) and
        ``runoff/run_gauges.nc``; ``ensemble/member_<k>_gauges.nc`` files, when present, give
        the ``realization`` dimension (member ``k``) instead of the deterministic run.
    out_path : path-like
        Target file; a directory (existing, or a path ending in ``/``) receives
        ``<region>_<frt:%Y%m%dT%H%MZ>_border_discharge.nc``.
    points : sequence of str, optional
        Gauge ids to export (default: the gauges with ``border = true``).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    The forecast reference time is the manifest's ``forecast_reference_time``; without it
    (``hydro run``) the start of the first time step (``hydro_run_start`` of the gauges file,
    else the first ``time_bnds`` start, else the first time). Border point coordinates are the
    configured gauge ``x``/``y`` (the agreed points), else the snapped cell of the gauges file;
    their CRS is the manifest's ``crs``, else the gauges file's ``hydro_model_crs``, else
    ``terrain.nc``'s, else ``config.dem.crs``. The run's ``hydro_warm_start``
    (``_level``) and ``hydro_forcing`` provenance is copied (netcdf.md §10).

    Raises
    ------
    InputMissingError
        No manifest or gauges file.
    InputDataError
        Unreadable files, members that disagree on points or times, NaN/negative discharge.
    ConfigError
        No border gauges (and no ``points``), or unknown point ids.
    """
    run_dir = Path(run_dir)
    manifest = _manifest(run_dir)
    gpath = run_dir / GAUGES_FILE
    members = _member_files(run_dir)
    base = _open_gauges(gpath) if (gpath.is_file() or not members) else _open_gauges(members[0][1])
    dim, ids = _ids(base, gpath)
    cfg_gauges = {str(g.get("id")): g for g in ((manifest.get("config") or {}).get("gauges") or []) if isinstance(g, dict)}
    if points is None:
        chosen = [gid for gid, g in cfg_gauges.items() if g.get("border")]
        if not chosen:
            raise ConfigError(f"{run_dir}: no gauge has border = true in the run's configuration; name the points (--points)")
        missing = [p for p in chosen if p not in ids]
        if missing:
            raise InputDataError(f"{gpath}: border gauges {missing} are not in the gauges file (has {ids})")
    else:
        chosen = [str(p) for p in points]
        if not chosen or len(set(chosen)) != len(chosen):
            raise ConfigError(f"points must be non-empty and unique, got {chosen}")
        unknown = [p for p in chosen if p not in ids]
        if unknown:
            raise ConfigError(f"unknown point ids {unknown}; the run has gauges {ids}")
    sel = [ids.index(p) for p in chosen]

    def series(ds: xr.Dataset, path: Path) -> xr.DataArray:
        d, file_ids = _ids(ds, path)
        if [file_ids[i] for i in sel] != chosen:
            raise InputDataError(f"{path}: gauges {file_ids} differ from {gpath.name}'s {ids}")
        da = _discharge(ds, path).isel({d: sel}).rename({d: "point"})
        return da.drop_vars([c for c in da.coords if c not in ("time",)])

    if members:
        arrays = []
        for k, p in members:
            ds = _open_gauges(p)
            da = series(ds, p)
            if arrays and not np.array_equal(da["time"].values, arrays[0]["time"].values):
                raise InputDataError(f"{p}: times differ from member {members[0][0]}")
            arrays.append(da)
        discharge = xr.concat(arrays, dim=REALIZATION_DIM).assign_coords({REALIZATION_DIM: [k for k, _ in members]})
    else:
        discharge = series(base, gpath)
    discharge = discharge.transpose(*([REALIZATION_DIM] if members else []), "point", "time")

    xs, ys, names = [], [], []
    fx = np.asarray(base["x"].values, float) if "x" in base.variables and base["x"].dims == (dim,) else None
    fy = np.asarray(base["y"].values, float) if "y" in base.variables and base["y"].dims == (dim,) else None
    fnames = [s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(base[f"{dim}_name"].values)] if f"{dim}_name" in base.variables else ids
    for pid, i in zip(chosen, sel):
        g = cfg_gauges.get(pid, {})
        if g.get("x") is not None and g.get("y") is not None:
            try:
                gx, gy = float(g["x"]), float(g["y"])
            except (TypeError, ValueError):
                raise InputDataError(f"{run_dir / 'manifest.json'}: gauge {pid!r} has x/y {str(g['x'])[:40]!r}, "
                                     f"{str(g['y'])[:40]!r}: not numbers") from None
            xs.append(gx)
            ys.append(gy)
        elif fx is not None and fy is not None:
            xs.append(float(fx[i]))
            ys.append(float(fy[i]))
        else:
            raise InputDataError(f"{gpath}: no x/y for gauge {pid!r} (neither in the configuration nor in the file)")
        names.append(str(g.get("name") or fnames[i]))

    frt: Any = manifest.get("forecast_reference_time")
    if frt is None:
        if base.attrs.get("hydro_run_start"):
            frt = base.attrs["hydro_run_start"]
        elif "time_bnds" in base.variables:
            frt = base["time_bnds"].values[0, 0]
        else:
            frt = base["time"].values[0]
    try:
        frt = pd.Timestamp(frt)
    except (ValueError, TypeError) as exc:
        raise InputDataError(f"{run_dir / 'manifest.json'}: forecast_reference_time {frt!r} is not a time") from exc
    if pd.isna(frt):  # "" or "NaT" parse as NaT
        raise InputDataError(f"{run_dir / 'manifest.json'}: forecast_reference_time is empty (not a time)")
    bounds = base["time_bnds"].values if "time_bnds" in base.variables else None
    # the cell methods of the variable exported (not of a variable that merely is named "discharge")
    cell_methods = str(base[_discharge_name(base, gpath)].attrs.get("cell_methods", "time: mean"))
    extra = {k: base.attrs[k] for k in ("hydro_warm_start", "hydro_warm_start_level", "hydro_forcing", "hydro_model",
                                        "hydro_parameter_hash", "hydro_run_start", "hydro_run_end")
             if k in base.attrs}
    if members:
        extra["hydro_ensemble_members"] = len(members)
    ds = exchange_dataset(
        discharge, chosen, xs, ys, _crs(run_dir, manifest, base), frt, manifest["region"],
        run_id=manifest["run_id"], config_hash=manifest.get("config_hash"), hydro_version=manifest.get("hydro_version"),
        point_names=names, time_bounds=bounds, cell_methods=cell_methods, attrs=extra,
    )
    text = os.fspath(out_path)
    out = Path(text)
    if out.is_dir() or text.endswith(("/", os.sep)):  # "exchange/" names a folder even before it exists
        out = out / exchange_filename(manifest["region"], frt)
    return write_exchange(ds, out)
