"""The Balikpapan flood example: HAND map of the whole embedded catchment + a 2-D run on the coastal plain.

Forcing follows ``balikpapan.md`` (section 3, 5, 6; scenario values tagged [A] there are assumptions):

* design storm: R24 of 140 mm (~10-yr, Samarinda analogue) as a triangular hyetograph, here concentrated in a
  6-hour event with the peak at 40 % of the duration (peak intensity ~47 mm/h), 10-minute steps;
* spring tide on the coastal (south) edge: M2 1.2 m + S2 0.2 m around MSL (the DEM datum), high water
  ~+1.4 m timed with the storm peak (compound flooding: "heavy rain + high tide");
* the Ampal-like river entering the plain from the north as a point inflow (routed discharge when given,
  otherwise a rational-method triangular hydrograph, C = 0.5 [A]).

:func:`balikpapan_flood` is what ``hydro run models/balikpapan.toml`` calls for its flood part.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["design_storm", "spring_tide", "balikpapan_flood", "plain_inflow_point"]


def plain_inflow_point(terrain: xr.Dataset, resolution_m: float = 30.0) -> tuple[float, float, float]:
    """Where the Ampal-like river enters the coastal plain: the northern-edge cell of the plain with the
    largest upstream area. Returns ``(x, y, upstream_area_m2)``."""
    from hydro.datasets import balikpapan_features

    x0, y0, x1, y1 = balikpapan_features(resolution_m).urban_plain_bounds
    up = terrain["upstream_area"].sel(x=slice(x0, x1), y=slice(y1, y0))
    row0 = np.asarray(up.isel(y=0).values, dtype=np.float64)
    j = int(np.nanargmax(row0))
    return float(up["x"][j]), float(up["y"][0]), float(row0[j])


def design_storm(start: Any, *, total_mm: float = 140.0, duration_h: float = 6.0, peak_fraction: float = 0.4,
                 step_min: float = 10.0, lead_h: float = 0.0, tail_h: float = 0.0) -> xr.DataArray:
    """Triangular design hyetograph (mm per step, period-end labels) totalling ``total_mm``.

    ``lead_h``/``tail_h`` add dry hours before and after the storm (the series then covers the whole run).
    """
    n = int(round(duration_h * 60 / step_min))
    k = np.arange(n) + 0.5
    tp = peak_fraction * n
    w = np.where(k <= tp, k / tp, (n - k) / (n - tp))
    mm = total_mm * w / w.sum()
    nl = int(round(lead_h * 60 / step_min))
    nt = int(round(tail_h * 60 / step_min))
    mm = np.concatenate([np.zeros(nl), mm, np.zeros(nt)])
    t0 = pd.Timestamp(start)
    times = t0 + pd.to_timedelta((np.arange(mm.size) + 1) * step_min, unit="min")
    return xr.DataArray(mm, dims="time", coords={"time": times.values}, name="precipitation",
                        attrs={"units": "mm", "long_name": f"design storm {total_mm} mm in {duration_h} h",
                               "cell_methods": "time: sum"})


def spring_tide(start: Any, duration_h: float, *, high_water: Any = None, m2_amplitude_m: float = 1.2,
                s2_amplitude_m: float = 0.2, msl_m: float = 0.0, surge_m: float = 0.0,
                step_min: float = 10.0) -> xr.DataArray:
    """Spring-tide water level (m, DEM datum = MSL) from M2 + S2 in phase at ``high_water``, plus a surge."""
    t0 = pd.Timestamp(start)
    hw = t0 + pd.Timedelta(hours=3) if high_water is None else pd.Timestamp(high_water)
    times = t0 + pd.to_timedelta(np.arange(0, duration_h * 60 + step_min, step_min), unit="min")
    dt_h = (times - hw) / pd.Timedelta(hours=1)
    level = (msl_m + surge_m + m2_amplitude_m * np.cos(2 * np.pi * dt_h / 12.4206)
             + s2_amplitude_m * np.cos(2 * np.pi * dt_h / 12.0))
    return xr.DataArray(np.asarray(level), dims="time", coords={"time": times.values}, name="sea_level",
                        attrs={"units": "m", "long_name": "spring tide level above MSL (M2 + S2)"})


def balikpapan_flood(
    resolution_m: float = 30.0,
    *,
    start: Any = "2025-08-25T00:00",
    duration_h: float = 12.0,
    storm_total_mm: float = 140.0,
    storm_duration_h: float = 6.0,
    plain_resolution_m: float | None = None,
    river_discharge: xr.DataArray | None = None,
    stream_threshold_m2: float = 0.5e6,
    output_dir: str | Path | None = None,
    output_interval_min: float = 30.0,
    seed: int | None = None,
    terrain: xr.Dataset | None = None,
    peak_discharge: xr.DataArray | None = None,
    rainfall: xr.DataArray | None = None,
) -> dict[str, Any]:
    """HAND map over the embedded catchment and a 2-D run of its coastal plain (spring tide + design storm).

    Parameters
    ----------
    resolution_m : float
        Cell size of the embedded DEM (:func:`hydro.datasets.balikpapan_dem`), m.
    start : datetime-like
        Storm start (UTC); the spring high water is timed with the storm peak.
    duration_h : float
        Length of the 2-D run (h).
    storm_total_mm, storm_duration_h : float
        Design storm depth (mm) and duration (h).
    plain_resolution_m : float, optional
        Resample the coastal plain to this cell size for the 2-D run (default: the DEM's).
    river_discharge : xarray.DataArray, optional
        Routed discharge (m3 s-1, ``time``) of the Ampal-like river where it enters the plain; default: a
        rational-method triangular hydrograph (C = 0.5, storm mean intensity, upstream area from the terrain).
    stream_threshold_m2 : float
        Stream initiation area for the HAND network (m2).
    output_dir : path, optional
        Write ``hand_flood.nc``, ``plain_flood.nc`` (+ ``plain_flood_max.nc``), ``plain_max_depth.tif``,
        ``plain_hazard.tif`` and ``plain_extent.geojson`` there.
    output_interval_min : float
        Snapshot interval of the 2-D run (min).
    seed : int, optional
        DEM seed (default: the package default).
    terrain : xarray.Dataset, optional
        :func:`hydro.terrain.analyse` of that DEM with ``stream_threshold_m2`` (computed when not given).
    peak_discharge : xarray.DataArray (y, x), optional
        Routed peak discharge of every cell [m3 s-1] (``hydro.forecast.hydrology.run_hydrology``); the HAND map
        then uses it at each reach outlet instead of the rational-method screening discharge.
    rainfall : xarray.DataArray (time), optional
        Rain on the plain [mm per step, period-end labels] (e.g. the storm the catchment model ran with);
        default: a triangular design storm of ``storm_total_mm`` in ``storm_duration_h``.

    Returns
    -------
    dict
        ``terrain``, ``reaches``, ``rating``, ``hand`` (HAND inundation Dataset), ``plain`` (the 2-D
        :class:`~hydro.flood.Simulation2DResult`), ``forcing`` (storm, tide, inflow) and ``files``.
    """
    from hydro.datasets import DEFAULT_SEED, balikpapan_dem, balikpapan_features
    from hydro.flood.hand import hand_inundation, rating_curves, reaches
    from hydro.flood.inertial import simulate_2d, water_level
    from hydro.terrain import analyse

    dem = balikpapan_dem(resolution_m, seed=DEFAULT_SEED if seed is None else seed)
    feats = balikpapan_features(resolution_m)
    if terrain is None:
        terrain = analyse(dem, stream_threshold_m2=stream_threshold_m2)
    rd = reaches(terrain, max_length_m=2000.0, manning_n=0.05)
    rating = rating_curves(terrain, rd, stage_max_m=10.0, stage_step_m=0.1)
    if rainfall is None:
        storm = design_storm(start, total_mm=storm_total_mm, duration_h=storm_duration_h,
                             tail_h=max(duration_h - storm_duration_h, 0.0))
    else:
        storm = rainfall
    mean_intensity_m_s = storm_total_mm / 1000.0 / (storm_duration_h * 3600.0)
    peak_intensity_m_s = 2.0 * mean_intensity_m_s  # triangular hyetograph
    # screening discharge per reach (rational method with the peak intensity, C = 0.5) when no routing is given
    if peak_discharge is None:
        q_values = 0.5 * peak_intensity_m_s * rd["upstream_area_m2"].values
    else:  # routed peak discharge at each reach outlet
        q_values = np.asarray(peak_discharge.values, np.float64).ravel()[rd["outlet_index"].values]
        q_values = np.where(np.isfinite(q_values), q_values, 0.0)
    q_reach = xr.DataArray(q_values, dims="reach", coords={"reach": rd["reach"].values}, attrs={"units": "m3 s-1"})
    hand = hand_inundation(terrain, rd, rating, q_reach, threshold_m=0.1)

    # ---- coastal plain: clip, fill the sea with a -2 m bed, tide on the south edge
    x0, y0, x1, y1 = feats.urban_plain_bounds
    # bed: the depression-filled DEM. The synthetic DEM's band-noise pits are artefacts (up to ~8 m deep in the
    # plain) that a 2-D run would fill as ponds; with a surveyed DEM pass the raw elevation instead.
    filled = terrain["filled_elevation"].rio.write_crs(dem.rio.crs).rio.write_transform(dem.rio.transform())
    plain = filled.sel(x=slice(x0, x1), y=slice(y1, y0))
    if plain_resolution_m and plain_resolution_m != resolution_m:
        plain = plain.coarsen(x=int(plain_resolution_m // resolution_m), y=int(plain_resolution_m // resolution_m),
                              boundary="trim").mean()
        plain = plain.rio.write_crs(dem.rio.crs).rio.write_transform(plain.rio.transform(recalc=True))
    sea = ~np.isfinite(plain.values)
    bed = plain.copy(data=np.where(sea, -2.0, plain.values).astype(np.float32))
    t_peak = pd.Timestamp(start) + pd.Timedelta(hours=0.4 * storm_duration_h)
    tide = spring_tide(start, duration_h, high_water=t_peak)
    h0 = np.where(sea, np.maximum(float(tide[0]) - bed.values, 0.0), 0.0)
    # Ampal-like river: lowest cell of the plain's northern row near the Ampal mouth column
    x_in, y_in, area_in = plain_inflow_point(terrain, resolution_m)
    if river_discharge is None:
        times = pd.Timestamp(start) + pd.to_timedelta(np.arange(0, duration_h * 60 + 10, 10), unit="min")
        th = (times - pd.Timestamp(start)) / pd.Timedelta(hours=1)
        tp = 0.4 * storm_duration_h + 1.0  # peak an hour after the rain peak
        base = storm_duration_h + 3.0
        shape = np.clip(np.where(th <= tp, th / tp, (base - th) / (base - tp)), 0.0, None)
        qpeak = 0.5 * peak_intensity_m_s * area_in
        river_discharge = xr.DataArray(qpeak * shape, dims="time", coords={"time": times.values},
                                       attrs={"units": "m3 s-1"})
    else:
        river_discharge = river_discharge.copy()
        river_discharge.attrs = {"units": "m3 s-1"}
    inflows = river_discharge.expand_dims(point=["ampal"]).transpose("time", "point").assign_coords(
        x=("point", [x_in]), y=("point", [y_in]))
    inflows.attrs["units"] = "m3 s-1"
    landuse = np.where(bed.values > 8.0, 1, 2).astype(np.int8)  # urban plain, woodland on the hills [A]
    n_map = np.where(sea, 0.02, np.where(landuse == 2, 0.035, 0.08))  # sea, urban, woodland [A]
    result = simulate_2d(
        bed, duration_h * 3600.0, manning_n=n_map, rainfall=storm, initial_depth=h0, inflows=inflows,
        boundaries=[water_level("south", tide)],  # other edges closed (sea cells reach the sides)
        start=start, output_interval=output_interval_min * 60.0, threshold_m=0.1, landuse=landuse,
        permanent_water=sea,
        friction="implicit", output_variables=("depth", "speed"),
    )
    files: list[Path] = []
    if output_dir is not None:
        from hydro.flood.products import write_cog, write_extent_geojson, write_flood_netcdf

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        hand_out = hand.copy()
        hand_out["hand"] = terrain["hand"]
        files += write_flood_netcdf(hand_out, out / "hand_flood.nc", title="Balikpapan HAND flood map")
        files += write_flood_netcdf(result.dataset, out / "plain_flood.nc", title="Balikpapan coastal plain 2-D flood")
        files.append(write_cog(result.dataset["max_flood_depth"], out / "plain_max_depth.tif"))
        files.append(write_cog(result.dataset["max_hazard_rating"], out / "plain_hazard.tif"))
        files.append(write_extent_geojson(result.dataset["flood_extent"], out / "plain_extent.geojson"))
    return dict(terrain=terrain, reaches=rd, rating=rating, hand=hand, plain=result,
                forcing=dict(storm=storm, tide=tide, inflow=inflows), files=files)
