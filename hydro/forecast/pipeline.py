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
from hydro.errors import EXIT_BALANCE_NOT_CLOSED, ConfigError

__all__ = ["run_model", "RunResult", "load_dem", "run_id_for"]

from hydro.forecast.stages import load_dem, with_output_compression  # noqa: E402  (load_dem re-exported)

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
    """``<region>_<config hash[:8]>`` (same config and package version → same id; the lock timeout and
    ``[compute]`` are left out, see :func:`hydro.forecast.nightly.run_identity`, and so are the settings only
    `hydro forecast` reads: ``[ensemble]`` and ``[forecast]`` but for ``hand_threshold_m`` and
    ``flooded_area_alert_km2``)."""
    from hydro.config import EnsembleConfig, ForecastConfig
    from hydro.forecast.nightly import run_identity

    ident = run_identity(cfg)
    used = {k: getattr(cfg.forecast, k) for k in ("hand_threshold_m", "flooded_area_alert_km2")}
    ident = ident.model_copy(update={"ensemble": EnsembleConfig(), "forecast": ForecastConfig(**used)})
    return f"{cfg.region}_{config_hash(ident, extra)[:8]}"


def _exposure(cfg: ModelConfig, hand: xr.Dataset | None, plain: xr.Dataset | None) -> dict[str, Any]:
    """People and road km in flooded cells of each flood map, when ``[flood] population/roads`` are given."""
    from hydro.flood import exposure as ex

    fc = cfg.flood
    if fc.population is None and fc.roads is None:
        return {}
    maps, thresholds = {}, {}
    # each map counted at its own flood threshold (the one its extent and the report's flooded area use)
    if plain is not None:
        maps["coastal plain (2-D)"] = plain["max_flood_depth"]
        thresholds["coastal plain (2-D)"] = plain.attrs.get("hydro_flood_threshold_m")
    if hand is not None:
        maps["whole catchment (HAND)"] = hand["flood_depth"].rio.write_crs(hand.rio.crs)
        thresholds["whole catchment (HAND)"] = hand.attrs.get("hydro_flood_threshold_m")
    out: dict[str, Any] = {}
    crs = next(iter(maps.values())).rio.crs if maps else None
    pop = roads = None
    if fc.population == "embedded":
        from hydro.datasets import balikpapan_population

        # on the run's own embedded DEM: [dem] seed moves the coastline (seed 2 put 54,000 people on the sea)
        pop = balikpapan_population(seed=cfg.dem.seed)
    elif fc.population is not None:
        from hydro.config import resolve_input

        pop = ex.read_population(resolve_input(cfg, fc.population, "flood.population"))
    if fc.roads == "embedded":
        from hydro.datasets import balikpapan_roads

        roads = balikpapan_roads(cfg.dem.resolution_m)
    elif fc.roads is not None:
        from hydro.config import resolve_input

        roads = ex.read_roads(resolve_input(cfg, fc.roads, "flood.roads"), crs)
    for name, depth in maps.items():
        thr = float(thresholds[name]) if thresholds[name] is not None else cfg.forecast.hand_threshold_m
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
    if fc.resolution_m is not None:
        # checked before the hydrology: the 2-D run coarsens by whole DEM cells (400 m on a 150 m DEM ran at 300 m)
        from hydro.config import _whole_multiple, config_source

        cell = abs(float(terrain["filled_elevation"].rio.transform().a))
        if not _whole_multiple(fc.resolution_m, cell):
            raise ConfigError(f"{config_source(cfg)}: flood.resolution_m = {fc.resolution_m:g} m is not a whole multiple "
                              f"of the DEM cell size {cell:g} m (the 2-D domain is coarsened by whole cells)")
    if fc.domain is None and cfg.dem.source == "embedded":
        return domain, [plain_inflow_point(terrain, cfg.dem.resolution_m)]
    edges = [e for e in ("north", "south", "east", "west") if e != fc.tide_edge]
    return domain, domain_inflow_points(terrain, domain, edges=edges, min_area_m2=fc.inflow_min_area_km2 * 1e6)


