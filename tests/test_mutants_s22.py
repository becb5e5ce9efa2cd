"""Mutation audit of the session-22 changes (rev_mutants): tests that kill the mutants the s22 tests let survive.

Every expected value is derived by hand in the comments. Two tests (``test_month_labels_at_a_time_of_day_*`` and
``test_write_cog_infinite_nodata_*``) pin residual defects that surviving mutants revealed: they fail on the
original code and pass with fix.diff; all other tests pass on the original code and each fails on its mutant
(named in the docstring).
"""
from __future__ import annotations

import errno
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hydro
from hydro.errors import ConfigError, InputDataError, OutputError
from tests.calibrate.configs import synthetic_csv_config

REPO = Path(hydro.__file__).resolve().parents[1]  # the tree holding hydro/, inputs/ and models/


# ====================================================================== calibration TOML (hydro.calibrate.run)
def _calib_config(tmp_path: Path, *, top: str = "", input_extra: str = "") -> Path:
    """The shipped synthetic catchment CSV (m3/s, 120 km2), 1 DE iteration of 5 members
    (tests/calibrate/configs.py); ``top`` = top-level TOML keys before the first table."""
    p = synthetic_csv_config(tmp_path, input_extra=input_extra)
    if top:
        p.write_text(top + "\n" + p.read_text())
    return p


@pytest.mark.parametrize("top", ["fixed = 3", "bounds = 5"])
def test_calibration_table_given_as_a_value_is_a_config_error(tmp_path, top):
    """Mutant cal_not_table (the ``must be a table`` check removed): [fixed]/[bounds] hold parameter names and are
    not key-checked, so ``fixed = 3`` went on to ``dict(3)`` (a raw TypeError) instead of a ConfigError."""
    from hydro.calibrate import run_calibration

    with pytest.raises(ConfigError, match="must be a table"):
        run_calibration(_calib_config(tmp_path, top=top))
    assert not (tmp_path / "out").exists()


def test_calibration_boolean_latitude_is_a_config_error(tmp_path):
    """Mutant cal_lat_bool: ``lat = true`` is an int to Python (True == 1) and passed as 1 degree north."""
    from hydro.calibrate import run_calibration

    with pytest.raises(ConfigError, match="lat"):
        run_calibration(_calib_config(tmp_path, input_extra="lat = true\nlon = 116.8"))


def test_calibration_at_the_pole_and_netcdf_id(tmp_path):
    """Mutant cal_lat_le (``abs(v) < 90``): 90 degrees is a valid latitude (the limit is inclusive). Mutant
    cal_nc_ident: the NetCDF ``id`` is the published name's stem ``c_simulated`` (config c.toml, default prefix
    = config stem), not that of the staged file ``c_simulated.nc.part`` (stem ``c_simulated.nc``)."""
    import netCDF4

    from hydro.calibrate import run_calibration

    out = run_calibration(_calib_config(tmp_path, input_extra="lat = 90.0\nlon = -180.0"))
    nc = Path(out["paths"]["netcdf"])
    assert nc.name == "c_simulated.nc"
    with netCDF4.Dataset(nc) as ds:
        assert ds.getncattr("id") == "c_simulated"
    assert sorted(p.name for p in nc.parent.iterdir()) == ["c_scores.json", "c_simulated.csv", "c_simulated.nc"]


# ====================================================================== forcing UTC offsets
@pytest.mark.parametrize("text, hours", [
    ("-05:00", -5.0),   # sign "-": -(5 + 0/60)
    ("+05:30", 5.5),    # 5 + 30/60 (India)
    ("+0545", 5.75),    # 5 + 45/60 (Nepal)
    ("UTC-0930", -9.5),  # -(9 + 30/60) (Marquesas)
])
def test_iso_utc_offsets_are_hours(text, hours):
    """Mutants fc_sign (sign ignored) and fc_minutes (minutes / 100)."""
    from hydro.forcing.core import _utc_offset_hours

    assert _utc_offset_hours(text, "w") == pytest.approx(hours, abs=1e-12)


