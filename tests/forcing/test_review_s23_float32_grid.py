"""A source grid with float32 lat/lon (IMERG-like) regridded conservatively onto the same cells in float64: the
edges computed from float32 centres differ by their rounding (~1e-4 of a 0.1° cell at 117° E), which was above the
1e-6 edge rounding, so a domain reaching the source's outer edge was "not covered" and refused."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import xarray as xr

import hydro.forcing as hf
from hydro.errors import InputDataError

LAT = np.round(np.arange(-1.45, -0.95, 0.1), 2)[::-1]  # -1.05 ... -1.45: 5 rows of 0.1°
LON = np.round(np.arange(116.55, 117.3, 0.1), 2)       # 116.55 ... 117.25: 8 columns


def _source(path, rain_mm):
    t = pd.date_range("2024-01-01 01:00", periods=3, freq="1h")
    da = xr.DataArray(rain_mm.astype(np.float32)[None].repeat(3, 0), dims=("time", "lat", "lon"),
                      coords={"time": t, "lat": LAT.astype(np.float32), "lon": LON.astype(np.float32)},
                      attrs={"units": "mm"}).rio.write_crs("EPSG:4326")
    da.to_dataset(name="precipitation").to_netcdf(path)
    return hf.open_forcing(path, "precipitation")


def _target(lat=LAT, lon=LON):
    return xr.DataArray(np.ones((lat.size, lon.size), np.float32), dims=("y", "x"),
                        coords={"y": lat, "x": lon}).rio.write_crs("EPSG:4326")


def test_same_cells_with_float32_coordinates_are_covered_and_exact(tmp_path):
    rain = np.arange(LAT.size * LON.size, dtype=float).reshape(LAT.size, LON.size) / 10.0
    da = _source(tmp_path / "imerg.nc", rain)
    assert da["lat"].dtype == np.float32
    out = hf.prepare(da, _target(), "1h").compute()
    # the same cells: every value passes through unchanged (to float32), every step
    np.testing.assert_allclose(out.isel(time=0).values, rain, rtol=1e-6, atol=1e-6)
    assert float(out.sum()) == pytest.approx(3 * rain.sum(), rel=1e-6)


def test_domain_beyond_the_source_is_still_refused(tmp_path):
    da = _source(tmp_path / "imerg.nc", np.ones((LAT.size, LON.size)))
    wider = np.round(np.append(LON, 117.35), 2)  # one column east of the source's last one
    with pytest.raises(InputDataError, match="does not cover"):
        hf.prepare(da, _target(lon=wider), "1h").compute()