@with_output_compression
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
    from hydro.forecast.stages import RunFolder, check_network, completed_manifest, sha256

    step = progress or (lambda stage: None)
    check_config(cfg)  # the same checks as `hydro validate-config`, before any data is read
    check_network(cfg)
    inputs = _run_input_files(cfg)
    input_hashes = {k: sha256(p) for k, p in inputs.items()}
    root = _output_root(cfg, output_root)
    run_id = run_id_for(cfg, {"inputs": dict(sorted(input_hashes.items()))} if input_hashes else None)
    folder = RunFolder(root, run_id)
    # two runs of the same id would delete each other's .partial folder: serialise them as the forecast does.
    # The lock is the output root itself (flock on the directory): nothing but run folders appears in it.
    created = []  # folders this call creates (innermost first): removed again if the run fails and they stay empty
    parent = folder.root
    while not parent.exists() and parent != parent.parent:
        created.append(parent)
        parent = parent.parent
    try:
        folder.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from hydro.errors import OutputError

        raise OutputError(f"cannot create the output folder {folder.root}: {exc}") from exc
    try:
        with _lock(folder.root, cfg.forecast.lock_timeout_s):
            folder.recover()
            if not force:
                manifest = completed_manifest(folder.final)
                if manifest is not None:
                    logger.info("run %s already done", run_id)
                    manifest["already_done"] = True
                    return RunResult(run_id, folder.final, manifest,
                                     {k: folder.final / v["path"] for k, v in manifest.get("outputs", {}).items()})
            return _run_locked(cfg, folder, run_id, step, inputs, input_hashes)
    except BaseException:
        for d in created:  # a failed first run leaves no empty output folder behind
            try:
                d.rmdir()
            except OSError:
                break
        raise


def unused_without_runoff(cfg: ModelConfig) -> dict[str, str]:
    """What `hydro run` of ``cfg`` does not use because ``[runoff] enabled = false`` (no runoff and routing, so no
    routed discharge anywhere): ``{config key: what happens instead}``, empty when runoff is enabled.

    The config is not refused (forecast-only configs rely on it): the run warns and states these in the manifest's
    ``facts.not_used`` and in ``water_balance.json`` (``not_used``).
    """
    if cfg.runoff.enabled:
        return {}
    out: dict[str, str] = {}
    f = cfg.forcing
    what = (f"forcing.path = {f.path!r}" if f.source == "netcdf" else
            f"the design storm of {f.storm_total_mm:g} mm in {f.storm_duration_h:g} h")
    out["forcing"] = f"{what} is not read" + (
        f"; the flood stage uses its own design storm (flood.storm_total_mm = {cfg.flood.storm_total_mm:g} mm in "
        f"{cfg.flood.storm_duration_h:g} h from flood.start)" if cfg.flood.enabled else "")
    if cfg.gauges:
        out["gauges"] = (f"no hydrographs and no warning-level alerts at the gauges {[g.id for g in cfg.gauges]} "
                         "(no routed discharge)")
    if cfg.allocation.enabled and cfg.allocation.simulated_inflows:
        nodes = ", ".join(f"{n} <- {g}" for n, g in cfg.allocation.simulated_inflows.items())
        out["allocation.simulated_inflows"] = (f"{nodes} ignored: these nodes take the network's own inflow series and "
                                               "the allocation runs over the network's own period")
    if cfg.exchange.inflows:
        out["exchange.inflows"] = (f"the neighbours' files {[i.file for i in cfg.exchange.inflows]} are not read "
                                   "(no routing to enter)")
    return out


def unused_flood_storm(cfg: ModelConfig) -> dict[str, str]:
    """``[flood]`` keys of the flood's own design storm that `hydro run` of ``cfg`` does not use because runoff is
    enabled (the 2-D run then starts at ``forcing.start`` and takes the routed run's rain and rivers): only the keys
    the config sets, ``{config key: what happens instead}``; empty when runoff is disabled or the flood stage off.

    Set with runoff on, ``flood.storm_total_mm = 300`` changed nothing, without a word (session 22)."""
    if not (cfg.runoff.enabled and cfg.flood.enabled):
        return {}
    given = cfg.flood.model_fields_set
    f = cfg.forcing
    rain = (f"the rain of forcing.path = {f.path!r}" if f.source == "netcdf" else
            f"the forcing's design storm ({f.storm_total_mm:g} mm in {f.storm_duration_h:g} h)")
    out: dict[str, str] = {}
    if "start" in given:
        out["flood.start"] = (f"{cfg.flood.start} is not used: the 2-D run starts with the routed run at "
                              f"forcing.start = {f.start} ([runoff] is enabled)")
    for key in ("storm_total_mm", "storm_duration_h"):
        if key in given:
            out[f"flood.{key}"] = (f"{getattr(cfg.flood, key):g} is not used: the 2-D run takes {rain} and the routed "
                                   "rivers ([runoff] is enabled)")
    return out


def _run_input_files(cfg: ModelConfig) -> dict[str, Path]:
    """Every file `hydro run` of ``cfg`` reads (DEM, forcing, neighbours' files, allocation network and series,
    population/roads layers): their sha256 enter the run id and the manifest."""
    from hydro.forecast.hydrology import forcing_path, resolve_path
    from hydro.forecast.stages import static_input_files

    files = static_input_files(cfg, flood=True)
    if cfg.runoff.enabled:
        fp = forcing_path(cfg)
        if fp is not None and not fp.is_file():  # before any work (66), not after the terrain analysis
            from hydro.errors import InputMissingError

            raise InputMissingError(f"{fp}: forcing file not found")
        if fp is not None:
            files["forcing"] = fp
        for i, spec in enumerate(cfg.exchange.inflows):
            p = resolve_path(cfg, spec.file, None, f"exchange.inflows[{i}].file")
            if not p.is_file():  # a fixed file of an event run (no reference time): 66 before any work, not 75
                from hydro.config import config_source
                from hydro.errors import InputMissingError

                raise InputMissingError(f"{config_source(cfg)}: exchange.inflows[{i}].file = {spec.file!r}: "
                                        f"neighbour's exchange file not found: {p}")
            files[f"exchange_inflow_{i}_{spec.point}"] = p
    return files


