"""Benchmark: hydro.flood.simulate_2d vs landlab OverlandFlow (de Almeida) on the same rain-on-grid case.

Run:  python benchmarks/flood.py [--size 2000] [--duration 60] [--repeat 3]

Both models run in this process on the same DEM (a tilted, noisy plane, dx = 2 m), Manning n = 0.05,
50 mm/h rain, initial depth 5 cm, closed edges (landlab: all boundaries closed), theta = 0.8 (landlab's default),
alpha = 0.5 and the same time-step rule ``dt = alpha dx / sqrt(g h_max)`` (hydro ``advective_dt=False``; landlab
``calc_time_step``), for the same simulated duration; the step counts are printed (they differ by ~2 %: landlab adds
``h_init`` = 1e-5 m to every depth). Rates are cell updates per second (cells x time steps / wall time), fastest
of ``--repeat`` runs (the machine is shared), for hydro on 1 and 2 numba threads and landlab with its OpenMP pool
limited to 1 and 2 threads (threadpoolctl finds landlab's bundled libgomp). The two engines alternate run by run
(hydro, landlab, hydro, ...) so that both see the same load, and the ratio of each round is printed too. hydro's
figure is given twice: for the whole ``simulate_2d`` call (input checks, allocation, the output Dataset) and in
steady state (the fixed cost of a call, measured with a one-step run, taken off: the time-stepping loop alone;
landlab's timed region, ``run_one_step``, is its time-stepping loop alone, its grid and component set-up are not
timed).

hydro runs twice per round: with its five running summary maps (maximum depth, maximum speed, first wetting,
duration, maximum hazard; the default) and with ``summary_maps=False`` (depth, fluxes and volume balance only: the
same outputs as landlab's OverlandFlow, the like-for-like comparison).

Memory: bytes moved per cell update by the fused kernel, counted from the arrays it reads and writes, against a
measured copy bandwidth (numpy copy, 1 thread; numba prange copy, 2 threads; read + write bytes / time).

landlab 2.11 imports on Python 3.11 only with ``requireit==0.8.0``.
"""
from __future__ import annotations

import argparse
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


def run_hydro(bed, duration: float, threads: int, maps: bool = True) -> tuple[float, int]:
    from hydro.flood import simulate_2d

    t0 = time.perf_counter()
    res = simulate_2d(bed, duration, manning_n=N, rainfall=RAIN_MM_H, rainfall_units="mm/h", initial_depth=H0,
                      output_variables=(), theta=0.8, alpha=ALPHA, advective_dt=False,
                      num_threads=threads, summary_maps=maps)
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


def cpu_description() -> str:
    """LLVM's name for the host CPU and its widest vector extension (numba compiles for the host)."""
    import llvmlite.binding as llvm

    feats = llvm.get_host_cpu_features()
    widest = next((f for f in ("avx512f", "avx2", "avx", "sse4.2") if feats.get(f, False)), "none")
    return f"LLVM cpu {llvm.get_host_cpu_name()}, {widest}"


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


def bytes_per_cell_update(dtype_size: int = 4) -> tuple[int, int]:
    """Bytes the fused kernel streams per cell and step (float32 bed/fluxes, float64 depth, uniform n and rain).

    read  : z (4), h (8), active (1), qx (4), qy (4), open_x (1), open_y (1) (faces that are walls: theta smoothing)
    write : h_new (8), qx_new (4), qy_new (4)            (double-buffered state)
    r + w : 5 float32 running products (max depth, max speed, first wetting, duration, max hazard) = 40
    Neighbour rows, halo rows and the per-block scratch rows stay in cache. Returns (counted, with write-allocate
    of the three write-only buffers).
    """
    f, d, b = dtype_size, 8, 1
    read = f + d + b + f + f + 2 * b
    write = d + f + f
    products = 5 * 2 * 4
    return read + write + products, read + 2 * write + products


