"""Volume balance, depression filling, tide boundary, forcing units and conventions of the 2-D solver."""
from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.flood import free_outflow, inflow, rain_rate_m_per_s, simulate_2d, water_level


def _noisy_case(grid, seed):
    rng = np.random.default_rng(seed)
    ny, nx, dx = 24, 32, 10.0
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.02 * xx * dx / 10 + rng.normal(0.0, 0.3, (ny, nx))  # noisy, many pits, low along the west edge
    z[5:9, 20:26] = np.nan  # an inactive block (building / nodata)
    bed = grid(z, dx=dx)
    t = np.arange(0.0, 3601.0, 600.0)
    rain = xr.DataArray(rng.uniform(0.0, 60.0, (t.size, ny, nx)), dims=("time", "y", "x"),
                        coords={"time": t + 600.0}, attrs={"units": "mm/h"})
    rain = xr.concat([rain.isel(time=[0]).assign_coords(time=[0.0]), rain], "time")
    tide = xr.DataArray(0.3 * np.sin(2 * np.pi * np.arange(0, 3601, 300) / 3600.0) - 0.2, dims="time",
                        coords={"time": np.arange(0, 3601, 300.0)})
    q_in = xr.DataArray([[0.0], [3.0], [1.0]], dims=("time", "point"),
                        coords={"time": [0.0, 1200.0, 3600.0], "x": ("point", [float(bed.x[20])]),
                                "y": ("point", [float(bed.y[12])])}, attrs={"units": "m3 s-1"})
    return bed, rain, tide, q_in, rng


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_volume_balance_noisy_dem_all_forcings(grid, seed, dtype):
    """Rain (gridded) - infiltration + point inflow + tide + free outflow + wetting/drying: closed to 1e-9."""
    bed, rain, tide, q_in, rng = _noisy_case(grid, seed)
    res = simulate_2d(bed, 3600.0, manning_n=rng.uniform(0.02, 0.08, bed.shape), rainfall=rain,
                      infiltration_mm_per_h=rng.uniform(0.0, 30.0, bed.shape), inflows=q_in,
                      boundaries=[water_level("west", tide), free_outflow("east"), inflow("north", 0.01, cells=[3, 4])],
                      output_interval=600.0, dtype=dtype, h_dry=1e-3, theta=0.9)
    bal = res.balance
    assert len(bal) == 6
    assert np.abs(bal["relative_residual"]).max() < 1e-9
    assert (bal[["rain", "infiltration", "point_inflow", "boundary_inflow", "boundary_outflow"]] > 0).all().all()
    # the rain volume is the forcing total over the active cells, exactly
    active = np.isfinite(bed.values)
    r = rain_rate_m_per_s(rain.values[1:], "mm/h", 1.0)  # (t, y, x), period-end labels: value k covers (t_{k-1}, t_k]
    expected = (r[:6, active].sum(axis=1) * 600.0 * 100.0).cumsum()
    np.testing.assert_allclose(bal["rain"].to_numpy(), expected, rtol=1e-12)
    # point inflow: integral of the linear hydrograph
    tq = np.linspace(0, 3600, 36001)
    q_exact = np.trapezoid(np.interp(tq, [0, 1200, 3600], [0, 3, 1]), tq)
    np.testing.assert_allclose(bal["point_inflow"].iloc[-1], q_exact, rtol=1e-3)
    d = res.dataset
    assert float(d["max_flood_depth"].min()) >= 0.0
    assert np.isnan(d["max_flood_depth"].values[6, 21])  # inactive cell
    assert bal["clipped"].iloc[-1] < 1e-6 * bal["rain"].iloc[-1]