@pytest.mark.parametrize("text", ["90s", "30s", "1500ms"])
def test_utc_offset_that_is_not_whole_minutes_is_refused(text):
    """Mutant fc_whole_min: 90 s (0.025 h) is no UTC offset; it was taken as 0.025 hours."""
    from hydro.forcing.core import _utc_offset_hours

    with pytest.raises(InputDataError, match="utc_offset"):
        _utc_offset_hours(text, "w")
    assert _utc_offset_hours("45min", "w") == pytest.approx(0.75, abs=1e-12)  # 45/60 h: whole minutes


# ====================================================================== allocation series (month logic, times)
def _net(inflow, steps, start="2024-01-01", timestep="1D"):
    return {
        "network": {"name": "tiny", "start": start, "steps": steps, "timestep": timestep},
        "regions": [{"id": "a"}],
        "nodes": [{"id": "src", "type": "intake", "inflow": inflow},
                  {"id": "A", "type": "demand", "region": "a", "demand": "100 m3/s", "priority": 1}],
        "links": [{"id": "l", "from": "src", "to": "A"}],
    }


def _csv_delivered(tmp_path, times, values, start, steps=1):
    """Delivery [m3/s] of a run fed by a CSV series: the demand (100 m3/s) exceeds any inflow, so it equals the
    series' value for the step."""
    from hydro.allocation import allocate, load_network

    pd.DataFrame({"time": times, "q": values}).to_csv(tmp_path / "q.csv", index=False)
    res = allocate(load_network(_net({"csv": "q.csv", "column": "q", "units": "m3/s"}, steps, start),
                                base_dir=tmp_path))
    return res.delivered[:, 0] / res.dt


def test_quarterly_labels_with_a_four_month_step(tmp_path):
    """Quarter starts Jan, Apr, Jul then Nov (value = month number). Months between labels dm = 3, 3, 4: median 3,
    so k = 3 and a gap needs dm > 1.5 x 3 = 4.5 months: none here, every value lasts until the next label and
    the last one 3 calendar months (1 Nov + 3 months = 1 Feb 2025).
    Mutant an_median_min (k = 1): every dm > 1.5 was a gap, January covered January only (10 Feb an error).
    Mutant an_gap_k (dm > k): dm = 4 > 3 made July a gap after 3 months (10 Oct an error)."""
    lab, val = ["2024-01-01", "2024-04-01", "2024-07-01", "2024-11-01"], [1.0, 4.0, 7.0, 11.0]
    np.testing.assert_allclose(_csv_delivered(tmp_path, lab, val, "2024-02-10"), [1.0], rtol=1e-12)
    np.testing.assert_allclose(_csv_delivered(tmp_path, lab, val, "2024-10-10"), [7.0], rtol=1e-12)
    np.testing.assert_allclose(_csv_delivered(tmp_path, lab, val, "2025-01-31"), [11.0], rtol=1e-12)
    with pytest.raises(InputDataError, match="no value for step 0"):
        _csv_delivered(tmp_path, lab, val, "2025-02-01")


def test_labels_not_all_on_the_first_of_a_month_count_in_seconds(tmp_path):
    """Labels 1 Jan and 15 Feb (not month starts): the last sample lasts the spacing, 45 days (31 + 14), so it
    covers 15 Feb ... 31 Mar (15 Feb + 45 d). Mutant an_day1_any took them as month labels (k = 1: to 15 Mar)."""
    np.testing.assert_allclose(_csv_delivered(tmp_path, ["2024-01-01", "2024-02-15"], [1.0, 2.0], "2024-03-20"),
                               [2.0], rtol=1e-12)
    with pytest.raises(InputDataError, match="no value for step 0"):  # 31 Mar 00:00 is the end: 31 Mar uncovered
        _csv_delivered(tmp_path, ["2024-01-01", "2024-02-15"], [1.0, 2.0], "2024-03-31")


