"""Fixtures of the exchange tests: a tiny real catchment model, its run folder, good exchange files."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

CRS = "EPSG:32750"
START = pd.Timestamp("2026-01-10 00:00")


@pytest.fixture(scope="session")
def tiny():
    """A 40 x 40 synthetic DEM at 100 m, analysed; its outlet and a channel cell draining to it."""
    from hydro.datasets import synthetic_dem
    from hydro.terrain import analyse, flow_network

    terrain = analyse(synthetic_dem((40, 40), resolution_m=100.0, seed=3), stream_threshold_m2=2e5)
    net = flow_network(terrain["flow_direction"])
    up = net.upstream_area_m2()
    outlet = int(np.argmax(up))
    down = np.asarray(net.downstream)

    def drains_to_outlet(c: int) -> bool:
        while c >= 0 and c != outlet:
            c = int(down[c])
        return c == outlet

    head = next(int(c) for c in np.flatnonzero((up > 3e5) & (up < 6e5)) if drains_to_outlet(int(c)))
    xy = lambda i: tuple(float(v) for v in net.xy(i))
    return {"terrain": terrain, "outlet": xy(outlet), "head": xy(head), "net": net}


def forcing(steps: int, scale: float = 1.0):
    """Uniform hourly rain (5 mm h-1 x scale for 6 h) and PET 0.1 mm h-1, labelled at step ends."""
    times = pd.date_range(START + pd.Timedelta("1h"), periods=steps, freq="h")
    p = np.where(np.arange(steps) < 6, 5.0 * scale, 0.0)
    P = xr.DataArray(p, dims="time", coords={"time": times}, name="precipitation")
    E = xr.DataArray(np.full(steps, 0.1), dims="time", coords={"time": times}, name="potential_evaporation")
    return P, E


def model(tiny, inflows=()):
    from hydro.model import CatchmentModel, Gauge, RoutingParameters
    from hydro.runoff import GRParameters

    gauges = [Gauge("G-out", *tiny["outlet"], name="outlet at the border"), Gauge("G-up", *tiny["head"], name="upstream gauge")]
    return CatchmentModel(tiny["terrain"], GRParameters(), RoutingParameters(channel_threshold_m2=2e5),
                          gauges=gauges, inflows=list(inflows), dt="1h")


def manifest(tiny, **extra):
    """The manifest keys export_boundary reads (as written by hydro.forecast)."""
    gauges = [
        {"id": "G-out", "name": "outlet at the border", "x": tiny["outlet"][0], "y": tiny["outlet"][1], "border": True,
         "warning_levels_m3s": [1.0, 2.0]},
        {"id": "G-up", "name": "upstream gauge", "x": tiny["head"][0], "y": tiny["head"][1], "border": False,
         "warning_levels_m3s": []},
    ]
    m = {"status": "complete", "run_id": "tinyland_20260110T0000Z_abc123", "region": "tinyland", "config_hash": "abc123",
         "hydro_version": "0.1.0", "config": {"region": "tinyland", "dem": {"source": "file", "crs": CRS}, "gauges": gauges}}
    m.update(extra)
    return m


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny):
    """A finished deterministic run folder: manifest.json + runoff/run_gauges.nc (24 hourly steps)."""
    d = tmp_path_factory.mktemp("run") / "tinyland_20260110T0000Z_abc123"
    res = model(tiny).run(*forcing(24), start=START, steps=24, gridded=())
    res.write(d / "runoff", prefix="run")
    (d / "manifest.json").write_text(json.dumps(manifest(tiny)))
    return d


@pytest.fixture(scope="module")
def ensemble_run_dir(tmp_path_factory, tiny):
    """A finished ensemble run: members 0..2 (rain x 0.5, 1, 2) in ensemble/member_<k>_gauges.nc."""
    d = tmp_path_factory.mktemp("ens") / "tinyland_ens"
    for k, scale in enumerate((0.5, 1.0, 2.0)):
        res = model(tiny).run(*forcing(24, scale), start=START, steps=24, gridded=())
        res.write(d / "ensemble", prefix=f"member_{k}")
    (d / "manifest.json").write_text(json.dumps(manifest(tiny, forecast_reference_time="2026-01-10T00:00:00Z")))
    return d


def sample_discharge(members: int | None = None, steps: int = 24, seed: int = 0) -> xr.DataArray:
    """Positive discharge (time, point[, realization]) on hourly labels from START + 1 h."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(START + pd.Timedelta("1h"), periods=steps, freq="h")
    if members is None:
        return xr.DataArray(rng.uniform(0.5, 9.0, (steps, 2)), dims=("time", "point"), coords={"time": times})
    return xr.DataArray(rng.uniform(0.5, 9.0, (steps, 2, members)), dims=("time", "point", "realization"),
                        coords={"time": times, "realization": np.arange(members)})


#: two border points (UTM 50S, near Balikpapan)
POINTS = {"ids": ["B1", "B2"], "x": [480_000.0, 490_000.0], "y": [9_850_000.0, 9_860_000.0]}


def good_dataset(members: int | None = None, **kw):
    from hydro.exchange import exchange_dataset

    args = {"run_id": "upland_20260110T0000Z_f00d", "config_hash": "f00d"}
    args.update(kw)
    return exchange_dataset(sample_discharge(members), POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START, "upland", **args)
