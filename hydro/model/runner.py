"""File-to-file catchment runs: the plain function behind ``hydro run-catchment`` (CLI owned by the lead)."""
from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.io.netcdf import open_netcdf
from hydro.routing import Gauge, Inflow, Reservoir, RoutingParameters

__all__ = ["run_catchment", "read_gauges", "read_reservoirs", "open_terrain", "open_forcing", "outlet_gauges"]


def read_gauges(path: str | Path) -> list[Gauge]:
    """Gauges from a CSV with columns ``id, x, y`` (grid CRS) and optional ``name``, ``max_snap_distance_m``."""
    path = Path(path)
    if not path.exists():
        raise InputMissingError(f"gauge file not found: {path}")
    out = []
    try:  # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which made the first column '\ufeffid'
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{path}: not a UTF-8 text CSV file (byte {exc.start}: {exc.reason}); save it as CSV "
                             "UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"id", "x", "y"} - set(reader.fieldnames or [])
    if missing:
        raise InputDataError(f"{path}: missing columns {sorted(missing)} (need id, x, y)")
    for n, row in enumerate(reader, start=2):
        short = sorted(k for k in ("id", "x", "y") if row.get(k) is None)
        if short:
            raise InputDataError(f"{path}:{n}: no value for {short} (the row has fewer cells than the header)")
        if not row["id"].strip():  # a station without an id was written with station_id ''
            raise InputDataError(f"{path}:{n}: empty gauge id")
        try:
            snap = row.get("max_snap_distance_m") or None
            area = row.get("upstream_area_km2") or None
            out.append(Gauge(row["id"].strip(), float(row["x"]), float(row["y"]), (row.get("name") or "").strip() or None,
                             float(snap) if snap else None, float(area) if area else None))
        except (ValueError, TypeError, AttributeError) as exc:
            raise InputDataError(f"{path}:{n}: {exc}") from exc
    return out


def outlet_gauges(terrain: xr.Dataset, n: int = 5, min_area_m2: float = 0.0) -> list[Gauge]:
    """Gauges at the ``n`` outlets with the largest upstream area (ids ``outlet-1`` … by area)."""
    from hydro.terrain import flow_network

    net = flow_network(terrain["flow_direction"])
    outlets = net.outlets
    area = net.upstream_area_m2()[outlets]
    keep = outlets[np.argsort(-area, kind="stable")][: max(0, int(n))]
    keep = keep[net.upstream_area_m2()[keep] >= min_area_m2]
    gauges = []
    for k, cell in enumerate(keep, start=1):
        x, y = net.xy(int(cell))
        gauges.append(Gauge(f"outlet-{k}", float(x), float(y), name=f"outlet {k} ({net.upstream_area_m2()[cell] / 1e6:.1f} km2)",
                            max_snap_distance_m=0.0))
    return gauges