def test_depression_filling_levels(grid):
    """EA benchmark test 2 style: three basins behind weirs (crests 1.0 and 0.8 m) fill from a hydrograph."""
    ny, dx = 20, 10.0
    z = np.zeros((ny, 62))
    z[:, 20] = 1.0
    z[:, 41] = 0.8
    bed = grid(z, dx=dx)
    basin_area = 20 * ny * dx * dx
    volume = basin_area * (1.0 + 0.8 + 0.5)  # A to its crest, B to its crest, 0.5 m left for C
    q = volume / 2000.0
    hydro = xr.DataArray([[q], [q], [0.0], [0.0]], dims=("time", "point"),
                         coords={"time": [0.0, 2000.0, 2000.001, 12000.0], "x": ("point", [float(bed.x[5])]),
                                 "y": ("point", [float(bed.y[10])])}, attrs={"units": "m3 s-1"})
    res = simulate_2d(bed, 12000.0, manning_n=0.03, inflows=hydro, h_dry=1e-3, output_interval=6000.0)
    h = res.dataset["flood_depth"].isel(time=-1).values
    level_a, level_b, level_c = h[:, :20].mean(), h[:, 21:41].mean(), h[:, 42:].mean()
    assert level_a == pytest.approx(1.0, abs=0.01)
    assert level_b == pytest.approx(0.8, abs=0.01)
    assert level_c == pytest.approx(0.5, abs=0.015)
    # volume-derived level of C from what the model actually stored upstream
    stored_upstream = (h[:, :42].astype(np.float64).sum()) * dx * dx  # basins A, B and both weir crests
    assert level_c == pytest.approx((res.balance["point_inflow"].iloc[-1] - stored_upstream) / basin_area, abs=2e-5)
    assert abs(h[:, :20].std()) < 0.005 and abs(h[:, 42:].std()) < 0.005  # flat pond surfaces


def test_tide_boundary_fills_and_drains(grid):
    """A small basin behind a water-level boundary follows the tide (quasi-static) and drains at low water."""
    ny, nx, dx = 6, 20, 20.0
    z = np.tile(np.linspace(-1.5, 0.5, nx), (ny, 1))  # intertidal slope rising inland (east)
    bed = grid(z, dx=dx)
    t = np.arange(0.0, 12 * 3600.0 + 1, 600.0)
    level = xr.DataArray(1.0 * np.sin(2 * np.pi * t / (12.42 * 3600.0)), dims="time", coords={"time": t})
    res = simulate_2d(bed, 12 * 3600.0, manning_n=0.03, boundaries=[water_level("west", level)],
                      output_interval=3600.0, h_dry=1e-3)
    d = res.dataset["flood_depth"]
    eta = d.values + z.astype(np.float32)
    for k, tk in enumerate(d["time"].values / np.timedelta64(1, "s")):
        lev = float(np.sin(2 * np.pi * tk / (12.42 * 3600.0)))
        wet = d.values[k] > 0.05
        if wet.any():
            assert np.abs(eta[k][wet] - lev).max() < 0.03, (tk, lev)
    # at high water (~3.1 h) the upper slope floods; at low water (~9.3 h) it is dry again
    assert float(res.dataset["max_flood_depth"].isel(x=14).max()) > 0.3
    assert float(d.isel(time=8, x=14).max()) < 0.01
    bal = res.balance
    assert bal["boundary_inflow"].iloc[-1] > 0 and bal["boundary_outflow"].iloc[-1] > 0
    assert np.abs(bal["relative_residual"]).max() < 1e-9


def test_rain_units_equivalent(grid):
    """The same storm in mm/h, mm per interval, kg m-2 s-1 and m s-1 gives identical depths."""
    bed = grid(np.zeros((4, 5)), dx=2.0)
    t = np.array([900.0, 1800.0, 2700.0, 3600.0])
    mmh = np.array([10.0, 40.0, 20.0, 0.0])
    variants = {
        "mm/h": mmh,
        "mm": mmh * 0.25,
        "kg m-2 s-1": mmh / 3600.0,
        "m s-1": mmh / 3600.0 / 1000.0,
        "mm/d": mmh * 24.0,
    }
    depths = []
    for units, vals in variants.items():
        rain = xr.DataArray(vals, dims="time", coords={"time": t}, attrs={"units": units})
        res = simulate_2d(bed, 3600.0, manning_n=0.05, rainfall=rain, output_interval=900.0)
        depths.append(res.dataset["flood_depth"].values)
    for dd in depths[1:]:
        np.testing.assert_allclose(dd, depths[0], rtol=1e-6)
    # closed flat box: depth = accumulated rain, held per interval (period-end labels)
    np.testing.assert_allclose(depths[0][:, 0, 0], np.cumsum(mmh) * 0.25 / 1000.0, rtol=1e-6)
    # datetime series with a start date and a pandas Series
    s = pd.Series(mmh, index=pd.Timestamp("2025-01-01 00:00") + pd.to_timedelta(t, unit="s"))
    s.attrs["units"] = "mm/h"
    res = simulate_2d(bed, 3600.0, rainfall=s, start="2025-01-01", output_interval=900.0)
    np.testing.assert_allclose(res.dataset["flood_depth"].values, depths[0], rtol=1e-6)
    assert res.dataset["time"].values[-1] == np.datetime64("2025-01-01T01:00")


