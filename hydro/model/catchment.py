"""The coupled catchment model: runoff generation per cell + kinematic-wave routing + reservoirs.

One :class:`CatchmentModel` holds the flow network, the routing arrays and the warm state
(runoff stores, end-of-step discharge of every cell, reservoir storage, valid time). ``run``
streams the forcing one step at a time (memory flat in run length), aggregates gridded outputs to
the output step, records gauge hydrographs and closes the water balance every step.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import ConfigError, InputDataError, InputMissingError, StateError
from hydro.times import naive_utc
from hydro.io.netcdf import open_netcdf
from hydro.model import _kernels as mk
from hydro.routing import (AbstractionSchedule, Gauge, Inflow, Reservoir, RoutingNetwork, RoutingParameters,
                           series_step_values)
from hydro.vocabulary import cf_attrs

__all__ = ["CatchmentModel", "RunResult", "GRIDDED_OUTPUTS", "WATER_BALANCE_TERMS"]

logger = logging.getLogger(__name__)

#: gridded outputs ``run`` can produce
GRIDDED_OUTPUTS = ("runoff", "soil_moisture", "discharge")
#: per-step water-balance terms [m3] (inputs positive on the left of the balance)
WATER_BALANCE_TERMS = (
    "precipitation",
    "inflow",
    "exchange",
    "evaporation",
    "outflow",
    "abstraction",
    "storage_change",
    "residual",
)
#: relative water-balance closure the model guarantees (float64)
BALANCE_TOLERANCE = 1e-9


def _to_timedelta(value: Any, what: str) -> pd.Timedelta:
    if isinstance(value, str):
        try:  # pandas reads a bare number as nanoseconds: --dt 3600 was a step of 3.6 microseconds
            float(value)
        except ValueError:
            pass
        else:
            raise ConfigError(f"{what}: {value!r} has no unit: write e.g. '1h', '30min' or '1D'")
    try:
        td = pd.Timedelta(value) if not isinstance(value, (int, float)) else pd.Timedelta(seconds=float(value))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what}: cannot read {value!r} as a duration") from exc
    if td <= pd.Timedelta(0):
        raise ConfigError(f"{what} must be positive, got {value!r}")
    return td


def _source(da: Any, name: str) -> str:
    """``file:variable`` of a forcing DataArray (``hydro_source`` attribute of hydro.forcing, or
    the encoding's ``source``), for error messages."""
    src = getattr(da, "attrs", {}).get("hydro_source") or getattr(da, "encoding", {}).get("source")
    if not src:
        return f"<in memory>:{name}"
    src = str(src)
    return src if src.endswith(f":{name}") else f"{src}:{name}"


def _coords_differ(values: Any, terrain: xr.Dataset, name: str) -> bool:
    """True if the labels ``values`` of coordinate ``name`` are not the terrain's, in the same order (1e-6 of a cell)."""
    a = np.asarray(values, float)
    b = np.asarray(terrain[name].values, float)
    tol = 1e-6 * max(1.0, float(np.max(np.abs(np.diff(b))) if b.size > 1 else 1.0))
    return a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=tol)


def _grid_map(value: Any, terrain: xr.Dataset, name: str) -> np.ndarray | None:
    """A per-cell map (y, x) as a float64 array in the terrain's cell order.

    A DataArray is put in (y, x) order and its ``y``/``x`` labels must be the terrain's (a map read from a
    y-ascending NetCDF was mirrored onto the grid: its values went to the wrong cells); the size is checked by
    :meth:`RoutingNetwork.build`.
    """
    if value is None:
        return None
    if isinstance(value, xr.DataArray):
        if set(value.dims) != {"y", "x"}:
            raise InputDataError(f"{name} has dims {value.dims}, expected (y, x)")
        value = value.transpose("y", "x")
        for c in ("y", "x"):
            if c in value.coords and c in terrain.coords and _coords_differ(value[c].values, terrain, c):
                raise InputDataError(f"{name}: {c} coordinates differ from the model grid's (another grid or order: "
                                     f"align it with the terrain first, e.g. {name}.sortby or reindex_like)")
    return np.asarray(value, dtype=np.float64)


def _grid_hash(terrain: xr.Dataset, legacy: bool = False) -> str:
    """sha256 of the grid: shape, transform and CRS.

    The CRS enters as pyproj's WKT of it, not as the WKT string the grid happens to carry: the same EPSG:32750
    written to NetCDF and read back has fewer AUTHORITY nodes than when built from its code, so a state saved by
    ``hydro run`` (DEM in memory) was refused as "another grid" on the run's own ``terrain.nc``. ``legacy=True``
    gives the hash of the string as carried (states written before), which :meth:`CatchmentModel.load_state`
    still accepts.
    """
    h = hashlib.sha256()
    h.update(repr((terrain.sizes["y"], terrain.sizes["x"])).encode())
    tr = terrain.rio.transform(recalc=False)
    h.update(repr(tuple(tr)[:6]).encode())
    crs = terrain.rio.crs
    if crs is None:
        wkt = ""
    elif legacy:
        wkt = crs.to_wkt()
    else:
        from pyproj import CRS

        wkt = CRS.from_user_input(crs.to_wkt()).to_wkt()
    h.update(wkt.encode())
    return h.hexdigest()


