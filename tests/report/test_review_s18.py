"""Review (session 18) of hydro.report: hand-derived answers for the defects found.

* a depth map read back from a CF NetCDF file kept no CRS (the grid mapping is a data variable of the
  Dataset): a geographic map's cells were taken as |dx dy| = 1 "m²" per square degree;
* the date axes followed ``rcParams["timezone"]``: WITA ticks under titles and peak labels saying UTC;
* a missing delivery made the region's shortfall 0 ("no shortfall") instead of unknown;
* a gauge dataset with no gauge crashed in matplotlib; a one-gauge (time,) dataset was named by the run id;
* a flood deeper than the last colour class (5 m) went through the deprecated ``Colormap.set_over``;
* ``write_report`` refused a file list naming ``report.html`` itself before it existed.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.report import hydrograph_figure, key_numbers, write_report
from hydro.report.figures import _allocation_fig, _hydrograph_fig, _max_depth_fig
from tests.report.conftest import START


def test_flooded_area_of_a_geographic_map_read_back_from_netcdf(tmp_path):
    """2 x 2 cells of 1° spanning 100-102 E, 1 S-1 N, all 1 m deep: the geodesic area of that box on WGS84."""
    from affine import Affine

    from hydro.io import open_netcdf, write_netcdf
    from hydro.io.raster import from_array

    depth = from_array(np.ones((2, 2), np.float32), Affine(1.0, 0, 100.0, 0, -1.0, 1.0), "EPSG:4326",
                       name="max_flood_depth")
    from pyproj import Geod

    from hydro.flood.products import flooded_area_km2

    box = abs(Geod(ellps="WGS84").polygon_area_perimeter([100, 102, 102, 100], [1, 1, -1, -1])[0]) / 1e6
    expected = flooded_area_km2(np.ones((2, 2), bool), depth)  # the area of the alerts (geodesic cell polygons)
    assert expected == pytest.approx(box, rel=1e-4)  # ≈ 49,239 km² (49,444 on a sphere)
    assert key_numbers(flood=depth.to_dataset())["flood"][0]["flooded_area_km2"] == pytest.approx(expected, rel=1e-12)
    write_netcdf(depth.to_dataset(), tmp_path / "flood.nc")
    with open_netcdf(tmp_path / "flood.nc") as ds:
        f = key_numbers(flood=ds)["flood"][0]  # was 4e-06 km² (4 square degrees taken as 4 m²)
    assert f["flooded_cells"] == 4
    assert f["flooded_area_km2"] == pytest.approx(expected, rel=1e-12)


def test_date_axes_are_utc_whatever_the_matplotlib_timezone(dsg_gauges, allocation_result):
    import matplotlib

    with matplotlib.rc_context({"timezone": "Asia/Makassar"}):
        fig = _hydrograph_fig(dsg_gauges)
        fig.canvas.draw()
        ax = fig.axes[0]
        # data 01:00-06:00 UTC on 10 Jan 2026 (= 09:00-14:00 WITA): the ticks say UTC times, like the titles
        ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert ticks[0] == "01:00" and ticks[-1] == "06:00"
        assert ax.xaxis.get_offset_text().get_text() == "10 Jan 2026"
        assert "10 Jan 03:00 UTC" in [c for c in ax.get_children() if type(c).__name__ == "Annotation"][0].get_text()
        # allocation: daily steps from 2024-01-01 00:00 UTC; WITA would put the ticks at 08:00
        fig = _allocation_fig(allocation_result.to_dataset("region"))
        fig.canvas.draw()
        ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
        assert ticks and all(":" not in t for t in ticks)  # midnight ticks are dates, not "08:00"


def _one_region(delivery):
    t = pd.date_range("2024-01-02", periods=3, freq="D")  # daily step means labelled at the step end
    return xr.Dataset({"water_demand": (("region", "time"), [[1.0, 1.0, 1.0]], {"units": "m3 s-1"}),
                       "delivery": (("region", "time"), [delivery], {"units": "m3 s-1"}),
                       "region_id": (("region",), ["a"])}, coords={"time": t})


def test_missing_delivery_is_an_unknown_shortfall_not_none(tmp_path):
    # complete data: 0.5 m3/s short on day 2 = 43,200 m3 of 259,200 m3 = 16.67 %
    (r,) = key_numbers(allocation=_one_region([1.0, 0.5, 1.0]))["allocation"]
    assert r["shortfall_volume_m3"] == pytest.approx(43_200.0) and r["shortfall_percent"] == pytest.approx(100 / 6)
    # day 2 missing: the shortfall is unknown (was 0 m3, 0 %, "no shortfall")
    ds = _one_region([1.0, np.nan, 1.0])
    kn = key_numbers(allocation=ds)
    (r,) = kn["allocation"]
    assert r["demand_volume_m3"] == pytest.approx(259_200.0)
    assert r["shortfall_volume_m3"] is None and r["shortfall_percent"] is None and r["delivered_volume_m3"] is None
    json.dumps(kn, allow_nan=False)
    fig = _allocation_fig(ds)
    assert fig.axes[0].get_title(loc="right") == "shortfall unknown (missing values)"
    out = write_report(tmp_path, title="t", run_id="r", key_numbers=kn, figures=[], alerts=[], files=[])
    row = [ln for ln in out.read_text().split("<tr") if ">a<" in ln][0]
    assert row.startswith(" class=short>") and "<td class=n>–</td>" in row


def test_a_gauge_dataset_without_a_gauge_is_an_input_error(tmp_path, dsg_gauges):
    empty = dsg_gauges.isel(station=[])
    with pytest.raises(InputDataError, match="no gauge"):  # was a matplotlib ValueError (exit 1, "a bug")
        hydrograph_figure(empty, tmp_path / "h.png")
    assert list(tmp_path.iterdir()) == []


def test_a_single_gauge_is_named_by_its_station_id(tmp_path, dsg_gauges):
    # one (time,) series: named by its scalar station_id, not by the file's ACDD id (the run id)
    one = dsg_gauges.isel(station=0).assign_attrs(id="balikpapan_20260110T0000Z_abcd1234")
    (g,) = key_numbers(gauges=one)["gauges"]
    assert g["id"] == "A-1" and g["peak_discharge_m3_s"] == 50.0
    assert g["peak_time"] == (START + pd.Timedelta("3h")).strftime("%Y-%m-%dT%H:%M:%SZ")
    hydrograph_figure(one, tmp_path / "one.png", warning_levels={"A-1": [30.0]})


def test_depth_above_the_last_colour_class(dem_and_depth):
    dem, depth = dem_and_depth
    deep = depth * 7.0  # 7 m > 5 m: the colour bar extends (no deprecated set_over call)
    fig = _max_depth_fig(deep, dem)
    mappable = [im for im in fig.axes[0].images if im.norm.vmin > 0.0][0]
    assert mappable.norm.boundaries[-1] == 5.0
    import matplotlib

    assert np.allclose(mappable.cmap.get_over(), matplotlib.colormaps["YlGnBu"](1.0))  # the darkest class
    assert "maximum 7.00 m" in [t.get_text() for t in fig.axes[0].texts]


def test_report_file_list_may_name_the_report_itself(tmp_path):
    (tmp_path / "gauges.nc").write_bytes(b"x" * 10)
    files = [tmp_path / "gauges.nc", tmp_path / "report.html"]  # the report does not exist yet
    out = write_report(tmp_path, title="t", run_id="r", key_numbers={}, figures=[], alerts=[], files=files)
    page = out.read_text()
    assert 'href="gauges.nc"' in page and 'href="report.html"' not in page
    assert write_report(tmp_path, title="t", run_id="r", key_numbers={}, figures=[], alerts=[], files=files) == out