def test_month_labels_at_a_time_of_day_do_not_hold_february_into_march(tmp_path):
    """DEFECT (revealed by the surviving mutant an_normalize). Month starts stamped at 06:00 UTC (e.g. local
    midnights at -06:00 in the CSV): 1 Jan 06:00 and 1 Feb 06:00. The series ends one calendar month after the last
    label, 1 Mar 06:00; a daily step from 1 Mar 06:00 is not covered. Before: the 31-day spacing was used
    (1 Feb 06:00 + 31 d = 3 Mar 06:00) and February's 2.0 m3/s was given to 1 and 2 March (a held value)."""
    # February (29 days) is covered to its end: the step 29 Feb 06:00 - 1 Mar 06:00 takes 2.0
    np.testing.assert_allclose(_csv_delivered(tmp_path, ["2024-01-01T00:00-06:00", "2024-02-01T00:00-06:00"],
                                              [1.0, 2.0], "2024-02-29T06:00"), [2.0], rtol=1e-12)
    with pytest.raises(InputDataError, match="no value for step 0"):
        _csv_delivered(tmp_path, ["2024-01-01T00:00-06:00", "2024-02-01T00:00-06:00"], [1.0, 2.0], "2024-03-01T06:00")


def test_month_labels_at_a_time_of_day_with_a_missing_month_is_a_gap(tmp_path):
    """DEFECT (same): 06:00 labels of Jan, Feb, Apr, May (March missing): dm = 1, 2, 1, median 1, and 2 > 1.5 is a
    gap, so February ends on 1 Mar 06:00 and the missing March is an error, not February's 2.0 held."""
    lab, val = ["2024-01-01 06:00", "2024-02-01 06:00", "2024-04-01 06:00", "2024-05-01 06:00"], [1.0, 2.0, 4.0, 5.0]
    np.testing.assert_allclose(_csv_delivered(tmp_path, lab, val, "2024-04-10 06:00"), [4.0], rtol=1e-12)
    with pytest.raises(InputDataError, match="no value for step 0"):
        _csv_delivered(tmp_path, lab, val, "2024-03-01 06:00")