def _run_locked(cfg: ModelConfig, folder: Any, run_id: str, step: Progress, inputs: dict[str, Path],
                input_hashes: dict[str, str]) -> RunResult:
    """The body of :func:`run_model`, under the run's lock."""
    from hydro.forecast.stages import forcing_provenance, load_dem, stamp_run_attrs
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
        common = {"id": run_id, "hydro_run_id": run_id, "hydro_config_hash": config_hash(cfg), "hydro_warm_start": "cold",
                  "hydro_forcing": (forcing_provenance(cfg, inputs.get("forcing"), input_hashes.get("forcing"))
                                    if cfg.runoff.enabled else
                                    f"flood design storm: {cfg.flood.storm_total_mm:g} mm in {cfg.flood.storm_duration_h:g} h")}
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
        balances: dict[str, dict[str, Any]] = {}
        transfers: dict[str, dict[str, Any]] = {}
        not_applicable: dict[str, str] = {}
        hyd = None
        gauges = None
        rain = None
        domain, inflow_points = _flood_domain(cfg, terrain) if cfg.flood.enabled else (None, [])
        not_used = unused_without_runoff(cfg)  # [runoff] enabled = false: say what the run leaves out
        if not_used:
            logger.warning("run %s: [runoff] enabled = false: not used: %s", run_id,
                           "; ".join(f"{k}: {v}" for k, v in not_used.items()))
        storm_unused = unused_flood_storm(cfg)  # [runoff] enabled: the flood's own storm keys are not used
        if storm_unused:
            logger.warning("run %s: not used: %s", run_id, "; ".join(f"{k}: {v}" for k, v in storm_unused.items()))
            not_used = {**not_used, **storm_unused}
        if not_used:
            facts["not_used"] = not_used
        start = pd.Timestamp(cfg.forcing.start)
        mstep = pd.Timedelta(cfg.routing.model_step)
        nsteps = int(round(pd.Timedelta(hours=cfg.forcing.duration_h) / mstep))
        if cfg.runoff.enabled:
            from hydro.flood.example import crossing_cells
            from hydro.forecast.hydrology import build_model, open_rain, run_hydrology

            step("runoff and routing")
            t1 = time.perf_counter()
            # the river at an entering point is the outflow of the cells outside the domain that cross into it (the
            # point cell's own discharge would also hold the rain on the domain cells draining to it: counted twice)
            crossing = crossing_cells(terrain, domain, inflow_points) if inflow_points else []
            # (``flood_inflow_<k>``, the point cell, stays a station: allocation may draw on it)
            extra_gauges = [(f"flood_inflow_{k}", x, y) for k, (x, y, _) in enumerate(inflow_points)]
            extra_gauges += [(f"flood_crossing_{k}_{j}", cx, cy) for k, cells in enumerate(crossing)
                             for j, (cx, cy) in enumerate(cells)]
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
            balances["runoff_routing"] = catchment_balance(hyd.result.summary, "runoff/run_water_balance.nc")
            balances.update(process_balances(hyd.result.summary))
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
                    sel = [ids.index(f"flood_crossing_{k}_{j}") for j in range(len(crossing[k]))]
                    if not sel:  # nothing crosses the domain edge into this point
                        continue
                    q = gauges["discharge"].isel(station=sel).sum("station", skipna=False)
                    q.attrs = dict(gauges["discharge"].attrs)
                    # step means labelled at period end -> a series that passes on each period's routed volume
                    # exactly (linear through the period midpoints lost ~0.2 % of the river at the peak)
                    rivers[f"river_{k}"] = (x, y, conservative_hydrograph(q, pd.Timedelta(cfg.routing.output_step),
                                                                          f_start))
                peak_q = hyd.peak_discharge
            else:  # no routing: screening discharge by the rational method (C = 0.5) with the storm's peak intensity
                from hydro.flood.example import screening_peak_discharge

                peak_q = screening_peak_discharge(terrain, fc.storm_total_mm, fc.storm_duration_h)
                if cfg.dem.source == "embedded" and fc.domain is None and inflow_points:
                    from hydro.flood.example import rational_river

                    # the embedded example's river (rational method) at its entering point; the rest of [flood]
                    # (tide, surge, roughness, hand, two_d) applies as with routing
                    x_in, y_in, area_in = inflow_points[0]
                    rivers["ampal"] = (x_in, y_in, rational_river(f_start, fc.duration_h, fc.storm_total_mm,
                                                                  fc.storm_duration_h, area_in))
            if rain is not None and rain.ndim == 1:
                f_rain = rain
            elif rain is not None and domain is None:  # no 2-D domain (HAND map only): no rain to give
                f_rain = None
            elif rain is not None:  # gridded forcing: the domain's mean rain
                x0, y0, x1, y1 = domain
                f_rain = rain.sel(x=slice(x0, x1), y=slice(y1, y0)).mean(("y", "x")).compute()
                f_rain.attrs = dict(rain.attrs)
            else:
                f_rain = design_storm(f_start, total_mm=fc.storm_total_mm, duration_h=fc.storm_duration_h,
                                      tail_h=max(fc.duration_h - fc.storm_duration_h, 0.0))
            if not cfg.runoff.enabled:  # the flood's own storm (design_storm: peak at 0.4 of its duration)
                peak_at = f_start + pd.Timedelta(hours=0.4 * fc.storm_duration_h)
            elif cfg.forcing.source == "design_storm":
                peak_at = f_start + pd.Timedelta(hours=cfg.forcing.storm_peak_position * cfg.forcing.storm_duration_h)
            else:
                peak_at = None
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
            if hand_ds is not None:
                not_applicable["hand"] = ("HAND flood map: a mapping of the routed peak discharge to depths (no water "
                                          "is moved, so there is no balance)")
            if fl["plain"] is not None:
                bal = fl["plain"].balance
                balances["flood_2d"] = _flood_balance(bal, "flood/plain_flood.nc")
                facts["plain_volume_balance"] = balances["flood_2d"]["stated_max_relative_residual"]
                facts["plain_river_inflows"] = {k: [v[0], v[1]] for k, v in rivers.items()}
                if rivers and gauges is not None and "flow_direction" in terrain:
                    # plain cells whose D8 path leaves the plain and comes back in with a routed river: their runoff
                    # is in the river and their rain on the plain (at most the plain's mean rain depth on that area)
                    from hydro.flood.example import routed_back_cells
                    from hydro.terrain.grid import grid_geometry

                    back = routed_back_cells(terrain, domain, crossing)
                    cell_m2 = np.broadcast_to(np.asarray(grid_geometry(terrain["flow_direction"]).area_m2,
                                                         np.float64)[:, None], back.shape)
                    x0, y0, x1, y1 = domain
                    xg, yg = terrain["x"].values[None, :], terrain["y"].values[:, None]
                    in_dom = (xg >= x0) & (xg <= x1) & (yg >= y0) & (yg <= y1)
                    back_m2, dom_m2 = float(cell_m2[back].sum()), float(cell_m2[in_dom].sum())
                    twice = float(bal["rain"].iloc[-1]) * (back_m2 / dom_m2 if dom_m2 > 0 else 0.0)
                    balances["flood_2d"].update(
                        plain_area_also_in_routed_rivers_m2=back_m2, rain_counted_twice_at_most_m3=twice,
                        rain_counted_twice_note=(
                            "runoff of plain cells that drain out of the plain and back in with a routed river reaches "
                            "the 2-D run twice (its rain on the plain, its runoff in the river): at most the plain's "
                            "rain depth on that area"))
                    facts["plain_area_also_in_routed_rivers_km2"] = round(back_m2 / 1e6, 4)
                if rivers and gauges is not None:
                    f_end = f_start + pd.Timedelta(hours=fc.duration_h)
                    sent = 0.0
                    for k in range(len(inflow_points)):
                        for j in range(len(crossing[k])):
                            sent += _routed_volume(gauges, f"flood_crossing_{k}_{j}", f_start, f_end,
                                                   pd.Timedelta(cfg.routing.output_step))
                    transfers["routing_to_flood_2d"] = _transfer(
                        sent, float(bal["point_inflow"].iloc[-1]),
                        f"routed river volume at the 2-D inflow points {f_start:%Y-%m-%dT%H:%M} to {f_end:%Y-%m-%dT%H:%M} "
                        "vs the 2-D run's point inflow")
            timings["flood_s"] = time.perf_counter() - t1
        alloc = None
        from hydro.forecast.stages import allocation_skip_reason

        # daily allocation steps need one whole UTC day of routed discharge: say so, keep the rest of the run
        skipped = allocation_skip_reason(start, start + nsteps * mstep) if cfg.allocation.enabled and cfg.runoff.enabled \
            else None
        if skipped:
            facts["allocation_skipped"] = skipped
            logger.warning("run %s: %s", run_id, skipped)
        elif cfg.allocation.enabled:
            from hydro.allocation import load_network

            step("allocation")
            t1 = time.perf_counter()
            if cfg.runoff.enabled:
                from hydro.forecast.stages import allocation_inputs

                net, external, notes = allocation_inputs(cfg, gauges, start, start + nsteps * mstep)
                facts["allocation_inflows"] = notes
            else:
                from hydro.config import resolve_input

                net, external = load_network(resolve_input(cfg, cfg.allocation.network, "allocation.network")), {}
            amodel, alloc = _allocate(net, external)
            balances["allocation"] = allocation_balance(alloc, "allocation/water_*.nc")
            if cfg.runoff.enabled and gauges is not None:
                transfers.update(allocation_transfers(cfg, gauges, amodel, alloc))
            for f in alloc.write(partial / "allocation" / "water", id=run_id):
                folder.add(f"allocation/{Path(f).name}", f)
            timings["allocation_s"] = time.perf_counter() - t1
        step("alerts and report")
        t1 = time.perf_counter()
        from hydro.forecast.stages import flood_area_alert, gauge_alerts, write_alerts

        alerts = (gauge_alerts(cfg, gauges) if gauges is not None else [])
        if flooded_km2 is not None:
            alerts += flood_area_alert(cfg, flooded_km2, source="hand")
        wb = summarise_balances(balances, transfers, not_applicable,
                                domain=hyd.result.summary if hyd is not None else None, not_used=not_used)
        facts["water_balance"] = wb
        alerts += balance_alert(wb)
        if not wb["closed"]:
            logger.warning("run %s: water balance does not close: %s", run_id, ", ".join(wb["not_closed"]))
        folder.add("water_balance", write_balance_file(partial / BALANCE_FILE, wb))
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
        stamp_run_attrs(list(folder.outputs.values()), common)  # flood, allocation... files too
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
            "water_balance_closed": wb["closed"],
            "facts": facts,
            "timings": timings,
            "exit_code": 0 if wb["closed"] else EXIT_BALANCE_NOT_CLOSED,
        })
    except BaseException:
        folder.discard()  # a failed run leaves nothing behind
        raise
    return RunResult(run_id, folder.final, manifest, folder.final_outputs())


