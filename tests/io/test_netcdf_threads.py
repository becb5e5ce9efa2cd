"""NetCDF reads and writes from several threads at once (ensemble members on dask's threaded scheduler).

netCDF-C/HDF5 are not thread-safe and netCDF4-python releases the GIL around their calls: two
threads opening files at the same time crashed the whole process (a bus error in CI, while the
nightly forecast's members loaded the state and the forcing). The stress runs in a child process
so that a crash is a test failure, not the end of the test session.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hydro.io import NETCDF_LOCK, open_netcdf, write_netcdf

STRESS = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path

    import numpy as np
    import pandas as pd
    import xarray as xr

    from hydro.forcing import open_forcing
    from hydro.io import open_netcdf, write_netcdf

    tmp = Path(sys.argv[1])
    rounds = int(sys.argv[2])
    t = pd.date_range("2024-01-01 01:00", periods=48, freq="h")
    for i in range(3):
        ds = xr.Dataset(
            {f"v{k}": (("time", "y", "x"), np.full((48, 40, 40), float(i + k), "f4"), {"units": "mm", "long_name": "x" * 40})
             for k in range(6)} | {"precipitation": (("time", "y", "x"), np.full((48, 40, 40), 1.0 + i, "f4"), {"units": "mm"})},
            coords={"time": t, "y": np.arange(40.0)[::-1] * 100, "x": np.arange(40.0) * 100},
        )
        ds.to_netcdf(tmp / f"in{i}.nc")
    errors = []

    def work(i):
        try:
            for r in range(rounds):
                rain = open_forcing(tmp / f"in{(i + r) % 3}.nc", "precipitation", time_chunk=12)
                total = float(rain.sum().compute())
                assert total == 48 * 40 * 40 * (1.0 + (i + r) % 3), total
                with open_netcdf(tmp / f"in{i % 3}.nc") as f:
                    assert float(f["v1"][0, 0, 0]) == 1.0 + i % 3
                out = xr.Dataset({"v": (("time",), np.full(48, float(r)))}, coords={"time": t})
                write_netcdf(out, tmp / f"out{i}.nc")
        except BaseException as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    print("ok")
    """
)


def test_concurrent_netcdf_io_in_threads_does_not_crash(tmp_path):
    script = tmp_path / "stress.py"
    script.write_text(STRESS)
    # the child imports this checkout's hydro whether or not the package is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), "25"], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.strip().endswith("ok")
    written = xr.load_dataset(tmp_path / "out0.nc")
    assert float(written["v"][0]) == 24.0  # the last round of thread 0


def test_open_netcdf_reads_lazily_under_the_lock(tmp_path):
    t = pd.date_range("2024-01-01", periods=4, freq="h")
    ds = xr.Dataset({"q": (("time",), np.arange(4.0))}, coords={"time": t})
    ds.to_netcdf(tmp_path / "a.nc")
    with open_netcdf(tmp_path / "a.nc", chunks={"time": 2}) as f:
        assert f["q"].chunks == ((2, 2),)
        # the lock is re-entrant: a read inside a locked block (same thread) does not deadlock
        with NETCDF_LOCK:
            assert f["q"].sum().compute(scheduler="synchronous") == 6.0
        assert f["q"].sum().compute() == 6.0  # threaded scheduler, lock free


def test_write_netcdf_of_dask_data_from_a_locked_file_does_not_deadlock(tmp_path):
    t = pd.date_range("2024-01-01", periods=6, freq="h")
    xr.Dataset({"q": (("time",), np.arange(6.0))}, coords={"time": t}).to_netcdf(tmp_path / "a.nc")
    with open_netcdf(tmp_path / "a.nc", chunks={"time": 2}) as f:
        path = write_netcdf((f[["q"]] * 2), tmp_path / "b.nc")
    assert xr.load_dataset(path)["q"].values.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_the_lock_survives_pickling_as_the_same_lock():
    import pickle

    again = pickle.loads(pickle.dumps(NETCDF_LOCK))
    assert again.lock is NETCDF_LOCK.lock
