"""simulate_2d physics review: the theta smoothing of a face next to a wall (closed edge or nodata cell).

With theta < 1 a face is smoothed with its two parallel neighbours, q_s = theta q + (1 - theta)/2 (q_W + q_E). A
closed edge face (or the face of a nodata cell) has q = 0 for ever, so a face next to a wall lost (1 - theta)/2 of
its flux every step and the water had to stand higher to push the same discharge: a channel fed at its closed
upstream end (a river entering at the domain edge) held 1.056 m instead of the normal depth 0.969 m in its inflow
cell at alpha 0.5, 1.159 m at alpha 0.2 (theta 0.8): the steady state depended on the time step and got worse as
dt -> 0. flood.md 1.2: theta = 1 on faces whose parallel neighbour is missing (domain edge).
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from hydro.flood import free_outflow, simulate_2d
from hydro.io.raster import from_array

S, N, DX, NX = 0.001, 0.03, 10.0, 12
HN = (N * 1.0 / np.sqrt(S)) ** 0.6  # normal depth of q = 1 m2/s: 0.96889 m


def _grid(z):
    return from_array(np.asarray(z, np.float32), Affine(DX, 0.0, 500000.0, 0.0, -DX, 9850000.0), "EPSG:32750")


def _points(bed, rows, cols, q):
    return xr.DataArray(np.full(len(rows), q), dims="point",
                        coords={"x": ("point", [float(bed.x[j]) for j in cols]),
                                "y": ("point", [float(bed.y[i]) for i in rows])}, attrs={"units": "m3 s-1"})


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_inflow_at_a_closed_end_is_at_normal_depth_with_the_default_theta(alpha):
    """10 m3/s per row into the first cell of a channel closed upstream (west), default theta 0.8: normal depth
    everywhere, whatever the step. Before: 1.0561 m (alpha 0.5) / 1.1585 m (alpha 0.2) in the inflow cell."""
    bed = _grid(np.tile(S * DX * (NX - 1 - np.arange(NX)), (3, 1)))
    res = simulate_2d(bed, 1800.0, initial_depth=HN, manning_n=N, inflows=_points(bed, [0, 1, 2], [0, 0, 0], 10.0),
                      boundaries=[free_outflow("east", slope=S)], alpha=alpha, dtype="float64",
                      output_variables=("depth",))
    h = res.dataset["flood_depth"].isel(time=-1).values
    np.testing.assert_allclose(h, HN, rtol=2e-4)
    assert abs(res.balance["relative_residual"]).max() < 1e-9


def test_inflow_next_to_nodata_cells_running_south_is_at_normal_depth():
    """The same channel running north -> south (y faces) with its closed upstream end a row of nodata cells and
    nodata side columns (float32 fluxes): the wall of a nodata cell is no smoothing neighbour either."""
    z = np.full((NX + 1, 5), np.nan)
    z[1:, 1:4] = np.tile((S * DX * (NX - 1 - np.arange(NX)))[:, None], (1, 3))
    bed = _grid(z)
    h0 = np.where(np.isfinite(z), HN, 0.0)
    res = simulate_2d(bed, 1800.0, initial_depth=h0, manning_n=N, inflows=_points(bed, [1, 1, 1], [1, 2, 3], 10.0),
                      boundaries=[free_outflow("south", slope=S, cells=[1, 2, 3])], theta=0.7,
                      output_variables=("depth",))
    h = res.dataset["flood_depth"].isel(time=-1).values[1:, 1:4]
    np.testing.assert_allclose(h, HN, rtol=1e-3)
    assert abs(res.balance["relative_residual"]).max() < 1e-6
