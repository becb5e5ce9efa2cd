"""Session 21: ``[outputs] compression_level`` applies to every NetCDF file of a run.

Before, only ``terrain.nc`` and ``runoff/peak_discharge.nc`` were written at the configured level; the gauges,
water balance, state, flood and allocation files kept the writer's default (zlib level 4), so
``compression_level = 0`` (files for a reader without zlib, or for speed) left most of the run compressed.
"""
from __future__ import annotations

import netCDF4
import pytest

from hydro.config import load_config
from hydro.forecast import run_model

from tests.forecast.conftest import make_project


def _levels(run_dir):
    """{file: set of (zlib, complevel) of its data variables of 1+ dimensions}."""
    out = {}
    for p in sorted(run_dir.rglob("*.nc")):
        with netCDF4.Dataset(p) as ds:
            filt = {(bool(v.filters()["zlib"]), int(v.filters()["complevel"]))
                    for v in ds.variables.values() if v.ndim >= 1 and v.dtype != str}
        out[str(p.relative_to(run_dir))] = filt
    return out


@pytest.mark.parametrize("level", [0, 7])
def test_every_netcdf_file_of_a_run_has_the_configured_compression(tmp_path, level):
    cfg_path = make_project(tmp_path / "p", allocation=True)
    text = cfg_path.read_text()
    assert "compression_level = 4" in text
    cfg_path.write_text(text.replace("compression_level = 4", f"compression_level = {level}"))
    res = run_model(load_config(cfg_path), output_root=tmp_path / "out")
    levels = _levels(res.run_dir)
    # terrain, runoff (gauges, water balance, peak discharge), state and allocation files at least
    assert {"terrain.nc", "runoff/run_gauges.nc", "runoff/run_water_balance.nc", "runoff/peak_discharge.nc"} <= set(levels)
    assert any(k.startswith("state/") for k in levels) and any(k.startswith("allocation/") for k in levels)
    assert any(k.startswith("allocation/") for k in levels)
    want = {(False, 0)} if level == 0 else {(True, level)}
    # the restart state keeps its own fast level 1 (bit-exact float64 stores, written every state interval)
    assert levels.pop(next(k for k in levels if k.startswith("state/"))) <= {(True, 1), (False, 0)}
    wrong = {k: v for k, v in levels.items() if v and not v <= want | {(False, 0)}}
    assert not wrong, wrong
    if level:  # the gridded and station data really are compressed at that level
        assert (True, level) in levels["terrain.nc"] and (True, level) in levels["runoff/run_gauges.nc"]
    else:
        assert all(v <= {(False, 0)} for v in levels.values()), levels


def test_write_netcdf_default_level_outside_a_run_is_4(tmp_path):
    import numpy as np
    import xarray as xr

    from hydro.io import netcdf_compression, write_netcdf

    ds = xr.Dataset({"q": ("t", np.arange(5.0))})
    with netCDF4.Dataset(write_netcdf(ds, tmp_path / "a.nc")) as f:
        assert f["q"].filters()["complevel"] == 4
    with netcdf_compression(1):
        with netCDF4.Dataset(write_netcdf(ds, tmp_path / "b.nc")) as f:
            assert f["q"].filters()["complevel"] == 1
        with netCDF4.Dataset(write_netcdf(ds, tmp_path / "c.nc", complevel=0)) as f:  # explicit wins
            assert not f["q"].filters()["zlib"]
    with netCDF4.Dataset(write_netcdf(ds, tmp_path / "d.nc")) as f:  # the level is reset after the block
        assert f["q"].filters()["complevel"] == 4
