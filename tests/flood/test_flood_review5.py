"""simulate_2d point inflows and flood products: regressions of a fifth review (hand-derived values).

1. Point inflows entered the depth *before* the momentum update, so the inflow cell's depth was always dt*Q/A below
   the level that drove its outflow: its output depth changed with the time step (0.854 m at alpha 0.5, 0.945 m at
   alpha 0.1 for a 0.969 m normal-depth channel). flood.md 1.4: the source enters continuity, momentum uses h^n.
2. extent_polygons placed polygons with the stored GeoTransform, stale after coarsen() or a flip: a 20 m grid was
   traced at 10 m (a quarter of the area, shifted) and a flipped grid was mirrored; hand_inundation/reaches wrote a
   stale transform through to their outputs.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.flood import extent_polygons, free_outflow, hand_inundation, rating_curves, reaches, simulate_2d
from tests.flood.conftest import make_grid


def _points(bed, rows, cols, q):
    return xr.DataArray(np.full(len(rows), q), dims="point",
                        coords={"x": ("point", [float(bed.x[j]) for j in cols]),
                                "y": ("point", [float(bed.y[i]) for i in rows])}, attrs={"units": "m3 s-1"})


def test_point_inflow_enters_continuity_not_the_momentum_of_the_same_step():
    """Flat still pond 0.5 m deep, 2 m3/s into the centre cell, one step of 0.1 s: the momentum of that step sees a
    flat water surface (h^n), so no face carries flow; the centre cell gains dt Q / A = 0.1 * 2 / 100 = 2 mm and
    every other cell stays at 0.5 m plus the rain of the step (36 mm/h for 0.1 s = 1e-6 m). Before: the source
    raised the centre before the momentum and its water already left in the same step. Rain and point volumes are
    reported apart: 2.5e-3 m3 of rain on 2500 m2, 0.2 m3 of inflow."""
    bed = make_grid(np.zeros((5, 5)), dx=10.0)
    res = simulate_2d(bed, 0.1, initial_depth=0.5, manning_n=0.03, inflows=_points(bed, [2], [2], 2.0),
                      rainfall=36.0, rainfall_units="mm/h", dt_max=0.1, dtype="float64", output_variables=("depth",), summary_maps=False)
    assert res.balance["steps"].iloc[-1] == 1
    h = res.dataset["flood_depth"].isel(time=-1).values.astype(np.float64)
    assert h[2, 2] == pytest.approx(0.5 + 1e-6 + 0.1 * 2.0 / 100.0, abs=1e-7)  # float32 snapshots
    others = np.delete(h.ravel(), 12)
    np.testing.assert_allclose(others, 0.5 + 1e-6, rtol=0, atol=1e-7)
    bal = res.balance.iloc[-1]
    assert bal["point_inflow"] == pytest.approx(0.2, rel=1e-12)
    assert bal["rain"] == pytest.approx(2.5e-3, rel=1e-12)  # the inflow is not reported as rain
    assert abs(bal["relative_residual"]) < 1e-12


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_inflow_cell_of_a_uniform_channel_is_at_normal_depth_for_any_time_step(alpha):
    """Channel of bed slope 0.001, n 0.03, 10 m cells, fed by 10 m3/s per row at its closed upstream end (1 m2/s)
    and leaving at normal depth: steady depth h_n = (n q / sqrt(S))^(3/5) = 0.96889 m everywhere, the inflow cell
    included (theta = 1: the steady state of q (1 + a|q|) = q - g dt h S does not depend on dt). Before: 0.854 m
    in the inflow cell at alpha 0.5 (0.909 at 0.25, 0.945 at 0.1): always dt*Q/A low."""
    S, n, dx, nx = 0.001, 0.03, 10.0, 12
    hn = (n * 1.0 / np.sqrt(S)) ** 0.6
    bed = make_grid(np.tile(S * dx * (nx - 1 - np.arange(nx)), (3, 1)), dx=dx)
    res = simulate_2d(bed, 1800.0, initial_depth=hn, manning_n=n, inflows=_points(bed, [0, 1, 2], [0, 0, 0], 10.0),
                      boundaries=[free_outflow("east", slope=S)], theta=1.0, alpha=alpha, dtype="float64",
                      output_variables=("depth",))
    h = res.dataset["flood_depth"].isel(time=-1).values
    np.testing.assert_allclose(h, hn, rtol=2e-4)
    assert abs(res.balance["relative_residual"]).max() < 1e-9


def test_extent_polygons_follow_the_coordinates_of_a_coarsened_or_flipped_map():
    """16 flooded cells of a 12 x 12, 10 m map (rows 2-5, columns 2-5). coarsen(2): 4 cells of 20 m = 1600 m2 at
    x 500020-500060, y 9849940-9849980 (was 400 m2 at x 500015-500035: the stale 10 m GeoTransform). Flipped rows: the same polygon at
    y 9849940-9849980 (was mirrored to 9849790-9849830)."""
    d = make_grid(np.zeros((12, 12)), dx=10.0)
    d.values[2:6, 2:6] = 1.0
    c = d.coarsen(x=2, y=2).mean()
    fc = extent_polygons(c, crs=None, threshold_m=0.5)
    assert len(fc["features"]) == 1
    f = fc["features"][0]
    assert f["properties"]["area_m2"] == pytest.approx(1600.0)
    assert f["properties"]["cells"] == 4
    xy = np.asarray(f["geometry"]["coordinates"][0])
    assert (xy[:, 0].min(), xy[:, 0].max()) == (500020.0, 500060.0)
    assert (xy[:, 1].min(), xy[:, 1].max()) == (9849940.0, 9849980.0)
    flipped = d.isel(y=slice(None, None, -1))
    f = extent_polygons(flipped, crs=None, threshold_m=0.5)["features"][0]
    xy = np.asarray(f["geometry"]["coordinates"][0])
    assert f["properties"]["area_m2"] == pytest.approx(1600.0)
    assert (xy[:, 1].min(), xy[:, 1].max()) == (9849940.0, 9849980.0)
    assert (xy[:, 0].min(), xy[:, 0].max()) == (500020.0, 500060.0)


def test_hand_outputs_carry_the_grid_of_their_coordinates_on_a_coarsened_dem():
    """A V-valley DEM built at 2.5 m and coarsened to 5 m: the reach and inundation datasets are on 5 m cells and
    the extent polygons cover exactly the flooded cells (25 m2 each); they were traced at 2.5 m (a quarter of it)."""
    from hydro.terrain import analyse

    ny, nx = 40, 21
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.1 * np.abs(xx - 10) * 5.0 + 0.002 * (ny - 1 - yy) * 5.0 + 10.0
    dem = make_grid(np.repeat(np.repeat(z, 2, 0), 2, 1), dx=2.5).coarsen(x=2, y=2).mean()
    terrain = analyse(dem, stream_threshold_m2=30 * 25.0)
    rd = reaches(terrain, max_length_m=1e6)
    out = hand_inundation(terrain, rd, rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.05),
                          {int(k): 2.0 for k in rd["reach"].values})
    for ds in (rd, out):
        assert tuple(ds.rio.transform())[:6] == (5.0, 0.0, 500000.0, 0.0, -5.0, 9850000.0)
    ext = out["flood_extent"]
    n_flooded = int((ext.values == 1).sum())
    assert n_flooded > 10
    fc = extent_polygons(ext, crs=None)
    assert sum(f["properties"]["area_m2"] for f in fc["features"]) == pytest.approx(25.0 * n_flooded)
