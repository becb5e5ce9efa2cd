"""key_numbers: hand-computed peaks, flooded areas and shortfalls; number formatting."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.report import format_number, key_numbers
from tests.report.conftest import DAY, START


def test_peaks_from_max_discharge_hand_values(dsg_gauges):
    kn = key_numbers(dsg_gauges)
    a, b = kn["gauges"]
    assert (a["id"], a["name"], b["id"], b["name"]) == ("A-1", "Ampal", "B-2", "Manggar")
    assert a["peak_discharge_m3_s"] == 50.0 and a["peak_time"] == "2026-01-10T03:00:00Z"
    assert b["peak_discharge_m3_s"] == 10.0 and b["peak_time"] == "2026-01-10T05:00:00Z"
    assert a["peak_variable"] == "max_discharge"


def test_peaks_from_discharge_and_litre_units(dsg_gauges):
    ds = dsg_gauges.drop_vars("max_discharge")
    kn = key_numbers(ds)
    assert [g["peak_discharge_m3_s"] for g in kn["gauges"]] == [42.0, 7.5]
    assert kn["gauges"][0]["peak_variable"] == "discharge"
    ds["discharge"] = ds["discharge"] * 1000.0
    ds["discharge"].attrs["units"] = "L s-1"
    assert [g["peak_discharge_m3_s"] for g in key_numbers(ds)["gauges"]] == pytest.approx([42.0, 7.5], rel=1e-12)


def test_peaks_of_a_model_run(model_run):
    g = model_run["result"].gauges
    kn = key_numbers(g)
    for i, entry in enumerate(kn["gauges"]):
        qmax = g["max_discharge"].isel(station=i).values
        k = int(np.argmax(qmax))
        assert entry["peak_discharge_m3_s"] == float(qmax[k]) > 0
        assert entry["peak_time"] == pd.Timestamp(g["time"].values[k]).strftime("%Y-%m-%dT%H:%M:%SZ")
        # the maximum within a step is never below the step mean
        assert entry["peak_discharge_m3_s"] >= float(g["discharge"].isel(station=i).max())
    # the storm falls in hours 6-11: the outlet peaks after the rain peak (hour 8) and before the end
    t_peak = pd.Timestamp(kn["gauges"][0]["peak_time"]).tz_localize(None)
    assert START + pd.Timedelta("8h") <= t_peak < START + pd.Timedelta("48h")


def _depth(values, res=30.0, crs="EPSG:32750"):
    from affine import Affine

    from hydro.io.raster import from_array

    return from_array(np.asarray(values, np.float32), Affine(res, 0, 400_000.0, 0, -res, 9_800_000.0), crs,
                      name="max_flood_depth")


def test_flooded_area_hand_computed():
    d = np.zeros((10, 12))
    d[2, 3:8] = 0.5       # 5 cells clearly flooded
    d[5, 0:2] = 0.1       # exactly the threshold (float32 map, compared in float32 like flood_extent): not flooded
    d[7, 4:7] = 0.05      # 3 shallow cells
    d[9, :] = np.nan      # no data
    d[0, 0] = 2.25
    kn = key_numbers(flood=_depth(d))
    (f,) = kn["flood"]
    assert f["flooded_cells"] == 6
    assert f["flooded_area_km2"] == pytest.approx(6 * 900.0 / 1e6, rel=1e-12)
    assert f["cell_area_m2"] == 900.0 and f["threshold_m"] == 0.1 and f["max_depth_m"] == 2.25
    # another threshold: the shallow cells count, the 0.1 m cells too
    f2 = key_numbers(flood=_depth(d), flood_threshold_m=0.04)["flood"][0]
    assert f2["flooded_cells"] == 6 + 2 + 3


def test_flood_products_by_domain_and_threshold_attribute():
    d = np.zeros((4, 4))
    d[0, :] = [0.2, 0.35, 0.5, 0.05]
    two_d = xr.Dataset({"max_flood_depth": _depth(d, res=10.0)}, attrs={"hydro_flood_threshold_m": 0.3})
    # a HAND product with a time axis: the maximum over time decides
    hd = np.zeros((2, 4, 4))
    hd[0, 1, 1] = 0.5
    hd[1, 1, 1] = 0.0
    hd[1, 2, 2] = 0.15
    base = _depth(hd[0], res=100.0)
    hand = xr.Dataset({"flood_depth": xr.DataArray(hd, dims=("time", "y", "x"),
                                                   coords={"time": pd.date_range("2026-01-10", periods=2, freq="h"),
                                                           "y": base.y, "x": base.x})})
    kn = key_numbers(flood={"coastal plain (2-D)": two_d, "catchment (HAND)": hand})
    plain, catch = kn["flood"]
    assert plain["domain"] == "coastal plain (2-D)" and plain["threshold_m"] == 0.3
    assert plain["flooded_area_km2"] == pytest.approx(2 * 100.0 / 1e6)
    assert catch["flooded_cells"] == 2 and catch["flooded_area_km2"] == pytest.approx(2 * 1e4 / 1e6)


def test_flooded_area_on_a_geographic_grid():
    """One 1° x 1° cell on the equator: R² · Δλ · (sin 0.5° − sin −0.5°) on a sphere (a one-row map)."""
    da = xr.DataArray([[1.0, 0.0]], dims=("y", "x"), coords={"y": [0.0], "x": [100.5, 101.5]})
    da = da.rio.write_crs("EPSG:4326").rio.write_transform(__import__("affine").Affine(1, 0, 100, 0, -1, 0.5))
    r = 6371008.8
    expected = r * r * np.radians(1.0) * 2 * np.sin(np.radians(0.5)) / 1e6
    assert key_numbers(flood=da)["flood"][0]["flooded_area_km2"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kind", ["region", "demand"])
def test_shortfalls_by_region_hand_computed(allocation_result, kind):
    ds = allocation_result.to_dataset(kind)
    a, b = key_numbers(allocation=ds)["allocation"]
    assert (a["region"], b["region"]) == ("a", "b")
    assert a["demand_volume_m3"] == pytest.approx(0.6 * 3 * DAY, rel=1e-12)
    assert a["shortfall_volume_m3"] == pytest.approx(0.1 * DAY, rel=1e-9)
    assert a["shortfall_percent"] == pytest.approx(100.0 * 0.1 / 1.8, rel=1e-9)
    assert b["shortfall_volume_m3"] == pytest.approx(1.2 * DAY, rel=1e-9)
    assert b["shortfall_percent"] == pytest.approx(50.0, rel=1e-9)
    assert b["delivered_volume_m3"] == pytest.approx(1.2 * DAY, rel=1e-9)


def test_solver_round_off_is_not_a_shortfall(allocation_result):
    ds = allocation_result.to_dataset("region")
    ds["shortfall"] = ds["shortfall"] + 1e-13  # LP noise
    ds["shortfall"].attrs["units"] = "m3 s-1"
    a = key_numbers(allocation=ds)["allocation"][0]
    assert a["shortfall_volume_m3"] == pytest.approx(0.1 * DAY, rel=1e-9)


def test_result_is_json_serialisable_and_has_only_given_keys(dsg_gauges, allocation_result):
    kn = key_numbers(dsg_gauges, allocation=allocation_result.to_dataset("region"),
                     exposure={"people_affected": 1200, "roads_affected_km": 3.4})
    assert set(kn) == {"gauges", "allocation", "exposure"}
    assert json.loads(json.dumps(kn)) == kn
    assert kn["exposure"] == {"people_affected": 1200.0, "roads_affected_km": 3.4}
    assert key_numbers() == {}


def test_bad_inputs_are_named():
    with pytest.raises(InputDataError, match="discharge"):
        key_numbers(xr.Dataset({"flow": ("time", [1.0])}, coords={"time": [np.datetime64("2026-01-01")]}))
    bad_units = xr.Dataset({"discharge": ("time", [1.0, 2.0], {"units": "mm"})},
                           coords={"time": pd.date_range("2026-01-01", periods=2, freq="h")})
    with pytest.raises(InputDataError, match="not a flow"):
        key_numbers(bad_units)
    with pytest.raises(InputDataError, match="not a number"):
        key_numbers(exposure={"people_affected": object()})
    with pytest.raises(InputDataError, match="water_demand"):
        key_numbers(allocation=xr.Dataset({"delivery": ("time", [1.0])}))
    with pytest.raises(InputDataError, match="regularly spaced"):
        key_numbers(flood=xr.DataArray(np.ones((2, 3)), dims=("y", "x"), coords={"y": [1.0, 0.0], "x": [0.0, 1.0, 3.0]}))


@pytest.mark.parametrize("value, text", [(103680.00000004, "103,680"), (50.0, "50.0"), (5.555555, "5.56"),
                                         (0.0063, "0.00630"), (0.0, "0"), (None, "–"), (float("nan"), "–"),
                                         (-12.34, "-12.3"), ("n/a", "n/a")])
def test_format_number(value, text):
    assert format_number(value) == text
