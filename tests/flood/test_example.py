"""The Balikpapan example call (coarse grid): HAND over the catchment + 2-D coastal plain, products written."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hydro.flood.example import balikpapan_flood, design_storm, spring_tide


def test_design_storm_and_spring_tide():
    storm = design_storm("2025-08-25", total_mm=140.0, duration_h=6.0, tail_h=2.0)
    assert float(storm.sum()) == pytest.approx(140.0)
    assert storm.attrs["units"] == "mm" and storm.sizes["time"] == 48
    assert int(np.argmax(storm.values)) == 14  # peak at 40 % of 36 steps
    tide = spring_tide("2025-08-25", 13.0, high_water="2025-08-25T02:24")
    assert float(tide.max()) == pytest.approx(1.4, abs=0.01)
    assert float(tide.min()) == pytest.approx(-1.4, abs=0.05)


def test_balikpapan_example_coarse(tmp_path):
    from hydro.testing import assert_cf_compliant

    out = balikpapan_flood(120.0, duration_h=4.0, output_dir=tmp_path, output_interval_min=60.0)
    res = out["plain"]
    assert np.abs(res.balance["relative_residual"]).max() < 1e-9
    assert res.balance["rain"].iloc[-1] > 0 and res.balance["point_inflow"].iloc[-1] > 0
    ds = res.dataset
    assert int((ds["flood_extent"] == 1).sum()) > 0
    assert float(ds["max_flood_depth"].max()) < 10.0
    hand = out["hand"]
    assert int((hand["flood_extent"] == 1).sum()) > 0
    assert int(out["reaches"].sizes["reach"]) > 100
    names = sorted(p.name for p in out["files"])
    assert names == ["hand_flood.nc", "plain_extent.geojson", "plain_flood.nc", "plain_flood_max.nc",
                     "plain_hazard.tif", "plain_max_depth.tif"]
    for p in out["files"]:
        if p.suffix == ".nc":
            assert_cf_compliant(p)
    fc = json.loads((tmp_path / "plain_extent.geojson").read_text())
    assert fc["features"]
