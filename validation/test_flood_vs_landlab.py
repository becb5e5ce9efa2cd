"""Differential tests: hydro.flood.simulate_2d against landlab's OverlandFlow (de Almeida et al. 2012).

Configured alike, the two schemes are the same arithmetic: theta = 1 (landlab and hydro differ only in how a face
next to a wall is smoothed for theta < 1, a documented convention), the same fixed time step (hydro: ``dt_max``
below the CFL step, so every step is ``dt_max``; landlab: ``overland_flow(dt=...)`` below its own CFL step, one
step per call), the same wet/dry rule (landlab ``h_init = 0`` computes a face only when its flow depth exceeds
1e-6 m, hydro ``h_dry = 1e-6``), the same Manning n and gravity, closed edges (landlab: closed perimeter nodes
around the hydro grid; a landlab FIXED_VALUE node with the edge cell's bed and ``level - z`` of depth is hydro's
``water_level`` ghost cell). Cases are chosen so that hydro's two limiters stay inactive (donor-cell limiter:
no cell is asked for more than it holds; friction-equilibrium limiter: no semi-implicit overshoot), so the depth
fields must agree to the float32 rounding of hydro's snapshots (~3e-8 m), here asserted to 1e-6 m. landlab's
node rows run south to north: the hydro arrays are flipped.

They pin the agreement (review s23: no defect found). Run them with the bench extra (landlab) installed:
``python -m pytest validation/test_flood_vs_landlab.py`` (~70 s on 2 cores); the CI suite (tests/) does not run them.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from hydro.flood import simulate_2d, water_level
from hydro.io.raster import from_array

landlab = pytest.importorskip("landlab")
from landlab import NodeStatus, RasterModelGrid  # noqa: E402
from landlab.components import OverlandFlow  # noqa: E402

pytestmark = pytest.mark.peers
G = 9.80665


def _bed(z, dx):
    return from_array(np.asarray(z, np.float64), Affine(dx, 0, 500000.0, 0, -dx, 9860000.0), "EPSG:32750")


def _hydro(z, dx, h0, duration, dt, *, n=0.03, rain_mm_h=0.0, dtype="float64", **kw):
    args = dict(manning_n=n, initial_depth=h0, theta=1.0, alpha=0.7, dt_max=dt, advective_dt=False, h_dry=1e-6,
                dtype=dtype, output_variables=("depth",), summary_maps=False)
    if rain_mm_h:
        args.update(rainfall=rain_mm_h, rainfall_units="mm/h")
    args.update(kw)
    res = simulate_2d(_bed(z, dx), duration, **args)
    return res.dataset["flood_depth"].isel(time=-1).values.astype(np.float64), res


def _landlab_grid(z, dx, h0):
    ny, nx = z.shape
    g = RasterModelGrid((ny + 2, nx + 2), xy_spacing=dx)
    zz = np.zeros((ny + 2, nx + 2))
    zz[1:-1, 1:-1] = np.flipud(z)
    hh = np.zeros((ny + 2, nx + 2))
    hh[1:-1, 1:-1] = np.flipud(np.broadcast_to(h0, z.shape))
    return g, zz, hh


def _landlab_run(g, zz, hh, duration, dt, *, n=0.03, rain=0.0, rain_at=None):
    ny, nx = zz.shape[0] - 2, zz.shape[1] - 2
    g.add_field("topographic__elevation", zz.ravel(), at="node")
    g.add_field("surface_water__depth", hh.ravel(), at="node")
    of = OverlandFlow(g, h_init=0.0, alpha=0.7, mannings_n=n, g=G, theta=1.0, rainfall_intensity=rain)
    for k in range(int(round(duration / dt))):
        if rain_at is not None:
            of.rainfall_intensity = rain_at(k * dt)
        assert of.overland_flow(dt=dt) == pytest.approx(dt, abs=1e-12)
    return np.flipud(g.at_node["surface_water__depth"].reshape(ny + 2, nx + 2)[1:-1, 1:-1]).copy()


def _landlab(z, dx, h0, duration, dt, *, n=0.03, rain_mm_h=0.0):
    g, zz, hh = _landlab_grid(z, dx, h0)
    g.set_closed_boundaries_at_grid_edges(True, True, True, True)
    return _landlab_run(g, zz, hh, duration, dt, n=n, rain=rain_mm_h / 3.6e6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dam_break_on_dry_bed_matches_landlab(dtype):
    # 20 x 40 cells of 10 m, 1 m of water in the first 10 columns, dry elsewhere, closed box, dt = 0.5 s for 30 s
    # (CFL step 0.7 * 10 / sqrt(9.81 * 1) = 2.2 s > 0.5 s, so both take 60 steps of 0.5 s)
    z = np.zeros((20, 40))
    h0 = np.zeros((20, 40))
    h0[:, :10] = 1.0
    hh, res = _hydro(z, 10.0, h0, 30.0, 0.5, dtype=dtype)
    hl = _landlab(z, 10.0, h0, 30.0, 0.5)
    assert res.balance["steps"].iloc[-1] == 60
    assert np.abs(hh - hl).max() < 1e-6
    # front: both wet (> 1 mm) to the same column; volume 200 cells x 1 m x 100 m2 = 20 000 m3 in both
    assert (hh[10] > 1e-3).nonzero()[0].max() == (hl[10] > 1e-3).nonzero()[0].max() > 10
    assert hh.sum() * 100.0 == pytest.approx(20000.0, rel=1e-7)
    assert hl.sum() * 100.0 == pytest.approx(20000.0, rel=1e-12)


def test_rain_on_tilted_plane_matches_landlab():
    # 50 x 50 cells of 5 m, 1 % slope down to the east and 0.2 % to the north, 1 cm initial film, 50 mm/h for
    # 600 s at dt = 1 s. Volume: 2500 cells x 25 m2 x (0.01 m + 50e-3 m/h x 600 s / 3600 s/h) = 625 + 520.83 m3
    ny = nx = 50
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.01 * (nx - xx) * 5.0 + 0.002 * yy * 5.0
    h0 = np.full((ny, nx), 0.01)
    hh, res = _hydro(z, 5.0, h0, 600.0, 1.0, rain_mm_h=50.0)
    hl = _landlab(z, 5.0, h0, 600.0, 1.0, rain_mm_h=50.0)
    assert np.abs(hh - hl).max() < 1e-5  # 8.7e-7 m observed (hydro's float32 snapshot)
    assert res.balance["rain"].iloc[-1] == pytest.approx(2500 * 25.0 * 50e-3 / 3600.0 * 600.0, rel=1e-12)
    assert hh.sum() * 25.0 == pytest.approx(625.0 + 520.8333333, rel=1e-7)


@pytest.mark.parametrize("side", ["west", "east", "north", "south"])
def test_water_level_boundary_matches_landlab_fixed_value_node(side):
    # basin rising away from the level edge (0.02 m per 10 m cell), 0.5 m still water at the edge, level 1 m on
    # the ghost cell; landlab: FIXED_VALUE node with the edge cell's bed and depth 1 - z (hydro's ghost cell)
    ny, nx, dx, level = 10, 30, 10.0, 1.0
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = {"west": 0.002 * xx * dx, "east": 0.002 * (nx - 1 - xx) * dx,
         "north": 0.006 * yy * dx, "south": 0.006 * (ny - 1 - yy) * dx}[side]
    h0 = np.maximum(0.5 - z, 0.0)
    hh, res = _hydro(z, dx, h0, 120.0, 0.5, boundaries=[water_level(side, level)])
    g, zz, hl0 = _landlab_grid(z, dx, h0)
    st = np.full((ny + 2, nx + 2), NodeStatus.CLOSED, dtype=np.uint8)
    st[1:-1, 1:-1] = NodeStatus.CORE
    ghost, inner = {"west": ((slice(1, -1), 0), (slice(1, -1), 1)), "east": ((slice(1, -1), -1), (slice(1, -1), -2)),
                    "north": ((-1, slice(1, -1)), (-2, slice(1, -1))), "south": ((0, slice(1, -1)), (1, slice(1, -1)))}[side]
    zz[ghost] = zz[inner]
    hl0[ghost] = level - zz[ghost]
    st[ghost] = NodeStatus.FIXED_VALUE
    g.status_at_node = st.ravel()
    hl = _landlab_run(g, zz, hl0, 120.0, 0.5)
    assert np.abs(hh - hl).max() < 1e-6
    b = res.balance.iloc[-1]
    assert b["boundary_inflow"] > 1000.0
    assert abs(b["residual"]) < 1e-9 * b["storage"]


def test_gridded_rain_series_orientation_matches_landlab():
    # rain only on the 4 northern rows (60 mm/h) plus 20 mm/h east of column 10, doubled in the second 300 s;
    # a flipped or shifted grid would put it on other cells than landlab's flipped node field
    ny, nx, dx = 12, 16, 10.0
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.01 * xx * dx
    bed = _bed(z, dx)
    pat = np.where(yy < 4, 60.0, 0.0) + np.where(xx > 10, 20.0, 0.0)
    vals = np.stack([pat, 2 * pat])
    rain = xr.DataArray(vals, dims=("time", "y", "x"), coords={"time": [300.0, 600.0], "y": bed.y, "x": bed.x},
                        attrs={"units": "mm/h"})
    h0 = np.full((ny, nx), 0.01)
    hh, res = _hydro(z, dx, h0, 600.0, 0.5, rainfall=rain)
    g, zz, hl0 = _landlab_grid(z, dx, h0)
    g.set_closed_boundaries_at_grid_edges(True, True, True, True)

    def rain_at(t):
        r = np.zeros((ny + 2, nx + 2))
        r[1:-1, 1:-1] = np.flipud(vals[0 if t < 300.0 else 1]) / 3.6e6
        return r.ravel()

    hl = _landlab_run(g, zz, hl0, 600.0, 0.5, rain_at=rain_at)
    assert np.abs(hh - hl).max() < 1e-6
    # rain volume by hand: rows 0-3 (4 x 16 = 64 cells) 60 mm/h, columns 11-15 (12 x 5 = 60 cells) 20 mm/h
    # -> 64 x 60 + 60 x 20 = 5040 mm/h x cells; 300 s at x1 + 300 s at x2 = 900 s equivalent:
    # 5040 x 900 / 3600 = 1260 mm x cells = 1.26 m x 100 m2 = 126 m3
    assert res.balance["rain"].iloc[-1] == pytest.approx(126.0, rel=1e-12)
