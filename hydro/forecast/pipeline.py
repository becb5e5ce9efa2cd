"""`hydro run`: the main job on a model configuration, written atomically to ``outputs/<run-id>/``."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import xarray as xr

from hydro import __version__
from hydro.config import ModelConfig, config_hash
from hydro.errors import ConfigError

__all__ = ["run_model", "RunResult", "load_dem", "run_id_for"]

from hydro.forecast.stages import load_dem  # noqa: E402  (re-exported)

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class RunResult:
    """What a run produced."""

    run_id: str
    run_dir: Path
    manifest: dict[str, Any]
    outputs: dict[str, Path] = field(default_factory=dict)


def run_id_for(cfg: ModelConfig, extra: dict[str, Any] | None = None) -> str:
    """``<region>_<config hash[:8]>`` (same config and package version → same id)."""
    return f"{cfg.region}_{config_hash(cfg, extra)[:8]}"


def _exposure(cfg: ModelConfig, hand: xr.Dataset | None, plain: xr.Dataset | None) -> dict[str, Any]:
    """People and road km in flooded cells of each flood map, when ``[flood] population/roads`` are given."""
    from hydro.flood import exposure as ex

    fc = cfg.flood
    if fc.population is None and fc.roads is None:
        return {}
    maps = {}
    if plain is not None:
        maps["coastal plain (2-D)"] = plain["max_flood_depth"]
    if hand is not None:
        maps["whole catchment (HAND)"] = hand["flood_depth"].rio.write_crs(hand.rio.crs)
    out: dict[str, Any] = {}
    crs = next(iter(maps.values())).rio.crs if maps else None
    pop = roads = None
    if fc.population == "embedded":
        from hydro.datasets import balikpapan_population

        pop = balikpapan_population()
    elif fc.population is not None:
        from hydro.config import resolve_input

        pop = ex.read_population(resolve_input(cfg, fc.population, "flood.population"))
    if fc.roads == "embedded":
        from hydro.datasets import balikpapan_roads

        roads = balikpapan_roads(cfg.dem.resolution_m)
    elif fc.roads is not None:
        from hydro.config import resolve_input

        roads = ex.read_roads(resolve_input(cfg, fc.roads, "flood.roads"), crs)
    thr = cfg.forecast.hand_threshold_m
    for name, depth in maps.items():
        rec: dict[str, Any] = {}
        if pop is not None:
            rec["people_affected"] = round(ex.people_affected(depth, pop, thr))
        if roads is not None:
            rec["roads_affected_km"] = round(ex.roads_affected_km(depth, roads, thr), 2)
        out[name] = rec
    return out


def _flood_domain(cfg: ModelConfig, terrain: xr.Dataset) -> tuple[Any, list[tuple[float, float, float]]]:
    """The 2-D domain of ``cfg`` and the rivers entering it ``[(x, y, upstream area m2)]``."""
    from hydro.flood.example import domain_inflow_points, plain_inflow_point

    fc = cfg.flood
    if fc.domain is not None:
        domain = tuple(fc.domain)
    elif cfg.dem.source == "embedded":
        from hydro.datasets import balikpapan_features

        domain = balikpapan_features(cfg.dem.resolution_m).urban_plain_bounds
    elif fc.two_d:
        from hydro.config import config_source

        raise ConfigError(f"{config_source(cfg)}: flood.domain = [x_min, y_min, x_max, y_max] is needed for the 2-D "
                          "run of a DEM file "
                          "(or set flood.two_d = false for the HAND map only)")
    else:
        return None, []
    if not fc.two_d:
        return domain, []
    if fc.domain is None and cfg.dem.source == "embedded":
        return domain, [plain_inflow_point(terrain, cfg.dem.resolution_m)]
    edges = [e for e in ("north", "south", "east", "west") if e != fc.tide_edge]
    return domain, domain_inflow_points(terrain, domain, edges=edges, min_area_m2=fc.inflow_min_area_km2 * 1e6)


def run_model(
    cfg: ModelConfig,
    *,
    output_root: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run the model of ``cfg`` (an event simulation) and write its outputs to ``<output_root>/<run-id>/``.

    Stages: DEM → terrain → (runoff + routing of the configured forcing: hydrographs at the gauges, the
    peak discharge of every cell, mass balance) → flood (HAND map of the whole catchment from the routed
    peaks + 2-D run of the coastal plain fed by the routed river and the spring tide) → allocation of the
    simulated inflows → alerts, figures and an HTML report.

    The work happens in ``<run-id>.partial/``, which is renamed only when every file and the manifest
    (written last, ``status = "complete"``) are in place. A completed run is not redone unless ``force``.

    Returns
    -------
    RunResult
    """
    from hydro.config import check_config
    from hydro.config import output_root as _output_root
    from hydro.forecast.nightly import _lock
    from hydro.forecast.stages import RunFolder, completed_manifest, sha256

    step = progress or (lambda stage: None)
    check_config(cfg)  # the same checks as `hydro validate-config`, before any data is read
    inputs = _run_input_files(cfg)
    input_hashes = {k: sha256(p) for k, p in inputs.items()}
    root = _output_root(cfg, output_root)
    run_id = run_id_for(cfg, {"inputs": dict(sorted(input_hashes.items()))} if input_hashes else None)
    folder = RunFolder(root, run_id)
    # two runs of the same id would delete each other's .partial folder: serialise them as the forecast does.
    # The lock is the output root itself (flock on the directory): nothing but run folders appears in it.
    try:
        folder.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from hydro.errors import OutputError

        raise OutputError(f"cannot create the output folder {folder.root}: {exc}") from exc
    with _lock(folder.root, cfg.forecast.lock_timeout_s):
        if not force:
            manifest = completed_manifest(folder.final)
            if manifest is not None:
                logger.info("run %s already done", run_id)
                manifest["already_done"] = True
                return RunResult(run_id, folder.final, manifest,
                                 {k: folder.final / v["path"] for k, v in manifest.get("outputs", {}).items()})
        return _run_locked(cfg, folder, run_id, step, inputs, input_hashes)


