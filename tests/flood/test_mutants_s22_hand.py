"""Mutation audit of HAND reaches/rating curves (hydro.flood.hand) and terrain streams/catchments/HAND/Strahler:
tests that kill mutants the existing tests let survive. Expected values are derived by hand (see comments)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.flood import adjust_rating, rating_curves, reaches, stage_for_discharge
from hydro.io.raster import from_array
from hydro.terrain import catchments

CRS, X0, Y0 = "EPSG:32750", 500000.0, 9850000.0


def _grid(a, dx=10.0, dy=None, dtype=np.float32):
    dy = dx if dy is None else dy
    return from_array(np.asarray(a, dtype), Affine(dx, 0.0, X0, 0.0, -dy, Y0), CRS)


def _south_channel(hand_row, ny=10, dx=10.0, dy=None, slope=0.01, elevation=None):
    """Straight channel (the HAND == 0 column) flowing south off the grid, every other cell drains sideways into
    it; filled elevation = HAND + bed (bed falls ``slope`` per row step ``dy``); ground ``elevation`` 0 unless
    given."""
    dy = dx if dy is None else dy
    hand_row = np.asarray(hand_row, float)
    nx = hand_row.size
    j0 = int(np.flatnonzero(hand_row == 0)[0])
    fd = np.zeros((ny, nx), np.uint8)
    st = np.zeros((ny, nx), np.int8)
    fd[:, j0], st[:, j0] = 4, 1
    fd[:, :j0], fd[:, j0 + 1:] = 1, 16
    hand = np.broadcast_to(hand_row, (ny, nx)).astype(np.float64)
    zbed = 100.0 - np.arange(ny) * dy * slope
    elev = np.zeros((ny, nx)) if elevation is None else elevation
    t = xr.Dataset({"flow_direction": _grid(fd, dx, dy, np.uint8), "streams": _grid(st, dx, dy, np.int8),
                    "filled_elevation": _grid(hand + zbed[:, None], dx, dy), "elevation": _grid(elev, dx, dy),
                    "hand": _grid(hand, dx, dy)})
    return t.rio.write_crs(CRS)


# ----------------------------------------------------------------------------------------- reach splitting
def test_reaches_are_split_at_exactly_max_length():
    """10 stream cells of 10 m (the last one leaves the grid: one more 10 m step), max 30 m: reaches of exactly
    30, 30, 30 and 10 m. Kills `<` for `<=` (reaches of 20 m) and a test that ignores the new cell's length
    (reaches of 40, 40, 20 m)."""
    t = _south_channel([1.0, 0.0, 1.0])
    rd = reaches(t, max_length_m=30.0)
    head_row = rd["head_index"].values // 3
    L = rd["length_m"].values[np.argsort(head_row)]
    np.testing.assert_array_equal(L, [30.0, 30.0, 30.0, 10.0])
    # stream cells by row: reach of rows 0-2, 3-5, 6-8, 9
    sr = rd["stream_reach"].values[:, 1]
    assert [len(set(sr[a:b])) for a, b in ((0, 3), (3, 6), (6, 9))] == [1, 1, 1]
    assert len(set(sr)) == 4


def test_one_cell_edge_reach_takes_the_channel_slope_not_the_ground_slope():
    """The last reach (max 30 m on 10 cells) is the edge cell alone: no drop of its own, it takes the slope of the
    channel entering it: (z[8] - z[9]) / 10 m = 0.01 * 10 / 10 = 0.01. Its ground slope differs: an asymmetric
    valley (HAND 2 m west, 1 m east of the channel) gives a cross gradient (1 - 2) / (2 * 10) = -0.05, so
    hypot(0.05, 0.01) = 0.051 (what a mutant that skips the inflowing channel returns)."""
    t = _south_channel([2.0, 0.0, 1.0])
    rd = reaches(t, max_length_m=30.0)
    edge = int(np.flatnonzero(rd["outlet_index"].values == 9 * 3 + 1)[0])
    assert int(rd["head_index"].values[edge]) == 9 * 3 + 1
    assert float(rd["slope"].values[edge]) == pytest.approx(0.01, rel=1e-3)  # float32 elevations


def test_reach_catchment_includes_cells_draining_into_flat_index_0():
    """Channel in column 0 flowing north off the grid: its outlet is flat cell 0 (top-left corner). The cell east
    of it drains into cell 0 and must belong to the reach (a `d > 0` test labelled it and every cell east of it 0)."""
    ny, nx = 5, 3
    fd = np.full((ny, nx), 16, np.uint8)  # west
    fd[:, 0] = 64  # north (row 0 drains off the grid)
    st = np.zeros((ny, nx), np.int8)
    st[:, 0] = 1
    hand = np.broadcast_to(np.array([0.0, 1.0, 2.0]), (ny, nx))
    zbed = 100.0 + 0.1 * np.arange(ny)  # rises southwards: the channel flows north
    t = xr.Dataset({"flow_direction": _grid(fd, dtype=np.uint8), "streams": _grid(st, dtype=np.int8),
                    "filled_elevation": _grid(hand + zbed[:, None]), "elevation": _grid(np.zeros((ny, nx))),
                    "hand": _grid(hand)}).rio.write_crs(CRS)
    rd = reaches(t, max_length_m=1e6)
    np.testing.assert_array_equal(rd["reach_id"].values, np.ones((ny, nx)))
    # 15 cells of 100 m2
    assert float(rd["catchment_area_m2"].values[0]) == pytest.approx(1500.0)


# ----------------------------------------------------------------------------------------- stage tables
def test_stream_cells_are_wet_at_stage_zero():
    """flood.md / docstring: wetted cells are HAND < y or HAND == 0. At stage 0 the 10 channel cells (HAND 0) are
    wet: 10 cells, 10 * 100 m2 = 1000 m2 surface and bed (flat ground), top width 1000 / 100 m = 10 m."""
    t = _south_channel([1.0, 0.0, 1.0])
    rd = reaches(t, max_length_m=1e6)
    rc = rating_curves(t, rd, stage_max_m=2.0, stage_step_m=0.5)
    r0 = rc.sel(reach=1, stage=0.0)
    assert float(r0["wetted_cells"]) == 10.0
    assert float(r0["surface_area_m2"]) == pytest.approx(1000.0)
    assert float(r0["bed_area_m2"]) == pytest.approx(1000.0)
    assert float(r0["top_width_m"]) == pytest.approx(10.0)
    assert float(r0["discharge_m3s"]) == 0.0


def test_bed_factor_uses_the_cell_width_on_rectangular_cells():
    """Cells 10 m wide (x) and 20 m high (y); ground z = 0.5 * x (a 50 % plane rising east). |grad z| = 5 m / 10 m
    = 0.5 everywhere, bed factor sqrt(1 + 0.25). At stage 2 m all 30 cells (HAND 0 or 1) are wet:
    bed area = 30 * 200 m2 * sqrt(1.25) = 6708.20 m2 (dividing the x difference by dy gave 0.25 -> 6184.66 m2)."""
    ny, nx, dx, dy = 10, 3, 10.0, 20.0
    elev = np.broadcast_to(0.5 * dx * np.arange(nx, dtype=float), (ny, nx))
    t = _south_channel([1.0, 0.0, 1.0], ny=ny, dx=dx, dy=dy, elevation=elev)
    rd = reaches(t, max_length_m=1e6)
    rc = rating_curves(t, rd, stage_max_m=2.0, stage_step_m=0.5)
    assert float(rc["wetted_cells"].sel(reach=1, stage=2.0)) == 30.0
    assert float(rc["bed_area_m2"].sel(reach=1, stage=2.0)) == pytest.approx(30 * 200.0 * np.sqrt(1.25), rel=1e-9)


def test_stage_table_has_unique_stages_when_arange_overshoots():
    """np.arange(0, 2.1, 0.3) holds 2.1 itself (2.1 / 0.3 = 7.000000000000001): the table is 0, 0.3, ..., 2.1
    (8 rows), with stage_max once, not twice."""
    t = _south_channel([1.0, 0.0, 1.0])
    rd = reaches(t, max_length_m=1e6)
    rc = rating_curves(t, rd, stage_max_m=2.1, stage_step_m=0.3)
    st = rc["stage"].values
    assert st.size == 8
    assert np.unique(st).size == 8
    np.testing.assert_allclose(st, 0.3 * np.arange(8), atol=1e-12)


# ----------------------------------------------------------------------------------------- inversion
def _table(q, stages=(0.0, 1.0, 2.0, 3.0), n=0.05):
    return xr.Dataset({"discharge_m3s": (("reach", "stage"), [list(q)]), "manning_n": ("reach", [n])},
                      coords={"reach": [1], "stage": list(stages)})


def test_inversion_takes_the_lowest_stage_where_the_table_equals_the_discharge():
    """Table Q(0, 1, 2, 3 m) = 0, 5, 3, 8: Q = 5 is first reached at 1 m (a `side='right'` search went past the
    dip: (5 - 3) / (8 - 3) = 0.4 -> 2.4 m). Q = 8 equals the table maximum: 3 m, not flagged as capped
    (the cap is for discharges *above* the table)."""
    rc = _table([0.0, 5.0, 3.0, 8.0])
    st, cap = stage_for_discharge(rc, xr.DataArray([5.0], dims="reach", coords={"reach": [1]}))
    assert float(st[0]) == pytest.approx(1.0)
    st, cap = stage_for_discharge(rc, xr.DataArray([8.0], dims="reach", coords={"reach": [1]}))
    assert float(st[0]) == pytest.approx(3.0)
    assert not bool(cap[0])


def test_adjust_rating_accepts_an_observation_at_the_top_stage():
    """Table Q(0, 1, 2 m) = 0, 1, 4; observed 8 m3/s at 2 m (= stage_max, inside the table): factor 8 / 4 = 2,
    n 0.05 -> 0.025, table 0, 2, 8; no warning (8 m3/s inverts back to 2 m)."""
    rc = _table([0.0, 1.0, 4.0], stages=(0.0, 1.0, 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = adjust_rating(rc, 1, 2.0, 8.0)
    np.testing.assert_allclose(out["discharge_m3s"].sel(reach=1).values, [0.0, 2.0, 8.0])
    assert float(out["manning_n"].sel(reach=1)) == pytest.approx(0.025)


# ----------------------------------------------------------------------------------------- terrain catchments
def _corner_fdir():
    """5 x 3 grid of 10 m cells: column 0 flows north to the top-left cell (flat index 0, draining off the grid),
    the other cells flow west into column 0."""
    fd = np.full((5, 3), 16, np.uint8)
    fd[:, 0] = 64
    da = _grid(fd, dtype=np.uint8)
    da.rio.write_nodata(255, encoded=False, inplace=True)
    return da


def test_catchment_of_an_outlet_at_flat_index_0():
    """The outlet is the top-left cell (flat index 0): all 15 cells drain to it (a `d > 0` test in the label
    propagation left every cell but the outlet at 0)."""
    fd = _corner_fdir()
    lab = catchments(fd, [(X0 + 5.0, Y0 - 5.0)])
    np.testing.assert_array_equal(lab.values, np.ones((5, 3)))


def test_catchments_refuse_two_outlets_in_one_cell():
    """Two outlets in the same cell: the second overwrote the first, whose catchment silently vanished."""
    fd = _corner_fdir()
    with pytest.raises(InputDataError, match="snap to the same cell"):
        catchments(fd, {"a": (X0 + 15.0, Y0 - 25.0), "b": (X0 + 14.0, Y0 - 24.0)})


def test_zero_discharge_is_stage_zero_on_a_table_with_a_zero_row():
    """Docstring: Q <= 0 gives stage 0. Table Q(0, 1, 2, 3 m) = 0, 0, 5, 8 (a zero row, as in an edited or stored
    table): Q = 0 -> 0 m, not the 1 m of the segment (0, 1) whose ends both equal 0."""
    rc = _table([0.0, 0.0, 5.0, 8.0])
    st, cap = stage_for_discharge(rc, xr.DataArray([0.0, -1.0], dims="reach", coords={"reach": [1, 1]}))
    np.testing.assert_array_equal(st.values, [0.0, 0.0])
    assert not cap.values.any()