@dataclass
class RunResult:
    """Outputs of :meth:`CatchmentModel.run`.

    Attributes
    ----------
    gridded : xarray.Dataset or None
        ``runoff`` [mm per output step, sum], ``soil_moisture`` [mm, end of output step],
        ``discharge`` [m3 s-1, mean] (+ ``max_discharge`` [time: maximum] with ``keep_peak``) on
        (time, y, x); time labels the end of each output step, with ``time_bnds``.
    gauges : xarray.Dataset or None
        CF DSG timeSeries of ``discharge`` (and ``max_discharge``) at the gauges.
    reservoirs : xarray.Dataset or None
        CF DSG timeSeries (instance ``reservoir``) of storage, level, inflow, outflow,
        evaporation and abstraction per output step.
    water_balance : xarray.Dataset
        CF DSG timeSeries with one instance (``region = "domain"``): per model step (time = step
        end) the domain volumes [m3] of :data:`WATER_BALANCE_TERMS` (``<term>_volume``,
        ``storage_change``, ``residual``) and ``relative_residual``; per-run totals in its
        attributes.
    summary : dict
        Per-run totals [m3], maximum relative residual, steps, non-converged Newton solves, and
        ``process_split`` [m3]: the same balance split where the cells hand their runoff to the network
        (``cell_evaporation``, ``runoff_to_routing``, ``soil_storage_change``, ``reach_storage_change``,
        ``reservoir_storage_change``, ``reservoir_evaporation``).
    """

    gridded: xr.Dataset | None
    gauges: xr.Dataset | None
    reservoirs: xr.Dataset | None
    water_balance: xr.Dataset
    summary: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: str | Path, prefix: str = "run", *,
              extra_files: Mapping[str, tuple[str | Path, Callable[[Path], Any]]] | None = None,
              **global_attrs: Any) -> dict[str, Path]:
        """Write every product through :func:`hydro.io.write_netcdf` (atomic per file).

        Returns ``{"gridded": path, "gauges": path, "reservoirs": path, "water_balance": path}``
        for the products present. Every file is staged under a temporary name and renamed only when all are
        written: if one fails, the temporary files are removed and an earlier run's files stay as they were
        (all products or none). ``extra_files`` ``{key: (path, writer)}`` joins other files to the group (e.g. the
        warm state: ``{"state": (path, model.save_state)}``): ``writer(temporary_path)`` writes one.
        """
        import os

        from hydro.errors import OutputError
        from hydro.io import atomic_path, discard_temp, write_netcdf

        directory = Path(directory)
        out: dict[str, Path] = {}
        attrs = {k: v for k, v in global_attrs.items()}
        attrs.update({f"hydro_water_balance_{k}": v for k, v in self.summary.items() if isinstance(v, (int, float, str))})
        products = [
            ("gridded", self.gridded, "grid", "hydro catchment model gridded outputs",
             "Runoff, soil moisture and river discharge of the hydro catchment model."),
            ("gauges", self.gauges, "gauges", "hydro gauge hydrographs",
             "River discharge at gauges simulated by the hydro catchment model."),
            ("reservoirs", self.reservoirs, "reservoirs", "hydro reservoirs", "Level-pool reservoir storage, level and fluxes."),
            ("water_balance", self.water_balance, "water_balance", "hydro water balance", "Domain water balance per model step."),
        ]
        staged: list[tuple[Path, Path]] = []
        try:
            for key, ds, suffix, title, summary in products:
                if ds is None:
                    continue
                final = directory / f"{prefix}_{suffix}.nc"
                tmp = atomic_path(final)
                staged.append((tmp, final))
                write_netcdf(ds, tmp, title=title, summary=summary, attrs={"id": final.stem, **attrs})
                out[key] = final
            for key, (path, writer) in (extra_files or {}).items():
                final = Path(path)
                tmp = atomic_path(final)
                staged.append((tmp, final))
                writer(tmp)
                out[key] = final
            for tmp, final in staged:
                os.replace(tmp, final)
        except BaseException as exc:
            for tmp, _ in staged:  # all products or none: the previous run's files are kept
                discard_temp(tmp)
            if isinstance(exc, OSError) and not isinstance(exc, OutputError):
                raise OutputError(f"cannot write the catchment outputs in {directory}: {exc}") from exc
            raise
        return out


