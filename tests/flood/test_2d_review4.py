"""simulate_2d inputs and boundaries: regressions of a fourth review (a modeller trying to break the driver).

Every test has a hand-derivable answer (rain volume = rate x area x time, offset invariance, cell positions).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.flood import free_outflow, inflow, simulate_2d, water_level
from hydro.forcing import design_storm
from tests.flood.conftest import make_grid


def _point(x, y, q=1.0):
    return xr.DataArray([q], dims="point", coords={"x": ("point", [x]), "y": ("point", [y])},
                        attrs={"units": "m3 s-1"})


def test_point_inflow_on_a_coarsened_dem_lands_in_its_cell():
    """coarsen() leaves the 10 m GeoTransform stored on a 20 m grid: the inflow cell came from it (cell (1, 1) fed
    cell (2, 2); cell (3, 4) was "outside the domain") and the outputs were georeferenced at 10 m."""
    bed = make_grid(np.zeros((12, 12)), dx=10.0).coarsen(x=2, y=2).mean()
    for i, j in [(1, 1), (3, 4)]:
        res = simulate_2d(bed, 1.0, inflows=_point(float(bed.x[j]), float(bed.y[i])), manning_n=1.0,
                          output_variables=("depth",), summary_maps=False)
        d = res.dataset["flood_depth"].isel(time=-1).values
        assert np.unravel_index(d.argmax(), d.shape) == (i, j)
        assert res.balance["point_inflow"].iloc[-1] == pytest.approx(1.0, rel=1e-12)  # 1 m3 s-1 for 1 s
        assert d.sum() * 400.0 == pytest.approx(1.0, rel=1e-6)  # all of it on the 20 m x 20 m cells
    assert tuple(res.dataset.rio.transform())[:6] == (20.0, 0.0, 500000.0, 0.0, -20.0, 9850000.0)


def test_boundary_cells_as_boolean_mask_and_bad_cell_lists():
    """A boolean mask was cast to int: [F, T, T, F, F, F] became cells [0, 1, 1, 0, 0, 0] (rows 0 and 1)."""
    bed = make_grid(np.zeros((6, 6)), dx=10.0)
    mask = np.array([False, True, True, False, False, False])
    kw = dict(manning_n=0.05, output_variables=("depth",), dtype="float64")
    a = simulate_2d(bed, 600.0, boundaries=[inflow("west", 0.01, cells=mask)], **kw)
    b = simulate_2d(bed, 600.0, boundaries=[inflow("west", 0.01, cells=[1, 2])], **kw)
    np.testing.assert_array_equal(a.dataset["flood_depth"].values, b.dataset["flood_depth"].values)
    # 2 faces x 0.01 m2 s-1 x 10 m x 600 s = 120 m3
    assert a.balance["boundary_inflow"].iloc[-1] == pytest.approx(120.0, rel=1e-9)
    with pytest.raises(InputDataError, match="mask has 4 values but the west edge has 6"):
        simulate_2d(bed, 60.0, boundaries=[inflow("west", 0.01, cells=mask[:4])])
    with pytest.raises(InputDataError, match="repeat an index"):
        simulate_2d(bed, 60.0, boundaries=[water_level("west", [0.1, 0.2], cells=[1, 1])])
    with pytest.raises(InputDataError, match="whole cell indices"):
        simulate_2d(bed, 60.0, boundaries=[inflow("west", 0.01, cells=[1.7])])


def test_a_later_boundary_overrides_an_earlier_series_on_shared_cells():
    """A level (or inflow) series given first kept writing its value into the cells a later free_outflow took
    over: the free edge's slope became the tide level (0.2 instead of 0.001, outflow 1117 m3 instead of 981 m3) or
    the inflow rate (0 -> no outflow at all)."""
    bed = make_grid(np.zeros((4, 6)), dx=10.0)
    kw = dict(initial_depth=0.5, manning_n=0.03, output_variables=("depth",), dtype="float64")
    ref = simulate_2d(bed, 300.0, boundaries=[free_outflow("west", slope=0.001)], **kw)
    for first in (water_level("west", 0.2), inflow("west", 0.0)):
        res = simulate_2d(bed, 300.0, boundaries=[first, free_outflow("west", slope=0.001)], **kw)
        np.testing.assert_array_equal(res.dataset["flood_depth"].values, ref.dataset["flood_depth"].values)
        assert res.balance["boundary_outflow"].iloc[-1] == ref.balance["boundary_outflow"].iloc[-1] > 0
    # partly overridden: the same as giving the tide on the remaining cells only (per-cell series cut to match)
    tide = xr.DataArray(np.array([[0.1, 0.2, 0.3, 0.4]] * 2), dims=("time", "cell"), coords={"time": [0.0, 300.0]})
    a = simulate_2d(bed, 300.0, boundaries=[water_level("west", tide), free_outflow("west", slope=0.001, cells=[0, 1])],
                    **kw)
    b = simulate_2d(bed, 300.0, boundaries=[water_level("west", tide.isel(cell=[2, 3]), cells=[2, 3]),
                                            free_outflow("west", slope=0.001, cells=[0, 1])], **kw)
    np.testing.assert_array_equal(a.dataset["flood_depth"].values, b.dataset["flood_depth"].values)


def test_free_outflow_slope_next_to_a_nodata_cell_does_not_depend_on_the_datum():
    """The local bed slope of a free edge used the 0 m fill of a nodata neighbour: on a flat DEM at -5 m the slope
    there became 5 m / 10 m = 0.5 (outflow 727 m3) instead of the floor 1e-4 (565 m3, as at +100 m)."""
    outs = []
    for datum in (-5.0, 100.0):
        z = np.full((5, 6), datum)
        z[2, 1] = np.nan
        res = simulate_2d(make_grid(z, dx=10.0), 600.0, initial_depth=0.3, manning_n=0.03,
                          boundaries=[free_outflow("west")], output_variables=(), dtype="float64")
        outs.append(res.balance["boundary_outflow"].iloc[-1])
    assert outs[0] == pytest.approx(outs[1], rel=1e-9)


def test_nodata_edge_cells_do_not_shrink_the_time_step_of_a_level_boundary():
    """The ghost depth of a level boundary was taken over nodata edge cells too (level 100.5 m minus the 0 m fill
    = 100.5 m deep): 3881 steps instead of ~371 for 600 s (dt = 0.5 * 10 / sqrt(g * 0.5) = 2.26 s at most)."""
    z = np.full((30, 30), 100.0)
    z[:3, 0] = np.nan
    res = simulate_2d(make_grid(z, dx=10.0), 600.0, boundaries=[water_level("west", 100.5)], output_variables=())
    ref = simulate_2d(make_grid(np.full((30, 30), 100.0), dx=10.0), 600.0, boundaries=[water_level("west", 100.5)],
                      output_variables=())
    assert res.balance["steps"].iloc[-1] <= 1.2 * ref.balance["steps"].iloc[-1]
    assert res.balance["steps"].iloc[-1] >= 600.0 / (0.5 * 10.0 / np.sqrt(9.80665 * 0.5))
    assert abs(res.balance["relative_residual"]).max() < 1e-9


def test_nan_forcing_maps_on_nodata_cells_are_ignored():
    """design_storm(target_grid=dem) is NaN on the DEM's nodata cells, as soil and land-use maps are: they were
    refused ("rainfall contains NaN"); only NaN on active cells is an error."""
    z = np.zeros((5, 6))
    z[0, 0] = np.nan
    bed = make_grid(z, dx=10.0)
    storm = design_storm(60.0, "1h", "10min", start="2025-01-01", target_grid=bed)
    assert np.isnan(storm.values[:, 0, 0]).all()
    infil = xr.where(np.isfinite(bed), 6.0, np.nan)  # mm/h
    landuse = xr.where(np.isfinite(bed), 2.0, np.nan)
    res = simulate_2d(bed, 3600.0, rainfall=storm, start="2025-01-01", infiltration_mm_per_h=infil,
                      landuse=landuse, output_variables=(), dtype="float64")
    bal = res.balance.iloc[-1]
    assert bal["rain"] == pytest.approx(0.060 * 29 * 100.0, rel=1e-12)  # 60 mm on 29 cells of 100 m2 = 174 m3
    # 6 mm/h for 1 h on 29 cells = 17.4 m3 (less only while the first 10 min block leaves too little water)
    assert 0.9 * 17.4 < bal["infiltration"] <= 17.4 + 1e-9
    assert abs(bal["relative_residual"]) < 1e-9
    bad = storm.copy()
    bad[:, 2, 2] = np.nan
    with pytest.raises(InputDataError, match="NaN or negative values on active"):
        simulate_2d(bed, 3600.0, rainfall=bad, start="2025-01-01")
    with pytest.raises(InputDataError, match="infiltration_mm_per_h must be finite"):
        simulate_2d(bed, 60.0, infiltration_mm_per_h=infil.where(infil.x != infil.x[3]))
    with pytest.raises(InputDataError, match="whole codes"):
        simulate_2d(bed, 60.0, landuse=landuse * 0 + 1.5)


@pytest.mark.parametrize("units, value, expected_m3", [
    ("mm/hour", 36.0, 21.6),       # 36 mm/h x 600 s x 36 cells x 100 m2
    ("kg m-2 h-1", 36.0, 21.6),
    ("MM/H", 36.0, 21.6),
    ("mm min-1", 0.6, 21.6),
    ("cm", 0.3, 21.6),             # 3 mm per 300 s interval, two intervals
])
def test_rain_units_the_forcing_module_accepts(units, value, expected_m3):
    bed = make_grid(np.zeros((6, 6)), dx=10.0)
    rain = xr.DataArray([value, value], dims="time", coords={"time": [300.0, 600.0]}, attrs={"units": units})
    res = simulate_2d(bed, 600.0, rainfall=rain, output_variables=())
    assert res.balance["rain"].iloc[-1] == pytest.approx(expected_m3, rel=1e-12)


def test_timezone_aware_time_coordinates():
    """A tz-aware time coordinate's .values are bare integer nanoseconds: it was read as 1.7e18 s after start."""
    bed = make_grid(np.zeros((6, 6)), dx=10.0)
    idx = pd.date_range("2025-01-01", periods=3, freq="30min", tz="Asia/Makassar")  # UTC+8
    tide_tz = xr.DataArray([0.0, 0.5, 0.0], dims="time", coords={"time": idx})
    tide_utc = tide_tz.assign_coords(time=idx.tz_convert("UTC").tz_localize(None))
    a = simulate_2d(bed, 3600.0, boundaries=[water_level("west", tide_tz)], start=idx[0], output_variables=())
    b = simulate_2d(bed, 3600.0, boundaries=[water_level("west", tide_utc)], start="2024-12-31T16:00",
                    output_variables=())
    assert a.balance["boundary_inflow"].iloc[-1] == b.balance["boundary_inflow"].iloc[-1] > 0
    rain = xr.DataArray([10.0, 20.0], dims="time", coords={"time": idx[1:]}, attrs={"units": "mm"})
    res = simulate_2d(bed, 3600.0, rainfall=rain, start=idx[0], output_variables=())
    assert res.balance["rain"].iloc[-1] == pytest.approx(0.030 * 3600.0, rel=1e-12)  # 30 mm on 3600 m2


