"""Figures and the one-page HTML report of a run folder (thin wiring over :mod:`hydro.report`)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import xarray as xr

from hydro.config import ModelConfig

__all__ = ["make_report"]

logger = logging.getLogger(__name__)


def make_report(cfg: ModelConfig, run_dir: Path, *, run_id: str, gauges: xr.Dataset | None, flood: xr.Dataset | None,
                dem: xr.DataArray | None, allocation: Any, alerts: Sequence[Mapping[str, Any]], files: Sequence[Path],
                warm_start: str | None, reference_time: Any,
                ensemble: xr.Dataset | None = None, hand: xr.Dataset | None = None,
                exposure: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Path]:
    """Write ``figures/*.png`` and ``report.html`` into ``run_dir``; returns ``{key: path}``."""
    from hydro import report as rp

    run_dir = Path(run_dir).resolve()
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    if ensemble is not None and "discharge_percentile" in ensemble and "discharge" not in ensemble:
        ensemble = ensemble.rename(discharge_percentile="discharge")
    plot_gauges = None
    if gauges is not None:
        ids = [str(s) for s in gauges["station_id"].values]
        keep = [i for i, s in enumerate(ids) if s in {g.id for g in cfg.gauges}]
        plot_gauges = gauges.isel(station=keep) if keep else None
    if plot_gauges is not None:
        levels = {g.id: list(g.warning_levels_m3s) for g in cfg.gauges}
        out["figures/hydrographs"] = rp.hydrograph_figure(plot_gauges, fig_dir / "hydrographs.png",
                                                          warning_levels=levels, reference_time=reference_time,
                                                          ensemble=ensemble)
    if flood is not None and dem is not None and "max_flood_depth" in flood:
        out["figures/max_depth"] = rp.max_depth_figure(flood["max_flood_depth"], dem, fig_dir / "max_depth.png",
                                                       title="Coastal plain: maximum depth (2-D)")
    if hand is not None and dem is not None:
        depth = hand["flood_depth"] if "flood_depth" in hand else None
        if depth is not None:
            out["figures/hand_depth"] = rp.max_depth_figure(depth, dem, fig_dir / "hand_depth.png",
                                                            title="Catchment: HAND flood depth")
    alloc_ds = None
    if allocation is not None:
        alloc_ds = allocation
        if hasattr(allocation, "to_dataset"):
            from hydro.allocation.sources import delivery_by_source

            alloc_ds = allocation.to_dataset("region")
            split = delivery_by_source(allocation)  # (demand, source, time): sum the demands of each region
            region_of = [allocation.network.nodes[d].region for d in split["demand"].values]
            by_region = split.assign_coords(region=("demand", region_of)).groupby("region").sum("demand")
            regions = [str(r) for r in alloc_ds["region_id"].values]
            by_region = by_region.reindex(region=regions, fill_value=0.0).transpose("region", "source", "time")
            alloc_ds = alloc_ds.assign(delivery_by_source=(("region", "source", "time"), by_region.values,
                                                           {"units": "m3 s-1"}))
            alloc_ds = alloc_ds.assign_coords(source=[str(v) for v in by_region["source"].values])
        out["figures/allocation"] = rp.allocation_figure(alloc_ds, fig_dir / "allocation.png")
    domains: dict[str, Any] = {}
    if hand is not None:
        domains["whole catchment (HAND)"] = hand
    if flood is not None:
        domains["coastal plain (2-D)"] = flood
    # every flood map's exposure, one named row each (only the 2-D map's numbers were shown before, unnamed:
    # read as the whole run's, the catchment's people and roads were left out)
    by_map = {str(k): dict(v) for k, v in (exposure or {}).items() if v}
    numbers = rp.key_numbers(gauges=plot_gauges, flood=domains or None, allocation=alloc_ds,
                             exposure=by_map or None)
    if reference_time is not None:
        numbers["reference_time"] = str(reference_time)
    out["report"] = rp.write_report(
        run_dir, title=cfg.title, run_id=run_id, key_numbers=numbers, figures=[Path(p).resolve() for p in out.values()],
        alerts=list(alerts), files=[Path(f).resolve() for f in files], warm_start=warm_start, reference_time=reference_time,
    )
    return out
