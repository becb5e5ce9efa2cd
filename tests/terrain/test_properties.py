"""Property tests on random DEMs (hypothesis): filling, D8 graph, accumulation, HAND."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import hydro.terrain as T
from tests.terrain.helpers import DCOL, DROW, grid


@st.composite
def dems(draw):
    """Random DEMs with flats (integer elevations), pits, and nodata holes or edges."""
    ny = draw(st.integers(2, 24))
    nx = draw(st.integers(2, 24))
    z = draw(arrays(np.float64, (ny, nx), elements=st.integers(0, 6).map(float)))
    nan_share = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    mask = rng.random((ny, nx)) < nan_share
    z[mask] = np.nan
    if np.isnan(z).all():
        z[0, 0] = 1.0
    return z


def _neighbours(z, r, c):
    ny, nx = z.shape
    for k in range(8):
        rr, cc = r + DROW[k], c + DCOL[k]
        if 0 <= rr < ny and 0 <= cc < nx:
            yield rr, cc
        else:
            yield None


@given(dems())
def test_filled_is_above_dem_without_interior_pits_and_idempotent(z):
    dem = grid(z)
    filled = T.fill_depressions(dem).values
    valid = np.isfinite(z)
    assert np.array_equal(np.isfinite(filled), valid)
    assert (filled[valid] >= z[valid]).all()
    ny, nx = z.shape
    for r in range(ny):
        for c in range(nx):
            if not valid[r, c]:
                continue
            nbs = list(_neighbours(z, r, c))
            if any(n is None or not valid[n] for n in nbs):
                continue  # an outlet cell
            assert min(filled[n] for n in nbs) <= filled[r, c], "interior pit left"
    again = T.fill_depressions(grid(filled)).values
    np.testing.assert_array_equal(again, filled)


@given(dems())
def test_d8_is_acyclic_and_every_cell_reaches_an_outlet(z):
    dem = grid(z)
    fd = T.flow_direction(T.fill_depressions(dem))
    codes = fd.values
    valid = np.isfinite(z)
    assert ((codes == 255) == ~valid).all()
    net = T.flow_network(fd)  # raises on a cycle
    assert len(net.order) == valid.sum()
    # every valid cell reaches an outlet cell (code 0) by following downstream links
    ds = net.downstream
    for i in np.flatnonzero(valid.ravel()):
        steps = 0
        while ds[i] >= 0:
            i = ds[i]
            steps += 1
            assert steps <= z.size
        assert codes.ravel()[i] == 0
    # accumulation: outlets sum to the number of valid cells
    acc = T.flow_accumulation(fd).values
    assert acc[codes == 0].sum() == valid.sum()
    # weighted accumulation conserves the weights
    w = np.where(valid, np.arange(z.size).reshape(z.shape) % 7 + 0.5, 0.0)
    accw = T.flow_accumulation(fd, weights=w).values
    np.testing.assert_allclose(accw[codes == 0].sum(), w.sum(), rtol=1e-12)


@given(dems())
def test_epsilon_fill_leaves_every_cell_a_lower_path(z):
    filled = T.fill_depressions(grid(z), epsilon=True).values
    valid = np.isfinite(z)
    ny, nx = z.shape
    for r in range(ny):
        for c in range(nx):
            if not valid[r, c]:
                continue
            nbs = list(_neighbours(z, r, c))
            if any(n is None or not valid[n] for n in nbs):
                continue
            assert min(filled[n] for n in nbs) < filled[r, c]


@given(dems(), st.floats(100.0, 2000.0))
def test_hand_zero_on_streams_nonnegative_elsewhere(z, threshold):
    ds = T.analyse(grid(z), stream_threshold_m2=threshold)
    hand = ds.hand.values
    valid = np.isfinite(z)
    stream = ds.streams.values == 1
    assert (hand[stream] == 0).all()
    assert (hand[valid] >= 0).all()
    assert np.isnan(hand[~valid]).all()
