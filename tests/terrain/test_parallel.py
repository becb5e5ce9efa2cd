"""The multi-threaded terrain kernels give the same result as the serial ones, bit for bit.

* strip-parallel priority-flood (Barnes 2016) == whole-grid priority-flood;
* flat resolution with the two gradients on two threads == the serial Barnes (2014) reference;
* D8 and downstream index split by rows == one pass.
"""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import hydro.terrain as T
from hydro.io import open_dem
from hydro.terrain import _kernels as k
from tests.terrain.helpers import grid
from tests.terrain.reference_flats import resolve_flats_reference


@st.composite
def strip_dems(draw):
    """Random DEMs tall enough for 2-3 strips: integer elevations (flats, nested pits), nodata holes."""
    ny = draw(st.integers(4, 36))
    nx = draw(st.integers(1, 24))
    ints = draw(st.booleans())
    elements = st.integers(0, 6).map(float) if ints else st.floats(0.0, 50.0, width=32)
    z = draw(arrays(np.float32, (ny, nx), elements=elements))
    nan_share = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    z[rng.random((ny, nx)) < nan_share] = np.nan
    return z


def _serial_fill(z: np.ndarray) -> tuple[np.ndarray, int]:
    a = z.ravel().copy()
    raised = k.priority_flood(a, z.shape[0], z.shape[1], False)
    return a, raised


def _strip_fill(z: np.ndarray, nstrip: int, threads: int = 2) -> tuple[np.ndarray, int]:
    a = z.ravel().copy()
    raised = k.fill_strips(a, z.ravel(), z.shape[0], z.shape[1], nstrip, threads)
    return a, raised


def _d8(z: np.ndarray) -> np.ndarray:
    ny, nx = z.shape
    fdir = np.empty(ny * nx, np.uint8)
    k._d8_rows(z.ravel(), ny, nx, np.full(ny, 30.0), 30.0, np.full(ny, 30.0 * np.sqrt(2)), fdir, 0, ny)
    return fdir


@given(strip_dems(), st.integers(2, 3))
def test_strip_fill_equals_serial_priority_flood(z, nstrip):
    if z.shape[0] < 2 * nstrip:
        nstrip = 2
    expected, raised = _serial_fill(z)
    got, got_raised = _strip_fill(z, nstrip)
    np.testing.assert_array_equal(got, expected)  # NaN where NaN, every value identical
    assert got_raised == raised


@given(strip_dems(), st.booleans())
def test_threaded_flat_resolution_equals_serial_reference(z, filled):
    ny, nx = z.shape
    zz = _serial_fill(z)[0] if filled else z.ravel().copy()
    ref = _d8(zz.reshape(ny, nx))
    got = ref.copy()
    u_ref = resolve_flats_reference(zz, ny, nx, ref)
    # these grids are small: lower the thresholds so that the strips and the two threads are really used
    with mock.patch.object(k, "PARALLEL_MIN_CELLS", 0), mock.patch.object(k, "MIN_STRIP_ROWS", 2):
        u_got = k.resolve_flats(zz, ny, nx, got, threads=2)
    np.testing.assert_array_equal(got, ref)
    assert u_got == u_ref
    if filled:
        assert u_got == 0


def test_depression_across_the_seam_spills_through_the_other_strip():
    # a U-shaped trough: its arms end in strip 0, its bottom lies in strip 1, and the only spill
    # (elevation 4) is at the far end of one arm, in strip 0; the pit at the bottom (1) fills to 4
    z = np.full((12, 9), 9.0, np.float32)
    z[2:10, 2] = 3.0  # left arm
    z[2:10, 6] = 3.0  # right arm
    z[9, 2:7] = 3.0  # bottom, in strip 1
    z[9, 4] = 1.0  # the pit
    z[1, 6] = 4.0  # the spill point, next to the grid edge row 0
    z[0, 6] = 2.0
    expected, raised = _serial_fill(z)
    assert expected.reshape(z.shape)[9, 4] == 4.0
    for nstrip in (2, 3, 4):
        got, got_raised = _strip_fill(z, nstrip)
        np.testing.assert_array_equal(got, expected)
        assert got_raised == raised