# ------------------------------------------------------------------------------------------ water balance
#: relative closure every process of a run must reach; the modules guarantee 1e-9 in float64 (runoff and
#: routing: hydro.model.BALANCE_TOLERANCE; 2-D flood and allocation: their tests), so 1e-6 leaves room for
#: the float32 depths of the 2-D grid and still catches any real loss or gain of water.
BALANCE_TOLERANCE = 1e-6
#: file (in the run folder) holding the same summary as ``manifest["facts"]["water_balance"]``
from hydro.report.html import BALANCE_NAME as BALANCE_FILE  # noqa: E402  (the report reads the same file)


def _closure(inputs: dict[str, float], outputs: dict[str, float], storage_change: float, *,
             extra: dict[str, Any] | None = None, scale: float | None = None, stated_residual: float | None = None,
             stated_relative: float | None = None, tolerance: float = BALANCE_TOLERANCE) -> dict[str, Any]:
    """One process's balance: ``residual = Σ inputs − Σ outputs − storage change`` [m3], relative to the largest of
    gross inputs, gross outputs and |storage change| (or ``scale``, the module's own, when larger).

    ``stated_residual``/``stated_relative`` are what the module itself wrote; the larger of the stated and the
    recomputed relative residual decides ``closed``.
    """
    tin = float(sum(inputs.values()))
    tout = float(sum(outputs.values()))
    resid = tin - tout - float(storage_change)
    sc = max(abs(tin), abs(tout), abs(float(storage_change)), float(scale or 0.0))
    rel = abs(resid) / sc if sc > 0 else 0.0
    if not np.isfinite(resid):  # a NaN or infinite term never closes
        rel = float("inf")
    worst = max(rel, float(stated_relative or 0.0))
    if stated_relative is not None and not np.isfinite(stated_relative):  # max(rel, nan) is rel: a NaN stated closed
        worst = float("inf")
    out: dict[str, Any] = {
        "units": "m3",
        "inputs": {k: float(v) for k, v in inputs.items()},
        "outputs": {k: float(v) for k, v in outputs.items()},
        "storage_change": float(storage_change),
        "total_in": tin,
        "total_out": tout,
        "residual": resid,
        "relative_residual": rel,
    }
    if stated_residual is not None:
        out["stated_residual"] = float(stated_residual)
    if stated_relative is not None:
        out["stated_max_relative_residual"] = float(stated_relative)
    out.update(extra or {})
    out["tolerance"] = tolerance
    out["closed"] = bool(np.isfinite(worst) and worst <= tolerance)
    return out


