"""Benchmark: hydro.flood.simulate_2d vs landlab OverlandFlow (de Almeida) on the same rain-on-grid case.

Run:  python benchmarks/flood.py [--size 2000] [--duration 30] [--repeat 3]

Both models run in this process on the same DEM (a tilted, noisy plane, dx = 2 m), Manning n = 0.05,
50 mm/h rain, initial depth 5 cm, closed edges (landlab: all boundaries closed), theta = 0.8 (landlab's default),
alpha = 0.5 and the same time-step formula (hydro advective_dt=False), for the same simulated duration.
Reported: cell updates per second (cells x time steps / wall time), median of ``--repeat`` runs, for hydro on
1 and 2 numba threads and landlab with its OpenMP pool limited to 1 and 2 threads (threadpoolctl), the ratios,
and the memory traffic of the hydro kernel (bytes per cell update, counted from the arrays the three sweeps
stream) against a measured copy bandwidth (numpy, 1 thread; numba prange, 2 threads).

landlab 2.11 imports on Python 3.11 only with ``requireit==0.8.0``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np


def make_case(size: int, seed: int = 0):
    from affine import Affine

    from hydro.io.raster import from_array

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    dx = 2.0
    z = 0.01 * xx * dx + 0.005 * yy * dx + rng.normal(0.0, 0.05, (size, size))
    return z.astype(np.float32), dx, from_array(z.astype(np.float32), Affine(dx, 0, 500000.0, 0, -dx, 9860000.0),
                                                "EPSG:32750")


RAIN_MM_H = 50.0
H0 = 0.05
ALPHA = 0.5
N = 0.05


def run_hydro(bed, duration: float, threads: int) -> tuple[float, int]:
    from hydro.flood import simulate_2d

    t0 = time.perf_counter()
    res = simulate_2d(bed, duration, manning_n=N, rainfall=RAIN_MM_H, rainfall_units="mm/h", initial_depth=H0,
                      output_variables=(), theta=0.8, alpha=ALPHA, advective_dt=False,
                      num_threads=threads)
    wall = time.perf_counter() - t0
    return wall, int(res.balance["steps"].iloc[-1])


def run_landlab(z: np.ndarray, dx: float, duration: float) -> tuple[float, int]:
    from landlab import RasterModelGrid
    from landlab.components import OverlandFlow

    ny, nx = z.shape
    grid = RasterModelGrid((ny, nx), xy_spacing=dx)
    grid.set_closed_boundaries_at_grid_edges(True, True, True, True)
    grid.add_field("topographic__elevation", z[::-1].astype(np.float64).ravel().copy(), at="node")
    h = grid.add_zeros("surface_water__depth", at="node")
    h[:] = H0
    of = OverlandFlow(grid, mannings_n=N, rainfall_intensity=RAIN_MM_H / 1000.0 / 3600.0, theta=0.8, alpha=ALPHA,
                      steep_slopes=False)
    steps = 0
    calc = of.calc_time_step

    def counting():
        nonlocal steps
        steps += 1
        return calc()

    of.calc_time_step = counting
    t0 = time.perf_counter()
    of.run_one_step(dt=duration)
    return time.perf_counter() - t0, steps


def copy_bandwidth(nbytes: int = 256 * 2**20) -> tuple[float, float]:
    """Copy bandwidth in GB/s (read + write bytes / time): numpy 1 thread, numba prange 2 threads."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)

    @numba.njit(parallel=True)
    def pcopy(src, dst):
        for i in numba.prange(src.shape[0]):
            dst[i] = src[i]

    pcopy(a, b)
    t1 = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(b, a)
        t1.append(time.perf_counter() - t0)
    old = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    t2 = []
    for _ in range(5):
        t0 = time.perf_counter()
        pcopy(a, b)
        t2.append(time.perf_counter() - t0)
    numba.set_num_threads(old)
    return 2 * a.nbytes / min(t1) / 1e9, 2 * a.nbytes / min(t2) / 1e9


def bytes_per_cell_update(dtype_size: int = 4) -> int:
    """Bytes the three sweeps stream per cell and step (float32 fluxes/bed, float64 depth, uniform n and rain).

    momentum   : read z, h, active, qx, qy; write qx_raw, qy_raw
    limiter    : read h, active, qx_raw, qy_raw; write fac
    continuity : read qx_raw, qy_raw, fac, h, active; write qx, qy, h; read+write 5 float32 products
    (neighbour rows are re-used from cache; write-allocate traffic not counted)
    """
    f, d, b = dtype_size, 8, 1
    momentum = f + d + b + 2 * f + 2 * f
    limiter = d + b + 2 * f + f
    continuity = 2 * f + f + d + b + 2 * f + d + 5 * 2 * 4
    return momentum + limiter + continuity


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--duration", type=float, default=30.0, help="simulated seconds per run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-landlab", action="store_true")
    args = p.parse_args()
    import os

    z, dx, bed = make_case(args.size)
    cells = z.size
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other jobs disturb 2-thread runs)")
    print(f"case: {args.size} x {args.size} = {cells:,} cells, dx = {dx} m, rain {RAIN_MM_H} mm/h, n = {N}, "
          f"{args.duration} s simulated, median of {args.repeat}")
    run_hydro(bed, 2.0, 1)  # compile / warm up
    results = {}
    for threads in (1, 2):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        runs = [run_hydro(bed, args.duration, threads) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        steps = runs[0][1]
        results[f"hydro {threads} thread"] = cells * steps / wall
        rate = cells * steps / wall / 1e6
        print(f"hydro   {threads} thread : {steps:4d} steps, {wall:7.3f} s, {rate:8.1f} M cell-updates/s")
    if not args.no_landlab:
        from threadpoolctl import threadpool_limits

        for threads in (1, 2):
            with threadpool_limits(limits=threads):
                runs = [run_landlab(z, dx, args.duration) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in runs)
            steps = runs[0][1]
            results[f"landlab {threads} thread"] = cells * steps / wall
            rate = cells * steps / wall / 1e6
            print(f"landlab {threads} thread : {steps:4d} steps, {wall:7.3f} s, {rate:8.1f} M cell-updates/s")
        print(f"ratio hydro/landlab, 1 thread : {results['hydro 1 thread'] / results['landlab 1 thread']:.2f}")
        if "hydro 2 thread" in results:
            print(f"ratio hydro/landlab, 2 threads: {results['hydro 2 thread'] / results['landlab 2 thread']:.2f}")
    if "hydro 2 thread" in results:
        print(f"hydro speed-up 2 threads / 1 thread: {results['hydro 2 thread'] / results['hydro 1 thread']:.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    bpc = bytes_per_cell_update()
    bw1, bw2 = copy_bandwidth()
    print(f"bytes per cell update (hydro, counted): {bpc}")
    print(f"copy bandwidth: {bw1:.1f} GB/s (1 thread), {bw2:.1f} GB/s (2 threads)")
    for threads, bw in ((1, bw1), (2, bw2)):
        key = f"hydro {threads} thread"
        if key in results:
            used = results[key] * bpc / 1e9
            print(f"hydro {threads} thread streams {used:.1f} GB/s = {100 * used / bw:.0f} % of copy bandwidth "
                  f"(memory-bound limit {bw * 1e9 / bpc / 1e6:.0f} M cell-updates/s)")


if __name__ == "__main__":
    main()
