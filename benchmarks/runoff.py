"""Rainfall-runoff and routing benchmark (hydro.runoff + hydro.routing + hydro.model).

On a ``--size`` x ``--size`` grid (default 2000 x 2000, the synthetic Balikpapan DEM at 15 m,
cropped), hourly steps:

* ``generation``: cell-steps per second of ``hydro.runoff.RunoffModel.step`` (target >= 20 M/s);
* ``routing``: cell-steps per second of ``RoutingNetwork.step`` (kinematic wave, overland cells one
  step, channel cells 900-s sub-steps; target >= 5 M/s on one core);
* ``forecast``: wall time of a 48-hour hourly ``CatchmentModel.run`` with lazily generated (dask)
  forcing, gauges, water balance and gridded outputs at 6 h with peaks (target < 60 s);
* ``memory``: peak RSS of a run of 48 and of 480 steps (gauges + water balance only), each in a
  child process on a ``--memory-size`` grid (flat in run length);
* ``peer`` (``--peers``): landlab's ``KinwaveImplicitOverlandFlow`` (implicit kinematic wave,
  Newton per node) vs hydro routing on the same small DEM, cell-steps per second and ratio.

Medians of the per-step times are printed with the totals. Run::

    python benchmarks/runoff.py                       # 2000 x 2000, 48 steps, memory on 1000 x 1000
    python benchmarks/runoff.py --size 1000 --memory-size 500 --peers
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")

START = "2026-01-20T00:00"


def terrain_for(size: int):
    """Synthetic Balikpapan-like DEM cropped to size x size and analysed (static preprocessing)."""
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    res = max(5.0, min(1000.0, 30_000.0 / size))  # the synthetic domain is 36 km x 30 km
    dem = balikpapan_dem(resolution_m=res)
    dem = dem.isel(y=slice(0, min(size, dem.sizes["y"])), x=slice(0, min(size, dem.sizes["x"])))
    return analyse(dem, stream_threshold_m2=1.0e6)


def lazy_forcing(terrain, steps: int):
    """Dask (time, y, x) precipitation and PET [mm per hour], one chunk per step, made on demand."""
    import dask.array as dsa
    import pandas as pd
    import xarray as xr

    ny, nx = terrain.sizes["y"], terrain.sizes["x"]
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    storm = np.exp(-(((yy - 0.5 * ny) / (0.3 * ny)) ** 2 + ((xx - 0.4 * nx) / (0.35 * nx)) ** 2)).astype(np.float32)

    def rain(block_info=None):
        t = block_info[None]["chunk-location"][0]
        amp = 12.0 * max(0.0, np.sin(np.pi * (t % 24) / 12.0)) ** 2  # a storm in the first half of each day
        return (amp * storm)[None]

    def pet(block_info=None):
        t = block_info[None]["chunk-location"][0]
        return np.full((1, ny, nx), 0.25 * max(0.0, np.sin(np.pi * ((t % 24) - 6) / 12.0)), np.float32)

    chunks = ((1,) * steps, (ny,), (nx,))
    times = pd.date_range(pd.Timestamp(START) + pd.Timedelta("1h"), periods=steps, freq="h")
    coords = {"time": times, "y": terrain.y.values, "x": terrain.x.values}
    P = xr.DataArray(dsa.map_blocks(rain, chunks=chunks, dtype=np.float32), dims=("time", "y", "x"), coords=coords,
                     name="precipitation", attrs={"units": "mm"})
    E = xr.DataArray(dsa.map_blocks(pet, chunks=chunks, dtype=np.float32), dims=("time", "y", "x"), coords=coords,
                     name="potential_evaporation", attrs={"units": "mm"})
    return P, E


def runoff_api():
    try:
        from hydro.runoff import GRParameters, RunoffModel
    except ImportError as exc:  # the runoff operator is written in parallel
        return None, None, str(exc)
    return GRParameters, RunoffModel, ""


def default_params(GRParameters):
    return GRParameters()


def bench_generation(terrain, steps: int):
    GRParameters, RunoffModel, why = runoff_api()
    if GRParameters is None:
        return {"skipped": f"hydro.runoff not importable: {why}"}
    ncell = terrain.sizes["y"] * terrain.sizes["x"]
    model = RunoffModel(default_params(GRParameters), ncell, 3600.0)
    rng = np.random.default_rng(0)
    fields = [rng.gamma(0.5, 4.0, ncell) for _ in range(4)]
    pet = np.full(ncell, 0.15)
    model.step(fields[0], pet)  # compile
    times = []
    for t in range(steps):
        t0 = time.perf_counter()
        model.step(fields[t % 4], pet)
        times.append(time.perf_counter() - t0)
    total = sum(times)
    return {"cells": ncell, "steps": steps, "seconds": total, "median_step_s": statistics.median(times),
            "cell_steps_per_s": ncell * steps / total}


def bench_routing(terrain, steps: int):
    from hydro.routing import RoutingNetwork, RoutingParameters
    from hydro.terrain import flow_network

    t0 = time.perf_counter()
    net = flow_network(terrain["flow_direction"])
    rn = RoutingNetwork.build(net, terrain["filled_elevation"].values, RoutingParameters(), 3600.0)
    build_s = time.perf_counter() - t0
    area = rn.from_grid(net.cell_area_m2)
    rng = np.random.default_rng(1)
    base = rng.gamma(0.5, 2.0, rn.nvalid)
    rn.step(base * area / 3.6e6)  # compile
    rn.cold_start()
    times = []
    nonconv = 0
    for t in range(steps):
        lateral = base * (1.0 + np.sin(t / 6.0)) * area / 3.6e6
        t0 = time.perf_counter()
        out = rn.step(lateral)
        times.append(time.perf_counter() - t0)
        nonconv += out["nonconverged"]
    total = sum(times)
    return {"cells": rn.nvalid, "channel_cells": int(rn.fine_pos.size), "substeps": rn.n_sub, "steps": steps,
            "build_s": build_s, "seconds": total, "median_step_s": statistics.median(times),
            "cell_steps_per_s": rn.nvalid * steps / total, "nonconverged": nonconv}


def gauges_for(terrain, n=3):
    from hydro.routing import Gauge
    from hydro.terrain import flow_network

    net = flow_network(terrain["flow_direction"])
    up = net.upstream_area_m2()
    idx = np.argsort(-up)[:n]
    return [Gauge(f"G{i}", *(float(v) for v in net.xy(int(c)))) for i, c in enumerate(idx)]


def bench_forecast(terrain, steps: int, write_dir: str | None):
    GRParameters, RunoffModel, why = runoff_api()
    if GRParameters is None:
        return {"skipped": f"hydro.runoff not importable: {why}"}
    from hydro.model import CatchmentModel, RoutingParameters

    P, E = lazy_forcing(terrain, steps)
    t0 = time.perf_counter()
    model = CatchmentModel(terrain, default_params(GRParameters), RoutingParameters(), gauges=gauges_for(terrain), dt="1h")
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = model.run(P, E, start=START, steps=steps, output_step="6h", keep_peak=True)
    run_s = time.perf_counter() - t0
    out = {"cells": model.ncell, "steps": steps, "build_s": build_s, "run_s": run_s, "total_s": build_s + run_s,
           "relative_residual": res.summary["relative_residual"],
           "max_step_relative_residual": res.summary["max_step_relative_residual"]}
    if write_dir:
        t0 = time.perf_counter()
        res.write(write_dir, prefix="bench")
        model.save_state(Path(write_dir) / "bench_state.nc")
        out["write_s"] = time.perf_counter() - t0
    return out


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image [MB]: VmHWM (reset at exec, unlike ru_maxrss,
    which Linux carries over from the forking parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(terrain_path: str, steps: int) -> dict:
    """Run in a child: peak RSS after set-up and after a run of ``steps`` (gauges + balance only)."""
    GRParameters, RunoffModel, why = runoff_api()
    if GRParameters is None:
        return {"skipped": why}
    from hydro.model import CatchmentModel, RoutingParameters
    from hydro.model.runner import open_terrain

    terrain = open_terrain(terrain_path, 1.0e6)
    size = terrain.sizes["y"]
    P, E = lazy_forcing(terrain, steps)
    model = CatchmentModel(terrain, default_params(GRParameters), RoutingParameters(), gauges=gauges_for(terrain), dt="1h")
    model.run(P.isel(time=slice(0, 1)), E.isel(time=slice(0, 1)), start=START, steps=1, gridded=())  # compile
    model = CatchmentModel(terrain, default_params(GRParameters), RoutingParameters(), gauges=gauges_for(terrain), dt="1h")
    import psutil

    proc = psutil.Process()
    samples: list[float] = []

    def sample(i, n):
        if i % 12 == 0 or i == n:
            samples.append(proc.memory_info().rss / 2**20)

    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    model.run(P, E, start=START, steps=steps, gridded=(), progress=sample)
    return {"size": size, "steps": steps, "rss_before_mb": rss0,
            "rss_peak_mb": _peak_rss_mb(), "run_s": time.perf_counter() - t0,
            "rss_first_day_mb": max(samples[:2]), "rss_last_day_mb": max(samples[-2:])}


def bench_memory(size: int, steps_list=(48, 480)) -> list[dict]:
    """Each run in a fresh child that loads the (pre-analysed) terrain from a file."""
    import tempfile

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        terrain = terrain_for(size)
        path = Path(tmp) / "terrain.nc"
        terrain[["flow_direction", "filled_elevation"]].to_netcdf(path)
        del terrain
        for steps in steps_list:
            proc = subprocess.run([sys.executable, __file__, "--memory-child", str(steps), "--memory-terrain", str(path)],
                                  capture_output=True, text=True, env={**os.environ, "NUMBA_NUM_THREADS": "1"})
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            out.append(json.loads(line[-1]) if line else {"steps": steps, "error": proc.stderr[-2000:]})
    return out


def bench_peer(size: int, steps: int) -> dict:
    """landlab KinwaveImplicitOverlandFlow vs hydro routing on the same DEM (cell-steps/s)."""
    try:
        from landlab import RasterModelGrid
        from landlab.components import KinwaveImplicitOverlandFlow
    except ImportError as exc:
        return {"skipped": str(exc)}
    from hydro.routing import RoutingNetwork, RoutingParameters
    from hydro.terrain import flow_network

    terrain = terrain_for(size)
    z = terrain["filled_elevation"].values.astype(np.float64)
    ny, nx = z.shape
    dx = float(abs(terrain.rio.transform().a))
    grid = RasterModelGrid((ny, nx), xy_spacing=dx)
    elev = grid.add_field("topographic__elevation", np.nan_to_num(z[::-1].ravel(), nan=0.0), at="node")
    grid.status_at_node[np.isnan(z[::-1].ravel())] = grid.BC_NODE_IS_CLOSED
    del elev
    kw = KinwaveImplicitOverlandFlow(grid, runoff_rate=10.0, roughness=0.15, depth_exp=5.0 / 3.0)
    kw.run_one_step(3600.0)
    t0 = time.perf_counter()
    for _ in range(steps):
        kw.run_one_step(3600.0)
    ll = time.perf_counter() - t0
    net = flow_network(terrain["flow_direction"])
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0)
    lat = np.full(rn.nvalid, 10.0) * rn.from_grid(net.cell_area_m2) / 3.6e6
    rn.step(lat)
    t0 = time.perf_counter()
    for _ in range(steps):
        rn.step(lat)
    hy = time.perf_counter() - t0
    ncell = ny * nx
    return {"cells": ncell, "steps": steps, "landlab_cell_steps_per_s": ncell * steps / ll,
            "hydro_cell_steps_per_s": rn.nvalid * steps / hy, "ratio_landlab_time_over_hydro": (ll / ncell) / (hy / rn.nvalid)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=48)
    ap.add_argument("--memory-size", type=int, default=1000)
    ap.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--memory-terrain", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--peers", action="store_true", help="also time landlab's implicit kinematic wave")
    ap.add_argument("--peer-size", type=int, default=300)
    ap.add_argument("--write", default=None, help="directory to write the forecast outputs and state into (timed)")
    args = ap.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_terrain, args.memory_child)))
        return
    report: dict = {"cpu_count": os.cpu_count()}
    t0 = time.perf_counter()
    terrain = terrain_for(args.size)
    report["terrain_s"] = time.perf_counter() - t0
    print(f"grid {terrain.sizes['y']} x {terrain.sizes['x']}; terrain (static, not part of the forecast) {report['terrain_s']:.1f} s",
          flush=True)
    gen = bench_generation(terrain, args.steps)
    report["generation"] = gen
    if "skipped" in gen:
        print(f"generation: {gen['skipped']}")
    else:
        print(f"generation: {gen['cell_steps_per_s'] / 1e6:.1f} M cell-steps/s (median step {gen['median_step_s'] * 1e3:.0f} ms, "
              f"target >= 20 M)", flush=True)
    rt = bench_routing(terrain, args.steps)
    report["routing"] = rt
    print(f"routing:    {rt['cell_steps_per_s'] / 1e6:.1f} M cell-steps/s (median step {rt['median_step_s'] * 1e3:.0f} ms; "
          f"{rt['cells']} cells, {rt['channel_cells']} channel cells x {rt['substeps']} sub-steps; "
          f"network build {rt['build_s']:.1f} s; target >= 5 M)", flush=True)
    fc = bench_forecast(terrain, args.steps, args.write)
    report["forecast"] = fc
    if "skipped" in fc:
        print(f"forecast: {fc['skipped']}")
    else:
        print(f"forecast {args.steps} h: {fc['total_s']:.1f} s (model set-up {fc['build_s']:.1f} s + run {fc['run_s']:.1f} s; "
              f"balance residual {fc['max_step_relative_residual']:.1e}; target < 60 s)"
              + (f"; writing outputs + state {fc['write_s']:.1f} s" if "write_s" in fc else ""), flush=True)
    if not args.no_memory:
        mem = bench_memory(args.memory_size)
        report["memory"] = mem
        for m in mem:
            if "rss_peak_mb" in m:
                print(f"memory {m['size']}^2, {m['steps']:>3} steps: peak RSS {m['rss_peak_mb']:.0f} MB "
                      f"(peak after set-up and compilation {m['rss_before_mb']:.0f} MB; RSS in the first 24 h {m['rss_first_day_mb']:.0f} MB, "
                      f"in the last 24 h {m['rss_last_day_mb']:.0f} MB), run {m['run_s']:.1f} s", flush=True)
            else:
                print(f"memory {m.get('steps')} steps: {m.get('skipped') or m.get('error')}")
    if args.peers:
        peer = bench_peer(args.peer_size, 10)
        report["peer"] = peer
        if "skipped" in peer:
            print(f"peer: {peer['skipped']}")
        else:
            print(f"peer {args.peer_size}^2: landlab KinwaveImplicitOverlandFlow {peer['landlab_cell_steps_per_s'] / 1e6:.3f} M "
                  f"cell-steps/s, hydro {peer['hydro_cell_steps_per_s'] / 1e6:.1f} M; landlab/hydro time per cell-step "
                  f"{peer['ratio_landlab_time_over_hydro']:.0f}x")
    print(json.dumps(report, default=float))


if __name__ == "__main__":
    main()
