"""Large forcing is read lazily, one block of steps at a time: the memory a run needs does not grow with
the number of time steps (measured with tracemalloc, which sees numpy and netCDF4 buffers)."""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pandas as pd

from hydro.datasets import synthetic_dem
from hydro.forcing import open_forcing, prepare
from hydro.model import CatchmentModel
from hydro.routing import RoutingParameters
from hydro.runoff import GRParameters
from hydro.terrain import analyse


def _forcing_file(path, dem, nt):
    """Hourly rain on a grid a little larger than the DEM, written block by block (never whole in memory)."""
    import netCDF4

    x = dem["x"].values
    y = dem["y"].values
    dx = float(x[1] - x[0])
    xs = np.arange(x[0] - 2 * dx, x[-1] + 2.5 * dx, dx)
    ys = np.arange(y[0] + 2 * dx, y[-1] - 2.5 * dx, -dx)
    rng = np.random.default_rng(0)
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", nt)
        nc.createDimension("y", ys.size)
        nc.createDimension("x", xs.size)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "hours since 2025-01-01 00:00:00"
        t[:] = np.arange(1, nt + 1)
        nc.createVariable("y", "f8", ("y",))[:] = ys
        nc.createVariable("x", "f8", ("x",))[:] = xs
        crs = nc.createVariable("crs", "i4")
        crs.crs_wkt = dem.rio.crs.to_wkt()
        p = nc.createVariable("precipitation", "f4", ("time", "y", "x"), zlib=True, chunksizes=(24, ys.size, xs.size))
        p.units = "mm"
        p.grid_mapping = "crs"
        for k in range(0, nt, 500):
            n = min(500, nt - k)
            p[k:k + n] = (np.where(rng.random((n, 1, 1)) < 0.2, 2.0, 0.0) * np.ones((1, ys.size, xs.size))).astype(np.float32)
    return nt * ys.size * xs.size * 4


def _peak_bytes(model, path, steps):
    terrain = model.terrain
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    rain = prepare(open_forcing(path, "precipitation"), terrain["elevation"], "1h", crs=terrain["elevation"].rio.crs)
    model.run(rain, 0.1, start=pd.Timestamp("2025-01-01"), steps=steps, gridded=())
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_number_of_steps(tmp_path):
    dem = synthetic_dem((80, 80), resolution_m=100.0, seed=3)
    terrain = analyse(dem, 1e6)
    path = tmp_path / "rain.nc"
    nt = 4000
    nbytes = _forcing_file(path, dem, nt)  # the whole forcing as float32 (~113 MB; float64 on the grid: ~205 MB)
    full_model_grid = nt * dem.size * 8

    def model():
        m = CatchmentModel(terrain, GRParameters(), RoutingParameters(), dt="1h")
        m.forcing_block_cells = 640_000  # blocks of 100 steps (5 MB) so that the run is 40 blocks long
        return m

    _peak_bytes(model(), path, 48)  # warm-up (numba compilation, dask imports)
    short = _peak_bytes(model(), path, 1500)
    long = _peak_bytes(model(), path, nt)
    assert nbytes > 100e6
    # memory is a bounded read block plus dask's temporaries, whatever the run length:
    assert long < 0.15 * full_model_grid, (long / 1e6, full_model_grid / 1e6)
    assert long - short < 0.05 * full_model_grid, (short / 1e6, long / 1e6)
