"""Review s23 (exchange round trip between two regions): defects found, each test fails on the original code.

1. ``[[exchange.inflows]]`` (and ``Inflow.from_netcdf``) with only one of ``x``/``y``: the one given was used
   with the other taken from the neighbour's file in the *producer's* CRS (untransformed), or the one given
   was silently dropped; now a configuration error.
2. ``hydro validate DIR`` / ``hydro export-boundary FILE`` were click usage errors (exit 2) instead of the
   documented codes (65 "not a regular file", 66 "no manifest").
3. A compression bomb on a dimension coordinate (``time``) was decompressed by xarray (index building) before
   ``read_exchange``'s declared-size check, and ``Inflow.from_netcdf`` decoded it (open_netcdf) before calling
   ``read_exchange`` at all.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from hydro.errors import ConfigError
from hydro.exchange import exchange_dataset, write_exchange

T0 = pd.Timestamp("2026-01-10 00:00")
#: the border point, in UTM 50S (the producer's CRS)
X50, Y50 = 500_000.0, 9_850_000.0


def _neighbour_file(path):
    """Region A's hourly exchange file: one point P1 at (X50, Y50) in EPSG:32750, 1..6 m3 s-1."""
    times = pd.date_range(T0 + pd.Timedelta("1h"), periods=6, freq="h")
    q = xr.DataArray(np.arange(1.0, 7.0)[:, None], dims=("time", "point"), coords={"time": times})
    ds = exchange_dataset(q, ["P1"], [X50], [Y50], "EPSG:32750", T0, "A", run_id="a_run", config_hash="c0ffee")
    return write_exchange(ds, path)


# ------------------------------------------------------------------------------------------------------------
# 1. only one of x / y
@pytest.mark.parametrize("xy", ['x = -168694.0', 'y = 9849168.0'])
def test_exchange_inflow_with_only_x_or_only_y_is_a_config_error(tmp_path, xy):
    """Region B (UTM 51S) names the entry point's x only: the original took y from A's file in UTM 50S
    (9 850 000, untransformed) while x was in UTM 51S; the correct UTM 51S y is 9 849 168.46 (pyproj), so the
    inflow entered ~832 m off (another river cell), without a word. Both or neither must be given."""
    from hydro.config import load_config

    cfg = tmp_path / "b.toml"
    cfg.write_text('config_version = 1\nregion = "b"\n\n[[exchange.inflows]]\nfile = "nb.nc"\npoint = "P1"\n'
                   f"{xy}\n")
    with pytest.raises(ConfigError, match="both x and y"):
        load_config(cfg)
    # both, or neither (the file's point transformed to the model CRS), still load
    for extra in ("", "x = 1.0\ny = 2.0\n"):
        cfg = tmp_path / "b.toml"
        cfg.write_text('config_version = 1\nregion = "b"\n\n[[exchange.inflows]]\nfile = "nb.nc"\npoint = "P1"\n' + extra)
        spec = load_config(cfg).exchange.inflows[0]
        assert (spec.x, spec.y) == ((None, None) if not extra else (1.0, 2.0))


@pytest.mark.parametrize("kw", [{"x": 123.0}, {"y": 456.0}])
def test_inflow_from_netcdf_with_only_x_or_only_y_is_a_config_error(tmp_path, kw):
    """The original replaced the one coordinate given by the file's position (x = 500000 returned for x=123)."""
    from hydro.routing import Inflow

    path = _neighbour_file(tmp_path / "a.nc")
    with pytest.raises(ConfigError, match="both x and y"):
        Inflow.from_netcdf(path, "P1", crs="EPSG:32751", **kw)
    # neither: A's point in UTM 50S lands at the same place in B's UTM 51S, and hourly period means routed on
    # 30-min steps keep A's volume over B's run exactly
    from pyproj import Geod, Transformer

    from hydro.routing import series_step_values

    inf = Inflow.from_netcdf(path, "P1", crs="EPSG:32751")
    lon0, lat0 = Transformer.from_crs("EPSG:32750", "EPSG:4326", always_xy=True).transform(X50, Y50)
    lon1, lat1 = Transformer.from_crs("EPSG:32751", "EPSG:4326", always_xy=True).transform(inf.x, inf.y)
    assert Geod(ellps="WGS84").inv(lon0, lat0, lon1, lat1)[2] < 0.01  # the same point on the ground
    # B: 30-min steps from 00:30 to 05:30 (10 steps). A's hourly means 1..6 over (0-1], (1-2], ... (5-6]:
    # 00:30-01:00 -> 1 (half an hour), 01-02 -> 2, 02-03 -> 3, 03-04 -> 4, 04-05 -> 5, 05:00-05:30 -> 6 (half)
    # volume = (0.5*1 + 2 + 3 + 4 + 5 + 0.5*6) * 3600 = 17.5 * 3600 = 63 000 m3
    starts = pd.date_range(T0 + pd.Timedelta("30min"), periods=10, freq="30min")
    v = series_step_values(inf.discharge_m3s, starts, pd.Timedelta("30min"), what="t")
    assert float(np.sum(v) * 1800.0) == pytest.approx(63_000.0, rel=1e-12)