def process_balances(summary: dict[str, Any]) -> dict[str, Any]:
    """``runoff_generation`` and ``routing`` balances from a catchment run's ``summary`` (its ``process_split``:
    the domain balance split where the cells hand their runoff to the network, summed by the model each step).

    Runoff generation: precipitation and exchange gains in; actual evaporation of the cells, exchange losses and
    the runoff handed to the routing out; the cell stores change. Routing: that runoff and upstream boundary inflow
    in; outflow at the outlets, reservoir evaporation and abstraction out; reaches and reservoirs change.
    """
    sp = summary["process_split"]
    exchange = float(summary.get("exchange", 0.0))
    gain, loss = (exchange, 0.0) if exchange >= 0 else (0.0, -exchange)
    runoff = _closure({"precipitation": float(summary.get("precipitation", 0.0)), "exchange_gain": gain},
                      {"actual_evaporation": sp["cell_evaporation"], "exchange_loss": loss,
                       "runoff_to_routing": sp["runoff_to_routing"]},
                      sp["soil_storage_change"], extra={"source": "GR cell stores, valid cells, summed each model step"})
    routing = _closure({"runoff_from_cells": sp["runoff_to_routing"],
                        "upstream_boundary_inflow": float(summary.get("inflow", 0.0))},
                       {"outflow_at_outlets": float(summary.get("outflow", 0.0)),
                        "reservoir_evaporation": sp["reservoir_evaporation"],
                        "reservoir_abstraction": float(summary.get("abstraction", 0.0))},
                       sp["reach_storage_change"] + sp["reservoir_storage_change"],
                       extra={"reach_storage_change": sp["reach_storage_change"],
                              "reservoir_storage_change": sp["reservoir_storage_change"],
                              "source": "kinematic wave + reservoirs; outflow from runoff/run_water_balance.nc"})
    return {"runoff_generation": runoff, "routing": routing}


