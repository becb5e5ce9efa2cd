"""Small real datasets for the report tests: a catchment-model run, a DSG with known values, an
allocation run with hand-derived shortfalls, a DEM and a depth map on a sub-area."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

START = pd.Timestamp("2026-01-10 00:00")
DAY = 86400.0


@pytest.fixture(scope="session")
def model_run():
    """A 48-hour CatchmentModel run on a 40 x 40 synthetic DEM (100 m) with two gauges."""
    from hydro.datasets import synthetic_dem
    from hydro.model import CatchmentModel, Gauge, RoutingParameters
    from hydro.runoff import GRParameters
    from hydro.terrain import analyse, flow_network

    dem = synthetic_dem((40, 40), resolution_m=100.0, seed=3)
    terrain = analyse(dem, stream_threshold_m2=2e5)
    net = flow_network(terrain["flow_direction"])
    up = net.upstream_area_m2()
    outlet = int(np.argmax(up))
    trib = int(np.flatnonzero((up > 3e5) & (up < 6e5))[0])
    xy = lambda i: tuple(float(v) for v in net.xy(i))
    gauges = [Gauge("G1", *xy(outlet), name="Outlet"), Gauge("G2", *xy(trib), name="Tributary")]
    model = CatchmentModel(terrain, GRParameters(), RoutingParameters(channel_threshold_m2=2e5), gauges=gauges, dt="1h")
    times = pd.date_range(START + pd.Timedelta("1h"), periods=48, freq="1h")
    p = np.zeros((48, 40, 40))
    p[5:11] = np.array([5.0, 15.0, 30.0, 20.0, 10.0, 5.0])[:, None, None]
    coords = {"time": times, "y": terrain.y.values, "x": terrain.x.values}
    P = xr.DataArray(p, dims=("time", "y", "x"), coords=coords, attrs={"units": "mm"})
    E = xr.full_like(P, 0.1)
    res = model.run(P, E, start=START, steps=48, keep_peak=True)
    return {"result": res, "dem": dem}


@pytest.fixture
def dsg_gauges():
    """Two stations, 6 hourly values with known peaks (discharge and max_discharge)."""
    from hydro.io import timeseries_dataset

    time = pd.date_range(START + pd.Timedelta("1h"), periods=6, freq="1h")
    q = np.array([[1.0, 3.0, 42.0, 20.0, 5.0, 2.0], [0.5, 0.7, 0.9, 1.2, 7.5, 3.0]])
    qmax = q + np.array([[0.0, 1.0, 8.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 2.5, 0.0]])
    return timeseries_dataset({"discharge": q, "max_discharge": qmax}, ids=["A-1", "B-2"], names=["Ampal", "Manggar"],
                              time=time, lat=[-1.25, -1.2], lon=[116.85, 116.9], instance_dim="station",
                              time_bounds=[(t - pd.Timedelta("1h"), t) for t in time])


def allocation_network():
    """Intake of 2, 1, 0.5 m3/s; city (region a, priority 1) wants 0.6, farm (region b, priority 2) 0.8.

    Hand answer, daily steps: city gets 0.6, 0.6, 0.5 (shortfall 0.1 m3/s on day 3 = 8 640 m3 of
    155 520 m3 = 5.5556 %); farm gets 0.8, 0.4, 0 (shortfall (0.4 + 0.8) * 86 400 = 103 680 m3 of
    207 360 m3 = 50 %).
    """
    return {
        "network": {"name": "tiny", "start": "2024-01-01", "steps": 3, "timestep": "1D"},
        "regions": [{"id": "a", "name": "Balikpapan"}, {"id": "b", "name": "Penajam"}],
        "nodes": [{"id": "river", "type": "intake", "inflow": {"values": [2.0, 1.0, 0.5], "units": "m3/s"}},
                  {"id": "city", "type": "demand", "region": "a", "demand": "0.6 m3/s", "priority": 1},
                  {"id": "farm", "type": "demand", "region": "b", "demand": "0.8 m3/s", "priority": 2}],
        "links": [{"id": "l1", "from": "river", "to": "city"}, {"id": "l2", "from": "river", "to": "farm"}],
    }


@pytest.fixture(scope="session")
def allocation_result():
    from hydro.allocation import allocate, load_network

    return allocate(load_network(allocation_network()))


@pytest.fixture
def dem_and_depth():
    """A 60 x 80 DEM (50 m, a plane rising north with a bump) and a 1.0 m depth block on a sub-area
    at 25 m cells whose west half is NaN."""
    from affine import Affine

    from hydro.io.raster import from_array

    ny, nx = 60, 80
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = (ny - yy) * 0.5 + 20.0 * np.exp(-((yy - 20) ** 2 + (xx - 60) ** 2) / 60.0)
    z[-5:, :] = np.nan  # sea along the south edge
    dem = from_array(z.astype(np.float32), Affine(50.0, 0, 500_000.0, 0, -50.0, 9_860_000.0), "EPSG:32750")
    # depth block: x 501000..502000, y 9858000..9857000 (40 x 40 cells of 25 m)
    d = np.full((40, 40), 1.0, np.float32)
    d[:, :20] = np.nan
    depth = from_array(d, Affine(25.0, 0, 501_000.0, 0, -25.0, 9_858_000.0), "EPSG:32750", name="max_flood_depth")
    return dem, depth
