"""Review of the run report (hydro.report): hand-derived answers that failed before the fix.

* the water-balance detail list dropped a non-finite term (null in water_balance.json): a NaN rain read "in: 0";
* the scale bar of a depth map in a US-feet CRS took the feet for metres: a bar 2000 ft (610 m) long said "2 km";
* max_depth_figure(min_depth_m >= 5) crashed with a raw matplotlib ValueError (one colour-class bound);
* a depth map in cm or mm was read as metres: every 15 cm cell "flooded" above the 0.1 m threshold.
"""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from hydro.errors import InputDataError
from hydro.io.raster import from_array
from hydro.report import key_numbers, max_depth_figure, write_report
from hydro.report.figures import _max_depth_fig


def _balance(inputs):
    return {"closed": False, "not_closed": ["flood_2d"], "tolerance": 1e-6,
            "processes": {"flood_2d": {"total_in": None, "total_out": 5.0, "storage_change": 0.0, "residual": None,
                                       "relative_residual": None, "closed": False, "inputs": inputs,
                                       "outputs": {"edge_outflow": 5.0}}}}


def test_balance_detail_names_a_non_finite_term(tmp_path):
    # rain was NaN (null in the strict-JSON summary), the river inflow 0: the detail said "in: 0"
    out = write_report(tmp_path, title="t", run_id="r", key_numbers={}, figures=[], alerts=[], files=[],
                       water_balance=_balance({"rain": None, "river_inflows": 0.0}))
    page = out.read_text("utf-8")
    assert "in: rain not finite; out: edge outflow 5.00" in page
    assert "in: 0;" not in page
    # finite terms unchanged; zero terms still left out
    out = write_report(tmp_path, title="t", run_id="r", key_numbers={}, figures=[], alerts=[], files=[],
                       water_balance=_balance({"rain": 1234.0, "river_inflows": 0.0}))
    assert "in: rain 1,234; out: edge outflow 5.00" in out.read_text("utf-8")


def _scale_bar(fig):
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    (bar,) = [c for c in fig.axes[0].get_children() if isinstance(c, AnchoredSizeBar)]
    return bar.txt_label.get_text(), bar.size_bar.get_children()[0].get_width()


def test_scale_bar_of_a_map_in_us_feet():
    # EPSG:2229 (NAD83 California zone 5) is in US survey feet (1200/3937 = 0.3048006 m). 100 x 100 cells of
    # 100 ft: the view is the 10 000 ft = 3048.006 m wide DEM; a fifth of it, 609.6 m, gives a 500 m bar
    # = 500 / 0.3048006 = 1640.417 ft of data units (was labelled "2 km", 2000 ft = 610 m long)
    tr = Affine(100.0, 0, 6_000_000.0, 0, -100.0, 2_000_000.0)
    z = np.add.outer(np.arange(100)[::-1] * 0.1, np.zeros(100)).astype(np.float32)
    dem = from_array(z, tr, "EPSG:2229")
    depth = from_array(np.ones((100, 100), np.float32), tr, "EPSG:2229", name="max_flood_depth")
    label, width = _scale_bar(_max_depth_fig(depth, dem))
    assert label == "500 m"
    assert width == pytest.approx(500.0 * 3937.0 / 1200.0, rel=1e-9)
    # a metric grid unchanged: 20 x 20 cells of 10 m, view 200 m, a fifth 40 m -> 20 m bar, 20 data units
    tr = Affine(10.0, 0, 500_000.0, 0, -10.0, 9_860_000.0)
    dem = from_array(z[:20, :20], tr, "EPSG:32750")
    depth = from_array(np.ones((20, 20), np.float32), tr, "EPSG:32750", name="max_flood_depth")
    assert _scale_bar(_max_depth_fig(depth, dem)) == ("20 m", pytest.approx(20.0))


def test_min_depth_at_or_above_the_last_colour_class(tmp_path):
    tr = Affine(10.0, 0, 500_000.0, 0, -10.0, 9_860_000.0)
    dem = from_array(np.add.outer(np.arange(20)[::-1] * 0.1, np.zeros(20)).astype(np.float32), tr, "EPSG:32750")
    d = np.full((20, 20), 7.0, np.float32)
    d[:, :10] = 2.0  # below min_depth_m = 5: transparent
    depth = from_array(d, tr, "EPSG:32750", name="max_flood_depth")
    # was ValueError "You must provide at least 2 boundaries" (bounds [5.0]); one class 5-7 m
    fig = _max_depth_fig(depth, dem, min_depth_m=5.0)
    (im,) = [im for im in fig.axes[0].images if im.norm.vmin > 0.0]
    assert list(im.norm.boundaries) == [5.0, 7.0]
    assert int(np.ma.count(im.get_array())) == 200  # the 20 x 10 cells of 7 m
    assert "maximum 7.00 m" in [t.get_text() for t in fig.axes[0].texts]
    out = max_depth_figure(depth, dem, tmp_path / "deep.png", min_depth_m=6.0)
    assert out.stat().st_size > 0


def test_depth_map_in_centimetres_is_converted():
    # 2 x 2 cells of 10 m (100 m2 each), depths 15, 5, 30, 0 cm: 0.15 and 0.30 m are above 0.1 m
    # -> 2 cells, 200 m2 = 2e-4 km2, max 0.30 m (was 3 cells "flooded", max 30 "m")
    tr = Affine(10.0, 0, 500_000.0, 0, -10.0, 9_860_000.0)
    cm = from_array(np.array([[15.0, 5.0], [30.0, 0.0]]), tr, "EPSG:32750", name="max_flood_depth")
    cm.attrs["units"] = "cm"
    (f,) = key_numbers(flood=cm, flood_threshold_m=0.1)["flood"]
    assert f["flooded_cells"] == 2
    assert f["flooded_area_km2"] == pytest.approx(2e-4, rel=1e-12)
    assert f["max_depth_m"] == pytest.approx(0.30, rel=1e-12)
    mm = cm * 10.0  # 150, 50, 300, 0 mm: the same answer
    mm.attrs["units"] = "mm"
    (g,) = key_numbers(flood=mm.to_dataset(), flood_threshold_m=0.1)["flood"]
    assert (g["flooded_cells"], g["max_depth_m"]) == (2, pytest.approx(0.30, rel=1e-12))
    # the figure draws metres too: "maximum 0.300 m"
    dem = from_array(np.ones((2, 2), np.float32), tr, "EPSG:32750")
    assert "maximum 0.300 m" in [t.get_text() for t in _max_depth_fig(cm, dem).axes[0].texts]
    # units that are no length are refused, not read as metres
    bad = cm.copy()
    bad.attrs["units"] = "m3 s-1"
    with pytest.raises(InputDataError, match="depth units"):
        key_numbers(flood=bad)
    with pytest.raises(InputDataError, match="depth units"):
        _max_depth_fig(bad, dem)
