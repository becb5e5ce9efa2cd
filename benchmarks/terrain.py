"""Terrain engine benchmark: hydro vs pyflwdir vs pysheds, side by side in one process.

For each DEM it times (median of ``--repeat`` runs, after a warm-up that compiles every numba
kernel) two pipelines:

* ``core``: fill depressions + D8 flow directions + flow accumulation;
* ``full``: core + upstream area + streams + Strahler order + HAND.

It prints medians, cells/s and ratios (peer time / hydro time: > 1 means hydro is faster). Peak
memory of each tool's full pipeline is measured in a child process (``ru_maxrss`` growth beyond
the loaded DEM), and so is hydro's cold start (import + numba compilation + first run). Run::

    python benchmarks/terrain.py                 # 4000 x 4000 synthetic + tiled real + real DEMs
    python benchmarks/terrain.py --size 2000 --repeat 1 --no-peers
    python benchmarks/terrain.py --memory-size 8000   # bytes/cell at 8000 x 8000 (hydro only)
    NUMBA_NUM_THREADS=1 python benchmarks/terrain.py  # hydro on one thread

hydro's fill (strips), D8 and flat resolution use ``NUMBA_NUM_THREADS`` threads (default: all CPUs).

Peers: pysheds 0.5 needs numpy < 2.4; pyflwdir >= 0.5.8.
"""
from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DEM = REPO.parent / "shared" / "data" / "dem"
sys.path.insert(0, str(REPO))

warnings.filterwarnings("ignore")


# ------------------------------------------------------------------------------------------------
# DEM cases
def synthetic(size: int):
    from hydro.datasets import synthetic_dem

    return synthetic_dem((size, size), 30.0, seed=42)