def test_flood_duration_never_exceeds_the_time_since_first_wetting():
    """The kernel stamps first wetting at the end of the wetting step but counts that whole step as flooded:
    t_wet + duration came to 602.26 s in a 600 s run. Cells that stay wet now give exactly the run length."""
    bed = make_grid(np.zeros((4, 8)), dx=10.0)
    h0 = np.zeros((4, 8))
    h0[:, :2] = 0.5
    res = simulate_2d(bed, 600.0, initial_depth=h0, manning_n=0.03, output_variables=())
    tw = res.dataset["time_of_first_wetting"].values.astype(np.float64)
    dur = res.dataset["flood_duration"].values.astype(np.float64)
    assert np.all(tw[:, :2] == 0.0) and np.all(tw[:, 2:] > 0.0)
    np.testing.assert_allclose(tw + dur, 600.0, rtol=1e-6)


def test_irregular_coarse_rain_amounts_and_an_output_interval_not_dividing_the_run():
    """Amounts per interval on irregular, coarse labels (300, 600, 1500, 3600 s): 1, 2, 3, 4 mm; outputs every
    1000 s of a 3600 s run (1000, 2000, 3000, 3600). Volumes per row by hand on 3600 m2."""
    bed = make_grid(np.zeros((6, 6)), dx=10.0)
    rain = xr.DataArray([1.0, 2.0, 3.0, 4.0], dims="time", coords={"time": [300.0, 600.0, 1500.0, 3600.0]},
                        attrs={"units": "mm"})
    res = simulate_2d(bed, 3600.0, rainfall=rain, output_interval=1000.0, output_variables=())
    assert list(res.balance.index) == [1000.0, 2000.0, 3000.0, 3600.0]
    mm = [1 + 2 + 3 * 400 / 900, 6 + 4 * 500 / 2100, 6 + 4 * 1500 / 2100, 10.0]  # (600, 1500]: 3 mm ...
    np.testing.assert_allclose(res.balance["rain"].to_numpy(), np.array(mm) * 1e-3 * 3600.0, rtol=1e-12)
    assert np.abs(res.balance["relative_residual"]).max() < 1e-9


