"""Review of the flood exposure and the run report: hand-derived values that failed before the fix."""
from __future__ import annotations

import re

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from rasterio.transform import from_origin

from hydro.flood.exposure import people_affected, roads_affected_km
from hydro.flood.products import flooded_area_km2
from hydro.report import key_numbers


def _map(values, x0=500000.0, y0=9850040.0, res=10.0, crs="EPSG:32750", dtype=np.float32):
    a = np.asarray(values, dtype=dtype)
    da = xr.DataArray(a, dims=("y", "x"), coords={"y": y0 - res * (np.arange(a.shape[0]) + 0.5),
                                                  "x": x0 + res * (np.arange(a.shape[1]) + 0.5)})
    return da.rio.write_crs(crs).rio.write_transform(from_origin(x0, y0, res, res))


def test_people_of_a_one_cell_population_raster():
    """A 40 m population cell of 100 people over a 4 x 4 map of 10 m cells, 3 of them flooded: 100 * 3/16.

    ``squeeze()`` dropped the y/x dims of the 1 x 1 raster: InputDataError "got dims ('y', 'x')"."""
    depth = _map([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    pop = _map([[100.0]], res=40.0, dtype=np.float64)
    assert people_affected(depth, pop, 0.1) == pytest.approx(100.0 * 3 / 16, rel=1e-12)


def test_exposure_on_a_one_row_map():
    """A strip map of one row (2 cells of 10 m, the west one flooded): its 4 people and 10 m of road."""
    depth = _map([[0.5, 0.0]])
    pop = _map([[4.0, 8.0]], dtype=np.float64)
    assert people_affected(depth, pop, 0.1) == pytest.approx(4.0)
    road = np.array([[500000.0, 9850035.0], [500020.0, 9850035.0]])
    assert roads_affected_km(depth, [road], 0.1) == pytest.approx(0.010, rel=1e-9)


def test_exposure_counts_only_cells_of_the_flood_extent():
    """A float32 0.1 m cell is not flooded at a 0.1 m threshold (flood_extent, key_numbers): no people there."""
    depth = _map([[0.1, 0.0], [0.0, 0.3]])
    pop = _map([[4.0, 8.0], [12.0, 16.0]], dtype=np.float64)
    assert key_numbers(flood=depth, flood_threshold_m=0.1)["flood"][0]["flooded_cells"] == 1
    assert people_affected(depth, pop, 0.1) == pytest.approx(16.0)  # was 20: the 0.1 m cell's 4 people
    road = np.array([[500000.0, 9850035.0], [500020.0, 9850035.0]])  # over the 0.1 m and a dry cell
    assert roads_affected_km(depth, [road], 0.1) == 0.0


def test_report_flooded_area_of_a_geographic_map_equals_the_alerts_area():
    """10 x 10 cells of 0.001° at 1.2 S (Balikpapan): the report's area = the ellipsoidal area of the alerts and
    facts (flooded_area_km2) and of pyproj's geodesic box (the sphere gave 0.45 % more)."""
    from pyproj import Geod

    depth = _map(np.ones((10, 10)), x0=116.8, y0=-1.2, res=0.001, crs="EPSG:4326")
    box = abs(Geod(ellps="WGS84").polygon_area_perimeter([116.8, 116.81, 116.81, 116.8],
                                                         [-1.2, -1.2, -1.21, -1.21])[0]) / 1e6
    got = key_numbers(flood=depth)["flood"][0]["flooded_area_km2"]
    assert got == pytest.approx(flooded_area_km2(np.ones((10, 10), bool), depth), rel=1e-9)
    assert got == pytest.approx(box, rel=1e-6)


def test_run_report_shows_the_exposure_of_every_flood_map(tmp_path):
    """make_report printed only the 2-D map's people and roads, unnamed: the catchment's 5,000 people were lost."""
    from hydro.config import ModelConfig
    from hydro.forecast.report import make_report

    hand = _map([[1.0, 0.0], [0.0, 0.0]]).to_dataset(name="flood_depth")
    plain = _map([[0.0, 0.0], [0.0, 1.0]]).to_dataset(name="max_flood_depth")
    out = make_report(ModelConfig(region="t"), tmp_path, run_id="r", gauges=None, flood=plain, dem=None,
                      allocation=None, alerts=[], files=[], warm_start=None, reference_time=None, hand=hand,
                      exposure={"whole catchment (HAND)": {"people_affected": 5000, "roads_affected_km": 12.5},
                                "coastal plain (2-D)": {"people_affected": 120, "roads_affected_km": 0.8}})
    page = out["report"].read_text("utf-8")
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=n>([^<]*)</td><td class=n>([^<]*)</td></tr>", page)
    assert ("whole catchment (HAND)", "5,000", "12.5") in rows
    assert ("coastal plain (2-D)", "120", "0.800") in rows
    assert "<th class=n>People affected</th><th class=n>Roads affected (km)</th>" in page


def test_key_numbers_exposure_per_flood_map_is_validated():
    from hydro.errors import InputDataError

    kn = key_numbers(exposure={"a": {"people_affected": 3}, "b": {"people_affected": 4.5}})
    assert kn["exposure"] == {"a": {"people_affected": 3.0}, "b": {"people_affected": 4.5}}
    with pytest.raises(InputDataError, match="finite"):
        key_numbers(exposure={"a": {"people_affected": float("nan")}})
    with pytest.raises(InputDataError, match="mix"):
        key_numbers(exposure={"a": {"people_affected": 3}, "people_affected": 4})


def test_run_exposure_counts_each_map_at_its_own_flood_threshold(monkeypatch):
    # the plain (2-D) map floods from 0.05 m, the HAND map from 0.3 m: a cell 0.2 m deep with 100 people is
    # flooded on the plain and dry on the HAND map (before: both counted at the HAND threshold, 0 on the plain)
    from types import SimpleNamespace

    from affine import Affine

    import hydro.datasets
    from hydro.forecast.pipeline import _exposure
    from hydro.io.raster import from_array

    tr = Affine(10.0, 0, 500000.0, 0, -10.0, 9860000.0)
    depth = from_array(np.array([[0.2, 0.0], [0.0, 0.0]], np.float32), tr, "EPSG:32750", name="d")
    pop = from_array(np.array([[100.0, 7.0], [0.0, 0.0]]), tr, "EPSG:32750", name="population")
    monkeypatch.setattr(hydro.datasets, "balikpapan_population", lambda seed=None: pop)
    plain = depth.rename("max_flood_depth").to_dataset()
    plain.attrs["hydro_flood_threshold_m"] = 0.05
    hand = depth.rename("flood_depth").to_dataset()
    hand.attrs["hydro_flood_threshold_m"] = 0.3
    cfg = SimpleNamespace(flood=SimpleNamespace(population="embedded", roads=None),
                          forecast=SimpleNamespace(hand_threshold_m=0.3), dem=SimpleNamespace(resolution_m=10.0, seed=0))
    out = _exposure(cfg, hand, plain)
    assert out["coastal plain (2-D)"]["people_affected"] == 100
    assert out["whole catchment (HAND)"]["people_affected"] == 0