def test_repeated_time_in_a_runtime_dataarray_is_an_error():
    """Mutant an_unique_da (the check dropped on the xarray branch): 2 January given twice (2.0 and 5.0)."""
    from hydro.allocation import allocate, load_network

    da = xr.DataArray([1.0, 2.0, 5.0, 3.0], dims="time", attrs={"units": "m3/s"},
                      coords={"time": pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"])})
    with pytest.raises(InputDataError, match="duplicate time 2024-01-02"):
        allocate(load_network(_net({"external": "x"}, 3)), {"x": da})


def test_storage_accounts_on_two_reservoirs_are_accepted():
    """Mutant ag_res_same (the reservoir comparison dropped): one storage_accounts agreement on each of two
    reservoirs is valid. Each reservoir (0.5 Mm3, no inflow) feeds one demand of 0.1 m3/s for one day:
    0.1 x 86400 = 8640 m3 < 0.5e6 m3, so both demands are met in full."""
    from hydro.allocation import allocate, load_network

    net = {
        "network": {"name": "two", "start": "2024-01-01", "steps": 1, "timestep": "1D"},
        "regions": [{"id": "a"}, {"id": "b"}],
        "nodes": [{"id": r, "type": "reservoir", "capacity": "1 Mm3", "initial_storage": "0.5 Mm3"} for r in ("r1", "r2")]
        + [{"id": d, "type": "demand", "region": g, "demand": "0.1 m3/s", "priority": 1} for d, g in (("A", "a"), ("B", "b"))],
        "links": [{"id": "la", "from": "r1", "to": "A"}, {"id": "lb", "from": "r2", "to": "B"}],
        "agreements": [
            {"type": "storage_accounts", "name": "acc1", "reservoir": "r1",
             "accounts": [{"party": "a", "links": ["la"], "inflow_share": 1.0}]},
            {"type": "storage_accounts", "name": "acc2", "reservoir": "r2",
             "accounts": [{"party": "b", "links": ["lb"], "inflow_share": 1.0}]},
        ],
    }
    res = allocate(load_network(net))
    np.testing.assert_allclose(res.delivered[0] / res.dt, [0.1, 0.1], rtol=1e-9)


# ====================================================================== report depth units
def test_depth_map_in_cm_states_metres_and_is_not_converted_twice():
    """Mutant rd_units_attr: the converted map kept units = "cm", so a second depth_map (as key_numbers and the
    figure each apply) divided by 100 again: 15 cm -> 0.15 m -> 0.0015 m."""
    from affine import Affine

    from hydro.io.raster import from_array
    from hydro.report._data import depth_map

    cm = from_array(np.array([[15.0, 5.0], [30.0, 0.0]]), Affine(10.0, 0, 500_000.0, 0, -10.0, 9_860_000.0),
                    "EPSG:32750", name="max_flood_depth")
    cm.attrs["units"] = "cm"
    once = depth_map(cm)
    assert once.attrs["units"] == "m"
    # 15, 5, 30, 0 cm x 0.01 = 0.15, 0.05, 0.30, 0 m
    np.testing.assert_allclose(once.values, [[0.15, 0.05], [0.30, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(depth_map(once).values, [[0.15, 0.05], [0.30, 0.0]], rtol=1e-12)


# ====================================================================== io tables / raster
def test_read_csv_several_unnamed_columns_are_not_repeated_names(tmp_path):
    """Mutant it_empty: empty header cells (an index column, a trailing comma) are no name; pandas names them
    "Unnamed: 1" and "Unnamed: 3" and nothing is ambiguous."""
    from hydro.io.tables import read_csv

    (tmp_path / "e.csv").write_text("a,,b,\n1,2,3,4\n")
    assert read_csv(tmp_path / "e.csv").columns.tolist() == ["a", "Unnamed: 1", "b", "Unnamed: 3"]


def test_read_csv_repeated_name_with_another_separator(tmp_path):
    """Mutant it_sep: the header check read a ';' file with ',' (one column "Q;Q;b"): the repeat went unseen."""
    from hydro.io.tables import read_csv

    (tmp_path / "s.csv").write_text("Q;Q;b\n1;2;3\n")
    with pytest.raises(InputDataError, match=r"repeated column names \['Q'\]"):
        read_csv(tmp_path / "s.csv", sep=";")


def _rect_grid(ny=4, nx=5, dx=30.0, dy=20.0, x0=500000.0, y0=9000000.0):
    import rioxarray  # noqa: F401

    da = xr.DataArray(np.ones((ny, nx), np.float32), dims=("y", "x"),
                      coords={"y": y0 - dy / 2 - np.arange(ny) * dy, "x": x0 + dx / 2 + np.arange(nx) * dx})
    da = da.rio.write_crs("EPSG:32750")
    return da.rio.write_transform(da.rio.transform(recalc=True))


def test_one_row_of_a_grid_with_rectangular_cells():
    """Mutant ir_e (the row height taken as the cell width): 30 m x 20 m cells. Row 2's centre is
    9 000 000 - 10 - 2 x 20 = 8 999 950 m, its top edge 8 999 960 m; the height stays -20 m."""
    from hydro.io.raster import grid_transform

    t = grid_transform(_rect_grid().isel(y=[2]))
    assert tuple(t)[:6] == (30.0, 0.0, 500000.0, 0.0, -20.0, 8999960.0)


def test_one_row_with_a_rotated_stored_transform_is_refused():
    """Mutant ir_rot: a rotated stored transform (b = 5) has no north-up cell size; it was read as if north-up."""
    from affine import Affine

    from hydro.io.raster import grid_transform

    da = _rect_grid().isel(y=[2])
    da = da.rio.write_transform(Affine(30.0, 5.0, 500000.0, 0.0, -20.0, 8999960.0))
    with pytest.raises(InputDataError, match="north-up"):
        grid_transform(da)


def test_write_cog_infinite_nodata_keeps_the_cell_nodata(tmp_path):
    """DEFECT (revealed by the surviving mutant fp_isfinite): a float map whose nodata is -inf was written with
    nodata NaN and the -inf cell as a value: read back masked, it was a depth of -inf m (the -9999 case of
    session 22, for an infinite nodata)."""
    import rioxarray

    from hydro.flood.products import write_cog

    z = np.array([[0.5, -np.inf], [1.0, 2.0]], np.float32)
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": [9_860_000.0 - 15.0, 9_860_000.0 - 45.0],
                                                  "x": [500_015.0, 500_045.0]})
    da = da.rio.write_crs("EPSG:32750").rio.write_nodata(-np.inf, encoded=False)
    back = rioxarray.open_rasterio(write_cog(da, tmp_path / "d.tif"), masked=True).squeeze(drop=True).values
    assert np.isnan(back[0, 1]) and int(np.isnan(back).sum()) == 1
    np.testing.assert_array_equal(back[[0, 1, 1], [0, 0, 1]], [0.5, 1.0, 2.0])


# ====================================================================== nightly cold start with an inflow
def test_inflow_start_of_points_and_of_an_empty_series():
    """Mutant fn_half_step: a point series covers a step whose midpoint it covers, i.e. from half a step before its
    first point (06:00 - 30 min = 05:30 for 1 h steps). Mutant fn_empty: an empty series has no start (None)."""
    from hydro.forecast.nightly import _inflow_start

    s = pd.Series([1.0, 1.0], index=pd.DatetimeIndex(["2025-08-24T06:00", "2025-08-24T07:00"]))
    assert _inflow_start(s, pd.Timedelta("1h")) == pd.Timestamp("2025-08-24T05:30")
    assert _inflow_start(pd.Series([], index=pd.DatetimeIndex([]), dtype=float), pd.Timedelta("1h")) is None


class _FakeModel:
    def __init__(self, series):
        self.routing = SimpleNamespace(inflows=[SimpleNamespace(name="up", discharge_m3s=series)])
        self.runs = []
        self.valid_time = None

    def run(self, rain, pet, *, start, steps, gridded):
        self.runs.append((start, steps))
        self.valid_time = start + steps * pd.Timedelta("1h")


def _cold(monkeypatch, tmp_path, series, T):
    import hydro.forecast.hydrology as hyd
    from hydro.forecast.nightly import _warm_start

    monkeypatch.setattr(hyd, "cold_start", lambda model, cfg: None)
    monkeypatch.setattr(hyd, "open_rain", lambda *a, **k: None)
    monkeypatch.setattr(hyd, "pet_per_step", lambda cfg: None)
    cfg = SimpleNamespace(routing=SimpleNamespace(model_step="1h"), forcing=SimpleNamespace(source="storm"),
                          forecast=SimpleNamespace(max_state_age_days=3, spinup_days=1, on_bad_state="skip"),
                          exchange=SimpleNamespace(inflows=[]))  # the inflow is given, not a neighbour's nightly file
    model = _FakeModel(series)
    rec = _warm_start(model, cfg, None, T, tmp_path)
    return model, rec


def test_cold_start_spin_up_starts_on_the_model_step_grid(monkeypatch, tmp_path):
    """Mutant fn_align: hourly means labelled at their end from T - 5h30 (periods of 1 h: the first one starts at
    T - 6h30). The first whole model step inside is T - 6h ... T - 5h (T - 6h30 + ((6h30) mod 1h = 30 min)):
    the spin-up runs 6 steps from T - 6h and ends at T. The mutant ran 6 steps from T - 6h30, ending at T - 30 min."""
    T = pd.Timestamp("2025-08-25T00:00")
    s = pd.Series(3.0, index=pd.date_range(T - pd.Timedelta("5h30min"), periods=60, freq="1h"))
    s.attrs.update({"cell_methods": "time: mean", "period_s": 3600.0})
    model, rec = _cold(monkeypatch, tmp_path, s, T)
    assert model.runs == [(T - pd.Timedelta("6h"), 6)]
    assert model.valid_time == T
    assert rec["detail"].startswith("spin-up shortened to 0 days 06:00:00"), rec["detail"]


def test_cold_start_with_an_inflow_starting_after_the_reference_time(monkeypatch, tmp_path):
    """Mutant fn_min_T: an inflow whose first hourly period starts at T + 1h (label T + 2h): the spin-up is
    shortened to nothing (start = T, no run), the manifest says 0 days, not a negative spin-up (-1 days +23:00)."""
    T = pd.Timestamp("2025-08-25T00:00")
    s = pd.Series(3.0, index=pd.date_range(T + pd.Timedelta("2h"), periods=10, freq="1h"))
    s.attrs.update({"cell_methods": "time: mean", "period_s": 3600.0})
    model, rec = _cold(monkeypatch, tmp_path, s, T)
    assert model.runs == [] and model.valid_time == T
    assert rec["detail"].startswith("spin-up shortened to 0 days 00:00:00"), rec["detail"]


# ====================================================================== catchment products (RunResult.write)
def _result(value: float):
    from hydro.model.catchment import RunResult

    t = pd.date_range("2024-01-01", periods=3, freq="h")
    wb = xr.Dataset({"residual": ("time", np.zeros(3), {"units": "m3"})}, coords={"time": t})
    g = xr.Dataset({"discharge": ("time", np.full(3, value), {"units": "m3 s-1"})}, coords={"time": t})
    return RunResult(None, g, None, wb, {"steps": 3})


def test_catchment_products_carry_their_published_id(tmp_path):
    """Mutant mc_id: each file's ``id`` is its published stem (r_gauges), not the temporary name's."""
    import netCDF4

    out = _result(1.0).write(tmp_path, prefix="r")
    for key, stem in (("gauges", "r_gauges"), ("water_balance", "r_water_balance")):
        with netCDF4.Dataset(out[key]) as nc:
            assert nc.getncattr("id") == stem


def test_catchment_failed_second_product_keeps_the_previous_first_one(tmp_path, monkeypatch):
    """Mutant mc_rename_inside (each file renamed as soon as written): a disk full on the 2nd product
    (water_balance) had already replaced the previous run's gauges file (1.0 m3/s by 2.0 m3/s)."""
    import hydro.io as hio

    first = _result(1.0).write(tmp_path, prefix="r")
    before = {k: Path(p).read_bytes() for k, p in first.items()}
    real = hio.write_netcdf
    calls = []

    def failing(ds, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(ds, path, **kw)

    monkeypatch.setattr(hio, "write_netcdf", failing)
    with pytest.raises(OutputError):
        _result(2.0).write(tmp_path, prefix="r")
    assert {k: Path(p).read_bytes() for k, p in first.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r_gauges.nc", "r_water_balance.nc"]


# ====================================================================== pipeline: flood storm keys
def test_flood_storm_keys_with_the_flood_stage_off_are_not_named(tmp_path):
    """Mutant fp_unused_and (only runoff tested): with [flood] enabled = false nothing of [flood] is used, the
    storm keys are not "taken over by the routed run": unused_flood_storm names nothing."""
    from hydro.config import load_config
    from hydro.forecast.pipeline import unused_flood_storm

    (tmp_path / "models").mkdir()
    shutil.copytree(REPO / "inputs" / "forcing", tmp_path / "inputs" / "forcing")
    text = (REPO / "models" / "balikpapan.toml").read_text()
    assert "[flood]\nenabled = true" in text
    text = text.replace("[flood]\nenabled = true", "[flood]\nenabled = false\nstorm_total_mm = 300.0")
    text = text.replace("[allocation]\nenabled = true", "[allocation]\nenabled = false")
    p = tmp_path / "models" / "m.toml"
    p.write_text(text)
    cfg = load_config(p)
    assert cfg.runoff.enabled and not cfg.flood.enabled and "storm_total_mm" in cfg.flood.model_fields_set
    assert unused_flood_storm(cfg) == {}