def test_a_tide_record_with_missing_samples_is_refused_but_breakpoints_are_interpolated():
    """A 10-min tide record with a 40-min hole is a gap (never bridged); a hydrograph given by its turning
    points (irregular spacing) is interpolated as given."""
    bed = make_grid(np.zeros((4, 6)), dx=10.0)
    t = np.arange(0.0, 7201.0, 600.0)
    tide = xr.DataArray(0.2 + 0.1 * np.sin(t / 3600.0), dims="time", coords={"time": t})
    ok = simulate_2d(bed, 7200.0, boundaries=[water_level("west", tide)], output_variables=())
    assert abs(ok.balance["relative_residual"]).max() < 1e-6
    holed = tide.drop_isel(time=[4, 5, 6])  # 2400 s -> 4200 s
    with pytest.raises(InputDataError, match=r"gap of 2400 s after 1800 s .* every 600 s"):
        simulate_2d(bed, 7200.0, boundaries=[water_level("west", holed)], output_variables=())
    hydrograph = xr.DataArray([0.0, 0.02, 0.0, 0.0], dims="time", coords={"time": [0.0, 600.0, 3000.0, 7200.0]})
    res = simulate_2d(bed, 7200.0, boundaries=[inflow("west", hydrograph)], output_variables=(), dtype="float64")
    # triangle 0 -> 0.02 m2 s-1 at 600 s -> 0 at 3000 s: 0.02 * 3000 / 2 = 30 m3 per metre, 4 cells x 10 m wide
    assert res.balance["boundary_inflow"].iloc[-1] == pytest.approx(30.0 * 40.0, rel=1e-3)
