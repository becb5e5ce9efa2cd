"""The hydrological stage of `hydro run` and `hydro forecast`: forcing → runoff → routing.

Builds the :class:`hydro.model.CatchmentModel` a model configuration describes, opens its forcing
(design storm or a gridded NetCDF, one ensemble member at a time), and runs it while keeping the
peak discharge of every cell (the "discharge at every cell" map the flood engines use) without
holding a gridded time series in memory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hydro.config import ModelConfig
from hydro.errors import ConfigError, InputDataError, InputMissingError, InputNotReadyError
from hydro.times import iso_utc, naive_utc

__all__ = [
    "HydrologyRun",
    "peak_dataset",
    "build_model",
    "cold_start",
    "forcing_path",
    "open_rain",
    "pet_per_step",
    "run_hydrology",
    "resolve_path",
]

logger = logging.getLogger(__name__)


def resolve_path(cfg: ModelConfig, path: str | Path, reference_time: Any = None, key: str | None = None) -> Path:
    """A config path: ``{reference_time:...}`` formatted, relative paths against the config file's folder.

    ``key`` (e.g. ``"forcing.path"``) names the setting in error messages.
    """
    from hydro.config import check_path_template, config_source, resolve_input

    text = str(path)
    key = key or "path"
    if "{" in text or "}" in text:
        try:
            check_path_template(text)
        except ValueError as exc:  # a config built without validation
            raise ConfigError(f"{config_source(cfg)}: {key}: {exc}") from None
        if "{reference_time" in text and reference_time is None:
            raise ConfigError(f"{config_source(cfg)}: {key} = {text!r} holds {{reference_time}} but no reference time "
                              "is given (use hydro forecast)")
        t = pd.Timestamp(reference_time if reference_time is not None else "2000-01-01")
        text = text.format(reference_time=t.to_pydatetime())
    return resolve_input(cfg, text, key)


def build_model(cfg: ModelConfig, terrain: xr.Dataset, *, reference_time: Any = None,
                extra_gauges: Sequence[tuple[str, float, float]] = ()) -> Any:
    """The coupled runoff-routing model of ``cfg`` on ``terrain`` (cold: stores at the configured fills).

    Gauges come from ``[[gauges]]`` (plus ``extra_gauges`` as ``(id, x, y)``: the hydrograph of the cell containing
    the point, not snapped to a channel — e.g. the cells whose outflow crosses into a 2-D flood domain); neighbours' exchange files named in ``[exchange] inflows`` become upstream inflow
    boundaries (read as untrusted input, see :mod:`hydro.exchange`).
    """
    from hydro.model import CatchmentModel
    from hydro.routing import Gauge, RoutingParameters
    from hydro.runoff import GRParameters

    r = cfg.routing
    rp = RoutingParameters(
        manning_n_overland=r.manning_n_overland,
        manning_n_channel=r.manning_n_channel,
        channel_threshold_m2=r.channel_threshold_km2 * 1e6,
        channel_substep_s=r.channel_substep_s,
    )
    ro = cfg.runoff
    params = GRParameters(
        interception_capacity_mm=ro.interception_capacity_mm,
        production_capacity_mm=ro.production_capacity_mm,
        routing_capacity_mm=ro.routing_capacity_mm,
        exchange_mm=ro.exchange_mm,
        impervious_fraction=ro.impervious_fraction,
        parameter_step_s=pd.Timedelta(ro.parameter_step).total_seconds(),
    )
    gauges = [Gauge(g.id, g.x, g.y, name=g.name, max_snap_distance_m=g.max_snap_distance_m,
                    upstream_area_km2=g.upstream_area_km2) for g in cfg.gauges]
    # extra gauges are exact cells (no snapping to the channel network): e.g. the cells whose outflow crosses into
    # the 2-D flood domain, overland cells among them
    gauges += [Gauge(gid, x, y, name=gid, snap_to_stream=False) for gid, x, y in extra_gauges]
    inflows = []
    for i, spec in enumerate(cfg.exchange.inflows):
        inflows.append(_exchange_inflow(resolve_path(cfg, spec.file, reference_time, f"exchange.inflows[{i}].file"), spec,
                                        reference_time=reference_time,
                                        model_crs=terrain.rio.crs))
    model = CatchmentModel(terrain, params, rp, gauges=gauges, inflows=inflows, dt=r.model_step)
    cold_start(model, cfg)
    return model


def _exchange_inflow(path: Path, spec: Any, model_crs: Any = None, reference_time: Any = None) -> Any:
    """A neighbour's exchange file (untrusted: size limit, profile and CF checks) as an upstream inflow.

    The ensemble mean is used when the file has realizations. The entry point defaults to the file's
    border-point position, transformed from the file's CRS (its ``crs`` variable) to ``model_crs``
    when they differ; ``spec.x``/``spec.y`` are taken as given, in the model CRS. A file whose own
    ``forecast_reference_time`` is more than a day from the run's ``reference_time`` (a stale forecast
    copied under tonight's name) is used with a warning naming both times.
    """
    from hydro.exchange import read_exchange, validate_exchange
    from hydro.routing import Inflow

    if not path.exists():
        raise InputNotReadyError(f"{path}: neighbour's exchange file not (yet) there")
    if path.stat().st_size == 0:
        raise InputNotReadyError(f"{path}: neighbour's exchange file is empty (0 bytes): still being published? retry later")
    max_bytes = int(spec.max_mb * 2**20)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputDataError(f"{path}: {size / 2**20:.2f} MB exceeds the {spec.max_mb} MB limit for exchange files")
    errors = [p for p in validate_exchange(path, expected_ids=[spec.point], max_bytes=max_bytes) if p.severity == "error"]
    if errors:
        more = f" (+{len(errors) - 1} more; run `hydro validate {path}`)" if len(errors) > 1 else ""
        raise InputDataError(f"{path}: not a valid exchange file: {errors[0].message}{more}")
    q = read_exchange(path, spec.point, max_bytes=max_bytes)
    frt = q.attrs.get("forecast_reference_time")
    if reference_time is not None and frt:
        try:
            lag = naive_utc(reference_time) - naive_utc(frt)
        except (ValueError, TypeError):
            lag = None
        if lag is not None and abs(lag) > pd.Timedelta(days=1):
            logger.warning("%s: the neighbour's forecast was issued at %s, %s from this run's reference time %s: a "
                           "stale (or future) forecast under this night's name?", path, iso_utc(frt), lag,
                           iso_utc(reference_time))
    if "realization" in q.dims:
        q = q.mean("realization", keep_attrs=True)
    x = spec.x if spec.x is not None else float(q.attrs["x"])
    y = spec.y if spec.y is not None else float(q.attrs["y"])
    if spec.x is None and spec.y is None and model_crs is not None:
        from pyproj import CRS, Transformer

        file_crs, dst = CRS.from_wkt(str(q.attrs["crs_wkt"])), CRS.from_user_input(model_crs)
        if not file_crs.equals(dst, ignore_axis_order=True):
            # the neighbour's projected x/y (e.g. another UTM zone) to the model grid's CRS
            x, y = Transformer.from_crs(file_crs, dst, always_xy=True).transform(x, y)
            if not (np.isfinite(x) and np.isfinite(y)):
                raise InputDataError(f"{path}: border point {spec.point!r} cannot be transformed from "
                                     f"{file_crs.name!r} to the model CRS {dst.name!r}")
            x, y = float(x), float(y)
    series = q.to_series()
    # period means over their bounds (exchange convention): keep the markers series_step_values reads
    series.attrs.update({k: q.attrs[k] for k in ("cell_methods", "period_s") if k in q.attrs})
    return Inflow(spec.point, x, y, series, source=str(q.attrs.get("source", path)))


def cold_start(model: Any, cfg: ModelConfig) -> None:
    """Reset ``model`` to the fresh state a first-ever run builds: runoff stores at the configured fills
    (every other runoff buffer empty), reaches empty, reservoirs at their initial level, valid time unset.

    Nothing of a previously loaded (or rejected) state survives.
    """
    st = model.runoff.state
    st = {k: np.zeros_like(np.asarray(v, np.float64)) for k, v in st.items()}
    x1 = np.broadcast_to(np.asarray(model.params.production_capacity_mm, float).ravel(), st["production_store"].shape)
    x3 = np.broadcast_to(np.asarray(model.params.routing_capacity_mm, float).ravel(), st["routing_store"].shape)
    st["production_store"] = cfg.runoff.initial_production_fill * x1
    st["routing_store"] = cfg.runoff.initial_routing_fill * x3
    model.runoff.set_state(st)
    model.routing.cold_start()  # empty reaches (discharge and volume), reservoirs at their initial level
    model.valid_time = None
    model.lineage = "cold"


def forcing_path(cfg: ModelConfig, reference_time: Any = None) -> Path | None:
    """The NetCDF forcing file for ``reference_time`` (None for a design storm)."""
    if cfg.forcing.source != "netcdf":
        return None
    return resolve_path(cfg, cfg.forcing.path or "", reference_time, "forcing.path")


def members_of(cfg: ModelConfig, reference_time: Any = None) -> list[int | None]:
    """Ensemble members to run: ``[None]`` (deterministic) or ``0 … N-1``.

    With NetCDF forcing, the file's realization dimension must hold at least ``ensemble.members``.
    """
    n = cfg.ensemble.members
    if n == 0:
        return [None]
    path = forcing_path(cfg, reference_time)
    if path is not None:
        from hydro.io import netcdf4_dataset

        with netcdf4_dataset(path) as nc:
            dims = nc.variables[cfg.forcing.variable].dimensions if cfg.forcing.variable in nc.variables else ()
            if cfg.forcing.realization_dim not in dims:
                raise InputDataError(f"{path}: ensemble.members = {n} but {cfg.forcing.variable!r} has no "
                                     f"{cfg.forcing.realization_dim!r} dimension (dims {dims})")
            have = len(nc.dimensions[cfg.forcing.realization_dim])
        if have < n:
            raise InputDataError(f"{path}: {have} realizations, ensemble.members = {n}")
    return list(range(n))


def member_ids(cfg: ModelConfig, members: list[int | None], reference_time: Any = None) -> list[int]:
    """The member number of each of ``members`` (positions, from :func:`members_of`) in the outputs.

    The forcing file's ``realization`` coordinate values when they are distinct integers >= 0 (a file numbering
    its members 1 … N keeps those numbers in ``member_###_gauges.nc``, their ``realization`` attribute and the
    exchange file), else the positions (design-storm members, a file without such a coordinate).
    """
    members = [m for m in members if m is not None]
    path = forcing_path(cfg, reference_time)
    if path is None or not members:
        return list(members)
    from hydro.io import netcdf4_dataset

    with netcdf4_dataset(path) as nc:
        dim = cfg.forcing.realization_dim
        if dim not in nc.variables or nc.variables[dim].dimensions != (dim,):
            return list(members)
        values = np.ma.filled(np.ma.asarray(nc.variables[dim][:]).astype(np.float64), np.nan)
    if (not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values))
            or len(set(values.tolist())) != values.size):
        return list(members)
    return [int(values[m]) for m in members]


def open_rain(cfg: ModelConfig, terrain: xr.Dataset, start: Any, end: Any, *, reference_time: Any = None,
              member: int | None = None) -> xr.DataArray:
    """Rainfall [mm per model step] covering ``start`` … ``end`` (period-end labels).

    Design storm: a (time,) series, uniform over the catchment, zero outside the storm (resampled
    conservatively onto the model steps when its start is off their grid); an ensemble member scales
    it by a seeded lognormal factor. NetCDF: the (time, y, x) field regridded lazily
    (dask, one block of steps at a time) to the terrain grid.

    Raises
    ------
    InputNotReadyError
        The forcing file for ``reference_time`` is not there yet, or does not reach ``end`` yet.
    InputMissingError, InputDataError
        Missing fixed file / variable, wrong units, NaN or negative rain, time gaps or duplicates.
    """
    from hydro.forcing import design_storm, open_forcing, prepare

    step = pd.Timedelta(cfg.routing.model_step)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    labels = pd.date_range(start + step, end, freq=step)
    f = cfg.forcing
    if f.source == "design_storm":
        storm = design_storm(f.storm_total_mm, pd.Timedelta(hours=f.storm_duration_h), step,
                             peak_position=f.storm_peak_position, start=pd.Timestamp(f.start))
        series = _storm_on_steps(storm.to_series(), labels, step)
        if member is not None:
            rng = np.random.default_rng([cfg.ensemble.seed, member])
            sigma = cfg.ensemble.rain_spread  # lognormal factor with mean 1
            series = series * float(np.exp(rng.normal(-0.5 * sigma ** 2, sigma)))
        out = xr.DataArray(series.values.astype(np.float64), dims="time", coords={"time": labels},
                           name="precipitation", attrs=dict(storm.attrs))
        return out
    path = forcing_path(cfg, reference_time)
    assert path is not None
    if not path.exists():
        if reference_time is not None:
            raise InputNotReadyError(f"{path}: forcing for reference time {pd.Timestamp(reference_time)} not published yet")
        raise InputMissingError(f"{path}: forcing file not found")
    if reference_time is not None and path.stat().st_size == 0:
        raise InputNotReadyError(f"{path}: forcing for reference time {pd.Timestamp(reference_time)} is an empty file "
                                 "(0 bytes): still being published? retry later")
    da = open_forcing(path, f.variable)
    crs = da.rio.crs  # reductions below drop the grid mapping
    if member is not None:
        if f.realization_dim not in da.dims:
            raise InputDataError(f"{path}: no {f.realization_dim!r} dimension for ensemble member {member}")
        da = da.isel({f.realization_dim: member})
    elif f.realization_dim in da.dims:
        da = da.mean(f.realization_dim, keep_attrs=True)
    t = pd.DatetimeIndex(da["time"].values)
    if reference_time is not None and end > t[-1]:
        raise InputNotReadyError(f"{path}: forcing ends {t[-1]}, the forecast needs it to {end}: not complete yet")
    dem = terrain["elevation"] if "elevation" in terrain else terrain["filled_elevation"]
    return prepare(da, dem, step, start=labels[0], end=labels[-1], crs=crs)


def _storm_on_steps(storm: pd.Series, labels: pd.DatetimeIndex, step: pd.Timedelta) -> pd.Series:
    """A design-storm hyetograph (period-end labels, ``step`` apart) on the model steps ``labels``.

    On the step grid the blocks are taken as they are (zero outside the storm). Off the grid (a storm
    start that is not a whole number of steps from the run start), each block's depth is taken as
    uniform within its period and spread over the model steps it overlaps (piecewise-linear
    cumulative depth): every millimetre that falls within the run window is kept, none is dropped.
    """
    if storm.empty or len(labels) == 0:
        return pd.Series(np.zeros(len(labels)), index=labels)
    storm_start = storm.index[0] - step
    if (storm_start - (labels[0] - step)) % step == pd.Timedelta(0):
        return storm.reindex(labels, fill_value=0.0)
    # seconds from the storm start (exact in float64, unlike epoch nanoseconds)
    s_edges = np.concatenate([[0.0], (storm.index - storm_start).total_seconds().to_numpy(float)])
    cum = np.concatenate([[0.0], np.cumsum(storm.to_numpy(np.float64))])
    m_edges = np.concatenate([[(labels[0] - step - storm_start).total_seconds()],
                              (labels - storm_start).total_seconds().to_numpy(float)])
    depth = np.diff(np.interp(m_edges, s_edges, cum))
    depth = np.clip(depth, 0.0, None)
    logger.info("design storm starts %s, off the model step grid: resampled conservatively onto the %s steps",
                storm_start, step)
    return pd.Series(depth, index=labels)


def pet_per_step(cfg: ModelConfig) -> float:
    """Uniform potential evaporation [mm per model step]."""
    step = pd.Timedelta(cfg.routing.model_step)
    return cfg.forcing.pet_mm_day * step.total_seconds() / 86400.0


@dataclass
class HydrologyRun:
    """What :func:`run_hydrology` returns: the model's products and the peak discharge of every cell."""

    result: Any  # hydro.model.catchment.RunResult
    peak_discharge: xr.DataArray  # (y, x) m3 s-1