def catchment_balance(summary: dict[str, Any], file: str | None = None) -> dict[str, Any]:
    """The domain balance (runoff + routing + reservoirs) of :class:`hydro.model.catchment.RunResult` ``summary``."""
    s = {k: float(summary.get(k, 0.0)) for k in ("precipitation", "inflow", "exchange", "evaporation", "outflow",
                                                  "abstraction", "storage_change", "residual")}
    extra: dict[str, Any] = {"max_step_relative_residual": float(summary.get("max_step_relative_residual", 0.0)),
                             "steps": int(summary.get("steps", 0))}
    if file:
        extra["file"] = file
    return _closure({"precipitation": s["precipitation"], "upstream_boundary_inflow": s["inflow"], "exchange": s["exchange"]},
                    {"evaporation": s["evaporation"], "outflow_at_outlets": s["outflow"], "abstraction": s["abstraction"]},
                    s["storage_change"], stated_residual=s["residual"],
                    stated_relative=max(float(summary.get("relative_residual", 0.0)),
                                        float(summary.get("max_step_relative_residual", 0.0))),
                    extra=extra)


def _flood_balance(balance: pd.DataFrame, file: str | None = None) -> dict[str, Any]:
    """The 2-D run's balance from its cumulative table (:attr:`hydro.flood.Simulation2DResult.balance`).

    The initial volume is the module's ``initial_storage`` (also written to the file as ``volume_initial_storage``).
    The module's residual is ``storage − expected`` (water created > 0), the opposite sign of the audit's
    ``in − out − storage change``: it is stated here with the audit's sign.
    """
    b = balance.iloc[-1]
    v0 = float(balance["initial_storage"].iloc[0])
    stated_rel = float(np.abs(balance["relative_residual"]).max()) if "relative_residual" in balance else None
    extra: dict[str, Any] = {"initial_storage": v0, "final_storage": float(b["storage"]),
                             "clipped_note": "water created by zeroing round-off negative depths (counted as an input)"}
    if file:
        extra["file"] = file
    return _closure({"rain": float(b["rain"]), "river_inflows": float(b["point_inflow"]),
                     "boundary_inflow": float(b["boundary_inflow"]), "clipped": float(b["clipped"])},
                    {"infiltration": float(b["infiltration"]), "boundary_outflow": float(b["boundary_outflow"])},
                    float(b["storage"]) - v0, scale=max(v0, float(b["storage"])), stated_residual=-float(b["residual"]),
                    stated_relative=stated_rel, extra=extra)


