"""Figures: PNG size read back, what is drawn (values of the artists), hillshade analytics, atomic writes."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError, OutputError
from hydro.report import DPI, allocation_figure, hillshade, hydrograph_figure, max_depth_figure, panel_grid
from hydro.report._data import ensemble_band
from hydro.report.figures import _allocation_fig, _hydrograph_fig, _max_depth_fig
from hydro.report.numbers import format_number
from tests.report.conftest import START


def _png_shape(path):
    import matplotlib.image as mpimg

    return mpimg.imread(path).shape


def _expected(n):
    _, _, (w, h) = panel_grid(n)
    return (round(h * DPI), round(w * DPI), 4)


def _no_temp(directory):
    return [p.name for p in directory.iterdir() if ".tmp" in p.name]


# ------------------------------------------------------------------------------------ hydrographs
def test_hydrograph_png_of_a_model_run(tmp_path, model_run):
    g = model_run["result"].gauges
    out = hydrograph_figure(g, tmp_path / "hydrographs.png", warning_levels={"G1": [2.0, 4.0]},
                            reference_time=START + pd.Timedelta("12h"))
    assert out == tmp_path / "hydrographs.png"
    assert _png_shape(out) == _expected(2) == (440, 1320, 4)
    assert _no_temp(tmp_path) == []


def test_hydrograph_draws_the_data_levels_reference_and_peak(dsg_gauges):
    ref = START + pd.Timedelta("2h")
    fig = _hydrograph_fig(dsg_gauges, warning_levels={"A-1": [30.0, 10.0]}, reference_time=ref)
    ax = [a for a in fig.axes if a.get_visible() and a.get_title(loc="left")]
    assert [a.get_title(loc="left") for a in ax] == ["Ampal (A-1)", "Manggar (B-2)"]
    lines = ax[0].get_lines()
    # the step-mean discharge is drawn unchanged
    mean = [ln for ln in lines if ln.get_linewidth() == 1.6][0]
    np.testing.assert_array_equal(mean.get_ydata(), dsg_gauges["discharge"].values[0])
    # warning levels: horizontal lines at 10 and 30 (sorted), labelled
    horiz = sorted(float(ln.get_ydata()[0]) for ln in lines if ln.get_linestyle() == "--")
    assert horiz == [10.0, 30.0]
    texts = [t.get_text() for t in ax[0].texts]
    assert "warning 1: 10" in texts and "warning 2: 30" in texts  # as configured, not padded to 3 digits
    # reference time: a vertical line at ref
    import matplotlib.dates as mdates

    vert = [ln for ln in lines if ln.get_linestyle() == ":"]
    assert len(vert) == 1 and mdates.num2date(mdates.date2num(vert[0].get_xdata()[0])).replace(tzinfo=None) == ref
    # peak marker at (03:00, 50) and its label with value and time
    marker = [ln for ln in lines if ln.get_marker() == "o"][0]
    assert float(marker.get_ydata()[0]) == 50.0
    ann = [c for c in ax[0].get_children() if type(c).__name__ == "Annotation"][0]
    assert ann.get_text() == f"peak {format_number(50.0)} m³ s⁻¹\n10 Jan 03:00 UTC"
    # the y axis shows the highest level and the peak
    assert ax[0].get_ylim()[1] >= 50.0
    assert not ax[1].texts or "warning" not in " ".join(t.get_text() for t in ax[1].texts)


def test_ensemble_band_from_members_and_from_percentiles(dsg_gauges):
    q = dsg_gauges["discharge"]
    factors = np.linspace(0.5, 1.5, 11)  # 10th percentile = 0.6 q, 90th = 1.4 q (exact order statistics)
    ens = xr.concat([dsg_gauges[["discharge"]] * f for f in factors], dim="realization")
    ens["station_id"] = dsg_gauges["station_id"][::-1].copy(data=["B-2", "A-1"])  # reversed ids: matched by id
    ens["discharge"] = ens["discharge"].isel(station=[1, 0])
    band = ensemble_band(ens, "A-1", 0, 2)
    np.testing.assert_allclose(band["low"], 0.6 * q.values[0], rtol=1e-12)
    np.testing.assert_allclose(band["high"], 1.4 * q.values[0], rtol=1e-12)
    np.testing.assert_allclose(band["median"], q.values[0], rtol=1e-12)
    assert band["label"] == "ensemble 10-90 % (11 members)"
    assert ensemble_band(ens, "C-3", 0, 2) is None
    pct = xr.concat([dsg_gauges[["discharge"]] * f for f in (0.8, 1.0, 1.3)], dim="percentile")
    pct = pct.assign_coords(percentile=[5.0, 50.0, 95.0])
    band = ensemble_band(pct, "B-2", 1, 2)
    np.testing.assert_allclose(band["low"], 0.8 * q.values[1])
    np.testing.assert_allclose(band["high"], 1.3 * q.values[1])
    # the figure draws the band (a filled polygon) in both panels
    fig = _hydrograph_fig(dsg_gauges, ensemble=ens)
    assert sum(len(a.collections) for a in fig.axes) == 2
    with pytest.raises(InputDataError, match="realization"):
        ensemble_band(dsg_gauges, "A-1", 0, 2)


def test_more_gauges_than_panels_keeps_those_over_warning_levels(tmp_path):
    from hydro.io import timeseries_dataset

    time = pd.date_range(START, periods=4, freq="h")
    q = np.array([[1, 2, 3, 2], [1, 9, 3, 2], [1, 5, 3, 2], [0, 1, 1, 0], [1, 4, 1, 1], [1, 6, 1, 1], [2, 2.5, 2, 2],
                  [0, 1, 2, 1.5]], float)
    ids = [f"g{i}" for i in range(8)]
    ds = timeseries_dataset({"discharge": q}, ids=ids, time=time, lat=[0.0] * 8, lon=[float(i) for i in range(8)])
    fig = _hydrograph_fig(ds, warning_levels={"g7": [1.0, 1.5]}, max_panels=6)
    titles = [a.get_title(loc="left") for a in fig.axes if a.get_visible() and a.get_title(loc="left")]
    # g7 exceeds its 2 levels (kept first), then the five highest peaks g1 (9), g5 (6), g2 (5), g4 (4), g0 (3);
    # g6 (2.5), g3 (1) left out; panels in input order
    assert titles == ["g0", "g1", "g2", "g4", "g5", "g7"]
    assert "6 of 8 gauges shown" in fig.get_suptitle()
    p = hydrograph_figure(ds, tmp_path / "h.png", warning_levels={"g7": [1.0, 1.5]})
    assert _png_shape(p) == _expected(6)


def test_hydrograph_bad_inputs(tmp_path, dsg_gauges):
    with pytest.raises(InputDataError, match="not in the dataset"):
        hydrograph_figure(dsg_gauges, tmp_path / "h.png", warning_levels={"nope": [1.0]})
    with pytest.raises(InputDataError, match="discharge"):
        hydrograph_figure(dsg_gauges.drop_vars(["discharge"]), tmp_path / "h.png")
    with pytest.raises(OutputError, match="PNG"):
        hydrograph_figure(dsg_gauges, tmp_path / "h.jpg")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ hillshade and depth
def _plane(zfun, decreasing_y=True):
    x = np.arange(10) * 10.0
    y = (np.arange(8) * 10.0)[::-1] if decreasing_y else np.arange(8) * 10.0
    X, Y = np.meshgrid(x, y)
    return xr.DataArray(zfun(X, Y), dims=("y", "x"), coords={"y": y, "x": x})


def test_hillshade_analytic_planes():
    flat = hillshade(_plane(lambda X, Y: 0 * X + 5.0))
    np.testing.assert_allclose(flat, np.sin(np.radians(45.0)), rtol=1e-12)
    # z = 0.5 x (rising east, facing west): n = (-0.5, 0, 1)/sqrt(1.25); sun from NW: s = (-0.5, 0.5, sqrt(0.5))
    east = hillshade(_plane(lambda X, Y: 0.5 * X))
    np.testing.assert_allclose(east, (0.25 + np.sqrt(0.5)) / np.sqrt(1.25), rtol=1e-12)
    # the same plane stored with y increasing gives the same shade (gradients use the coordinates)
    np.testing.assert_allclose(hillshade(_plane(lambda X, Y: 0.5 * X, decreasing_y=False)), east, rtol=1e-12)
    # facing the sun (slope down to the NW) is brighter than flat; facing away (SE) is darker
    nw = hillshade(_plane(lambda X, Y: 0.3 * X - 0.3 * Y))
    se = hillshade(_plane(lambda X, Y: -0.3 * X + 0.3 * Y))
    assert np.all(nw > flat) and np.all(se < flat)
    # z_factor steepens: a plane with slope s and z_factor k shades like slope k s
    np.testing.assert_allclose(hillshade(_plane(lambda X, Y: 0.25 * X), z_factor=2.0), east, rtol=1e-12)
    # NaN stays NaN
    z = _plane(lambda X, Y: 0.5 * X)
    z[0, 0] = np.nan
    assert np.isnan(hillshade(z)[0, 0]) and np.isfinite(hillshade(z)[1:, 1:]).all()


def test_max_depth_png_and_pixels(tmp_path, dem_and_depth):
    dem, depth = dem_and_depth
    out = max_depth_figure(depth, dem, tmp_path / "max_depth.png", title="Coastal plain <test>")
    assert _png_shape(out) == (round(7.0 * DPI), round(8.0 * DPI), 4)
    assert _no_temp(tmp_path) == []
    fig = _max_depth_fig(depth, dem, title="t")
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    ax = fig.axes[0]

    def pixel(x, y):
        px, py = ax.transData.transform((x, y))
        return img[img.shape[0] - int(round(py)), int(round(px))]

    # depth block spans x 501000-502000, y 9857000-9858000; its west half is NaN -> transparent (grey relief)
    wet = pixel(501_750.0, 9_857_500.0)
    nan = pixel(501_250.0, 9_857_500.0)
    outside = pixel(500_900.0, 9_857_500.0)  # DEM only, west of the depth domain
    assert wet[2] - wet[0] > 60  # blue
    for grey in (nan, outside):
        assert max(grey) - min(grey) <= 6  # neutral grey: the hillshade shows through
    # the depth colour is the colour bar's class for 1.0 m
    cb_ax = fig.axes[1]
    mappable = [im for im in ax.images if im.get_array().ndim == 2 and im.norm.vmin > 0.0][0]
    rgba = (np.array(mappable.cmap(mappable.norm(1.0))[:3]) * 0.9 + 0.1 * np.array(nan) / 255.0) * 255
    assert np.allclose(wet, rgba, atol=12)
    assert cb_ax.get_ylabel() == "maximum water depth (m)"
    # scale bar in km and the maximum depth in the corner
    texts = [t.get_text() for t in ax.texts]
    assert "maximum 1.00 m" in texts
    assert any(c for c in ax.get_children() if type(c).__name__ == "AnchoredSizeBar")


def test_max_depth_bad_inputs(tmp_path, dem_and_depth):
    dem, depth = dem_and_depth
    far = depth.assign_coords(x=depth.x + 1e6)
    with pytest.raises(InputDataError, match="overlap"):
        max_depth_figure(far, dem, tmp_path / "d.png")
    with pytest.raises(InputDataError, match="CRS"):
        max_depth_figure(depth.rio.write_crs("EPSG:32650"), dem, tmp_path / "d.png")
    with pytest.raises(InputDataError, match="2-D"):
        max_depth_figure(depth.expand_dims(band=[1, 2]), dem, tmp_path / "d.png")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ allocation
def _stairs(ax):
    return [p for p in ax.patches if type(p).__name__ == "StepPatch"]


def test_allocation_figure_draws_delivery_demand_and_shortfall(tmp_path, allocation_result):
    ds = allocation_result.to_dataset("region")
    out = allocation_figure(ds, tmp_path / "allocation.png")
    assert _png_shape(out) == _expected(2)
    assert _no_temp(tmp_path) == []
    fig = _allocation_fig(ds)
    axa, axb = [a for a in fig.axes if a.get_visible() and a.get_title(loc="left")]
    assert axa.get_title(loc="left") == "Balikpapan (a)"
    assert axb.get_title(loc="right") == "shortfall 50.0 % of demand (103,680 m³)"
    assert axa.get_title(loc="right") == "shortfall 5.56 % of demand (8,640 m³)"
    # region b: delivered 0.8, 0.4, 0 ; shortfall hatched between delivery and demand 0.8
    delivered, short, demand = _stairs(axb)
    np.testing.assert_allclose(delivered.get_data().values, [0.8, 0.4, 0.0], atol=1e-9)
    sv = short.get_data()
    np.testing.assert_allclose(sv.values - sv.baseline, [0.0, 0.4, 0.8], atol=1e-9)
    assert short.get_hatch() == "///"
    np.testing.assert_allclose(demand.get_data().values, [0.8, 0.8, 0.8])
    # edges are the step bounds (start of day 1 .. end of day 3)
    import matplotlib.dates as mdates

    edges = mdates.num2date(delivered.get_data().edges)
    assert [e.replace(tzinfo=None) for e in edges] == list(pd.date_range("2024-01-01", periods=4, freq="D"))


def test_allocation_stacked_by_source_and_demand_form(allocation_result):
    ds = allocation_result.to_dataset("region")
    src = np.stack([ds["delivery"].values * 0.25, ds["delivery"].values * 0.75], axis=1)
    ds["delivery_by_source"] = (("region", "source", "time"), src, {"units": "m3 s-1"})
    ds = ds.assign_coords(source=["wells", "river"])
    fig = _allocation_fig(ds)
    axb = [a for a in fig.axes if a.get_visible()][1]
    wells, river = _stairs(axb)[:2]
    np.testing.assert_allclose(wells.get_data().values, [0.2, 0.1, 0.0], atol=1e-9)
    np.testing.assert_allclose(river.get_data().values, [0.8, 0.4, 0.0], atol=1e-9)  # stacked on wells
    np.testing.assert_allclose(river.get_data().baseline, [0.2, 0.1, 0.0], atol=1e-9)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["delivered from wells", "delivered from river"]
    # the per-demand dataset gives the same region panels
    fig2 = _allocation_fig(allocation_result.to_dataset("demand"))
    axb2 = [a for a in fig2.axes if a.get_visible()][1]
    np.testing.assert_allclose(_stairs(axb2)[0].get_data().values, [0.8, 0.4, 0.0], atol=1e-9)


# ------------------------------------------------------------------------------------ writing
def test_png_writes_are_atomic_and_deterministic(tmp_path, dsg_gauges):
    a = hydrograph_figure(dsg_gauges, tmp_path / "a.png")
    b = hydrograph_figure(dsg_gauges, tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()  # a rerun writes the same bytes
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match="cannot write"):
        hydrograph_figure(dsg_gauges, tmp_path / "dir.png")
    assert _no_temp(tmp_path) == []
    # an existing figure is replaced whole
    before = a.stat().st_size
    hydrograph_figure(dsg_gauges, a, warning_levels={"A-1": [30.0]})
    assert a.stat().st_size != before and _png_shape(a) == _expected(2)


def test_matplotlib_global_state_untouched(tmp_path, dsg_gauges):
    import matplotlib

    backend = matplotlib.get_backend()
    hydrograph_figure(dsg_gauges, tmp_path / "a.png")
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in sys.modules:  # imported by someone else: no figure left open by us
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("2025-08-25 01:00", "2025-08-26 00:00", "25 Aug – 26 Aug 2025"),  # matplotlib alone said "2025-Aug-26"
    ("2025-08-25 01:00", "2025-08-25 23:00", "25 Aug 2025"),
    ("2025-12-31 12:00", "2026-01-01 12:00", "31 Dec 2025 – 01 Jan 2026"),
])
def test_date_axis_offset_names_the_dates_shown(start, end, expected):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hydro.report.figures import _date_axis

    fig, ax = plt.subplots()
    t = pd.date_range(start, end, freq="h")
    ax.plot(t, np.arange(t.size))
    ax.set_xlim(t[0], t[-1])
    _date_axis(ax)
    fig.canvas.draw()
    assert ax.xaxis.get_offset_text().get_text() == expected
    plt.close(fig)