def test_velocity_sign_convention(grid):
    """Rows run north -> south: flow down a plane falling to the south has northward velocity < 0."""
    ny, nx = 20, 6
    z = np.tile(0.01 * (ny - np.arange(ny))[:, None], (1, nx))  # falls towards the last row (south)
    bed = grid(z, dx=5.0)
    res = simulate_2d(bed, 1800.0, manning_n=0.03, rainfall=100.0, rainfall_units="mm/h",
                      boundaries=[free_outflow("south")], output_variables=("velocity",), threshold_m=0.0)
    v = res.dataset["northward_flood_velocity"].isel(time=-1).values
    u = res.dataset["eastward_flood_velocity"].isel(time=-1).values
    assert (v[5:-1] < 0).all()
    assert np.abs(u).max() < 1e-6 * np.abs(v).max() + 1e-12
    # east-falling plane: eastward velocity > 0
    res = simulate_2d(grid(z.T.copy(), dx=5.0), 1800.0, manning_n=0.03, rainfall=100.0,
                      rainfall_units="mm/h", boundaries=[free_outflow("east")], output_variables=("velocity",))
    u = res.dataset["eastward_flood_velocity"].isel(time=-1).values
    assert (u[:, 5:-1] > 0).all()


def test_threads_give_identical_results(grid):
    """prange over rows: 1 and 2 threads give bit-identical depths (no races)."""
    bed, rain, tide, q_in, rng = _noisy_case(grid, 3)
    kw = dict(manning_n=0.04, rainfall=rain, inflows=q_in, boundaries=[water_level("west", tide)],
              output_interval=1800.0, theta=0.8)
    a = simulate_2d(bed, 3600.0, num_threads=1, **kw)
    b = simulate_2d(bed, 3600.0, num_threads=min(2, numba.config.NUMBA_NUM_THREADS), **kw)
    np.testing.assert_array_equal(a.dataset["flood_depth"].values, b.dataset["flood_depth"].values)
    np.testing.assert_array_equal(a.dataset["max_hazard_rating"].values, b.dataset["max_hazard_rating"].values)


def test_products_thresholds(grid):
    """First wetting, duration above threshold and extent flag on a closed box filled by rain at a known rate."""
    bed = grid(np.zeros((3, 3)), dx=1.0)
    res = simulate_2d(bed, 3600.0, rainfall=360.0, rainfall_units="mm/h", threshold_m=0.1, output_interval=600.0,
                      dt_max=10.0)
    d = res.dataset
    # 360 mm/h = 0.1 m per 1000 s: above 0.1 m from t = 1000 s, i.e. for 2600 s
    np.testing.assert_allclose(d["time_of_first_wetting"].values, 1000.0, atol=10.0)
    np.testing.assert_allclose(d["flood_duration"].values, 2600.0, atol=10.0)
    assert (d["flood_extent"].values == 1).all()
    assert d["flood_extent"].attrs["flag_meanings"] == "not_flooded flooded"
    assert d["max_flood_depth"].attrs["standard_name"] == "flood_water_thickness"
    assert d["max_flood_depth"].attrs["cell_methods"] == "time: maximum"


def test_deep_low_friction_pond_is_stable_with_defaults(grid):
    """A 1 m pond with n = 0.03 and a 0.3 m hump: default theta/alpha damp the seiche; theta=1, alpha=0.7 grows."""
    z = np.zeros((20, 20))
    h0 = np.ones((20, 20))
    h0[5:8, 5:8] += 0.3
    bed = grid(z, dx=10.0)
    res = simulate_2d(bed, 4000.0, manning_n=0.03, initial_depth=h0, output_interval=500.0)
    d = res.dataset["flood_depth"]
    amp = (d.max(("y", "x")) - d.min(("y", "x"))).values
    assert amp[-1] < amp[0] and amp[-1] < 0.1
    raw = simulate_2d(bed, 4000.0, manning_n=0.03, initial_depth=h0, output_interval=500.0, theta=1.0, alpha=0.7,
                      advective_dt=False)
    d = raw.dataset["flood_depth"]
    assert float((d.max(("y", "x")) - d.min(("y", "x"))).values[-1]) > 0.5


