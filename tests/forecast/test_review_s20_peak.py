"""End-to-end review: the peak-discharge map of `hydro run` (runoff/peak_discharge.nc, the HAND map's input) must hold
the same instantaneous peak as the gauges' max_discharge (maximum over the routing sub-steps).

Observed on models/balikpapan.toml: wain_lower 138.042 m3 s-1 in peak_discharge.nc vs 138.098 in run_gauges.nc
(max_discharge, and alerts.json peak_m3s); flood_inflow_0 107.378 vs 107.477.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.config import load_config
from hydro.forecast.hydrology import run_hydrology
from hydro.model import CatchmentModel, Gauge, RoutingParameters
from hydro.runoff import GRParameters
from hydro.datasets import synthetic_dem
from hydro.terrain import analyse

MODEL = Path(__file__).resolve().parents[2] / "models" / "balikpapan.toml"


def test_peak_map_equals_gauge_substep_maximum():
    cfg = load_config(MODEL)
    cfg = cfg.model_copy(update={"routing": cfg.routing.model_copy(update={"model_step": "1h", "output_step": "1h"})})
    terrain = analyse(synthetic_dem((150, 150), resolution_m=100.0, seed=3), 1e5)
    ua = terrain["upstream_area"].values
    # gauges on 50 of the 200 largest channel cells (several sub-steps per hour there: channel_substep_s = 900 s)
    flat = np.argsort(np.nan_to_num(ua, nan=-1).ravel())[::-1][:200:4]
    ys, xs = np.unravel_index(flat, ua.shape)
    gauges = [Gauge(f"g{k}", x=float(terrain.x[j]), y=float(terrain.y[i])) for k, (i, j) in enumerate(zip(ys, xs))]
    model = CatchmentModel(terrain, GRParameters(production_capacity_mm=150.0, routing_capacity_mm=20.0, impervious_fraction=0.2), RoutingParameters(channel_threshold_m2=1e5),
                           gauges=gauges, dt="1h")
    steps = 12
    t = pd.date_range("2025-01-01T01:00", periods=steps, freq="h")
    rain = xr.DataArray(np.array([0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0], float), dims="time", coords={"time": t},
                        attrs={"units": "mm"})
    h = run_hydrology(model, cfg, rain, pd.Timestamp("2025-01-01T00:00"), steps)
    g = h.result.gauges
    peak = h.peak_discharge
    bad = []
    for k in range(g.sizes["station"]):
        at_cell = float(peak.sel(x=float(g.x[k]), y=float(g.y[k])))
        gauge_peak = float(g["max_discharge"].isel(station=k).max())
        if at_cell != pytest.approx(gauge_peak, rel=1e-6):
            bad.append((str(g.station_id.values[k]), at_cell, gauge_peak))
    assert not bad, bad
