"""Fresh-compile vs on-disk-cache determinism of the 2-D local-inertial kernels (flood.md "Reproducibility between
processes").

numba links a copy of every kernel `step` calls (`_face_row`, `_x_faces`, ...) into the cached object of `step`
(weak, ``linkonce_odr`` symbols) and optimises it again inside `step`'s module. The process that compiles the
kernels runs the callees' own, once-optimised code (their strong symbols were loaded first); a process that loads
`step` from numba's cache runs the copies. With the fast-math flag "reassoc" the second optimisation regrouped the
products of the face update, so the first run after an install (or a cache wipe) and every later run gave
different float32 depths: same inputs, different outputs.

The test runs the same small simulation in two fresh interpreters sharing one empty NUMBA_CACHE_DIR (the first
compiles and writes the cache, the second loads it) and requires bit-identical depths. No value is derived here:
the expected result is "the second process prints the same digest as the first".
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hydro

SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    import rioxarray  # noqa: F401  (the .rio accessor)
    import xarray as xr
    from affine import Affine
    from hydro.flood import simulate_2d

    n = 64
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:n, 0:n]
    z = 0.01 * xx + 0.005 * yy + rng.normal(0.0, 0.05, (n, n))  # tilted noisy plane, 10 m cells
    bed = xr.DataArray(z, dims=("y", "x"), coords={"y": 9860000.0 - 10.0 * (np.arange(n) + 0.5),
                                                   "x": 500000.0 + 10.0 * (np.arange(n) + 0.5)})
    bed = bed.rio.write_crs("EPSG:32750").rio.write_transform(Affine(10.0, 0, 500000.0, 0, -10.0, 9860000.0))
    digests = []
    for dtype in ("float32", "float64"):
        res = simulate_2d(bed, 600.0, rainfall=50.0, rainfall_units="mm/h", output_interval=600.0,
                          output_variables=("depth",), dtype=dtype)
        d = np.ascontiguousarray(res.dataset["flood_depth"].values)
        digests.append(hashlib.sha256(d.tobytes()).hexdigest())
    print(" ".join(digests))
    """
)


def _run(cache_dir: Path) -> str:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    root = str(Path(hydro.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=1800,
                         cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_first_compiling_process_and_cached_process_give_identical_depths(tmp_path):
    cache = tmp_path / "numba_cache"  # empty: the first process compiles every kernel and writes the cache
    fresh = _run(cache)
    assert any(cache.rglob("*.nbi")), "the first process wrote no numba cache"
    cached = _run(cache)  # loads step (and its linked callee copies) from the cache
    f32_fresh, f64_fresh = fresh.split()
    f32_cached, f64_cached = cached.split()
    assert f64_cached == f64_fresh
    assert f32_cached == f32_fresh, "float32 depths of the compiling and the cached process differ"