def test_seam_on_a_flat_and_at_nodata():
    # a flat lake crossing the seam, with a nodata hole (an outlet) in the lower strip
    z = np.full((20, 15), 5.0, np.float32)
    z[:, 0] = z[:, -1] = z[0] = z[-1] = 8.0
    z[4:16, 3:12] = 2.0
    z[13, 7] = np.nan
    z[6, 5] = 0.5  # a pit that drains into the nodata hole at level 2
    expected, raised = _serial_fill(z)
    assert expected.reshape(z.shape)[6, 5] == 2.0
    for nstrip in (2, 3, 5):
        got, got_raised = _strip_fill(z, nstrip)
        np.testing.assert_array_equal(got, expected)
        assert got_raised == raised


@pytest.mark.parametrize("name", ["pysheds_dem_fortworth_3s.tif", "pyflwdir_rhine_elv0_30s.tif", "topotoolbox_bigtujunga_srtm30m_utm11.tif"])
def test_real_dems_parallel_equals_serial(name, shared_dem, monkeypatch):
    monkeypatch.setattr(k, "PARALLEL_MIN_CELLS", 0)  # these DEMs are small: split them anyway
    dem = open_dem(shared_dem(name))
    z = np.ascontiguousarray(dem.values)
    ny, nx = z.shape
    expected, raised = _serial_fill(z)
    for nstrip in (2, 3, 7):
        got, got_raised = _strip_fill(z, nstrip)
        np.testing.assert_array_equal(got, expected)
        assert got_raised == raised
    g = T.grid_geometry(dem)
    ref = np.empty(ny * nx, np.uint8)
    k._d8_rows(expected, ny, nx, g.dx_m, float(g.dy_m), g.diag_m, ref, 0, ny)
    got = np.empty(ny * nx, np.uint8)
    assert k.d8_steepest(expected, ny, nx, g.dx_m, g.dy_m, g.diag_m, got, threads=3) == int((ref == k.FLAT).sum())
    np.testing.assert_array_equal(got, ref)
    assert resolve_flats_reference(expected, ny, nx, ref) == 0
    assert k.resolve_flats(expected, ny, nx, got, threads=2) == 0
    np.testing.assert_array_equal(got, ref)
    ds_ref = np.empty(ny * nx, np.int32)
    k._downstream_rows(ref, ny, nx, ds_ref, 0, ny)
    ds = np.empty(ny * nx, np.int32)
    k.downstream_index(got, ny, nx, ds, threads=3)
    np.testing.assert_array_equal(ds, ds_ref)


def test_public_functions_same_with_one_or_two_threads(monkeypatch):
    # large enough for the parallel paths: strips, row splits, the two gradients on two threads
    from hydro.datasets import synthetic_dem

    dem = synthetic_dem((1100, 1000), 30.0, seed=7)
    monkeypatch.setattr(k, "PARALLEL_MIN_CELLS", 1_000_000)
    strip_calls = []
    real_fill_strips = k.fill_strips
    monkeypatch.setattr(k, "fill_strips", lambda *a, **kw: strip_calls.append(a[4]) or real_fill_strips(*a, **kw))
    out = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
        assert k.num_threads() == int(threads)
        filled = T.fill_depressions(dem)
        fd = T.flow_direction(filled)
        net = T.flow_network(fd)
        out[threads] = (filled.values, filled.attrs["cells_raised"], fd.values, net.downstream, net.order, net.upstream_count())
    assert strip_calls == [2]  # one thread: serial priority-flood; two: two strips
    for a, b in zip(out["1"], out["2"]):
        np.testing.assert_array_equal(a, b)
    assert out["1"][1] > 0  # the synthetic DEM has pits: the seam solve had work to do
    # epsilon filling always runs the serial priority-flood (its result depends on the flood order)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    eps = T.fill_depressions(dem, epsilon=True).values.ravel()
    ref = np.ascontiguousarray(dem.values).ravel().copy()
    k.priority_flood(ref, *dem.shape, True)
    np.testing.assert_array_equal(eps, ref)


def test_upstream_count_from_linear_init_equals_count_kernel():
    z = np.array([[3, 3, 3, 3], [3, 1, 2, 3], [3, 2, np.nan, 3], [3, 3, 0.5, 3]], np.float32)
    net = T.flow_network(T.flow_direction(T.fill_depressions(grid(z))))
    ref = np.zeros(net.ncell, np.int32)
    k.accumulate_count(net.order, net.downstream, ref)
    np.testing.assert_array_equal(net.upstream_count(), ref)
    assert net.upstream_count()[net.outlets].sum() == np.isfinite(z).sum()