def hydro_rates(full: list[tuple[float, int]], one: list[tuple[float, int]], cells: int) -> dict[str, float]:
    """Whole-call and steady-state rates (cell updates/s) of simulate_2d from ``full`` runs and one-step runs
    (wall s, steps); fastest of each.

    Steady state = the time-stepping loop alone: the fixed cost of a call (input checks, allocation, building the
    output Dataset) is measured with a one-step run (0.05 s simulated) minus one step, and taken off the full run.
    Not a difference of two run lengths: the cost of a step grows as pits fill (rows with no cell above the
    flooded threshold skip three product maps), so a short run's steps are cheaper than a long run's.
    """
    w_full = min(r[0] for r in full)
    n_full = full[0][1]
    fixed = max(min(r[0] for r in one) - w_full / n_full, 0.0)
    return dict(steps=n_full, wall=w_full, whole=cells * n_full / w_full, steady=cells * n_full / (w_full - fixed),
                setup=fixed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--duration", type=float, default=60.0, help="simulated seconds per run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-landlab", action="store_true")
    args = p.parse_args()
    import os

    z, dx, bed = make_case(args.size)
    cells = z.size
    print(f"machine: {os.cpu_count()} CPUs ({cpu_description()}), load average {os.getloadavg()[0]:.2f} "
          "(other jobs disturb the runs)")
    print(f"case: {args.size} x {args.size} = {cells:,} cells, dx = {dx} m, rain {RAIN_MM_H} mm/h, n = {N}, "
          f"theta 0.8, alpha {ALPHA}, {args.duration} s simulated, fastest of {args.repeat}")
    run_hydro(bed, 2.0, 1)  # compile / warm up
    res: dict[str, float] = {}
    paired: dict[int, list[float]] = {}
    if not args.no_landlab:
        from threadpoolctl import threadpool_limits
    for threads in (1, 2):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        # hydro and landlab alternate (round r: hydro full run, hydro one-step run, landlab run), so that both
        # engines see the same machine load; the per-round ratios are printed besides the fastest-of figures
        full, one, ll_runs, bare, bare_one = [], [], [], [], []
        for _ in range(args.repeat):
            full.append(run_hydro(bed, args.duration, threads))
            one.append(run_hydro(bed, 0.05, threads))
            bare.append(run_hydro(bed, args.duration, threads, maps=False))
            bare_one.append(run_hydro(bed, 0.05, threads, maps=False))
            if not args.no_landlab:
                with threadpool_limits(limits=threads):
                    ll_runs.append(run_landlab(z, dx, args.duration))
        r = hydro_rates(full, one, cells)
        res[f"hydro {threads}"] = r["steady"]
        res[f"hydro whole {threads}"] = r["whole"]
        print(f"hydro   {threads} thread : {r['steps']:4d} steps, {r['wall']:7.3f} s, {r['whole'] / 1e6:7.1f} M "
              f"cell-updates/s whole call, {r['steady'] / 1e6:7.1f} M steady state (setup + output {r['setup']:.2f} s)")
        rb = hydro_rates(bare, bare_one, cells)
        res[f"bare {threads}"] = rb["steady"]
        res[f"bare whole {threads}"] = rb["whole"]
        print(f"hydro   {threads} thread, summary_maps=False (depth, fluxes and balance only, as landlab): "
              f"{rb['whole'] / 1e6:7.1f} M whole call, {rb['steady'] / 1e6:7.1f} M steady state")
        if ll_runs:
            wall = min(x[0] for x in ll_runs)
            steps = ll_runs[0][1]
            res[f"landlab {threads}"] = cells * steps / wall
            paired[threads] = [(cells * f[1] / f[0]) / (cells * x[1] / x[0]) for f, x in zip(full, ll_runs)]
            paired[-threads] = [(cells * f[1] / f[0]) / (cells * x[1] / x[0]) for f, x in zip(bare, ll_runs)]
            print(f"landlab {threads} thread : {steps:4d} steps, {wall:7.3f} s, {cells * steps / wall / 1e6:7.1f} M "
                  "cell-updates/s (time-stepping loop)")
    if not args.no_landlab:
        for threads in (1, 2):
            if f"hydro {threads}" in res:
                ll = res[f"landlab {threads}"]
                pr = paired[threads]
                print(f"ratio hydro/landlab, {threads} thread(s): {res[f'hydro {threads}'] / ll:.2f} steady state, "
                      f"{res[f'hydro whole {threads}'] / ll:.2f} whole call (fastest of each); per round, whole call: "
                      f"{', '.join(f'{x:.2f}' for x in pr)} (median {float(np.median(pr)):.2f})")
                pb = paired[-threads]
                print(f"  like for like (summary_maps=False), {threads} thread(s): "
                      f"{res[f'bare {threads}'] / ll:.2f} steady state, {res[f'bare whole {threads}'] / ll:.2f} whole "
                      f"call; per round, whole call: {', '.join(f'{x:.2f}' for x in pb)} "
                      f"(median {float(np.median(pb)):.2f})")
        if "hydro 1" in res:
            need = 10.0 * res["landlab 1"]
            print(f"issue 4 target (one core, >= 10x landlab): needs {need / 1e6:.0f} M cell-updates/s, hydro reaches "
                  f"{res['hydro whole 1'] / 1e6:.0f} ({100 * res['hydro whole 1'] / need:.0f} % of it) -> "
                  f"{'MET' if res['hydro whole 1'] >= need else 'NOT MET'} with the five running maps; "
                  f"{res['bare whole 1'] / 1e6:.0f} ({100 * res['bare whole 1'] / need:.0f} %) without them -> "
                  f"{'MET' if res['bare whole 1'] >= need else 'NOT MET'}")
    if "hydro 2" in res:
        print(f"hydro speed-up 2 threads / 1 thread: {res['hydro 2'] / res['hydro 1']:.2f} steady state, "
              f"{res['hydro whole 2'] / res['hydro whole 1']:.2f} whole call")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    bpc, bpc_wa = bytes_per_cell_update()
    bw1, bw2 = copy_bandwidth()
    print(f"bytes per cell update (fused kernel, counted from its arrays): {bpc} ({bpc_wa} with write-allocate)")
    print(f"copy bandwidth: {bw1:.1f} GB/s (1 thread), {bw2:.1f} GB/s (2 threads)")
    for threads, bw in ((1, bw1), (2, bw2)):
        key = f"hydro {threads}"
        if key in res:
            used = res[key] * bpc / 1e9
            print(f"hydro {threads} thread(s) move {used:.1f} GB/s = {100 * used / bw:.0f} % of the copy bandwidth "
                  f"({100 * res[key] * bpc_wa / 1e9 / bw:.0f} % with write-allocate); memory-bound ceiling "
                  f"{bw * 1e9 / bpc / 1e6:.0f} M cell-updates/s, reached {100 * res[key] / (bw * 1e9 / bpc):.0f} %")


if __name__ == "__main__":
    main()