# ------------------------------------------------------------------------------------------------------------
# 2. exit codes of refused paths
def test_validate_a_directory_exits_65_not_a_usage_error(tmp_path):
    """docs/exchange.md: `hydro validate` exits 0 / 65 (errors) / 66 (no such file), rule 1 'is a regular
    file'; a directory was click's usage error (exit 2, 'is a directory') before the check ran."""
    from hydro.cli_exchange import validate_cmd

    res = CliRunner().invoke(validate_cmd, [str(tmp_path), "--no-cf"])
    assert res.exit_code == 65, (res.exit_code, res.output)
    assert "not a regular file" in res.output and "[file]" in res.output


def test_export_boundary_of_a_file_exits_66_not_a_usage_error(tmp_path):
    """docs/exchange.md: `hydro export-boundary` exits 66 when the run folder has no manifest; a file given as
    RUN_DIR was click's usage error (exit 2)."""
    from hydro.cli_exchange import export_boundary_cmd

    f = tmp_path / "not_a_run.nc"
    f.write_bytes(b"x")
    res = CliRunner().invoke(export_boundary_cmd, [str(f), "-o", str(tmp_path / "out.nc")])
    assert res.exit_code == 66, (res.exit_code, res.output)
    assert "manifest.json" in res.output
    assert not (tmp_path / "out.nc").exists()


# ------------------------------------------------------------------------------------------------------------
# 3. compression bomb on the time coordinate
N_TIME = 10_000_000  # float64 time coordinate: 80 MB once decompressed, a few kB on disk


@pytest.fixture(scope="module")
def time_bomb(tmp_path_factory):
    """A small file with the exchange profile attribute whose variables declare 80 MB (time, a dimension
    coordinate) + 800 MB (padding, no coordinate) = 839 MiB: more than any limit used below (64 / 200 MiB)."""
    import netCDF4

    p = tmp_path_factory.mktemp("bomb") / "bomb.nc"
    with netCDF4.Dataset(p, "w") as nc:
        nc.hydro_exchange_profile = "hydro-exchange-1.0"
        nc.createDimension("time", N_TIME)
        nc.createDimension("station", 1)
        nc.createDimension("big", 200_000_000)
        t = nc.createVariable("time", "f8", ("time",), zlib=True, complevel=9, chunksizes=(1_000_000,))
        t.units = "hours since 2026-01-10"
        t[:] = np.zeros(N_TIME)
        v = nc.createVariable("padding", "f4", ("big",), zlib=True, complevel=9, chunksizes=(4_000_000,), fill_value=False)
        v[:4] = 0.0
        s = nc.createVariable("station_id", str, ("station",))
        s.cf_role = "timeseries_id"
        s[0] = "B1"
    assert p.stat().st_size < 2 * 2**20
    return p


def _peak_bytes(fn):
    """Peak of the memory traced (numpy arrays included) while ``fn()`` runs; fn must raise InputDataError."""
    import tracemalloc

    from hydro.errors import InputDataError

    tracemalloc.start()
    try:
        with pytest.raises(InputDataError, match="uncompressed, more than"):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_read_exchange_refuses_a_time_bomb_before_decompressing_it(time_bomb):
    """docs/exchange.md §4: 'the declared uncompressed size is bounded before any value is read'. xarray loaded
    the 80 MB time coordinate (peak >= 80 MB traced) before the check; now < 10 MB (nothing decompressed)."""
    from hydro.exchange import read_exchange

    assert _peak_bytes(lambda: read_exchange(time_bomb, "B1", max_bytes=2**20)) < 10e6


def test_inflow_from_netcdf_refuses_a_time_bomb_before_decompressing_it(time_bomb):
    """Inflow.from_netcdf (hydro run-catchment --inflow) opened the file with xarray first: the time coordinate
    was decompressed and decoded (peak >= 80 MB traced here; 1.8 GB RSS for a 0.4 MB file with 5e7 times) before
    read_exchange could refuse it. The bound allows read_exchange's read buffer (max_bytes + 1 = 50 MiB here,
    the size limit) plus 10 MB: nothing of the 80 MB time coordinate may be decompressed."""
    from hydro.exchange import DEFAULT_MAX_BYTES
    from hydro.routing import Inflow

    assert _peak_bytes(lambda: Inflow.from_netcdf(time_bomb, "B1")) < DEFAULT_MAX_BYTES + 10e6