def _run_input_files(cfg: ModelConfig) -> dict[str, Path]:
    """Every file `hydro run` of ``cfg`` reads (DEM, forcing, neighbours' files, allocation network and series,
    population/roads layers): their sha256 enter the run id and the manifest."""
    from hydro.forecast.hydrology import forcing_path, resolve_path
    from hydro.forecast.stages import static_input_files

    files = static_input_files(cfg, flood=True)
    if cfg.runoff.enabled:
        fp = forcing_path(cfg)
        if fp is not None and fp.is_file():  # a missing file is reported (66) where it is read
            files["forcing"] = fp
        for i, spec in enumerate(cfg.exchange.inflows):
            p = resolve_path(cfg, spec.file, None, f"exchange.inflows[{i}].file")
            if p.is_file():
                files[f"exchange_inflow_{i}_{spec.point}"] = p
    return files


def _run_locked(cfg: ModelConfig, folder: Any, run_id: str, step: Progress, inputs: dict[str, Path],
                input_hashes: dict[str, str]) -> RunResult:
    """The body of :func:`run_model`, under the run's lock."""
    from hydro.forecast.stages import load_dem
    from hydro.io import write_netcdf
    from hydro.terrain import analyse

    partial = folder.create()
    try:

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        step("dem")
        dem = load_dem(cfg)
        timings["dem_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        terrain = analyse(dem, cfg.terrain.stream_threshold_km2 * 1e6, epsilon=cfg.terrain.epsilon_fill, progress=step)
        timings["terrain_s"] = time.perf_counter() - t1
        step("write terrain")
        common = {"id": run_id, "hydro_config_hash": config_hash(cfg), "hydro_warm_start": "cold"}
        folder.add("terrain", write_netcdf(
            terrain,
            partial / "terrain.nc",
            title=f"{cfg.title}: terrain analysis",
            summary="Filled DEM, D8 flow directions, accumulation, upstream area, streams, Strahler order and HAND.",
            attrs=common,
            parameters=cfg.model_dump(mode="json"),
            complevel=cfg.outputs.compression_level,
        ))
        facts: dict[str, Any] = {}
        hyd = None
        gauges = None
        rain = None
        domain, inflow_points = _flood_domain(cfg, terrain) if cfg.flood.enabled else (None, [])
        start = pd.Timestamp(cfg.forcing.start)
        mstep = pd.Timedelta(cfg.routing.model_step)
        nsteps = int(round(pd.Timedelta(hours=cfg.forcing.duration_h) / mstep))
        if cfg.runoff.enabled:
            from hydro.forecast.hydrology import build_model, open_rain, run_hydrology

            step("runoff and routing")
            t1 = time.perf_counter()
            extra_gauges = [(f"flood_inflow_{k}", x, y) for k, (x, y, _) in enumerate(inflow_points)]
            model = build_model(cfg, terrain, extra_gauges=extra_gauges)
            rain = open_rain(cfg, terrain, start, start + nsteps * mstep)
            hyd = run_hydrology(model, cfg, rain, start, nsteps)
            gauges = hyd.result.gauges
            paths = hyd.result.write(partial / "runoff", prefix="run", **common)
            for k, p in paths.items():
                folder.add(f"runoff/{k}", p)
            peak = hyd.peak_discharge.rio.write_crs(dem.rio.crs).rio.write_transform(dem.rio.transform())
            from hydro.forecast.hydrology import peak_dataset

            folder.add("runoff/peak_discharge", write_netcdf(
                peak_dataset(peak, start, start + nsteps * mstep), partial / "runoff" / "peak_discharge.nc",
                title=f"{cfg.title}: peak discharge of every cell",
                summary="Largest instantaneous routed discharge of each grid cell over the run (kinematic wave).",
                attrs=common, complevel=cfg.outputs.compression_level))
            folder.add("state/end", model.save_state(partial / "state" / f"state_{model.valid_time:%Y%m%dT%H%MZ}.nc"))
            facts["water_balance"] = {k: v for k, v in hyd.result.summary.items() if isinstance(v, (int, float))}
            timings["hydrology_s"] = time.perf_counter() - t1
        flood_ds = None
        hand_ds = None
        flooded_km2 = None
        if cfg.flood.enabled:
            from hydro.flood.example import design_storm, flood_event

            step("flood: HAND map + 2-D domain")
            t1 = time.perf_counter()
            fc = cfg.flood
            f_start = start if cfg.runoff.enabled else pd.Timestamp(fc.start)
            rivers: dict[str, Any] = {}
            if gauges is not None:
                ids = [str(s) for s in np.asarray(gauges["station_id"].values)]
                for k, (x, y, _) in enumerate(inflow_points):
                    q = gauges["discharge"].isel(station=ids.index(f"flood_inflow_{k}"))
                    # step means labelled at period end -> values at the period midpoints, plus the start value
                    times = pd.DatetimeIndex(q["time"].values) - pd.Timedelta(cfg.routing.output_step) / 2
                    vals = np.asarray(q.values, np.float64)
                    t_all = pd.DatetimeIndex([f_start]).append(times).append(pd.DatetimeIndex(q["time"].values[-1:]))
                    rivers[f"river_{k}"] = (x, y, xr.DataArray(np.concatenate([[vals[0]], vals, [vals[-1]]]), dims="time",
                                                              coords={"time": t_all.values}))
                peak_q = hyd.peak_discharge
            else:  # no routing: screening discharge by the rational method (C = 0.5) with the storm's peak intensity
                peak_i = 2.0 * fc.storm_total_mm / 1000.0 / (fc.storm_duration_h * 3600.0)
                peak_q = 0.5 * peak_i * terrain["upstream_area"]
                if cfg.dem.source == "embedded" and fc.domain is None:
                    from hydro.flood.example import balikpapan_flood

                    peak_q = None  # the embedded example's own river hydrograph
            if rain is not None and rain.ndim == 1:
                f_rain = rain
            elif rain is not None:  # gridded forcing: the domain's mean rain
                x0, y0, x1, y1 = domain
                f_rain = rain.sel(x=slice(x0, x1), y=slice(y1, y0)).mean(("y", "x")).compute()
                f_rain.attrs = dict(rain.attrs)
            else:
                f_rain = design_storm(f_start, total_mm=fc.storm_total_mm, duration_h=fc.storm_duration_h,
                                      tail_h=max(fc.duration_h - fc.storm_duration_h, 0.0))
            if peak_q is None:
                fl = balikpapan_flood(cfg.dem.resolution_m, start=f_start, duration_h=fc.duration_h,
                                      storm_total_mm=fc.storm_total_mm, storm_duration_h=fc.storm_duration_h,
                                      plain_resolution_m=fc.resolution_m, output_dir=partial / "flood",
                                      output_interval_min=fc.output_interval_min, terrain=terrain)
            else:
                peak_at = f_start + pd.Timedelta(hours=cfg.forcing.storm_peak_position * cfg.forcing.storm_duration_h) \
                    if cfg.forcing.source == "design_storm" else None
                fl = flood_event(
                    terrain, domain if fc.two_d else None, start=f_start, duration_h=fc.duration_h, rainfall=f_rain,
                    river_inflows=rivers, peak_discharge=peak_q, hand_map=fc.hand, tide_edge=fc.tide_edge,
                    tide_high_water=fc.tide_high_water or peak_at, m2_amplitude_m=fc.tide_m2_amplitude_m,
                    s2_amplitude_m=fc.tide_s2_amplitude_m, msl_m=fc.msl_m, surge_m=fc.surge_m,
                    manning_n_sea=fc.manning_n_sea, manning_n_urban=fc.manning_n_urban,
                    manning_n_vegetated=fc.manning_n_vegetated, urban_below_m=fc.urban_below_m,
                    hand_threshold_m=cfg.forecast.hand_threshold_m, plain_resolution_m=fc.resolution_m,
                    output_dir=partial / "flood", output_interval_min=fc.output_interval_min, title=cfg.title)
            for f in fl["files"]:
                folder.add(f"flood/{Path(f).name}", f)
            flood_ds = fl["plain"].dataset if fl["plain"] is not None else None
            hand_ds = fl["hand"]
            if hand_ds is not None:
                from hydro.flood.products import flooded_area_km2

                ext = np.asarray(hand_ds["flood_extent"].values) == 1
                flooded_km2 = flooded_area_km2(ext, hand_ds["flood_depth"])  # true cell areas
                facts["hand_flooded_km2"] = flooded_km2
            exposure = _exposure(cfg, hand_ds, flood_ds)
            if exposure:
                facts["exposure"] = exposure
            if flood_ds is not None:
                facts["plain_volume_balance"] = flood_ds.attrs.get("hydro_volume_balance_max_relative_error")
                facts["plain_river_inflows"] = {k: [v[0], v[1]] for k, v in rivers.items()}
            timings["flood_s"] = time.perf_counter() - t1
        alloc = None
        if cfg.allocation.enabled:
            from hydro.allocation import allocate, load_network

            step("allocation")
            t1 = time.perf_counter()
            if cfg.runoff.enabled:
                from hydro.forecast.stages import allocation_inputs

                net, external, notes = allocation_inputs(cfg, gauges, start, start + nsteps * mstep)
                alloc = allocate(net, inflows=external)
                facts["allocation_inflows"] = notes
            else:
                from hydro.config import resolve_input

                net_path = resolve_input(cfg, cfg.allocation.network, "allocation.network")
                alloc = allocate(load_network(net_path))
            for f in alloc.write(partial / "allocation" / "water", id=run_id):
                folder.add(f"allocation/{Path(f).name}", f)
            timings["allocation_s"] = time.perf_counter() - t1
        step("alerts and report")
        t1 = time.perf_counter()
        from hydro.forecast.stages import flood_area_alert, gauge_alerts, write_alerts

        alerts = (gauge_alerts(cfg, gauges) if gauges is not None else [])
        if flooded_km2 is not None:
            alerts += flood_area_alert(cfg, flooded_km2, source="hand")
        folder.add("alerts", write_alerts(partial / "alerts.json", alerts, run_id=run_id))
        if cfg.outputs.report:
            from hydro.forecast.report import make_report

            for k, p in make_report(cfg, partial, run_id=run_id, gauges=gauges, flood=flood_ds, dem=dem,
                                    allocation=alloc, alerts=alerts, files=list(folder.outputs.values()),
                                    warm_start="cold", reference_time=None, hand=hand_ds,
                                    exposure=facts.get("exposure")).items():
                folder.add(k, p)
        timings["report_s"] = time.perf_counter() - t1
        timings["total_s"] = time.perf_counter() - t0
        manifest = folder.publish({
            "kind": "run",
            "region": cfg.region,
            "config_hash": config_hash(cfg),
            "hydro_version": __version__,
            "config": cfg.model_dump(mode="json"),
            "inputs": {k: {"path": str(p), "sha256": input_hashes[k]} for k, p in inputs.items()},
            "warm_start": {"level": 3, "source": "cold", "detail": "event run from the configured initial stores"},
            "alert": bool(alerts),
            "alert_level": max((int(a.get("level", 1)) for a in alerts), default=0),
            "facts": facts,
            "timings": timings,
            "exit_code": 0,
        })
    except BaseException:
        folder.discard()  # a failed run leaves nothing behind
        raise
    return RunResult(run_id, folder.final, manifest, folder.final_outputs())