def read_reservoirs(path: str | Path) -> list[Reservoir]:
    """Reservoirs from TOML (``[[reservoir]]`` tables) or JSON (a list) with :class:`Reservoir` fields."""
    path = Path(path)
    if not path.exists():
        raise InputMissingError(f"reservoir file not found: {path}")
    try:
        if path.suffix == ".toml":
            doc = tomllib.loads(path.read_text("utf-8"))
            unknown = sorted(set(doc) - {"reservoir"})
            if unknown:  # a typo such as [[reservoirs]] dropped every reservoir without a word
                raise ConfigError(f"{path}: unknown key(s) {unknown} (allowed: reservoir, as [[reservoir]] tables)")
            raw = doc.get("reservoir", [])
        else:
            raw = json.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: expected a list of reservoirs ([[reservoir]] tables in TOML, a JSON list)")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: reservoir {i}: expected a table of Reservoir fields, got {item!r}")
        for key, value in item.items():
            # a name, number lists for the table, numbers otherwise (a string such as release_m3s = "abc" was a
            # ValueError traceback, exit 1; abstraction_m3s = "lots" one at the first step)
            if key == "name":
                ok, want = isinstance(value, str), "a string"
            elif key in ("level_m", "storage_m3", "area_m2"):
                ok, want = isinstance(value, list) and all(_is_number(v) for v in value), "a list of numbers"
            else:
                ok, want = _is_number(value), "a number"
            if not ok:
                raise ConfigError(f"{path}: reservoir {i}: {key} = {value!r} must be {want}")
        try:
            out.append(Reservoir(**item))
        except TypeError as exc:
            raise ConfigError(f"{path}: reservoir {i}: {exc}") from exc
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def open_terrain(path: str | Path, channel_threshold_m2: float) -> xr.Dataset:
    """A terrain NetCDF written by ``hydro terrain`` (kept), or a DEM raster (analysed here)."""
    import rioxarray  # noqa: F401

    from hydro.terrain import analyse

    path = Path(path)
    if not path.exists():
        raise InputMissingError(f"terrain/DEM file not found: {path}")
    if path.suffix in (".nc", ".nc4"):
        try:
            with open_netcdf(path, decode_coords="all") as f:
                ds = f.load()
        except InputMissingError:  # no read permission (66)
            raise
        except (OSError, RuntimeError, ValueError) as exc:  # corrupt, truncated or not NetCDF: bad input data (65)
            raise InputDataError(f"{path}: cannot read the terrain file as NetCDF: {exc}") from exc
        if "flow_direction" not in ds:
            raise InputMissingError(f"{path}: no variable 'flow_direction' (write it with `hydro terrain`)")
        ds["flow_direction"] = ds["flow_direction"].fillna(255).astype("uint8")
        return ds
    from hydro.io import open_dem

    return analyse(open_dem(path), stream_threshold_m2=channel_threshold_m2)


def open_forcing(path: str | Path, variable: str, terrain: xr.Dataset, dt: Any, *, pet: bool = False) -> xr.DataArray:
    """Forcing on the model grid in mm per model step, lazily (``hydro.forcing.open_forcing`` +
    ``hydro.forcing.prepare``: units, regridding, step change, checks).

    A file without a CRS whose x/y coordinates are exactly the model grid is taken in the model's
    CRS; any other grid needs a CRS the file declares.
    """
    from hydro.forcing import open_forcing as _open
    from hydro.forcing import prepare

    da = _open(path, variable, time_chunk=1)
    crs = None
    try:
        has_crs = da.rio.crs is not None
    except Exception:  # noqa: BLE001 - odd metadata: let prepare report it
        has_crs = False
    if not has_crs and "x" in da.dims and "y" in da.dims and da.sizes["x"] == terrain.sizes["x"] \
            and da.sizes["y"] == terrain.sizes["y"] and np.allclose(da["x"].values, terrain["x"].values) \
            and np.allclose(da["y"].values, terrain["y"].values):
        crs = terrain.rio.crs
    grid = terrain["filled_elevation"] if "filled_elevation" in terrain else terrain["elevation"]
    return prepare(da, grid, dt, crs=crs, profile="diurnal" if pet else "uniform",
                   vocabulary_name="potential_evaporation" if pet else "precipitation")


def _inflow(item: Sequence[Any], model_crs: Any) -> Inflow:
    """An upstream inflow from ``(path, station_id[, member])`` with its point in ``model_crs``."""
    path, sid = item[0], item[1]
    member = item[2] if len(item) > 2 else None
    if member is None:
        return Inflow.from_netcdf(path, sid, crs=model_crs)
    if str(member) == "mean":
        return Inflow.from_netcdf(path, sid, crs=model_crs, ensemble_mean=True)
    return Inflow.from_netcdf(path, sid, crs=model_crs, realization=member)


