"""simulate_2d input handling and summary maps: regressions of a review (2026-12-06), with hand-computed answers."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.flood import free_outflow, hazard_class, inflow, simulate_2d, water_level
from tests.flood.conftest import make_grid


def test_south_up_or_east_to_west_grids_are_refused():
    z = np.zeros((4, 5), np.float32)
    north_up = make_grid(z, dx=10.0)
    south_up = north_up.sortby("y")  # y increasing down the rows: row 0 is the south edge
    with pytest.raises(InputDataError, match="north to south.*y increasing.*sortby"):
        simulate_2d(south_up.rio.write_transform(south_up.rio.transform(recalc=True)), 60.0)
    east_west = north_up.sortby("x", ascending=False)
    with pytest.raises(InputDataError, match="x decreasing"):
        simulate_2d(east_west.rio.write_transform(east_west.rio.transform(recalc=True)), 60.0)


def test_duration_of_a_day_is_a_day():
    """2 m of still water in a closed 2 x 2 box, 1 m cells: ~765,000 steps of 0.11 s in 24 h. The float32 sum of
    the step lengths came to 85,930 s (-0.54 %); the float64 sum is exact to rounding."""
    bed = make_grid(np.zeros((2, 2)), dx=1.0)
    res = simulate_2d(bed, 86400.0, initial_depth=2.0, threshold_m=0.1, output_variables=())
    dur = res.dataset["flood_duration"].values
    np.testing.assert_allclose(dur, 86400.0, rtol=1e-6)
    assert np.all(res.dataset["time_of_first_wetting"].values == 0.0)


def test_numeric_nodata_is_not_ground():
    z = np.zeros((6, 6), np.float32)
    z[2, 3] = -9999.0
    bed = make_grid(z, dx=10.0).rio.write_nodata(-9999.0)
    res = simulate_2d(bed, 600.0, rainfall=36.0, rainfall_units="mm/h", output_variables=())
    bal = res.balance.iloc[-1]
    # 35 valid cells x 100 m2 x 36 mm/h x 600 s = 21.0 m3 of rain (the -9999 cell took 0.6 m3 as a deep pit)
    assert bal["rain"] == pytest.approx(35 * 100.0 * 0.036 / 3600.0 * 600.0, rel=1e-9)
    assert np.isnan(res.dataset["max_flood_depth"].values[2, 3])
    # the same through _FillValue (a NetCDF read without masking)
    bed2 = make_grid(z, dx=10.0)
    bed2.attrs["_FillValue"] = -9999.0
    res2 = simulate_2d(bed2, 600.0, rainfall=36.0, rainfall_units="mm/h", output_variables=())
    assert res2.balance.iloc[-1]["rain"] == pytest.approx(bal["rain"], rel=1e-12)


def test_negative_or_nan_scalar_rain_and_nan_constants_are_input_errors():
    bed = make_grid(np.zeros((4, 4)), dx=10.0)
    with pytest.raises(InputDataError, match="rainfall must be finite and >= 0"):
        simulate_2d(bed, 60.0, rainfall=-36.0, rainfall_units="mm/h", initial_depth=0.01)
    with pytest.raises(InputDataError, match="rainfall must be finite"):
        simulate_2d(bed, 60.0, rainfall=float("nan"), rainfall_units="mm/h")
    with pytest.raises(InputDataError, match="west level boundary.*NaN"):
        simulate_2d(bed, 60.0, boundaries=[water_level("west", float("nan"))])
    with pytest.raises(InputDataError, match="west inflow boundary.*NaN"):
        simulate_2d(bed, 60.0, boundaries=[inflow("west", float("nan"))])
    q = xr.DataArray([np.nan], dims="point", coords={"x": ("point", [500015.0]), "y": ("point", [9849985.0]),
                                                      "point": ["p"]}, attrs={"units": "m3 s-1"})
    with pytest.raises(InputDataError, match="NaN"):
        simulate_2d(bed, 60.0, inflows=q)


def test_boundary_on_nodata_edge_is_an_error():
    z = np.zeros((5, 5))
    z[:, 0] = np.nan
    bed = make_grid(z, dx=10.0)
    with pytest.raises(InputDataError, match="west level boundary: all its 5 edge cells are nodata"):
        simulate_2d(bed, 60.0, boundaries=[water_level("west", 0.5)])
    # a partly valid edge is fine: the valid cells exchange water
    z2 = np.zeros((5, 5))
    z2[:2, 0] = np.nan
    res = simulate_2d(make_grid(z2, dx=10.0), 1800.0, boundaries=[water_level("west", 0.5)], output_variables=())
    assert res.balance["boundary_inflow"].iloc[-1] > 0
    n = np.full((5, 5), 0.03)
    n[:, 4] = 0.0
    with pytest.raises(InputDataError, match="east free-outflow boundary needs manning_n > 0"):
        simulate_2d(make_grid(np.zeros((5, 5)), dx=10.0), 60.0, manning_n=n, boundaries=[free_outflow("east")])


def test_hazard_classes_at_the_bounds():
    hr = np.array([0.0, 0.74, 0.75, 1.0, 1.25, 1.26, 2.0, 2.01])
    np.testing.assert_array_equal(hazard_class(hr), [1, 1, 2, 2, 2, 3, 3, 4])



def test_debris_factor_table_by_code_and_name_and_bad_land_use_refused():
    """FD2321 TR2 Table 3.1 by hand: d 0.5 m, v 1 m/s gives 0 / 0.5 / 1 for pasture / woodland / urban; d 1 m gives
    0.5 / 1 / 1; d 0.2 m gives 0. Names give the codes' factors (a name was taken as urban); other codes, NaN and
    unknown names are input errors."""
    from hydro.errors import InputDataError
    from hydro.flood import debris_factor, hazard_rating

    np.testing.assert_array_equal(debris_factor(0.5, 1.0, [0, 1, 2]), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(debris_factor(1.0, 1.0, [0, 1, 2]), [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(debris_factor(0.5, 2.5, [0, 1, 2]), [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(debris_factor(0.2, 3.0, [0, 1, 2]), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(debris_factor(0.5, 1.0, ["pasture", "Arable", "woodland", "urban"]),
                                  [0.0, 0.0, 0.5, 1.0])
    assert float(hazard_rating(0.5, 1.0, "pasture")) == pytest.approx(0.75)  # 0.5 * 1.5 + 0
    for bad in (5, np.nan, "forest", [0, 3]):
        with pytest.raises(InputDataError, match="land"):
            debris_factor(0.5, 1.0, bad)

def _point_inflow(bed, q_m3s=10.0):
    x, y = float(bed.x[bed.sizes["x"] // 2]), float(bed.y[bed.sizes["y"] // 2])
    return xr.DataArray([q_m3s], dims="point", coords={"x": ("point", [x]), "y": ("point", [y])})


def test_a_feet_grid_has_its_cells_in_metres():
    """10 US-ft cells (EPSG:2229): 10 m3/s for one hour into a closed flat basin of 40 x 40 cells stores 36 000 m3,
    i.e. a mean depth of 36 000 / (1600 x 3.048^2) m (the feet were taken as metres: depths 10.8 x too small)."""
    bed = make_grid(np.zeros((40, 40)), dx=10.0, crs="EPSG:2229", x0=6.5e6, y0=1.8e6)
    res = simulate_2d(bed, 3600.0, manning_n=0.03, inflows=_point_inflow(bed), summary_maps=False)
    depth = res.dataset["flood_depth"].isel(time=-1).values.astype(np.float64)
    cell_m = 10.0 * 1200.0 / 3937.0  # US survey foot
    assert float(depth.mean()) == pytest.approx(36_000.0 / (1600 * cell_m**2), rel=1e-5)


def test_web_mercator_and_bad_limits_are_refused_before_the_run():
    merc = make_grid(np.zeros((20, 20)), dx=10.0, crs="EPSG:3857", x0=1.1e6, y0=6.8e6)  # ~52 N: cells 0.62 x
    with pytest.raises(InputDataError, match="UTM"):
        simulate_2d(merc, 60.0)
    bed = make_grid(np.zeros((20, 20)), dx=10.0)
    for kw in ({"froude_limit": -1.0}, {"velocity_limit": -0.5}, {"num_threads": 0}):
        with pytest.raises(InputDataError, match=next(iter(kw))):
            simulate_2d(bed, 60.0, **kw)
    with pytest.warns(UserWarning, match="alpha"):
        simulate_2d(bed, 1.0, alpha=0.9)


def test_permanent_water_is_checked_like_the_other_maps_before_the_run():
    """A south-up permanent-water mask was applied in array order (sea marked on land rows, land taken from the
    extent); a wrong shape was found only after the whole run."""
    bed = make_grid(np.zeros((30, 30)), dx=10.0)
    pw = np.zeros((30, 30), bool)
    pw[:5] = True  # sea along the north edge
    north_up = xr.DataArray(pw, dims=("y", "x"), coords={"y": bed.y, "x": bed.x})
    res = simulate_2d(bed, 600.0, rainfall=800.0, rainfall_units="mm/h", permanent_water=north_up, threshold_m=0.05)
    ext = res.dataset["flood_extent"].values
    assert np.all(ext[:5] == 0) and np.all(ext[5:] == 1)  # permanent water is not flooding
    assert np.isnan(res.dataset["max_flood_depth"].values[:5]).all()
    with pytest.raises(InputDataError, match="permanent_water.*y coordinates"):
        simulate_2d(bed, 600.0, permanent_water=north_up.sortby("y"))
    with pytest.raises(InputDataError, match="permanent_water shape"):
        simulate_2d(bed, 1e9, permanent_water=pw[:-1])  # refused at once, not after a 1e9 s run
