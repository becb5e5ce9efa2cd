"""`hydro run`: the main job on a model configuration, written atomically to ``outputs/<run-id>/``."""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import xarray as xr

from hydro import __version__
from hydro.config import ModelConfig, config_hash
from hydro.errors import ConfigError, OutputError

__all__ = ["run_model", "RunResult", "load_dem", "run_id_for"]

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


def load_dem(cfg: ModelConfig) -> xr.DataArray:
    """The DEM named by the configuration (embedded generator or a file)."""
    from hydro.io import open_dem

    if cfg.dem.source == "embedded":
        from hydro.datasets import balikpapan_dem

        return balikpapan_dem(resolution_m=cfg.dem.resolution_m, seed=cfg.dem.seed)
    path = Path(cfg.dem.path or "")
    src = getattr(cfg, "_source_path", None)
    if not path.is_absolute() and src is not None:
        path = src.parent / path
    return open_dem(path, crs=cfg.dem.crs)


def _sha256(path: Path) -> str:
    from hydro.io import sha256_file

    return sha256_file(path)


def run_model(
    cfg: ModelConfig,
    *,
    output_root: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run the model of ``cfg`` and write its outputs to ``<output_root>/<run-id>/``.

    The work happens in ``<run-id>.partial/``, which is renamed only when every file and the
    manifest (written last, ``status = "complete"``) are in place. A completed run is not redone
    unless ``force``.

    Returns
    -------
    RunResult
    """
    from hydro.io import write_netcdf
    from hydro.terrain import analyse

    step = progress or (lambda stage: None)
    root = Path(output_root or cfg.outputs.directory)
    run_id = run_id_for(cfg)
    final = root / run_id
    manifest_path = final / "manifest.json"
    if manifest_path.exists() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("status") == "complete":
            logger.info("run %s already done", run_id)
            manifest["already_done"] = True
            return RunResult(run_id, final, manifest, {k: final / v["path"] for k, v in manifest.get("outputs", {}).items()})
    partial = root / f"{run_id}.partial"
    try:
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"cannot create run folder {partial}: {exc}") from exc

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    step("dem")
    dem = load_dem(cfg)
    timings["dem_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    terrain = analyse(dem, cfg.terrain.stream_threshold_km2 * 1e6, epsilon=cfg.terrain.epsilon_fill, progress=step)
    timings["terrain_s"] = time.perf_counter() - t1
    step("write terrain")
    outputs: dict[str, Path] = {}
    outputs["terrain"] = write_netcdf(
        terrain,
        partial / "terrain.nc",
        title=f"{cfg.title}: terrain analysis",
        summary="Filled DEM, D8 flow directions, accumulation, upstream area, streams, Strahler order and HAND.",
        attrs={"id": run_id, "hydro_config_hash": config_hash(cfg)},
        parameters=cfg.model_dump(mode="json"),
        complevel=cfg.outputs.compression_level,
    )
    if cfg.flood.enabled:
        if cfg.dem.source != "embedded":
            raise ConfigError("flood.enabled needs dem.source = 'embedded' for now (the coastal plain and tide edge are defined for it)")
        from hydro.flood.example import balikpapan_flood

        step("flood: HAND map + 2-D coastal plain")
        t1 = time.perf_counter()
        fl = balikpapan_flood(
            cfg.dem.resolution_m,
            start=cfg.flood.start,
            duration_h=cfg.flood.duration_h,
            storm_total_mm=cfg.flood.storm_total_mm,
            storm_duration_h=cfg.flood.storm_duration_h,
            stream_threshold_m2=cfg.terrain.stream_threshold_km2 * 1e6,
            output_dir=partial / "flood",
            output_interval_min=cfg.flood.output_interval_min,
            seed=cfg.dem.seed,
        )
        for f in fl["files"]:
            outputs[f"flood/{Path(f).name}"] = Path(f)
        timings["flood_s"] = time.perf_counter() - t1
    if cfg.allocation.enabled:
        from hydro.allocation import allocate, load_network

        step("allocation")
        t1 = time.perf_counter()
        net_path = Path(cfg.allocation.network)
        src = getattr(cfg, "_source_path", None)
        if not net_path.is_absolute() and src is not None:
            net_path = src.parent / net_path
        res = allocate(load_network(net_path))
        for f in res.write(partial / "allocation" / "water", id=run_id):
            outputs[f"allocation/{Path(f).name}"] = Path(f)
        timings["allocation_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    manifest = {
        "status": "complete",
        "run_id": run_id,
        "region": cfg.region,
        "config_hash": config_hash(cfg),
        "hydro_version": __version__,
        "config": cfg.model_dump(mode="json"),
        "outputs": {k: {"path": str(p.relative_to(partial)), "sha256": _sha256(p)} for k, p in outputs.items()},
        "timings": timings,
        "exit_code": 0,
    }
    tmp = partial / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, partial / "manifest.json")
    try:
        if final.exists():
            old = root / f"{run_id}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(partial, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, final)
    except OSError as exc:
        raise OutputError(f"cannot publish run folder {final}: {exc}") from exc
    return RunResult(run_id, final, manifest, {k: final / p.relative_to(partial) for k, p in outputs.items()})