def run_catchment(
    terrain: str | Path,
    precipitation: str | Path,
    *,
    output_dir: str | Path,
    start: Any = None,
    steps: int | None = None,
    dt: Any = "1h",
    output_step: Any = None,
    keep_peak: bool = False,
    precipitation_var: str = "precipitation",
    evaporation: str | Path | float = 0.0,
    evaporation_var: str = "potential_evaporation",
    runoff_params: Mapping[str, Any] | None = None,
    routing_params: Mapping[str, Any] | None = None,
    gauges: str | Path | None = None,
    outlets: int = 0,
    reservoirs: str | Path | None = None,
    inflows: Sequence[tuple[str | Path, str] | tuple[str | Path, str, str | None]] = (),
    state_in: str | Path | None = None,
    state_out: str | Path | None = None,
    gridded: Sequence[str] = ("runoff", "soil_moisture", "discharge"),
    prefix: str = "run",
    attrs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the catchment model from files and write its products.

    Everything is read and checked, and the whole run is done, before the first file is written;
    products are written atomically (all or none), then the state.

    Parameters
    ----------
    terrain : path
        Terrain NetCDF (``hydro terrain``) or DEM raster.
    precipitation : path
        NetCDF with ``precipitation_var`` (time, y, x) in mm per model step (period-end labels).
    output_dir : path
        Where ``<prefix>_grid.nc``, ``_gauges.nc``, ``_reservoirs.nc``, ``_water_balance.nc`` go.
    start, steps, dt, output_step, keep_peak
        See :meth:`hydro.model.CatchmentModel.run`; ``start`` defaults to the state's valid time, and on a cold
        start to the start of the first precipitation period (its period-end label minus one model step).
    evaporation : path or float
        NetCDF with ``evaporation_var`` or a constant PET [mm per step].
    runoff_params, routing_params : mapping
        Keyword arguments of ``hydro.runoff.GRParameters`` and :class:`RoutingParameters`.
    gauges : path, optional
        CSV (``id, x, y[, name]``).
    outlets : int
        Also write hydrographs at this many largest outlets (ids ``outlet-1`` …).
    reservoirs : path, optional
        TOML/JSON list of reservoirs.
    inflows : sequence of (path, station_id) or (path, station_id, member)
        Neighbours' border-discharge DSG files; ``member`` picks an ensemble member by its realization
        label (``"mean"``: the ensemble mean). Border points are transformed to the terrain's CRS.
    state_in, state_out : path, optional
        Warm state to start from / to write at the end.

    Returns
    -------
    dict
        ``paths`` (written files), ``summary`` (water balance and run facts).
    """
    from hydro.model.catchment import CatchmentModel

    # a file-name prefix, not a path: "../x" wrote the products outside output_dir (leaving it empty), "" hid them
    if not prefix or prefix != Path(prefix).name or prefix in (".", "..") or "\\" in prefix:
        raise ConfigError(f"prefix {prefix!r} must be a non-empty file-name prefix without a path separator")
    if isinstance(outlets, bool) or not isinstance(outlets, (int, np.integer)) or outlets < 0:
        raise ConfigError(f"outlets must be a whole number >= 0, got {outlets!r}")  # -3 was silently 0
    try:
        rp = RoutingParameters(**(routing_params or {}))
    except Exception as exc:
        raise ConfigError(f"routing parameters: {exc}") from exc
    from hydro.runoff import GRParameters

    try:
        params = GRParameters(**(runoff_params or {}))
    except Exception as exc:
        raise ConfigError(f"runoff parameters: {exc}") from exc
    terr = open_terrain(terrain, rp.channel_threshold_m2)
    gauge_list = (read_gauges(gauges) if gauges else []) + (outlet_gauges(terr, outlets, rp.channel_threshold_m2) if outlets else [])
    model = CatchmentModel(
        terr, params, rp,
        gauges=gauge_list,
        reservoirs=read_reservoirs(reservoirs) if reservoirs else (),
        inflows=[_inflow(item, terr.rio.crs) for item in inflows],
        dt=dt,
    )
    if state_in is not None:
        model.load_state(state_in)
    P = open_forcing(precipitation, precipitation_var, terr, model.dt)
    E: Any = (float(evaporation) if isinstance(evaporation, (int, float))
              else open_forcing(evaporation, evaporation_var, terr, model.dt, pet=True))
    if start is None and state_in is None and "time" in getattr(P, "coords", {}) and P.sizes.get("time", 0):
        # a cold start begins where the rain does: its first period-end label minus one model step
        start = pd.Timestamp(P["time"].values[0]) - model.dt
    result = model.run(P, E, start=start, steps=steps, output_step=output_step, keep_peak=keep_peak, gridded=gridded)
    # the warm state is written with the outputs as one group: a failure leaves neither (a state without its run's
    # outputs, or outputs without the state, would let the next warm start continue from the wrong run)
    extra = {"state": (Path(state_out), model.save_state)} if state_out is not None else None
    paths = result.write(output_dir, prefix=prefix, extra_files=extra, **dict(attrs or {}))
    return {"paths": paths, "summary": result.summary}