def allocation_balance(res: Any, file: str | None = None) -> dict[str, Any]:
    """System balance of an allocation run over all its steps, from its per-step balance table
    (:attr:`hydro.allocation.AllocationResult.balance`, m3) and initial storage.

    Water leaves the system as consumption (delivered minus return flows), conveyance losses, spills and
    unused source water that go nowhere in the network, outlets and reservoir evaporation; returns still in
    transit at the end (lagged return links: sent minus arrived) count as storage.
    """
    b = res.balance.sum()
    transit_end = float(b["returns_into_transit"] - b["returns_arriving"])
    extra: dict[str, Any] = {
        "delivered_gross": float(np.sum(res.delivered)),
        "initial_storage": float(np.sum(res.initial_storage)),
        "reservoir_storage_change": float(b["storage_change"]),
        "returns_in_transit_end": transit_end,
        "steps": int(len(res.times)),
        "max_step_abs_residual": float(np.abs(res.mass_residual).max(initial=0.0)),
    }
    if file:
        extra["file"] = file
    return _closure({"source_inflows": float(b["exogenous_inflow"])},
                    {"consumed_deliveries": float(b["consumed"]), "conveyance_losses": float(b["conveyance_loss"]),
                     "spills": float(b["spill"]), "unused_source_water": float(b["unused_source_water"]),
                     "outlets": float(b["outlet"]), "reservoir_evaporation": float(b["reservoir_evaporation"])},
                    float(b["storage_change"]) + transit_end, stated_residual=float(b["residual"]), extra=extra)


def allocation_transfers(cfg: ModelConfig, gauges: xr.Dataset, amodel: Any, alloc: Any) -> dict[str, dict[str, Any]]:
    """``routing_to_allocation_<node>`` transfers: the routed volume at each ``simulated_inflows`` gauge over the
    allocation's days vs that node's allocation inflow."""
    a0 = pd.Timestamp(alloc.times[0])
    a1 = pd.Timestamp(alloc.times[-1]) + pd.Timedelta(seconds=alloc.dt)
    ids = [str(s) for s in gauges["station_id"].values]
    out = {}
    for node, gid in (cfg.allocation.simulated_inflows or {}).items():
        if node in amodel.node_ids and gid in ids:
            out[f"routing_to_allocation_{node}"] = _transfer(
                _routed_volume(gauges, gid, a0, a1, pd.Timedelta(cfg.routing.output_step)),
                float(np.sum(amodel.inflow[:, amodel.node_ids.index(node)])),
                f"routed volume at gauge {gid} {a0:%Y-%m-%dT%H:%M} to {a1:%Y-%m-%dT%H:%M} vs the allocation inflow "
                f"of node {node}")
    return out


def _transfer(sent: float, received: float, what: str, tolerance: float = BALANCE_TOLERANCE) -> dict[str, Any]:
    """Water handed from one process to the next: what left one must enter the other."""
    diff = received - sent
    rel = abs(diff) / max(abs(sent), abs(received)) if max(abs(sent), abs(received)) > 0 else 0.0
    if not np.isfinite(diff):  # a NaN sent or received volume never closes (max(nan, x) is nan: rel was 0)
        rel = float("inf")
    return {"units": "m3", "what": what, "sent": float(sent), "received": float(received), "difference": float(diff),
            "relative_difference": rel, "tolerance": tolerance, "closed": bool(rel <= tolerance)}


def summarise_balances(modules: dict[str, dict[str, Any]], transfers: dict[str, dict[str, Any]] | None = None,
                       notes: dict[str, str] | None = None, domain: dict[str, Any] | None = None,
                       not_used: dict[str, str] | None = None) -> dict[str, Any]:
    """``manifest["facts"]["water_balance"]``: every process's balance and the transfers between them, in m3.

    ``domain`` (the catchment model's run summary) adds its totals at the top level under their old names
    (``precipitation``, ``outflow``, ``storage_change``, ``residual``, ``steps`` ...), as earlier manifests had them;
    ``relative_residual`` is the largest over every process. ``not_used`` (config key → why, e.g. from
    :func:`unused_without_runoff`) is stated as ``not_used`` when given.
    """
    transfers = transfers or {}
    rels = [max(m["relative_residual"], m.get("stated_max_relative_residual", 0.0)) for m in modules.values()]
    open_ = [f"process {k}" for k, m in modules.items() if not m["closed"]]
    open_ += [f"transfer {k}" for k, m in transfers.items() if not m["closed"]]
    legacy = {k: v for k, v in (domain or {}).items()
              if isinstance(v, (int, float)) and k not in ("relative_residual",)}
    return _json_safe({
        **legacy,
        "units": "m3",
        "convention": "residual = total_in - total_out - storage_change; relative to the largest of total_in, "
                      "total_out, |storage_change| (or the module's own scale)",
        "tolerance": BALANCE_TOLERANCE,
        "closed": not open_,
        "not_closed": open_,
        "relative_residual": max(rels, default=0.0),
        "processes": modules,
        "transfers": transfers,
        "not_applicable": dict(notes or {}),
        **({"not_used": dict(not_used)} if not_used else {}),
    })