def tiled_real(size: int):
    """The Big Tujunga SRTM DEM mirrored into a size x size grid (real relief, realistic pit share)."""
    from affine import Affine

    from hydro.io import open_dem
    from hydro.io.raster import from_array

    dem = open_dem(SHARED_DEM / "topotoolbox_bigtujunga_srtm30m_utm11.tif").values
    reps = (size // dem.shape[0] + 2, size // dem.shape[1] + 2)
    tile = np.block([[dem if (i + j) % 2 == 0 else dem[:, ::-1] for j in range(reps[1])] for i in range(reps[0])])
    tile = np.where((np.arange(tile.shape[0]) // dem.shape[0] % 2 == 1)[:, None], tile[::-1], tile)
    z = np.ascontiguousarray(tile[:size, :size]).astype(np.float32)
    return from_array(z, Affine(30.0, 0, 376000.0, 0, -30.0, 3900000.0), "EPSG:32611")


def real(name: str):
    from hydro.io import open_dem

    return open_dem(SHARED_DEM / name)


# ------------------------------------------------------------------------------------------------
# pipelines (each returns something so work is not optimised away)
def hydro_core(dem):
    import hydro.terrain as T

    filled = T.fill_depressions(dem)
    fd = T.flow_direction(filled)
    net = T.flow_network(fd)
    return net.upstream_count()


def hydro_full(dem, threshold_m2=1e6):
    import hydro.terrain as T

    return T.analyse(dem, threshold_m2)


def _flwdir_inputs(dem):
    z = np.where(np.isnan(dem.values), -9999.0, dem.values).astype(np.float32)
    return z, dem.rio.transform(), bool(dem.rio.crs.is_geographic)


def pyflwdir_core(dem):
    import pyflwdir

    z, tr, latlon = _flwdir_inputs(dem)
    flw = pyflwdir.from_dem(z, nodata=-9999.0, transform=tr, latlon=latlon)
    return flw.upstream_area(unit="cell")


def pyflwdir_full(dem, threshold_m2=1e6):
    import pyflwdir

    z, tr, latlon = _flwdir_inputs(dem)
    elevtn, d8 = pyflwdir.dem.fill_depressions(z, nodata=-9999.0)
    flw = pyflwdir.from_array(d8, ftype="d8", transform=tr, latlon=latlon)
    upa = flw.upstream_area(unit="m2")
    streams = upa >= threshold_m2
    order = flw.stream_order(type="strahler", mask=streams)
    hand = flw.hand(drain=streams, elevtn=elevtn)
    return upa, order, hand


def _pysheds(dem):
    from pysheds.grid import Grid
    from pysheds.sview import Raster, ViewFinder

    z = np.where(np.isnan(dem.values), -9999.0, dem.values).astype(np.float64)
    import pyproj

    vf = ViewFinder(affine=dem.rio.transform(), shape=z.shape, crs=pyproj.Proj(dem.rio.crs.to_wkt()), nodata=-9999.0)
    raster = Raster(z, viewfinder=vf)
    return Grid.from_raster(raster), raster


def pysheds_core(dem):
    grid, raster = _pysheds(dem)
    flooded = grid.resolve_flats(grid.fill_depressions(grid.fill_pits(raster)))
    fdir = grid.flowdir(flooded)
    return grid.accumulation(fdir)


def pysheds_full(dem, threshold_m2=1e6):
    grid, raster = _pysheds(dem)
    flooded = grid.resolve_flats(grid.fill_depressions(grid.fill_pits(raster)))
    fdir = grid.flowdir(flooded)
    acc = grid.accumulation(fdir)
    cell = abs(dem.rio.transform().a * dem.rio.transform().e)
    streams = acc * cell >= threshold_m2
    order = grid.stream_order(fdir, streams)
    hand = grid.compute_hand(fdir, flooded, streams)
    return acc, order, hand


TOOLS = {
    "hydro": (hydro_core, hydro_full),
    "pyflwdir": (pyflwdir_core, pyflwdir_full),
    "pysheds": (pysheds_core, pysheds_full),
}


def timed(func, dem, repeat):
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = func(dem)
        times.append(time.perf_counter() - t0)
        del out
    return statistics.median(times)


# ------------------------------------------------------------------------------------------------
# memory and cold start, in child processes
def _child_peak(tool: str, npz: str, queue) -> None:
    warnings.filterwarnings("ignore")
    from affine import Affine

    from hydro.io.raster import from_array

    data = np.load(npz)
    TOOLS[tool][1](synthetic(64))  # compile / warm on a tiny DEM
    dem = from_array(data["z"], Affine(*data["transform"]), str(data["crs"]))
    gc.collect()
    # ru_maxrss survives exec (it would carry the parent's peak): use VmHWM, reset through clear_refs
    base = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    TOOLS[tool][1](dem)
    peak = _status_bytes("VmHWM")
    queue.put((peak - base, dem.size))


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(key)


def peak_memory(tool: str, dem) -> tuple[float, int]:
    """Growth of the child's peak RSS while running the full pipeline on ``dem`` [bytes], cells."""
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "dem.npz"
        np.savez(npz, z=dem.values.astype(np.float32), transform=np.array(tuple(dem.rio.transform())[:6]), crs=dem.rio.crs.to_wkt())
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_child_peak, args=(tool, str(npz), q))
        p.start()
        extra, n = q.get()
        p.join()
    return extra, n


def cold_start(n_cells: int = 1_000_000) -> dict[str, float]:
    """Wall time of `hydro terrain` on a ~1 M-cell DEM with an empty numba cache, then warm."""
    import shutil

    from hydro.datasets import balikpapan_dem

    dem = balikpapan_dem(resolution_m=30.0)  # 1.2 M cells
    with tempfile.TemporaryDirectory() as tmp:
        tif = Path(tmp) / "dem.tif"
        dem.rio.to_raster(tif)
        cache_dir = Path(tmp) / "numba_cache"
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
        out = {}
        for label in ("cold (empty numba cache)", "warm (cached kernels)"):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hydro.cli", "terrain", str(tif), "-o", str(Path(tmp) / "t.nc")],
                           check=True, env=env, capture_output=True)
            out[label] = time.perf_counter() - t0
        shutil.rmtree(cache_dir, ignore_errors=True)
    return out


CASES = {"synthetic": synthetic, "tiled_bigtujunga": tiled_real}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-size", type=int, default=0, help="also measure hydro bytes/cell at this size")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--memory-only", action="store_true")
    args = ap.parse_args()

    tools = ["hydro"] if args.no_peers else list(TOOLS)
    # warm-up: compile every kernel once, timed separately
    t0 = time.perf_counter()
    hydro_full(synthetic(64))
    compile_s = time.perf_counter() - t0
    for tool in tools[1:]:
        TOOLS[tool][1](synthetic(64))
    print(f"hydro numba warm-up (compile or load cache): {compile_s:.2f} s")
    from hydro.terrain._kernels import num_threads

    print(f"hydro threads: {num_threads()} (NUMBA_NUM_THREADS; peers are single-threaded), {os.cpu_count()} CPUs")

    results = []
    cases = [("synthetic", lambda: synthetic(args.size)), ("tiled_bigtujunga", lambda: tiled_real(args.size))]
    cases += [(name, lambda name=name: real(name)) for name in
              ("topotoolbox_bigtujunga_srtm30m_utm11.tif", "pysheds_dem_fortworth_3s.tif", "pyflwdir_rhine_elv0_30s.tif")]
    for case, make in ([] if args.memory_only else cases):
        if not SHARED_DEM.exists() and case != "synthetic":
            print(f"skip {case}: ../shared/data/dem not present")
            continue
        dem = make()
        row = {"case": case, "shape": list(dem.shape), "cells": int(dem.size)}
        for tool in tools:
            try:
                row[f"{tool}_core_s"] = timed(TOOLS[tool][0], dem, args.repeat)
                row[f"{tool}_full_s"] = timed(TOOLS[tool][1], dem, args.repeat)
            except Exception as exc:  # a peer failing on a DEM is reported, not fatal
                row[f"{tool}_error"] = f"{type(exc).__name__}: {exc}"[:120]
        results.append(row)
        line = f"{case:28s} {dem.shape[0]}x{dem.shape[1]}"
        for tool in tools:
            if f"{tool}_core_s" in row:
                line += f" | {tool} core {row[f'{tool}_core_s']:.2f}s full {row[f'{tool}_full_s']:.2f}s"
            else:
                line += f" | {tool} failed"
        print(line)
        h_core, h_full = row["hydro_core_s"], row["hydro_full_s"]
        print(f"{'':28s} hydro: {dem.size / h_core / 1e6:.1f} M cells/s core, {dem.size / h_full / 1e6:.1f} M cells/s full")
        for tool in tools[1:]:
            if f"{tool}_core_s" in row:
                print(f"{'':28s} ratio {tool}/hydro: core {row[f'{tool}_core_s'] / h_core:.2f}x, full {row[f'{tool}_full_s'] / h_full:.2f}x")
        sys.stdout.flush()

    if not args.no_memory:
        print("\npeak memory of the full pipeline beyond the loaded DEM (child process, VmHWM growth):")
        dem = tiled_real(args.size) if SHARED_DEM.exists() else synthetic(args.size)
        for tool in tools:
            extra, n = peak_memory(tool, dem)
            print(f"  {tool:9s} {extra / 2**20:8.0f} MiB = {extra / n:5.1f} bytes/cell ({args.size}x{args.size})")
            results.append({"memory_tool": tool, "bytes_per_cell": extra / n, "size": args.size})
    if args.memory_size:
        extra, n = peak_memory("hydro", tiled_real(args.memory_size) if SHARED_DEM.exists() else synthetic(args.memory_size))
        print(f"  hydro {args.memory_size}x{args.memory_size}: {extra / 2**20:.0f} MiB = {extra / n:.1f} bytes/cell")
        results.append({"memory_tool": "hydro", "bytes_per_cell": extra / n, "size": args.memory_size})
    if args.memory_only:
        return
    print("\ncold start of `hydro terrain` on the 1.2 M-cell embedded DEM (whole process, wall):")
    for label, secs in cold_start().items():
        print(f"  {label}: {secs:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