class CatchmentModel:
    """Runoff generation on every cell coupled to kinematic-wave routing on the D8 network.

    Parameters
    ----------
    terrain : xarray.Dataset or xarray.DataArray
        Output of :func:`hydro.terrain.analyse` (``flow_direction``, ``filled_elevation``), or a
        DEM (y, x) [m] with a CRS, analysed here with the channel threshold as stream threshold.
    params : hydro.runoff.GRParameters
        Runoff parameters (scalars or (y, x) arrays); must have ``.hash()``.
    routing_params : RoutingParameters, optional
    gauges, reservoirs, inflows : sequences
        :class:`hydro.routing.Gauge`, :class:`hydro.routing.Reservoir`,
        :class:`hydro.routing.Inflow` (all snapped to channel cells).
    dt : str, float or Timedelta
        Model step (float = seconds), e.g. ``"1h"``.
    manning_multiplier : DataArray or ndarray (y, x), optional
        Per-cell multiplier of Manning n.
    channel_width_m, channel_depth_m : DataArray or ndarray (y, x), optional
        Surveyed bankfull width/depth [m] overriding the power laws where finite.
    runoff_model : callable, optional
        Factory ``(params, ncell, dt_seconds) -> RunoffModel`` (default
        :class:`hydro.runoff.RunoffModel`): the runoff operator, see its interface.

    Notes
    -----
    The runoff operator acts on every grid cell (forcing 0 off the network), so parameter maps
    are passed unchanged; the water balance covers the valid cells only. Reservoir nodes take
    the routed inflow, the runoff of their own cell, open-water evaporation ``PET·A(h)`` (from the
    node cell's PET) and an abstraction; rain on the lake reaches it as the runoff of the lake
    cells (no double counting).
    """

    def __init__(
        self,
        terrain: xr.Dataset | xr.DataArray,
        params: Any,
        routing_params: RoutingParameters | None = None,
        *,
        gauges: Sequence[Gauge] = (),
        reservoirs: Sequence[Reservoir] = (),
        inflows: Sequence[Inflow] = (),
        dt: Any = "1h",
        manning_multiplier: Any = None,
        channel_width_m: Any = None,
        channel_depth_m: Any = None,
        runoff_model: Any = None,
    ) -> None:
        from hydro.terrain import analyse, flow_network

        self.routing_params = routing_params or RoutingParameters()
        if isinstance(terrain, xr.DataArray):
            terrain = analyse(terrain, stream_threshold_m2=self.routing_params.channel_threshold_m2)
        for var in ("flow_direction",):
            if var not in terrain:
                raise InputMissingError(f"terrain dataset has no variable {var!r}")
        self.terrain = terrain
        self.dt = _to_timedelta(dt, "dt")
        self.dt_seconds = float(self.dt.total_seconds())
        self.network = flow_network(terrain["flow_direction"])
        self.shape = tuple(self.network.shape)
        zname = "filled_elevation" if "filled_elevation" in terrain else "elevation"
        if zname not in terrain:
            raise InputMissingError("terrain dataset has neither 'filled_elevation' nor 'elevation'")
        self.routing = RoutingNetwork.build(
            self.network, np.asarray(terrain[zname].values, np.float64), self.routing_params, self.dt_seconds,
            reservoirs=reservoirs, inflows=inflows,
            manning_multiplier=_grid_map(manning_multiplier, terrain, "manning_multiplier"),
            channel_width_m=_grid_map(channel_width_m, terrain, "channel_width_m"),
            channel_depth_m=_grid_map(channel_depth_m, terrain, "channel_depth_m"),
        )
        self.params = params
        if getattr(params, "unit_hydrograph_steps", None) is not None:
            raise ConfigError("unit_hydrograph_steps must be None in the gridded model: the routing does the lag")
        if runoff_model is None:
            from hydro.runoff import RunoffModel as runoff_model  # noqa: N813
        self._runoff_factory = runoff_model
        self.ncell = int(self.network.ncell)
        self._check_parameter_maps(params)
        self.runoff = runoff_model(params, self.ncell, self.dt_seconds)
        self.valid = np.asarray(self.network.valid, bool)
        self.valid_idx = np.flatnonzero(self.valid)
        self.cell_area_m2 = np.asarray(self.network.cell_area_m2, np.float64)
        self.gauges = list(gauges)
        self.gauge_pos = self._snap_gauges(self.gauges)
        self.grid_hash = _grid_hash(terrain)
        self.valid_time: pd.Timestamp | None = None
        self.lineage = "cold"
        #: gridded forcing is read in blocks of about this many cell-steps (memory ~ 3 x 8 bytes x this,
        #: whatever the run length)
        self.forcing_block_cells = 8_000_000

    def _check_parameter_maps(self, params: Any) -> None:
        """Each runoff parameter map must be on the model grid: (y, x), or flat with one value per cell.

        Only the number of values was checked before, so an (x, y) array was raveled in the wrong
        order and silently gave most cells another cell's parameters.
        """
        if not dataclasses.is_dataclass(params):
            return
        ny, nx = self.shape
        # a labelled map must be on the model grid in its order: a map with y ascending on the (y-descending) terrain
        # has the right shape and was raveled mirrored, every cell with another cell's value
        for name, labels in getattr(params, "map_coords", {}).items():
            for c, values in zip(("y", "x"), labels):
                if c in self.terrain.coords and _coords_differ(values, self.terrain, c):
                    raise ConfigError(f"runoff parameter map {name!r}: {c} coordinates differ from the model grid's "
                                      f"(another grid, or the same grid in reverse order): put the map on the terrain "
                                      f"grid first (e.g. map.reindex_like(terrain))")
        ok = {(ny, nx), (self.ncell,), (1, ny, nx)}
        for f in dataclasses.fields(params):
            v = getattr(params, f.name)
            if v is None or isinstance(v, str) or np.ndim(v) == 0:
                continue
            shape = tuple(np.shape(v))
            if shape not in ok:
                raise ConfigError(f"runoff parameter map {f.name!r} has shape {shape}, the model grid is (y, x) = "
                                  f"{(ny, nx)} (give maps as (y, x) or flat in (y, x) order)")

    # ------------------------------------------------------------------------------------
    def _snap_gauges(self, gauges: Sequence[Gauge]) -> np.ndarray:
        if len({g.id for g in gauges}) != len(gauges):
            raise ConfigError(f"gauge ids are not unique: {[g.id for g in gauges]}")
        streams = np.zeros(self.network.ncell, bool)
        streams[self.routing.order] = self.routing.is_channel
        cell = float(np.sqrt(np.median(self.network.cell_area_m2[self.network.valid])))
        pos_of = np.full(self.network.ncell, -1, np.int64)
        pos_of[self.routing.order] = np.arange(self.routing.nvalid)
        out = []
        for g in gauges:
            radius = g.max_snap_distance_m if g.max_snap_distance_m is not None else 3.0 * cell
            try:
                expected = None if g.upstream_area_km2 is None else float(g.upstream_area_km2) * 1e6
                if not getattr(g, "snap_to_stream", True):  # the cell that contains the point
                    if g.max_snap_distance_m is not None or g.upstream_area_km2 is not None:
                        raise ConfigError(f"gauge {g.id!r}: snap_to_stream=False takes the cell containing the point: "
                                          "max_snap_distance_m and upstream_area_km2 (snapping settings) cannot apply")
                    c = int(self.network.snap([(g.x, g.y)], 0.0)[0])
                else:
                    c = int(self.network.snap([(g.x, g.y)], radius, streams=streams.reshape(self.shape),
                                              expected_area_m2=expected)[0])
            except InputDataError as exc:
                raise InputDataError(f"gauge {g.id!r}: {exc}") from exc
            out.append(pos_of[c])
        return np.asarray(out, dtype=np.int64)

    @property
    def parameter_hash(self) -> str:
        """Hash of the runoff parameters (their ``hash()``)."""
        return str(self.params.hash())

    @property
    def routing_hash(self) -> str:
        return self.routing.hash()

    def storage_m3(self) -> dict[str, float]:
        """Water held in the domain [m3]: runoff stores, routing reaches, reservoirs."""
        soil = float(np.sum(np.asarray(self.runoff.storage_mm(), np.float64)[self.valid_idx] * self.cell_area_m2[self.valid_idx]) / 1000.0)
        return {
            "runoff_stores": soil,
            "routing": self.routing.reach_storage_m3(),
            "reservoirs": float(np.sum(self.routing.reservoir_storage_m3)),
        }

    # ------------------------------------------------------------------------------------
    def _check_forcing(self, da: Any, name: str, labels: pd.DatetimeIndex) -> tuple[Any, np.ndarray | None]:
        """Validate a forcing DataArray; return it and the positions of ``labels`` in its time axis.

        Scalars (constant mm per step) are allowed; a DataArray with only ``time`` is broadcast.
        """
        if np.isscalar(da):
            if not np.isfinite(float(da)) or float(da) < 0:
                raise InputDataError(f"forcing {name}: constant {da!r} must be finite and >= 0")
            return float(da), None
        if not isinstance(da, xr.DataArray):
            raise InputDataError(f"forcing {name}: expected an xarray.DataArray (time, y, x), got {type(da).__name__}")
        src = _source(da, str(da.name or name))
        if "time" not in da.dims:
            raise InputDataError(f"forcing {src}: no 'time' dimension (dims {da.dims})")
        spatial = [d for d in da.dims if d != "time"]
        if spatial not in ([], ["y", "x"]):
            raise InputDataError(f"forcing {src}: dims must be (time, y, x) or (time,), got {da.dims}")
        if spatial:
            if da.sizes["y"] != self.shape[0] or da.sizes["x"] != self.shape[1]:
                raise InputDataError(
                    f"forcing {src}: grid {da.sizes['y']}x{da.sizes['x']} does not cover the model grid {self.shape[0]}x{self.shape[1]}"
                )
            for c in ("y", "x"):
                if c in da.coords and c in self.terrain.coords:
                    if _coords_differ(da[c].values, self.terrain, c):
                        raise InputDataError(f"forcing {src}: {c} coordinates differ from the model grid (regrid with hydro.forcing.prepare)")
            if da.dims != ("time", "y", "x"):
                da = da.transpose("time", "y", "x")
        times = pd.DatetimeIndex(da["time"].values)
        if times.has_duplicates:
            raise InputDataError(f"forcing {src}: duplicate times, e.g. {times[times.duplicated()][0]}")
        if not times.is_monotonic_increasing:
            raise InputDataError(f"forcing {src}: times are not sorted")
        loc = times.get_indexer(labels)
        if np.any(loc < 0):
            missing = labels[loc < 0]
            if labels[0] < times[0] or labels[-1] > times[-1]:
                raise InputDataError(
                    f"forcing {src}: covers {times[0]} .. {times[-1]}, the run needs step-end times {labels[0]} .. {labels[-1]}"
                )
            raise InputDataError(f"forcing {src}: gap, {len(missing)} step(s) missing, first {missing[0]} (step {self.dt})")
        # a gap in the file that the run spans even if labels exist (irregular step)
        if len(loc) > 1 and np.any(np.diff(loc) != 1):
            raise InputDataError(f"forcing {src}: time step differs from the model step {self.dt}")
        units = str(da.attrs.get("units", "mm")).strip()
        if units not in ("mm", "kg m-2", "kg m**-2", "mm per step", "mm/step", "1e-3 m"):
            raise InputDataError(f"forcing {src}: units {units!r}, expected mm per model step (use hydro.forcing.prepare)")
        return da, loc

    def _read_step(self, da: Any, loc: np.ndarray | None, t: int, name: str, cache: dict[str, Any]) -> np.ndarray:
        """Forcing of step ``t`` as flat float64 over the grid (0 off the network); NaN on the network -> error."""
        if loc is None:
            return np.where(self.valid, float(da), 0.0)
        if da.ndim == 1:
            v = float(da.values[loc[t]])
            if not np.isfinite(v) or v < 0:
                raise InputDataError(f"forcing {_source(da, name)}: invalid value {v} at {da['time'].values[loc[t]]}")
            return np.where(self.valid, v, 0.0)
        # read in blocks of time steps (dask: one compute per block)
        block = cache.get(name)
        if block is None or not (block[0] <= loc[t] < block[1]):
            nb = max(1, int(cache.get("_block_cells", 8_000_000) // max(1, self.ncell)))
            i0 = int(loc[t])
            i1 = min(int(loc[-1]) + 1, i0 + nb)
            values = np.asarray(da.isel(time=slice(i0, i1)).values)
            block = (i0, i1, values)
            cache[name] = block
        arr = np.ascontiguousarray(block[2][loc[t] - block[0]]).reshape(-1)
        out = np.empty(self.ncell)
        missing, negative = mk.masked_forcing(arr, self.valid, out)
        if missing:
            raise InputDataError(
                f"forcing {_source(da, name)}: {missing} cell(s) of the model domain are missing (NaN) at "
                f"{pd.Timestamp(da['time'].values[loc[t]])}: the forcing does not cover the domain"
            )
        if negative:
            raise InputDataError(f"forcing {_source(da, name)}: negative values at {pd.Timestamp(da['time'].values[loc[t]])}")
        return out

    # ------------------------------------------------------------------------------------
    def run(
        self,
        precipitation: Any,
        evaporation: Any,
        start: Any = None,
        steps: int | None = None,
        output_step: Any = None,
        keep_peak: bool = False,
        gridded: Iterable[str] = GRIDDED_OUTPUTS,
        abstraction: dict[str, Any] | None = None,
        progress: Any = None,
        peak_discharge: np.ndarray | None = None,
    ) -> RunResult:
        """Run ``steps`` model steps from ``start``.

        Parameters
        ----------
        precipitation, evaporation : xarray.DataArray (time, y, x) or (time,), or float
            Precipitation and potential evaporation [mm per model step] on the model grid, time
            labelled at the **end** of each step (``hydro.forcing.prepare`` output). Read one
            block of steps at a time (dask arrays stay lazy).
        start : datetime-like, optional
            Start of the first step (= valid time of the state). Default: the state's valid time.
        steps : int, optional
            Number of model steps (default: as many as the precipitation covers).
        output_step : duration, optional
            Output aggregation step, a multiple of the model step (default: the model step).
        keep_peak : bool
            Also output the maximum sub-step discharge within each output step.
        gridded : iterable of str
            Gridded outputs among :data:`GRIDDED_OUTPUTS` (``()`` for none: memory then stays
            flat in run length).
        abstraction : dict reservoir name -> float, Series or callable, optional
            Overrides the reservoirs' abstraction for this run (the allocation hook).
        progress : callable, optional
            Called as ``progress(step_index, n_steps)`` after each step.
        peak_discharge : numpy.ndarray, optional
            One value per routing position (``routing.nvalid``) [m3 s-1], raised in place to the maximum
            instantaneous discharge of the routing sub-steps (the gauges' ``max_discharge``), whatever
            ``gridded`` holds: a peak map of the run that costs no time series.

        Returns
        -------
        RunResult

        Raises
        ------
        InputDataError
            Forcing not covering the domain or the period, duplicated/unsorted times, gaps,
            wrong grid or units (nothing is changed: the state stays as before the call).
        """
        AbstractionSchedule.check_names(self.routing.reservoirs, abstraction)  # a config error before any data check
        gridded = tuple(gridded)
        unknown = set(gridded) - set(GRIDDED_OUTPUTS)
        if unknown:
            raise ConfigError(f"unknown gridded outputs {sorted(unknown)}; choose from {GRIDDED_OUTPUTS}")
        if start is None:
            if self.valid_time is None:
                raise ConfigError("start is required for a cold start (the model has no valid time yet)")
            start = self.valid_time
        from hydro.times import parse_timestamp

        start = naive_utc(parse_timestamp(start, "start"))
        if self.valid_time is not None and start != self.valid_time:
            raise StateError(f"run starts at {start} but the model state is valid at {self.valid_time}")
        if steps is None:
            if not isinstance(precipitation, xr.DataArray):
                raise ConfigError("steps is required when precipitation is not a DataArray")
            ptimes = pd.DatetimeIndex(precipitation["time"].values)
            steps = int(np.count_nonzero(ptimes > start))
            if steps < 1:  # not "steps must be >= 1, got 0": the user gave no steps, the forcing ends too early
                raise InputDataError(f"precipitation has no time after the run start {start} (it covers "
                                     f"{ptimes[0] if ptimes.size else None} … {ptimes[-1] if ptimes.size else None})")
        try:
            steps_f = float(steps)
        except (TypeError, ValueError):
            raise ConfigError(f"steps must be a whole number of model steps, got {steps!r}") from None
        if isinstance(steps, (bool, np.bool_)) or not steps_f.is_integer():
            # int(24.2) ran 24 steps without a word: the run was shorter than asked
            raise ConfigError(f"steps must be a whole number of model steps, got {steps!r}")
        steps = int(steps_f)
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        out_td = self.dt if output_step is None else _to_timedelta(output_step, "output_step")
        ratio = out_td / self.dt
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ConfigError(f"output_step {out_td} is not a multiple of the model step {self.dt}")
        per_out = int(round(ratio))
        if steps % per_out:
            raise ConfigError(f"steps ({steps}) is not a multiple of the model steps per output step ({per_out})")
        n_out = steps // per_out
        labels = pd.date_range(start + self.dt, periods=steps, freq=self.dt)
        step_starts = labels - self.dt
        P, ploc = self._check_forcing(precipitation, "precipitation", labels)
        E, eloc = self._check_forcing(evaporation, "evaporation", labels)
        # reservoirs: abstraction per step, inflows per step
        rn = self.routing
        nres = len(rn.reservoirs)
        abstr_schedule = AbstractionSchedule(rn.reservoirs, step_starts, self.dt, abstraction)
        inflow_q = [series_step_values(f.discharge_m3s, step_starts, self.dt, what=f"inflow {f.name!r} ({f.source})")
                    for f in rn.inflows]
        res_area_tables = [(np.asarray(r.level_m, float), np.asarray(r.area_m2, float)) for r in rn.reservoirs]
        res_cells = rn.order[rn.reservoir_pos] if nres else np.zeros(0, np.int64)

        # --- output buffers (per output step) ----------------------------------------------
        ny, nx = self.shape
        g = {name: np.full((n_out, ny, nx), np.nan, np.float32) for name in gridded}
        if keep_peak and "discharge" in gridded:
            g["max_discharge"] = np.full((n_out, ny, nx), np.nan, np.float32)
        ngauge = len(self.gauges)
        gauge_mean = np.zeros((ngauge, n_out))
        gauge_max = np.zeros((ngauge, n_out))
        res_series = {k: np.zeros((nres, n_out)) for k in ("storage", "level", "inflow", "outflow", "evaporation", "abstraction")}
        wb = {k: np.zeros(steps) for k in WATER_BALANCE_TERMS}
        rel = np.zeros(steps)
        turnover = np.zeros(steps)
        # the domain balance split at the hand-over from the cells to the network [m3]
        split = dict.fromkeys(("cell_evaporation", "runoff_to_routing", "soil_storage_change", "reach_storage_change",
                               "reservoir_storage_change", "reservoir_evaporation"), 0.0)
        acc_runoff = np.zeros(self.ncell) if "runoff" in gridded else None
        acc_q = np.zeros(rn.nvalid) if "discharge" in gridded else None
        acc_qmax = np.zeros(rn.nvalid) if (keep_peak and "discharge" in gridded) else None
        if peak_discharge is not None and (not isinstance(peak_discharge, np.ndarray) or peak_discharge.shape != (rn.nvalid,)
                                           or peak_discharge.dtype != np.float64):
            raise InputDataError(f"peak_discharge must be a float64 array of the {rn.nvalid} routing positions, got "
                                 f"{getattr(peak_discharge, 'shape', None)} {getattr(peak_discharge, 'dtype', type(peak_discharge))}")
        nonconv = 0
        cache: dict[str, Any] = {"_block_cells": self.forcing_block_cells}
        snapshot = self._snapshot()
        soil0 = np.array(self.runoff.storage_mm(), dtype=np.float64)
        lateral = np.empty(rn.nvalid)
        routing0 = rn.reach_storage_m3()
        res0 = float(np.sum(rn.reservoir_storage_m3))
        try:
            # --- time loop ----------------------------------------------------------------------
            for t in range(steps):
                p = self._read_step(P, ploc, t, "precipitation", cache)
                e = self._read_step(E, eloc, t, "evaporation", cache)
                runoff_mm = np.ascontiguousarray(self.runoff.step(p, e), dtype=np.float64)
                ae = np.ascontiguousarray(self.runoff.actual_evaporation_mm, dtype=np.float64)
                exch = np.ascontiguousarray(self.runoff.exchange_mm, dtype=np.float64)
                mk.lateral_inflow(rn.order, runoff_mm, self.cell_area_m2, 1.0 / (1000.0 * self.dt_seconds), lateral)
                bnd = None
                if inflow_q:
                    bnd = np.zeros(rn.nvalid)
                    for j, pos in enumerate(rn.inflow_pos):
                        bnd[pos] += inflow_q[j][t]
                res_ev = res_ab = None
                if nres:
                    levels = rn.reservoir_levels_m()
                    res_ev = np.array([e[c] / 1000.0 * float(np.interp(h, lt, at)) for c, h, (lt, at) in zip(res_cells, levels, res_area_tables)])
                    res_ab = abstr_schedule.at(t, rn.reservoir_storage_m3)
                r = rn.step(lateral, bnd, res_ev, res_ab)
                nonconv += r["nonconverged"]
                if peak_discharge is not None:
                    np.maximum(peak_discharge, r["q_max"], out=peak_discharge)
                # --- water balance of the step (m3, valid cells) --------------------------------
                soil1 = np.ascontiguousarray(self.runoff.storage_mm(), dtype=np.float64)
                routing1 = rn.reach_storage_m3()
                res1 = float(np.sum(rn.reservoir_storage_m3))
                # (also copies soil1 into soil0 for the next step)
                sums = mk.balance_sums(self.valid_idx, self.cell_area_m2, p, ae, exch, soil1, soil0)
                wb["precipitation"][t] = sums[0]
                wb["evaporation"][t] = sums[1] + r["reservoir_evaporation_m3"]
                wb["exchange"][t] = sums[2]
                wb["inflow"][t] = 0.0 if bnd is None else float(bnd.sum() * self.dt_seconds)
                wb["outflow"][t] = r["outflow_m3"]
                wb["abstraction"][t] = r["reservoir_abstraction_m3"]
                wb["storage_change"][t] = sums[3] + (routing1 - routing0) + (res1 - res0)
                gross_in = wb["precipitation"][t] + wb["inflow"][t] + abs(wb["exchange"][t])
                gross_out = wb["evaporation"][t] + wb["outflow"][t] + wb["abstraction"][t]
                wb["residual"][t] = (wb["precipitation"][t] + wb["inflow"][t] + wb["exchange"][t]
                                     - wb["evaporation"][t] - wb["outflow"][t] - wb["abstraction"][t] - wb["storage_change"][t])
                # relative to the gross water moved in the step: inputs, outputs, or the turnover of
                # the stores (Σ|ΔS| of every cell, reach volumes and reservoirs), whichever is largest
                turnover[t] = sums[4] + abs(routing1 - routing0) + abs(res1 - res0)
                split["cell_evaporation"] += float(sums[1])
                split["runoff_to_routing"] += float(lateral.sum()) * self.dt_seconds
                split["soil_storage_change"] += float(sums[3])
                split["reach_storage_change"] += routing1 - routing0
                split["reservoir_storage_change"] += res1 - res0
                split["reservoir_evaporation"] += float(r["reservoir_evaporation_m3"])
                scale = max(gross_in, gross_out, turnover[t])
                rel[t] = abs(wb["residual"][t]) / scale if scale > 0 else 0.0
                routing0, res0 = routing1, res1
                # --- outputs ----------------------------------------------------------------------
                o = t // per_out
                if acc_runoff is not None:
                    mk.accumulate_add(acc_runoff, runoff_mm)
                if acc_q is not None:
                    mk.accumulate_add(acc_q, r["q_mean"])
                if acc_qmax is not None:
                    mk.accumulate_max(acc_qmax, r["q_max"])
                if ngauge:
                    gauge_mean[:, o] += r["q_mean"][self.gauge_pos] / per_out
                    gauge_max[:, o] = np.maximum(gauge_max[:, o], r["q_max"][self.gauge_pos])
                if nres:
                    res_series["inflow"][:, o] += r["reservoir"][:, 0]
                    res_series["outflow"][:, o] += r["reservoir"][:, 1]
                    res_series["evaporation"][:, o] += r["reservoir"][:, 2]
                    res_series["abstraction"][:, o] += r["reservoir"][:, 3]
                if (t + 1) % per_out == 0:
                    if acc_runoff is not None:
                        g["runoff"][o] = np.where(self.valid, acc_runoff, np.nan).reshape(ny, nx)
                        acc_runoff[:] = 0.0
                    if "soil_moisture" in g:
                        g["soil_moisture"][o] = np.where(self.valid, np.asarray(self.runoff.state["production_store"]), np.nan).reshape(ny, nx)
                    if acc_q is not None:
                        g["discharge"][o] = rn.to_grid(acc_q / per_out).reshape(ny, nx)
                        acc_q[:] = 0.0
                    if acc_qmax is not None:
                        g["max_discharge"][o] = rn.to_grid(acc_qmax).reshape(ny, nx)
                        acc_qmax[:] = 0.0
                    if nres:
                        res_series["storage"][:, o] = rn.reservoir_storage_m3
                        res_series["level"][:, o] = rn.reservoir_levels_m()
                if progress is not None:
                    progress(t + 1, steps)
            # the products are built before the state moves on: if they fail, the run failed (state restored)
            result = self._result(labels, per_out, g, gauge_mean, gauge_max if keep_peak else None, res_series, wb,
                                  rel, nonconv, start, turnover, split)
        except BaseException:
            self._restore(snapshot)
            raise
        if nonconv:
            logger.warning("kinematic wave: %d Newton solves did not converge in %d steps", nonconv, steps)
        self.valid_time = labels[-1]
        return result

    def _snapshot(self) -> tuple[Any, ...]:
        return ({k: np.array(v, copy=True) for k, v in self.runoff.state.items()}, self.routing.q.copy(),
                self.routing.reservoir_storage_m3.copy(), self.valid_time, self.routing.volume_m3.copy())

    def _restore(self, snap: tuple[Any, ...]) -> None:
        self.runoff.set_state({k: np.array(v, copy=True) for k, v in snap[0].items()})
        self.routing.q = snap[1]
        self.routing.reservoir_storage_m3 = snap[2]
        self.valid_time = snap[3]
        self.routing.volume_m3 = snap[4]

    # ------------------------------------------------------------------------------------
    def _result(self, labels, per_out, g, gauge_mean, gauge_max, res_series, wb, rel, nonconv, start, turnover,
                split) -> RunResult:
        out_labels = labels[per_out - 1 :: per_out]
        out_td = self.dt * per_out
        bnds = np.stack([(out_labels - out_td).values, out_labels.values], axis=1)
        interval = f"(interval: {_iso_td(self.dt)})"
        gridded = None
        if g:
            ds = xr.Dataset(coords={"time": out_labels.values, "y": self.terrain["y"].values, "x": self.terrain["x"].values})
            if "runoff" in g:
                ds["runoff"] = (("time", "y", "x"), g["runoff"], {**cf_attrs("runoff"), "units": "kg m-2",
                                                                  "long_name": "runoff generated in the cell per output step",
                                                                  "cell_methods": f"time: sum {interval}"})
            if "soil_moisture" in g:
                ds["soil_moisture"] = (("time", "y", "x"), g["soil_moisture"], {**cf_attrs("soil_moisture"), "cell_methods": "time: point"})
            if "discharge" in g:
                ds["discharge"] = (("time", "y", "x"), g["discharge"], {**cf_attrs("discharge"), "cell_methods": f"time: mean {interval}"})
            if "max_discharge" in g:
                ds["max_discharge"] = (("time", "y", "x"), g["max_discharge"], {
                    **cf_attrs("max_discharge"),
                    "cell_methods": f"time: maximum (interval: {_iso_td(self.dt / self.routing.n_sub)})",
                    "comment": f"maximum over the routing sub-steps: every {_iso_td(self.dt / self.routing.n_sub)} on "
                               f"channel cells (and cells downstream of a channel, reservoir or inflow), every "
                               f"{_iso_td(self.dt / self.routing.n_sub_overland)} on overland cells"})
            ds["time_bnds"] = (("time", "nv"), bnds)
            ds = ds.rio.write_crs(self.terrain.rio.crs, inplace=True).rio.write_transform(self.terrain.rio.transform(recalc=False), inplace=True)
            ds.attrs.update(self._provenance(start, labels[-1]))
            gridded = ds
        gauges = None
        if self.gauges:
            lat, lon = self._latlon(np.array([gg.x for gg in self.gauges]), np.array([gg.y for gg in self.gauges]))
            cells = self.routing.order[self.gauge_pos]
            xs, ys = self.network.xy(cells)
            variables: dict[str, Any] = {"discharge": gauge_mean}
            attrs: dict[str, Any] = {"discharge": {"cell_methods": f"time: mean {interval}"}}
            if gauge_max is not None:
                variables["max_discharge"] = gauge_max
            model_crs = self.terrain.rio.crs
            from hydro.io.netcdf import linear_units

            xy_units = linear_units(model_crs)
            attrs.update({
                "x": {"long_name": "x of the snapped gauge cell in the model CRS (global attribute hydro_model_crs)",
                      "units": xy_units},
                "y": {"long_name": "y of the snapped gauge cell in the model CRS (global attribute hydro_model_crs)",
                      "units": xy_units},
                "upstream_area": {"long_name": "upstream area of the snapped gauge cell", "units": "m2"},
            })
            gauges = _dsg(variables, ids=[gg.id for gg in self.gauges], names=[gg.name or gg.id for gg in self.gauges],
                          time=out_labels, lat=lat, lon=lon, attrs=attrs, bnds=bnds, instance_dim="station",
                          instance_variables={"x": np.asarray(xs, float), "y": np.asarray(ys, float),
                                              "upstream_area": self.routing.upstream_area_m2[self.gauge_pos]})
            gauges.attrs.update(self._provenance(start, labels[-1]))
            if model_crs is not None:
                gauges.attrs["hydro_model_crs"] = model_crs.to_wkt()
        reservoirs = None
        rn = self.routing
        if rn.reservoirs:
            lat, lon = self._latlon(np.array([r.x for r in rn.reservoirs]), np.array([r.y for r in rn.reservoirs]))
            seconds = out_td.total_seconds()
            mean = {"cell_methods": f"time: mean {interval}"}
            reservoirs = _dsg(
                {"reservoir_volume": res_series["storage"], "reservoir_level": res_series["level"],
                 "reservoir_inflow": res_series["inflow"] / seconds, "reservoir_outflow": res_series["outflow"] / seconds,
                 "reservoir_evaporation": res_series["evaporation"] / seconds,
                 "reservoir_abstraction": res_series["abstraction"] / seconds},
                ids=[r.name for r in rn.reservoirs], names=[r.name for r in rn.reservoirs], time=out_labels, lat=lat, lon=lon,
                attrs={"reservoir_inflow": mean, "reservoir_outflow": mean, "reservoir_evaporation": mean,
                       "reservoir_abstraction": mean},
                bnds=bnds, instance_dim="reservoir")
            reservoirs.attrs.update(self._provenance(start, labels[-1]))
        step_bnds = np.stack([(labels - self.dt).values, labels.values], axis=1)
        long = {
            "precipitation": "precipitation on the model domain",
            "inflow": "inflow through upstream boundaries",
            "exchange": "groundwater exchange (gain positive)",
            "evaporation": "actual evaporation (cells and reservoir surfaces)",
            "outflow": "outflow through the network outlets",
            "abstraction": "abstraction from reservoirs",
            "storage_change": "change of water stored (runoff stores, routing reaches, reservoirs)",
            "residual": "water-balance residual: precipitation + inflow + exchange - evaporation - outflow - abstraction - storage change",
        }
        step_interval = f"(interval: {_iso_td(self.dt)})"
        wb_vars: dict[str, Any] = {}
        wb_attrs: dict[str, Any] = {}
        for k in WATER_BALANCE_TERMS:
            name = f"{k}_volume" if k not in ("storage_change", "residual") else k
            wb_vars[name] = wb[k][None, :]
            wb_attrs[name] = {"long_name": long[k], "units": "m3", "cell_methods": f"time: sum {step_interval}",
                              "coverage_content_type": "modelResult"}
        wb_vars["relative_residual"] = rel[None, :]
        wb_attrs["relative_residual"] = {"long_name": "|residual| / largest of gross inputs, gross outputs, storage turnover (sum of |storage change| of every cell, reach and reservoir)",
                                         "units": "1", "coverage_content_type": "qualityInformation"}
        ext = self._domain_extent()
        wbds = _dsg(wb_vars, ids=["domain"], names=["model domain"], time=labels,
                    lat=[0.5 * (ext["geospatial_lat_min"] + ext["geospatial_lat_max"])],
                    lon=[0.5 * (ext["geospatial_lon_min"] + ext["geospatial_lon_max"])],
                    attrs=wb_attrs, bnds=step_bnds, instance_dim="region")
        summary: dict[str, Any] = {k: float(np.sum(wb[k])) for k in WATER_BALANCE_TERMS}
        gross = max(summary["precipitation"] + summary["inflow"] + abs(summary["exchange"]),
                    summary["evaporation"] + summary["outflow"] + summary["abstraction"], float(np.sum(turnover)))
        summary["relative_residual"] = abs(summary["residual"]) / gross if gross > 0 else 0.0
        summary["max_step_relative_residual"] = float(np.max(rel)) if rel.size else 0.0
        summary["steps"] = int(len(labels))
        summary["nonconverged_newton"] = int(nonconv)
        #: the same balance split into runoff generation (cells) and routing (reaches, reservoirs), m3
        summary["process_split"] = {k: float(v) for k, v in split.items()}
        wbds.attrs.update({f"total_{k}_m3": summary[k] for k in WATER_BALANCE_TERMS})
        wbds.attrs["run_relative_residual"] = summary["relative_residual"]
        wbds.attrs["max_step_relative_residual"] = summary["max_step_relative_residual"]
        wbds.attrs.update(self._provenance(start, labels[-1]))
        return RunResult(gridded, gauges, reservoirs, wbds, summary)

    def _provenance(self, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
        return {
            "hydro_model": "hydro.model.CatchmentModel (GR-type cells + D8 kinematic wave)",
            "hydro_run_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hydro_run_end": pd.Timestamp(end).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hydro_model_step_s": self.dt_seconds,
            "hydro_routing_substeps": int(self.routing.n_sub),
            "hydro_parameter_hash": self.parameter_hash,
            "hydro_routing_hash": self.routing_hash,
            "hydro_flow_network_hash": self.network.hash,
            "hydro_warm_start": self.lineage,
        }

    def _domain_extent(self) -> dict[str, Any]:
        """ACDD geospatial attributes of the model domain (for the non-gridded balance file)."""
        xs = self.terrain["x"].values
        ys = self.terrain["y"].values
        bx = np.array([xs[0], xs[-1], xs[-1], xs[0]], float)
        by = np.array([ys[0], ys[0], ys[-1], ys[-1]], float)
        lat, lon = self._latlon(bx, by)
        la0, la1, lo0, lo1 = float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max())
        return {
            "geospatial_lat_min": la0, "geospatial_lat_max": la1, "geospatial_lon_min": lo0, "geospatial_lon_max": lo1,
            "geospatial_lat_units": "degrees_north", "geospatial_lon_units": "degrees_east",
            "geospatial_bounds_crs": "EPSG:4326",
            "geospatial_bounds": f"POLYGON(({la0} {lo0}, {la0} {lo1}, {la1} {lo1}, {la1} {lo0}, {la0} {lo0}))",
        }

    def _latlon(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from pyproj import CRS, Transformer

        crs = CRS.from_wkt(self.terrain.rio.crs.to_wkt())
        if crs.is_geographic:
            return y, x
        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        pts = [tr.transform(float(a), float(b)) for a, b in zip(np.ravel(x), np.ravel(y))]
        return np.array([p[1] for p in pts], float), np.array([p[0] for p in pts], float)

    # ------------------------------------------------------------------------------------
    def state_dataset(self) -> xr.Dataset:
        """The warm state as a CF Dataset (float64), see :meth:`save_state`."""
        if self.valid_time is None:
            raise StateError("the model has no valid time yet: run it (or load a state) before saving")
        ny, nx = self.shape
        ds = xr.Dataset(coords={"y": self.terrain["y"].values, "x": self.terrain["x"].values})
        for name, values in self.runoff.state.items():
            arr = np.where(self.valid, np.asarray(values, np.float64), np.nan).reshape(ny, nx)
            attrs = {"long_name": f"{name.replace('_', ' ')} of the runoff operator", "units": "mm",
                     "cell_methods": "time: point", "coverage_content_type": "modelResult"}
            if name == "production_store":
                attrs["standard_name"] = "lwe_thickness_of_soil_moisture_content"
            ds[name] = (("y", "x"), arr, attrs)
        ds["channel_discharge"] = (("y", "x"), self.routing.to_grid(self.routing.q).reshape(ny, nx), cf_attrs("channel_discharge"))
        ds["channel_water_volume"] = (("y", "x"), self.routing.to_grid(self.routing.volume_m3).reshape(ny, nx),
                                      cf_attrs("channel_water_volume"))
        if self.routing.reservoirs:
            ds["reservoir_id"] = (("reservoir",), np.array([r.name for r in self.routing.reservoirs], dtype=object),
                                  {"long_name": "reservoir identifier", "cf_role": "timeseries_id"})
            ds["reservoir_storage"] = (("reservoir",), self.routing.reservoir_storage_m3.astype(np.float64),
                                       {**cf_attrs("reservoir_volume"), "hydro_name": "reservoir_volume"})
            ds["reservoir_level"] = (("reservoir",), self.routing.reservoir_levels_m(),
                                     {**cf_attrs("reservoir_level"), "comment": "derived from reservoir_storage"})
        # a time dimension of length 1 (the valid time), so cell_methods "time: point" refers to it
        ds = ds.expand_dims(time=[np.datetime64(self.valid_time.to_datetime64(), "ns")])
        if "reservoir_id" in ds:
            ds["reservoir_id"] = ds["reservoir_id"].isel(time=0, drop=True)
            for name in ("reservoir_storage", "reservoir_level"):
                ds[name] = ds[name].transpose("reservoir", "time")  # extra dimensions left of T (CF §2.4)
        ds = ds.rio.write_crs(self.terrain.rio.crs, inplace=True).rio.write_transform(self.terrain.rio.transform(recalc=False), inplace=True)
        vt = self.valid_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        ds.attrs.update({
            "hydro_state_valid_time": vt,
            "hydro_parameter_hash": self.parameter_hash,
            "hydro_routing_hash": self.routing_hash,
            "hydro_flow_network_hash": self.network.hash,
            "hydro_grid_hash": self.grid_hash,
            "hydro_model_step_s": self.dt_seconds,
            "hydro_routing_substeps": int(self.routing.n_sub),
            "hydro_state_lineage": self.lineage,
            "hydro_state_variables": " ".join(list(self.runoff.state) + ["channel_discharge", "channel_water_volume"]
                                              + (["reservoir_storage"] if self.routing.reservoirs else [])),
            "time_coverage_start": vt,
            "time_coverage_end": vt,
            "time_coverage_duration": "PT0S",
            "time_coverage_resolution": f"PT{int(self.dt_seconds)}S",
        })
        return ds

    def save_state(self, path: str | Path) -> Path:
        """Write the warm state (CF-NetCDF, float64, atomic) valid at ``self.valid_time``.

        Contents: every runoff store (y, x) [mm], ``channel_discharge`` (y, x) — instantaneous
        end-of-step discharge [m3 s-1] —, ``channel_water_volume`` (y, x) — reach volume
        ``α L Q^β`` [m3], the prognostic routing variable — and ``reservoir_storage``
        (reservoir) [m3] with ``reservoir_level`` [m]; global
        attributes ``hydro_state_valid_time`` and the hashes of the runoff parameters, routing
        set-up, flow network and grid.
        """
        from hydro.io import write_netcdf

        return write_netcdf(self.state_dataset(), path, title=f"hydro model state valid at {self.valid_time}",
                            summary="Warm-start state of the hydro catchment model (float64).",
                            float64_state=True, complevel=1)

    def load_state(self, path: str | Path) -> None:
        """Load a state written by :meth:`save_state` (all or nothing).

        Raises
        ------
        InputMissingError
            No such file.
        StateError
            Another grid, flow network, parameter set, routing set-up or model step; a missing or
            misshaped variable; NaN on the network.
        """
        path = Path(path)
        if not path.exists():
            raise InputMissingError(f"state file not found: {path}")
        try:
            ds = open_netcdf(path, mask_and_scale=True, decode_times=True)
        except Exception as exc:  # corrupt file
            raise StateError(f"state file {path} cannot be read: {exc}") from exc
        with ds:
            checks = (
                ("hydro_grid_hash", self.grid_hash, "grid (shape, transform, CRS)"),
                ("hydro_flow_network_hash", self.network.hash, "flow network"),
                ("hydro_parameter_hash", self.parameter_hash, "runoff parameter set"),
                ("hydro_routing_hash", self.routing_hash, "routing parameters/reservoirs/step"),
            )
            for attr, expected, what in checks:
                got = ds.attrs.get(attr)
                if got is None:
                    raise StateError(f"state file {path}: attribute {attr!r} missing (not a hydro state file?)")
                if attr == "hydro_grid_hash" and str(got) == _grid_hash(self.terrain, legacy=True):
                    continue  # a state written before the grid hash took the CRS canonically
                if str(got) != expected:
                    raise StateError(f"state file {path}: {attr} differs: the state belongs to another {what}")
            # the hashes are attributes: a file whose cells were reordered (sortby("y"), a tool writing south-up)
            # keeps them, and its stores were read mirrored onto the grid
            for c in ("y", "x"):
                if c in ds.coords and c in self.terrain.coords and _coords_differ(ds[c].values, self.terrain, c):
                    raise StateError(f"state file {path}: {c} coordinates differ from the model grid's (the file was "
                                     f"reordered or regridded after it was written)")
            if float(ds.attrs.get("hydro_model_step_s", -1)) != self.dt_seconds:
                raise StateError(f"state file {path}: hydro_model_step_s {ds.attrs.get('hydro_model_step_s')} != {self.dt_seconds}")
            new_state: dict[str, np.ndarray] = {}
            names = list(self.runoff.state) + ["channel_discharge", "channel_water_volume"]
            for name in names:
                if name == "channel_water_volume" and name not in ds:
                    continue  # derived from the discharge below
                if name not in ds:
                    raise StateError(f"state file {path}: variable {name!r} missing")
                var = ds[name]
                if var.dims == ("time", "y", "x") and var.sizes["time"] == 1:
                    var = var.isel(time=0)
                if var.dims != ("y", "x") or var.shape != self.shape:
                    raise StateError(f"state file {path}: variable {name!r} has dims {var.dims} shape {var.shape}, "
                                     f"expected (time=1, y, x) with (y, x) = {self.shape}")
                if var.dtype != np.float64:
                    raise StateError(f"state file {path}: variable {name!r} is {var.dtype}, state must be float64")
                arr = np.asarray(var.values, np.float64).ravel()
                if not np.all(np.isfinite(arr[self.valid_idx])):
                    raise StateError(f"state file {path}: variable {name!r} has missing values on the model domain")
                new_state[name] = np.where(self.valid, arr, 0.0)
            res_storage = np.zeros(len(self.routing.reservoirs))
            if self.routing.reservoirs:
                if "reservoir_storage" not in ds or "reservoir_id" not in ds:
                    raise StateError(f"state file {path}: variable 'reservoir_storage' missing")
                ids = [s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(ds["reservoir_id"].values)]
                for i, r in enumerate(self.routing.reservoirs):
                    if r.name not in ids:
                        raise StateError(f"state file {path}: reservoir {r.name!r} missing from reservoir_id {ids}")
                    res_storage[i] = float(np.asarray(ds["reservoir_storage"].values).reshape(-1)[ids.index(r.name)])
                    if not (np.isfinite(res_storage[i]) and res_storage[i] >= 0.0):
                        raise StateError(f"state file {path}: reservoir {r.name!r} storage {res_storage[i]} m3 is not a "
                                         f"finite, non-negative volume")
            try:  # an unparseable value was a pandas ValueError, not the StateError of this check
                vt = pd.Timestamp(ds.attrs.get("hydro_state_valid_time", "NaT"))
            except (ValueError, TypeError):
                vt = pd.NaT
            if pd.isna(vt):
                raise StateError(f"state file {path}: attribute 'hydro_state_valid_time' missing or invalid")
            vt = naive_utc(vt)
        q = new_state.pop("channel_discharge")
        vol = new_state.pop("channel_water_volume", None)
        if np.any(q[self.valid_idx] < 0) or (vol is not None and np.any(vol[self.valid_idx] < 0)):
            raise StateError(f"state file {path}: negative channel_discharge or channel_water_volume")
        q_pos = self.routing.from_grid(q)
        # without the volume (a state from another tool) it follows from Q on the rating curve
        vol_pos = self.routing.from_grid(vol) if vol is not None else self.routing.volume_from_discharge(q_pos)
        self.runoff.set_state({k: v for k, v in new_state.items()})
        self.routing.q = q_pos
        self.routing.volume_m3 = vol_pos
        self.routing.reservoir_storage_m3 = res_storage
        self.valid_time = vt
        self.lineage = "warm"


def _iso_td(td: pd.Timedelta) -> str:
    s = int(round(td.total_seconds()))
    if s % 3600 == 0:
        return f"{s // 3600} hours" if s != 3600 else "1 hour"
    if s % 60 == 0:
        return f"{s // 60} minutes"
    return f"{s} seconds"


def _dsg(variables, *, ids, names, time, lat, lon, attrs, bnds, instance_dim, instance_variables=None) -> xr.Dataset:
    from hydro.io import timeseries_dataset

    return timeseries_dataset(variables, ids=ids, names=names, time=time, lat=lat, lon=lon, attrs=attrs,
                              instance_dim=instance_dim, instance_variables=instance_variables,
                              time_bounds=[(a, b) for a, b in bnds])