def test_effective_rainfall_from_runoff_operator(grid):
    """SCS-CN effective rain from hydro.runoff drives the 2-D model; stored water = the runoff the operator gave."""
    from hydro.flood import effective_rainfall
    from hydro.runoff import SCSCurveNumber

    bed = grid(np.zeros((4, 6)), dx=5.0)
    rain = xr.DataArray([20.0, 60.0, 40.0, 10.0], dims="time", coords={"time": [900.0, 1800.0, 2700.0, 3600.0]},
                        attrs={"units": "mm/h"})
    scs = SCSCurveNumber(np.linspace(70, 95, 24), ncell=24)
    eff = effective_rainfall(rain, scs, like=bed)
    assert eff.dims == ("time", "y", "x") and eff.attrs["units"] == "mm"
    total_rain_mm = float((rain * 0.25).sum())
    np.testing.assert_allclose(eff.sum("time").values.ravel(), scs.cumulative_runoff_mm(), rtol=1e-12)
    assert (eff.sum("time") < total_rain_mm).all() and (eff.sum("time") > 0).all()
    res = simulate_2d(bed, 3600.0, rainfall=eff, output_interval=3600.0)
    assert res.balance["rain"].iloc[-1] == pytest.approx(float(eff.sum()) / 1000.0 * 25.0, rel=1e-12)
    assert res.balance["storage"].iloc[-1] == pytest.approx(res.balance["rain"].iloc[-1], rel=1e-12)


@pytest.mark.parametrize("rows_per_block", [1, 2, 5, 7])
def test_fused_sweep_blocks_are_exact(grid, monkeypatch, rows_per_block):
    """The fused sweep recomputes halo rows per block: any block height gives bit-identical results to one block
    (same fluxes on faces shared by two blocks, so volume closes exactly), on 1 and 2 threads, with every forcing."""
    from hydro.flood import _inertial

    bed, rain, tide, q_in, rng = _noisy_case(grid, 4)
    kw = dict(manning_n=rng.uniform(0.02, 0.08, bed.shape), rainfall=rain,
              infiltration_mm_per_h=rng.uniform(0.0, 30.0, bed.shape), inflows=q_in,
              boundaries=[water_level("west", tide), free_outflow("east"), inflow("north", 0.01, cells=[3, 4]),
                          free_outflow("south", slope=0.01)],
              output_interval=1800.0, theta=0.8, output_variables=("depth", "velocity"))
    monkeypatch.setattr(_inertial, "ROWS_PER_BLOCK", 1000)
    ref = simulate_2d(bed, 3600.0, num_threads=1, **kw)
    monkeypatch.setattr(_inertial, "ROWS_PER_BLOCK", rows_per_block)
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        res = simulate_2d(bed, 3600.0, num_threads=threads, **kw)
        for name in ("flood_depth", "eastward_flood_velocity", "northward_flood_velocity", "max_flood_depth",
                     "max_hazard_rating", "flood_duration", "time_of_first_wetting"):
            np.testing.assert_array_equal(res.dataset[name].values, ref.dataset[name].values, err_msg=name)
        assert np.abs(res.balance["relative_residual"]).max() < 1e-9
        assert res.balance["boundary_outflow"].iloc[-1] > 0 and res.balance["boundary_inflow"].iloc[-1] > 0


@pytest.mark.parametrize("advective_dt", [True, False])
def test_summary_maps_off_changes_nothing_else(grid, advective_dt):
    """summary_maps=False: the same depths, speeds and volume balance, bit for bit, without the five maps."""
    rng = np.random.default_rng(7)
    z = 0.02 * np.arange(60)[None, :] + rng.normal(0.0, 0.05, (40, 60))
    bed = grid(z, dx=5.0)
    kw = dict(manning_n=0.04, rainfall=80.0, rainfall_units="mm/h", initial_depth=0.02, output_interval=60.0,
              output_variables=("depth", "speed"), advective_dt=advective_dt, threshold_m=0.03)
    full = simulate_2d(bed, 300.0, **kw)
    bare = simulate_2d(bed, 300.0, summary_maps=False, **kw)
    np.testing.assert_array_equal(full.dataset["flood_depth"].values, bare.dataset["flood_depth"].values)
    np.testing.assert_array_equal(full.dataset["flood_speed"].values, bare.dataset["flood_speed"].values)
    pd.testing.assert_frame_equal(full.balance, bare.balance)
    for name in ("max_flood_depth", "max_flood_speed", "time_of_first_wetting", "flood_duration",
                 "max_hazard_rating", "hazard_class", "flood_extent"):
        assert name in full.dataset and name not in bare.dataset
    assert float(full.dataset["max_flood_depth"].max()) > 0.03  # the maps of the full run are not empty
    assert bare.dataset.rio.crs == full.dataset.rio.crs
