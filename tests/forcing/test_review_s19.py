"""Review (forcing): transposed target grids, design-storm depth-duration check, tz-aware storm start."""
import warnings

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import xarray as xr

import hydro.forcing as hf
from hydro.errors import ConfigError


def _src():
    rng = np.random.default_rng(0)
    t = pd.date_range("2024-01-01 01:00", periods=2, freq="1h")
    xs = np.arange(500000.0, 510000.0, 1000.0) + 500
    ys = np.arange(9880000.0, 9870000.0, -1000.0) - 500
    return xr.DataArray(rng.random((2, ys.size, xs.size)) * 5, dims=("time", "y", "x"),
                        coords={"time": t, "y": ys, "x": xs}, name="p",
                        attrs={"units": "mm"}).rio.write_crs("EPSG:32750")


def _dem():
    x = np.arange(502000, 508000, 2000.0) + 1000
    y = np.arange(9876000, 9872000, -2000.0) - 1000
    d = xr.DataArray(np.ones((y.size, x.size)), dims=("y", "x"), coords={"y": y, "x": x})
    d[0, 2] = np.nan  # outside the domain
    return d.rio.write_crs("EPSG:32750")


def test_prepare_target_with_x_y_dim_order_masks_the_right_cells():
    src, dem = _src(), _dem()
    a = hf.prepare(src, dem, "1h").isel(time=0).values
    b = hf.prepare(src, dem.transpose("x", "y"), "1h").isel(time=0).values
    # hand value: the 2 km cell (y 9875000, x 503000) is the mean of its four 1 km source cells
    s = src.isel(time=0)
    exp = float(s.sel(x=[502500, 503500], y=[9875500, 9874500]).mean())
    assert b[0, 0] == pytest.approx(exp, rel=1e-12)
    np.testing.assert_allclose(b, a, rtol=1e-12)  # NaN only at the cell outside the domain
    assert np.isnan(b[0, 2]) and np.isfinite(b).sum() == 5


def test_stations_target_with_x_y_dim_order_masks_the_right_cells(tmp_path):
    (tmp_path / "rain.csv").write_text("date,A,B\n2024-01-01 01:00,10,0\n2024-01-01 02:00,4,8\n")
    (tmp_path / "st.csv").write_text("id,x,y\nA,503000,9875000\nB,507000,9873000\n")
    dem = _dem()
    a = hf.stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", dem, station_crs="EPSG:32750")
    b = hf.stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", dem.transpose("x", "y"),
                            station_crs="EPSG:32750")
    v = b.isel(time=0).values
    assert v[0, 0] == pytest.approx(10.0)  # station A sits on this cell centre
    assert np.isnan(v[0, 2]) and np.isfinite(v).sum() == 5
    np.testing.assert_allclose(v, a.isel(time=0).values)


def test_design_storm_warns_when_wettest_k_steps_exceed_the_table():
    idf = {1: 50.8, 2: 63.5, 3: 68.6, 6: 83.8, 12: 99.1, 24: 114.3}  # log-log slope 2-3 h 0.19 < 3-6 h 0.29
    with pytest.warns(UserWarning, match="not concave"):
        s = hf.design_storm(None, "6h", "1h", idf=idf).values
    wettest3 = np.lib.stride_tricks.sliding_window_view(s, 3).sum(axis=1).max()
    # hand: increments 50.8, 12.7, 5.1, 68.6*(4/3)^0.2904 - 68.6 = 5.94, ...: top three 50.8 + 12.7 + 5.94
    assert wettest3 == pytest.approx(69.44, abs=0.01)
    assert wettest3 > 68.6 + 0.8


def test_design_storm_concave_table_no_warning_and_holds_the_table():
    idf = {1: 50.0, 2: 65.0, 3: 74.0, 6: 90.0}  # slopes 0.38, 0.32, 0.28: concave
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = hf.design_storm(None, "6h", "1h", idf=idf).values
    for k, dk in ((1, 50.0), (2, 65.0), (3, 74.0), (6, 90.0)):
        assert np.lib.stride_tricks.sliding_window_view(s, k).sum(axis=1).max() == pytest.approx(dk, rel=1e-12)


def test_design_storm_tz_aware_start_gives_naive_utc_labels():
    s = hf.design_storm(100.0, "3h", "1h", start="2024-01-01 00:00+08:00")
    assert s["time"].dtype.kind == "M"
    assert list(pd.DatetimeIndex(s["time"].values)) == list(pd.date_range("2023-12-31 17:00", periods=3, freq="1h"))


def test_design_storm_bad_start_is_config_error():
    with pytest.raises(ConfigError):
        hf.design_storm(100.0, "3h", "1h", start="not a date")
