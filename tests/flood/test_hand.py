"""HAND + synthetic rating curves: V-valley against Manning computed by hand, reach splitting, inversion."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.optimize import brentq

from hydro.errors import InputDataError
from hydro.flood import adjust_rating, hand_inundation, rating_curves, reaches, stage_for_discharge
from hydro.terrain import analyse

SIDE, S_LONG, N_MAN, DX = 0.1, 0.002, 0.04, 2.0


@pytest.fixture(scope="module")
def valley():
    """V-valley: z = SIDE*|x - x0| + S_LONG*(distance to the south edge); one straight channel (column x0)."""
    from tests.flood.conftest import make_grid

    ny, nx, j0 = 60, 41, 20
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = SIDE * np.abs(xx - j0) * DX + S_LONG * (ny - 1 - yy) * DX + 10.0
    dem = make_grid(z, dx=DX)
    terrain = analyse(dem, stream_threshold_m2=30 * DX * DX)
    return dem, terrain, j0


def test_hand_of_the_valley_is_the_side_slope(valley):
    dem, terrain, j0 = valley
    streams = terrain["streams"].values
    assert streams[:, j0].all() and streams.sum() >= 0.5 * streams.shape[0]
    hand = terrain["hand"].values
    x = (np.arange(hand.shape[1]) - j0) * DX
    inner = hand[5:-5, 3:-3]
    np.testing.assert_allclose(inner, np.broadcast_to(SIDE * np.abs(x[3:-3]), inner.shape), atol=1e-4)


def test_stage_matches_manning_by_hand(valley):
    dem, terrain, j0 = valley
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    main = int(rd["stream_reach"].values[30, j0])
    # the hand computation uses the true geometry, not the engine's own L and S (with them a wrong reach length
    # cancelled out of Q = A (A/P)^(2/3) S^0.5 / n): the main reach is the whole valley, 60 D8 steps of DX (the
    # last one leaves the grid), on the bed slope S_LONG
    L = terrain.sizes["y"] * DX
    S = S_LONG
    assert float(rd["length_m"].sel(reach=main)) == pytest.approx(L, rel=1e-12)
    assert float(rd["slope"].sel(reach=main)) == pytest.approx(S_LONG, rel=1e-5)  # float32 elevations
    rating = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.05)
    hand = terrain["hand"].values.astype(np.float64)
    label = rd["reach_id"].values
    cells = label == main
    # cross-section sums by hand, cell by cell (bed factor sqrt(1 + SIDE^2 + S_LONG^2) for interior cells)
    def q_by_hand(y):
        w = cells & ((hand < y) | (hand == 0))
        hw = hand[w]
        a = DX * DX
        V = np.sum((y - hw) * a)
        # interior valley cells: |grad z| = sqrt(SIDE^2 + S_LONG^2), the channel cell: central difference -> S_LONG
        sl = np.where(hw == 0, S_LONG, np.hypot(SIDE, S_LONG))
        Ab = np.sum(a * np.sqrt(1 + sl**2))
        A, P = V / L, Ab / L
        return A * (A / P) ** (2 / 3) * np.sqrt(S) / N_MAN

    table = rating["discharge_m3s"].sel(reach=main)
    for y in (0.5, 1.0, 2.0):
        assert float(table.sel(stage=y)) == pytest.approx(q_by_hand(y), rel=2e-3)
    # invert a discharge: stage by hand (root of the hand-computed curve) vs the engine
    Q = 4.0
    y_hand = brentq(lambda y: q_by_hand(y) - Q, 0.06, 2.9)
    st, cap = stage_for_discharge(rating, xr.DataArray([Q], dims="reach", coords={"reach": [main]}))
    assert float(st[0]) == pytest.approx(y_hand, abs=0.01)  # linear interpolation between 5 cm steps
    assert not bool(cap[0])
    # and the continuous V-channel of the same geometry is close: Q = (y^2/s)(y/(2 sqrt(1+s^2)))^(2/3) S^0.5 / n
    y_cont = (Q * N_MAN / np.sqrt(S) * SIDE * (2 * np.sqrt(1 + SIDE**2)) ** (2 / 3)) ** (3 / 8)
    assert float(st[0]) == pytest.approx(y_cont, rel=0.15)


def test_depth_map_and_extent(valley):
    dem, terrain, j0 = valley
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    rating = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.05)
    ids = rd["reach"].values
    q = xr.DataArray(np.tile([[1.0], [4.0], [2.0]], (1, ids.size)), dims=("time", "reach"),
                     coords={"time": pd.date_range("2025-01-01", periods=3, freq="h"), "reach": ids})
    out = hand_inundation(terrain, rd, rating, q, time="max", threshold_m=0.05)
    st, _ = stage_for_discharge(rating, q.max("time"))
    main = int(rd["stream_reach"].values[30, j0])
    stage = float(st.sel(reach=main))
    depth = out["flood_depth"].values[30]
    np.testing.assert_allclose(depth[j0], stage, rtol=1e-6)
    x = np.abs(np.arange(depth.size) - j0) * DX
    expect = np.maximum(stage - SIDE * x, 0.0)
    np.testing.assert_allclose(depth[3:-3], expect[3:-3], atol=1e-4)
    assert (out["flood_extent"].values[30] == (depth > 0.05)).all()
    every = hand_inundation(terrain, rd, rating, q, time="all")
    assert every["flood_depth"].sizes["time"] == 3
    np.testing.assert_allclose(every["flood_depth"].max("time").values, out["flood_depth"].values, rtol=1e-6)
    # above the table: capped and flagged, never extrapolated
    big = hand_inundation(terrain, rd, rating, {main: 1e6})
    assert bool(big["stage_capped"].sel(reach=main))
    assert float(big["stage"].sel(reach=main)) == 3.0


def test_reaches_split_at_confluence_and_length(valley):
    dem, terrain, j0 = valley
    long = reaches(terrain, max_length_m=1e6)
    short = reaches(terrain, max_length_m=20.0)
    on_main = short["stream_reach"].values[:, j0]
    assert (short["length_m"].values <= 20.0 + 1e-9).all() or short.sizes["reach"] > long.sizes["reach"]
    assert np.unique(on_main[on_main > 0]).size >= 5
    # every cell in a reach catchment drains to that reach; catchment areas add up to the labelled area
    lab = short["reach_id"].values
    assert short["catchment_area_m2"].sum() == pytest.approx((lab > 0).sum() * DX * DX)


def test_adjust_rating_to_observation(valley):
    dem, terrain, j0 = valley
    rd = reaches(terrain, max_length_m=1e6, manning_n=N_MAN)
    rating = rating_curves(terrain, rd, stage_max_m=3.0, stage_step_m=0.05)
    main = int(rd["stream_reach"].values[30, j0])
    adj = adjust_rating(rating, main, 1.0, 5.0)
    st, _ = stage_for_discharge(adj, xr.DataArray([5.0], dims="reach", coords={"reach": [main]}))
    assert float(st[0]) == pytest.approx(1.0, abs=1e-9)
    q0 = float(rating["discharge_m3s"].sel(reach=main, stage=1.0))
    assert float(adj["manning_n"].sel(reach=main)) == pytest.approx(N_MAN * q0 / 5.0)
    assert float(rating["manning_n"].sel(reach=main)) == N_MAN  # input unchanged
    with pytest.raises(InputDataError):
        adjust_rating(rating, 99999, 1.0, 5.0)
