"""Forcing: units, conservative/bilinear regridding, step changes, bad input, PET, storms, stations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError, InputMissingError
from hydro.forcing import (
    alternating_block,
    change_step,
    design_storm,
    extraterrestrial_radiation,
    open_forcing,
    parse_water_units,
    pet_hargreaves,
    pet_oudin,
    prepare,
    stations_to_grid,
)

from .conftest import make_source, make_target


@pytest.mark.parametrize("units,kind,factor", [
    ("mm", "amount", 1.0), ("m", "amount", 1000.0), ("kg m-2", "amount", 1.0), ("millimeter", "amount", 1.0),
    ("mm/h", "rate", 1 / 3600), ("mm h-1", "rate", 1 / 3600), ("mm/day", "rate", 1 / 86400),
    ("mm d-1", "rate", 1 / 86400), ("kg m-2 s-1", "rate", 1.0), ("m s-1", "rate", 1000.0), ("m/s", "rate", 1000.0),
])
def test_units_table(units, kind, factor):
    k, f = parse_water_units(units, "f.nc:pr")
    assert k == kind and f == pytest.approx(factor, rel=1e-15)


@pytest.mark.parametrize("units", [None, "", "inches", "mm/fortnight", "K"])
def test_unknown_or_missing_units_are_errors(units):
    with pytest.raises(InputDataError, match="f.nc:pr"):
        parse_water_units(units, "f.nc:pr")


def test_conservative_regrid_conserves_domain_total(coarse_source):
    """Target: 7 × 6 cells covering exactly the 40 × 30 km source domain (non-nested sizes)."""
    x = 500_000.0 + (40_000.0 / 7) * (np.arange(7) + 0.5)
    y = 9_870_000.0 - (30_000.0 / 6) * (np.arange(6) + 0.5)
    tgt = make_target(x, y)
    out = prepare(coarse_source, tgt, "1h")
    assert out.chunks is not None  # lazy (dask)
    v = out.values
    src_total = coarse_source.values.sum(axis=(1, 2)) * 1e8
    tgt_total = v.sum(axis=(1, 2)) * (40_000.0 / 7) * 5_000.0
    np.testing.assert_allclose(tgt_total, src_total, rtol=1e-12)
    assert out.attrs["units"] == "mm"


def test_conservative_fine_cells_inside_one_coarse_cell_get_its_value(coarse_source):
    x = 500_000.0 + 1_000.0 * (np.arange(10) + 0.5)
    y = 9_870_000.0 - 1_000.0 * (np.arange(10) + 0.5)
    out = prepare(coarse_source, make_target(x, y), "1h").values
    np.testing.assert_allclose(out, np.broadcast_to(coarse_source.values[:, :1, :1], out.shape), rtol=1e-14)


def test_bilinear_reproduces_linear_field(coarse_source):
    xs, ys = coarse_source.x.values, coarse_source.y.values
    field = 0.001 * (xs[None, :] - 500_000) + 0.0005 * (9_870_000 - ys[:, None])
    src = coarse_source.copy(data=np.broadcast_to(field, coarse_source.shape).copy())
    x = np.linspace(xs[0], xs[-1], 9)
    y = np.linspace(ys[0], ys[-1], 5)
    out = prepare(src, make_target(x, y), "1h", method="bilinear").values[0]
    exact = 0.001 * (x[None, :] - 500_000) + 0.0005 * (9_870_000 - y[:, None])
    np.testing.assert_allclose(out, exact, rtol=1e-12)


def test_other_crs_target_is_approximately_conservative(coarse_source):
    """Target in lon/lat inside the UTM source: supersampled weights, rows sum to 1."""
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:32750", "EPSG:4326", always_xy=True)
    lon0, lat0 = tr.transform(505_000.0, 9_865_000.0)
    lon1, lat1 = tr.transform(535_000.0, 9_855_000.0)
    x = np.linspace(lon0, lon1, 6)
    y = np.linspace(lat0, lat1, 4)
    out = prepare(coarse_source, make_target(x, y, crs="EPSG:4326"), "1h").values
    assert np.all(np.isfinite(out))
    assert out.min() >= coarse_source.values.min() - 1e-12 and out.max() <= coarse_source.values.max() + 1e-12


def test_rate_units_and_disaggregation_conserve(coarse_source):
    """6-hourly field in kg m-2 s-1 → hourly mm: each 6-h total is kept."""
    t6 = pd.date_range("2024-01-01 06:00", periods=4, freq="6h")
    rate = np.full((4, 3, 4), 1e-4)  # kg m-2 s-1 = 0.36 mm/h = 2.16 mm per 6 h
    src = make_source(rate, coarse_source.x.values, coarse_source.y.values, t6, units="kg m-2 s-1")
    out = prepare(src, make_target(coarse_source.x.values, coarse_source.y.values), "1h")
    assert out.sizes["time"] == 24
    np.testing.assert_allclose(out.values, 0.36, rtol=1e-12)
    assert pd.Timestamp(out.time.values[0]) == pd.Timestamp("2024-01-01 01:00")
    agg = change_step(out, "3h")
    np.testing.assert_allclose(agg.values, 1.08, rtol=1e-12)
    assert pd.Timestamp(agg.time.values[0]) == pd.Timestamp("2024-01-01 03:00")


def test_diurnal_pet_profile_conserves_daily_total(coarse_source):
    t = pd.date_range("2024-01-01", periods=2, freq="1D")
    src = make_source(np.full((2, 3, 4), 4.0), coarse_source.x.values, coarse_source.y.values, t, units="mm/day")
    out = prepare(src, make_target(coarse_source.x.values, coarse_source.y.values), "1h", profile="diurnal",
                  vocabulary_name="potential_evaporation")
    v = out.values[:, 0, 0]
    np.testing.assert_allclose(v.reshape(2, 24).sum(axis=1), 4.0, rtol=1e-12)
    hours = pd.DatetimeIndex(out.time.values).hour
    # local solar time at ~117.2 E is UTC + 7.8 h: night (18-06 local) is hour-ending 11-22 UTC
    assert np.all(v[(hours >= 11) & (hours <= 22)] == 0.0)  # night
    assert np.all(v[(hours >= 1) & (hours <= 6)] > 0.0)  # late morning to early afternoon local


def test_nan_is_error_unless_fill_policy(coarse_source, write_nc):
    vals = coarse_source.values.copy()
    vals[2, 1, 1] = np.nan
    src = coarse_source.copy(data=vals)
    path = write_nc(src)
    da = open_forcing(path, "pr")
    tgt = make_target(coarse_source.x.values, coarse_source.y.values)
    out = prepare(da, tgt, "1h")
    with pytest.raises(InputDataError, match=r"forcing\.nc:pr.*NaN"):
        out.values
    filled = prepare(open_forcing(path, "pr"), tgt, "1h", fill_policy="zero").values
    assert filled[2, 1, 1] == 0.0


def test_negative_rain_is_error(coarse_source):
    vals = coarse_source.values.copy()
    vals[0, 0, 0] = -1.0
    out = prepare(coarse_source.copy(data=vals), make_target(coarse_source.x.values, coarse_source.y.values), "1h")
    with pytest.raises(InputDataError, match="negative"):
        out.values


def test_bad_time_axes_and_coverage(coarse_source, write_nc):
    tgt = make_target(coarse_source.x.values, coarse_source.y.values)
    t = pd.DatetimeIndex(coarse_source.time.values)
    dup = coarse_source.assign_coords(time=t.insert(1, t[0])[:6])
    with pytest.raises(InputDataError, match="duplicate"):
        prepare(dup, tgt, "1h")
    with pytest.raises(InputDataError, match="sorted"):
        prepare(coarse_source.assign_coords(time=t[::-1]), tgt, "1h")
    gap = coarse_source.assign_coords(time=t.delete(3).append(pd.DatetimeIndex([t[-1] + pd.Timedelta("1h")])))
    with pytest.raises(InputDataError, match="gap"):
        prepare(gap, tgt, "1h")
    big = make_target(coarse_source.x.values + 20_000.0, coarse_source.y.values)
    with pytest.raises(InputDataError, match="does not cover the domain"):
        prepare(coarse_source, big, "1h")
    with pytest.raises(InputDataError, match="needs"):
        prepare(coarse_source, tgt, "1h", end="2024-01-02")
    with pytest.raises(InputMissingError):
        open_forcing(write_nc(coarse_source), "rain")
    no_units = coarse_source.copy()
    no_units.attrs = {}
    with pytest.raises(InputDataError, match="units"):
        prepare(no_units, tgt, "1h")


def test_real_lisflood_forcing_regrid(tmp_path):
    from tests.conftest import shared_file

    path = shared_file("runoff", "lisflood_etrs89_usecase", "meteo_1950", "pr.nc")
    da = open_forcing(path, "pr6")
    x = np.arange(4.10e6, 4.20e6, 1000.0) + 500
    y = np.arange(2.55e6, 2.45e6, -1000.0) - 500
    tgt = make_target(x, y, crs=da.rio.crs)
    a, b = pd.Timestamp("1951-01-23"), pd.Timestamp("1951-01-27")
    out = prepare(da, tgt, "6h", start=a, end=b)
    src = da.sel(x=slice(4.10e6, 4.20e6), y=slice(2.55e6, 2.45e6), time=slice(a, b))
    assert out.sizes["time"] == src.sizes["time"] == 17 and float(src.mean()) > 0.5
    # 5 km cells nested in the 1 km target: domain-mean equal to the source-mean × 6 h (mm/day → mm)
    np.testing.assert_allclose(out.mean(("y", "x")).values, src.astype(np.float64).mean(("y", "x")).values * 0.25, rtol=1e-9)


# ---------------------------------------------------------------------------------------------- PET
def test_extraterrestrial_radiation_fao56_example_8():
    """FAO-56 example 8: 20° S on 3 September → Ra = 32.2 MJ m-2 d-1."""
    assert extraterrestrial_radiation(-20.0, ["2001-09-03"])[0] == pytest.approx(32.2, abs=0.05)


def test_hargreaves_and_oudin_values():
    d = pd.DatetimeIndex(["2001-09-03"])
    ra = 32.19399588  # FAO-56 example 8 (above)
    # Hargreaves: 0.0023 · 0.408·Ra · (T + 17.8) · √(Tmax − Tmin), Tmin 15, Tmax 29 → T 22
    et0 = pet_hargreaves([15.0], [29.0], -20.0, d)[0]
    assert et0 == pytest.approx(0.0023 * 0.408 * ra * (22 + 17.8) * np.sqrt(14.0), rel=1e-8)
    assert et0 == pytest.approx(4.50, abs=0.01)
    assert pet_oudin([22.0], -20.0, d)[0] == pytest.approx(ra / 2.45 * 27 / 100, rel=1e-8)
    assert pet_oudin([-6.0], -20.0, d)[0] == 0.0


def test_oudin_against_camels_fr_pet():
    """Our Oudin PET at the outlet latitude vs the CAMELS-FR catchment Oudin PET."""
    from tests.conftest import shared_file

    df = pd.read_csv(shared_file("runoff", "camels_fr_airgrdatasets", "A273011002.csv"), parse_dates=["date"])
    pe = pet_oudin(df["T_degC"].values, 48.50507, df["date"])
    assert np.corrcoef(pe, df["PET_oudin_mm_d"])[0, 1] > 0.999
    assert pe.sum() / df["PET_oudin_mm_d"].sum() == pytest.approx(1.0, abs=0.05)


# ------------------------------------------------------------------------------------- design storm
def test_design_storm_150mm_in_3h_alternating_block():
    h = design_storm(150.0, "3h", "10min", peak_position=0.5)
    v = h.values
    assert v.size == 18 and v.sum() == pytest.approx(150.0, rel=1e-13)
    peak = int(np.argmax(v))
    assert peak == round(0.5 * 17)
    assert np.all(np.diff(v[: peak + 1]) >= 0) and np.all(np.diff(v[peak:]) <= 0)
    # defining property: the wettest k consecutive blocks hold the k-step depth of the DDF curve
    cum = np.cumsum(np.sort(v)[::-1])
    for k in range(1, 19):
        best = max(v[i:i + k].sum() for i in range(18 - k + 1))
        assert best == pytest.approx(cum[k - 1], rel=1e-12)
        assert best == pytest.approx(150.0 * (k / 18) ** 0.33, rel=1e-12)


def test_design_storm_table_arf_and_symmetry():
    table = {0.5: 60.0, 1.0: 85.0, 3.0: 130.0, 6.0: 160.0}
    h = design_storm(None, "6h", "1h", idf=table, areal_reduction=0.9)
    assert h.values.sum() == pytest.approx(0.9 * 160.0, rel=1e-12)
    front = design_storm(None, "6h", "1h", idf=table, peak_position=0.0).values
    assert np.all(np.diff(front) <= 0)
    blocks = alternating_block(np.array([5.0, 4.0, 3.0, 2.0, 1.0]), 0.5)
    np.testing.assert_array_equal(blocks, [1.0, 3.0, 5.0, 4.0, 2.0])  # 2nd right of the peak, 3rd left (Chow et al. 1988)


# ------------------------------------------------------------------------------------------ stations
def test_stations_idw_and_thiessen(tmp_path):
    x = 500_000.0 + 1000.0 * (np.arange(5) + 0.5)
    y = 9_870_000.0 - 1000.0 * (np.arange(4) + 0.5)
    tgt = make_target(x, y)
    pd.DataFrame({"id": ["A", "B"], "x": [x[0], x[4]], "y": [y[0], y[3]]}).to_csv(tmp_path / "st.csv", index=False)
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3, freq="1h"), "A": [10.0, 0.0, np.nan],
                  "B": [0.0, 4.0, 6.0]}).to_csv(tmp_path / "rain.csv", index=False)
    idw = stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", tgt, "idw", station_crs="EPSG:32750")
    v = idw.values
    assert v[0, 0, 0] == 10.0 and v[0, 3, 4] == 0.0 and v[1, 3, 4] == 4.0
    assert np.all((v[0] >= 0) & (v[0] <= 10))
    np.testing.assert_allclose(v[2], 6.0)  # only B reports at t=2
    th = stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", tgt, "thiessen", station_crs="EPSG:32750").values
    assert set(np.unique(th[0])) == {0.0, 10.0}
    assert th[0, 0, 1] == 10.0 and th[0, 3, 3] == 0.0


def test_station_dates_marking_period_starts_are_relabelled_to_period_ends(tmp_path):
    x = 500_000.0 + 1000.0 * (np.arange(2) + 0.5)
    y = 9_870_000.0 - 1000.0 * (np.arange(2) + 0.5)
    tgt = make_target(x, y)
    pd.DataFrame({"id": ["A"], "x": [x[0]], "y": [y[0]]}).to_csv(tmp_path / "st.csv", index=False)
    # daily totals dated by their day: 12 mm fell on 5 January
    pd.DataFrame({"date": ["2024-01-04", "2024-01-05", "2024-01-06"], "A": [0.0, 12.0, 3.0]}).to_csv(tmp_path / "rain.csv", index=False)
    end = stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", tgt, station_crs="EPSG:32750")
    start = stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", tgt, station_crs="EPSG:32750", label="start")
    assert str(end["time"].values[1])[:19] == "2024-01-05T00:00:00"  # default: the day ending at the date (4 Jan)
    assert str(start["time"].values[1])[:19] == "2024-01-06T00:00:00"  # the 5 January total ends at midnight
    np.testing.assert_array_equal(start.values[:, 0, 0], [0.0, 12.0, 3.0])
    with pytest.raises(InputDataError, match="label"):
        stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", tgt, station_crs="EPSG:32750", label="middle")


def test_design_storm_idf_intensity_table_on_grid():
    x = 500_000.0 + 1000.0 * (np.arange(3) + 0.5)
    y = 9_870_000.0 - 1000.0 * (np.arange(2) + 0.5)
    mask = np.array([[True, True, False], [True, True, True]])
    idf = pd.DataFrame({"duration_h": [0.25, 1.0, 3.0], "intensity_mm_h": [160.0, 80.0, 40.0]})
    h = design_storm(None, "3h", "15min", idf=idf, areal_reduction=lambda d_h: 0.95, target_grid=make_target(x, y, mask=mask))
    assert h.dims == ("time", "y", "x") and h.sizes["time"] == 12
    np.testing.assert_allclose(h.sum("time").values[mask], 0.95 * 120.0, rtol=1e-12)
    assert np.isnan(h.values[:, 0, 2]).all()
    assert h.values[:, 0, 0].max() == pytest.approx(0.95 * 40.0, rel=1e-12)  # wettest 15 min = 160 mm/h x 0.25 h


def test_prepare_is_lazy_and_chunked_in_time(coarse_source):
    import dask.array as dsa

    long = xr.concat([coarse_source.assign_coords(time=coarse_source.time + np.timedelta64(6 * k, "h"))
                      for k in range(40)], "time")  # 240 hourly steps
    out = prepare(long, make_target(coarse_source.x.values, coarse_source.y.values), "1h")
    assert isinstance(out.data, dsa.Array)
    assert max(out.chunks[0]) <= 24 and len(out.chunks[0]) >= 10


def test_pet_from_temperature_grid_uses_cell_latitude(coarse_source):
    """UTM 50S grid near 1.2° S: per-cell latitude from the CRS; K converted; feeds prepare."""
    from pyproj import Transformer

    from hydro.forcing import pet_from_temperature

    t = pd.date_range("2024-03-01", periods=3, freq="1D")
    tk = make_source(np.full((3, 3, 4), 300.15), coarse_source.x.values, coarse_source.y.values, t, units="K", name="tas")
    pe = pet_from_temperature(tk)
    _, lat = Transformer.from_crs("EPSG:32750", "EPSG:4326", always_xy=True).transform(coarse_source.x.values[1],
                                                                                      coarse_source.y.values[2])
    assert pe.values[1, 2, 1] == pytest.approx(pet_oudin([27.0], lat, t[0:1])[0], rel=1e-10)
    hourly = prepare(pe.rio.write_crs("EPSG:32750"), make_target(coarse_source.x.values, coarse_source.y.values), "1h",
                     profile="diurnal", vocabulary_name="potential_evaporation")
    np.testing.assert_allclose(hourly.values.reshape(3, 24, 3, 4).sum(axis=1), pe.values, rtol=1e-12)
    with pytest.raises(InputDataError, match="temperature units"):
        pet_from_temperature(tk.assign_attrs(units="F"))