def balance_alert(wb: dict[str, Any]) -> list[dict[str, Any]]:
    """An ``alerts.json`` record (level 2, red) when a process or a transfer does not close."""
    if wb.get("closed", True):
        return []
    def g(v: Any, spec: str) -> str:  # non-finite terms are null in the (strict JSON) summary
        return "not finite" if v is None else format(v, spec)

    worst = []
    for k, m in wb.get("processes", {}).items():
        if not m["closed"]:
            rel = (m["relative_residual"], m.get("stated_max_relative_residual", 0.0))
            worst.append(f"{k}: residual {g(m['residual'], '.4g')} m3 (relative "
                         f"{g(None if None in rel else max(rel), '.3g')})")
    for k, m in wb.get("transfers", {}).items():
        if not m["closed"]:
            worst.append(f"{k}: {g(m['difference'], '+.4g')} m3 (relative {g(m['relative_difference'], '.3g')})")
    return [{"type": "water_balance", "id": "water_balance", "name": "water balance", "level": 2,
             "tolerance": wb.get("tolerance"), "not_closed": list(wb.get("not_closed", [])),
             "message": f"water balance does not close (tolerance {wb.get('tolerance')}): " + "; ".join(worst)}]


def _json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (a NaN or infinite balance term) as ``None``: strict JSON (``null``)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_balance_file(path: Path, wb: dict[str, Any]) -> Path:
    """``water_balance.json`` (atomic): the same summary as the manifest's ``facts.water_balance``."""
    import json

    from hydro.errors import OutputError

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(_json_safe(wb), indent=2, allow_nan=False))
        os.replace(tmp, path)
    except OSError as exc:  # disk full, read-only folder: 73, not a traceback
        raise OutputError(f"cannot write {path}: {exc}") from exc
    return path


def conservative_hydrograph(q: xr.DataArray, period: pd.Timedelta, start: Any) -> xr.DataArray:
    """Point series (linear between knots) whose integral over every period equals its mean ``q`` × period.

    ``q`` holds period means labelled at the period end. Each period goes from the edge value ``a_k`` (the smaller
    of the two neighbouring means, so the plateau is never negative) through a plateau ``c_k`` (a quarter period
    ramps on each side) back to ``a_{k+1}``: ``(Δ − δ) c_k + δ (a_k + a_{k+1}) / 2 = Δ q_k``. Volume passed on to a
    model that integrates the series exactly (the 2-D engine steps on its knots) is the routed volume.
    """
    vals = np.maximum(np.asarray(q.values, np.float64), 0.0)
    ends = pd.DatetimeIndex(q["time"].values)
    n = vals.size
    edges = np.empty(n + 1)
    edges[0] = vals[0]
    edges[-1] = vals[-1]
    if n > 1:
        edges[1:-1] = np.minimum(vals[:-1], vals[1:])
    dt = period.total_seconds()
    d = dt / 4.0
    plateau = (dt * vals - d * 0.5 * (edges[:-1] + edges[1:])) / (dt - d)
    times: list[pd.Timestamp] = []
    values: list[float] = []
    for k in range(n):
        t0 = ends[k] - period
        if k == 0:
            times.append(t0)
            values.append(edges[0])
        times += [t0 + pd.Timedelta(seconds=d), ends[k] - pd.Timedelta(seconds=d), ends[k]]
        values += [plateau[k], plateau[k], edges[k + 1]]
    t = pd.DatetimeIndex(times)
    v = np.asarray(values)
    if pd.Timestamp(start) < t[0]:  # hold the first edge value back to the flood start
        t = pd.DatetimeIndex([pd.Timestamp(start)]).append(t)
        v = np.concatenate([[v[0]], v])
    return xr.DataArray(v, dims="time", coords={"time": t.values})


def _routed_volume(gauges: xr.Dataset, gid: str, t0: Any, t1: Any, period: pd.Timedelta) -> float:
    """Volume [m3] through gauge ``gid`` from ``t0`` to ``t1`` (period means labelled at the period end; a period
    partly inside counts pro rata)."""
    ids = [str(s) for s in gauges["station_id"].values]
    q = np.asarray(gauges["discharge"].isel(station=ids.index(gid)).values, np.float64)
    ends = pd.DatetimeIndex(gauges["time"].values)
    t0, t1 = pd.Timestamp(t0), pd.Timestamp(t1)
    vol = 0.0
    for e, v in zip(ends, q):
        s = e - period
        overlap = (min(e, t1) - max(s, t0)).total_seconds()
        if overlap > 0:
            vol += v * overlap
    return float(vol)


def _allocate(net: Any, external: dict[str, Any]) -> tuple[Any, Any]:
    """:func:`hydro.allocation.allocate` keeping the built model (its inflows and initial storage enter the
    balance)."""
    from hydro.allocation import load_network
    from hydro.allocation.core import _time_axis
    from hydro.allocation.core import run_model as run_allocation
    from hydro.allocation.solver import AllocationModel

    net = load_network(net)
    times, dt = _time_axis(net, None, None)
    model = AllocationModel(net, times, dt, dict(external or {}), explain=True)
    return model, run_allocation(model)
