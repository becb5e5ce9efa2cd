"""Mutation audit s23c: killing tests for the surviving mutants of the conservative regridding's edge rounding
(hydro.forcing.grid._edge_rounding and its use in regrid_weights).

A float32 lat/lon source (IMERG-like) has coord_eps = 2**-23 = 1.19e-7; the edge rounding is
max(1e-6, 4 * coord_eps * mag / width), mag = the largest |edge| of source and target, width = the smallest cell
width of either. Overlaps below it (as a fraction of the target cell) are rounding: dropped, the row rescaled."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

import hydro.forcing as hf
from hydro.errors import InputDataError

EPS32 = 2.0 ** -23  # float32 machine epsilon, 1.1920929e-7
LAT = np.round(np.arange(-1.45, -0.95, 0.1), 2)[::-1]  # -1.05 ... -1.45: 5 rows of 0.1 deg
LON = np.round(np.arange(116.55, 117.3, 0.1), 2)       # 116.55 ... 117.25: 8 columns, east edge 117.30


def _source(path, rain_mm, lat=LAT, lon=LON):
    t = pd.date_range("2024-01-01 01:00", periods=2, freq="1h")
    da = xr.DataArray(rain_mm.astype(np.float32)[None].repeat(2, 0), dims=("time", "lat", "lon"),
                      coords={"time": t, "lat": lat.astype(np.float32), "lon": lon.astype(np.float32)},
                      attrs={"units": "mm"}).rio.write_crs("EPSG:4326")
    da.to_dataset(name="precipitation").to_netcdf(path)
    return hf.open_forcing(path, "precipitation")


def _target(lat, lon):
    return xr.DataArray(np.ones((lat.size, lon.size), np.float32), dims=("y", "x"),
                        coords={"y": lat, "x": lon}).rio.write_crs("EPSG:4326")


def _rain(ny, nx):
    return 1.0 + np.arange(ny * nx, dtype=float).reshape(ny, nx) / 10.0


def test_float32_same_cells_shifted_within_four_roundings_pass_through(tmp_path):
    # rounding = 4 * 1.19e-7 * 117.30 / 0.1 = 5.59e-4 of a cell (mutant 0.4 * ...: 5.59e-5).
    # target = source cells moved east by 2e-5 deg = 2e-4 of a cell (about 2.6 float32 ulps at 117 deg, ulp 7.6e-6):
    # below 5.59e-4 (even with the float32 rounding of the source's first/last centres, <= 3.8e-6 deg = 3.8e-5
    # of a cell, added): rounding. Each target cell is the source cell (the 2e-4 slivers dropped, the row rescaled
    # to 1) and the east edge, 2e-4 of a cell beyond the source, counts as covered: values pass through unchanged.
    rain = _rain(LAT.size, LON.size)
    da = _source(tmp_path / "imerg.nc", rain)
    out = hf.prepare(da, _target(LAT, LON + 2e-5), "1h").compute()
    np.testing.assert_allclose(out.isel(time=0).values, rain, rtol=1e-6)


def test_float32_source_onto_half_cells_uses_the_smallest_cell_width(tmp_path):
    # target: 0.05 deg cells (two per source column), moved east by 4e-5 deg.
    # rounding with the smallest width: 4 * 1.19e-7 * 117.30 / 0.05 = 1.12e-3 of a cell; with the largest (0.1):
    # 5.59e-4. The slivers are 4e-5 / 0.05 = 8e-4 of a target cell (+- 3.8e-6 / 0.05 = 7.6e-5 of float32
    # rounding): rounding, so each half cell takes its source cell's value and the east edge counts as covered.
    rain = _rain(LAT.size, LON.size)
    da = _source(tmp_path / "imerg.nc", rain)
    half = np.round(np.arange(116.525, 117.3, 0.05), 3)  # 116.525 ... 117.275: 16 columns, edges 116.50 ... 117.30
    assert half.size == 2 * LON.size
    out = hf.prepare(da, _target(LAT, half + 4e-5), "1h").compute()
    np.testing.assert_allclose(out.isel(time=0).values, np.repeat(rain, 2, axis=1), rtol=1e-6)


def test_float32_source_at_sixty_degrees_north_is_covered_along_latitude(tmp_path):
    # latitude rounding: 4 * 1.19e-7 * 60.50 / 0.1 = 2.88e-4 of a cell (not the 1e-6 default).
    # target rows moved north by 1e-5 deg = 1e-4 of a 0.1 deg row (in area-latitude the fraction differs by the
    # cosine ratio across the row, cos(60.5)/cos(60.45) = 0.9985: still ~1e-4 < 2.88e-4) plus the float32 rounding of
    # the source centres (ulp at 60 deg 3.8e-6, <= 1.9e-5 of a row): rounding, so each row is its source row and
    # the north edge counts as covered: values pass through unchanged. (With 1e-6 the domain was "not covered".)
    lat = np.round(np.arange(60.05, 60.5, 0.1), 2)[::-1]  # 60.45 ... 60.05: 5 rows, north edge 60.50
    rain = _rain(lat.size, LON.size)
    da = _source(tmp_path / "north.nc", rain, lat=lat)
    out = hf.prepare(da, _target(lat + 1e-5, LON), "1h").compute()
    np.testing.assert_allclose(out.isel(time=0).values, rain, rtol=1e-6)


def test_float32_rounding_scales_with_the_largest_coordinate_magnitude(tmp_path):
    # source float32 0.1 deg columns from 116.55 to 179.95 (east edge 180.0): mag = 180.0, so the rounding is
    # 4 * 1.19e-7 * 180.0 / 0.1 = 8.58e-4 of a cell (with the target's own magnitude, 117.30 on its east edge,
    # 5.59e-4). Target: 8 columns west of 117.30 moved east by 7e-5 deg = 7e-4 of a cell (+- 3.8e-5 of float32
    # rounding): rounding, each target cell takes its source cell's value.
    lon = np.round(116.55 + 0.1 * np.arange(635), 2)  # 116.55 ... 179.95
    assert lon[-1] == pytest.approx(179.95)
    rain = _rain(LAT.size, lon.size)
    da = _source(tmp_path / "wide.nc", rain, lon=lon)
    out = hf.prepare(da, _target(LAT, LON + 7e-5), "1h").compute()
    np.testing.assert_allclose(out.isel(time=0).values, rain[:, :LON.size], rtol=1e-6)


def test_float32_shift_beyond_four_roundings_is_still_refused(tmp_path):
    # control: a row is "covered" when at most 2 roundings of it are missing (one per end): 2 * 5.59e-4 = 1.12e-3.
    # 1.5e-4 deg = 1.5e-3 of a cell (+- 3.8e-5 of float32 rounding) beyond the source's east edge is not rounding
    da = _source(tmp_path / "imerg.nc", _rain(LAT.size, LON.size))
    with pytest.raises(InputDataError, match="does not cover"):
        hf.prepare(da, _target(LAT, LON + 1.5e-4), "1h").compute()


# ------------------------------------------------------------------ storage accounts: evaporation / initial shares
from hydro.allocation import allocate, load_network  # noqa: E402
from hydro.errors import ConfigError  # noqa: E402

R = "res"


def _accounts_run(accounts):
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": R, "accounts": accounts}
    nodes = [{"id": R, "type": "reservoir", "capacity": "1 Mm3", "initial_storage": "0.5 Mm3",
              "evaporation": "10 mm/d", "area": "100 ha"},
             {"id": "A", "type": "demand", "region": "a", "demand": "0 m3/s", "priority": 1},
             {"id": "B", "type": "demand", "region": "b", "demand": "0 m3/s", "priority": 1}]
    net = {"network": {"name": "t", "start": "2024-01-01", "steps": 1, "timestep": "1D"},
           "regions": [{"id": "a"}, {"id": "b"}], "nodes": nodes,
           "links": [{"id": "la", "from": R, "to": "A"}, {"id": "lb", "from": R, "to": "B"}], "agreements": [ag]}
    return allocate(load_network(net))


@pytest.mark.parametrize("key, a, b, total", [("evaporation_share", 0.6, 0.395, 0.995),
                                              ("initial_share", 0.5, 0.495, 0.995)])
def test_account_shares_half_a_percent_short_are_refused(key, a, b, total):
    # 0.6 + 0.395 = 0.995 (0.5 + 0.495 = 0.995): 0.5 % of the evaporation (of the usable storage) belongs to
    # nobody, and the reconciliation would re-split it by the inflow shares. The sum must be 1 to 1e-6 (as the
    # inflow shares).
    accounts = [{"party": "a", "links": ["la"], "inflow_share": 0.5, key: a},
                {"party": "b", "links": ["lb"], "inflow_share": 0.5, key: b}]
    with pytest.raises(ConfigError, match=rf"{key}s must sum to 1.*got {total:g}"):
        _accounts_run(accounts)