def run_hydrology(model: Any, cfg: ModelConfig, rain: xr.DataArray, start: Any, steps: int,
                  *, progress: Any = None) -> HydrologyRun:
    """Run ``steps`` model steps from ``start`` and keep the per-cell peak discharge.

    Gauge hydrographs are written at ``routing.output_step`` (mean and sub-step maximum); no gridded
    time series is kept (memory does not grow with the run length).
    """
    # the peak of every cell over the routing sub-steps (the gauges' max_discharge): sampling the discharge at the
    # step ends missed peaks between them (wain_lower 138.042 instead of 138.098 m3 s-1)
    qmax = np.zeros_like(np.asarray(model.routing.q, np.float64))
    np.maximum(qmax, model.routing.q, out=qmax)

    step = pd.Timedelta(cfg.routing.model_step)
    out_step = pd.Timedelta(cfg.routing.output_step)
    if out_step % step or (steps * step) % out_step:
        from hydro.config import config_source

        if out_step % step:
            raise ConfigError(f"{config_source(cfg)}: routing.output_step {out_step} must be a multiple of "
                              f"routing.model_step {step}")
        raise ConfigError(f"{config_source(cfg)}: the run length {steps * step} (forcing.duration_h or "
                          f"forecast.lead_time_h) is not a multiple of routing.output_step {out_step}")
    result = model.run(rain, pet_per_step(cfg), start=start, steps=steps, output_step=out_step, keep_peak=True,
                       gridded=(), progress=progress, peak_discharge=qmax)
    grid = model.routing.to_grid(qmax, fill=np.nan).reshape(model.shape)
    terr = model.terrain
    peak = xr.DataArray(grid.astype(np.float32), dims=("y", "x"), coords={"y": terr["y"], "x": terr["x"]},
                        name="max_discharge")
    from hydro.vocabulary import cf_attrs

    peak.attrs.update(cf_attrs("max_discharge"))
    peak.attrs["cell_methods"] = "time: maximum"
    peak.attrs["long_name"] = "peak discharge of the run (instantaneous, routing sub-steps)"
    return HydrologyRun(result=result, peak_discharge=peak)


def peak_dataset(peak: xr.DataArray, start: Any, end: Any) -> xr.Dataset:
    """The peak-discharge map on a length-1 ``time`` (the run end) with ``time_bnds`` = run start and end,
    so that its ``cell_methods = "time: maximum"`` refers to a real time coordinate (CF §7.3)."""
    start64 = np.datetime64(pd.Timestamp(start).to_datetime64(), "ns")
    end64 = np.datetime64(pd.Timestamp(end).to_datetime64(), "ns")
    ds = peak.expand_dims(time=[end64]).to_dataset()
    ds["time_bnds"] = xr.DataArray(np.array([[start64, end64]], dtype="datetime64[ns]"), dims=("time", "nv"))
    ds["time_bnds"].encoding["coordinates"] = None
    ds.attrs["time_coverage_resolution"] = f"PT{int((end64 - start64) / np.timedelta64(1, 's'))}S"
    return ds
