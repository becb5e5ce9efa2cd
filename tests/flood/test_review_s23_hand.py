"""Review s23 (HAND differential testing): discharge units, repeated reach ids, empty inputs.

Every expected number is derived by hand on a 10 x 5 rectangular channel (see ``_rect_channel``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.flood import hand_inundation, rating_curves, reaches, stage_for_discharge
from hydro.io.raster import from_array

NY, NX, DX, N_MAN, SLOPE = 10, 5, 10.0, 0.05, 0.01
CRS = "EPSG:32750"


def _grid(a, dtype=np.float32):
    return from_array(np.asarray(a, dtype), Affine(DX, 0.0, 500000.0, 0.0, -DX, 9850000.0), CRS)


def _rect_channel():
    """Straight channel (column 2, HAND 0) flowing south off the grid; banks HAND 0.5 m, outer columns 2 m.

    One reach: 10 cells of 10 m -> L = 100 m, slope 0.01, n 0.05, flat ground (bed factor 1).
    Q(1 m): wetted columns 1-3 = 30 cells; V = 10 x 1 x 100 + 20 x 0.5 x 100 = 2000 m3; A = 2000/100 = 20 m2;
    P = 30 x 100 / 100 = 30 m; R = 2/3; Q = 20 x (2/3)^(2/3) x 0.1 / 0.05 = 40 x 0.7631428 = 30.5257 m3 s-1.
    """
    fd = np.zeros((NY, NX), np.uint8)
    st = np.zeros((NY, NX), np.int8)
    fd[:, 2], st[:, 2] = 4, 1
    fd[:, :2], fd[:, 3:] = 1, 16
    hand = np.zeros((NY, NX))
    hand[:, [1, 3]] = 0.5
    hand[:, [0, 4]] = 2.0
    zbed = 100.0 - np.arange(NY) * DX * SLOPE
    t = xr.Dataset({"flow_direction": _grid(fd, np.uint8), "streams": _grid(st, np.int8),
                    "filled_elevation": _grid(hand + zbed[:, None]), "elevation": _grid(np.zeros((NY, NX))),
                    "hand": _grid(hand)}).rio.write_crs(CRS)
    rd = reaches(t, max_length_m=1e6, manning_n=N_MAN)
    rc = rating_curves(t, rd, stage_max_m=3.0, stage_step_m=0.25)
    return t, rd, rc


Q_1M = 40.0 * (2.0 / 3.0) ** (2.0 / 3.0)  # 30.5257 m3 s-1 at stage 1 m (a table row: step 0.25); the float32
# filled elevations give the slope 0.01 to ~1e-5, hence stages to 1e-5


def test_discharge_in_litres_per_second_is_converted():
    t, rd, rc = _rect_channel()
    # 30525.7 L s-1 = 30.5257 m3 s-1 -> stage 1 m; it was read as 30525.7 m3 s-1: stage capped at 3 m and flagged
    q = xr.DataArray([Q_1M * 1000.0], dims="reach", coords={"reach": [1]}, attrs={"units": "L s-1"})
    out = hand_inundation(t, rd, rc, q)
    assert float(out["stage"].sel(reach=1)) == pytest.approx(1.0, abs=1e-5)
    assert not bool(out["stage_capped"].sel(reach=1))
    # depth = stage - HAND: channel 1.0 m, banks 0.5 m, outer columns dry (was 3.0, 2.5, 1.0 m)
    np.testing.assert_allclose(out["flood_depth"].values[0], [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-5)
    # the same through stage_for_discharge, and a series (time="max") keeps the conversion
    stage, _ = stage_for_discharge(rc, q)
    assert float(stage[0]) == pytest.approx(1.0, abs=1e-5)
    qt = xr.DataArray([[0.0], [Q_1M * 1000.0]], dims=("time", "reach"), coords={"reach": [1]},
                      attrs={"units": "l/s"})
    assert float(hand_inundation(t, rd, rc, qt)["stage"].sel(reach=1)) == pytest.approx(1.0, abs=1e-5)


def test_discharge_in_cubic_feet_is_converted_and_other_units_refused():
    t, rd, rc = _rect_channel()
    # cubic feet per second (the OWP unit) were taken as m3 s-1: 35.3x the discharge, silently. 1 ft = 0.3048 m:
    # 1 ft3 s-1 = 0.3048^3 = 0.028316846592 m3 s-1, so Q_1M / 0.028316846592 ft3 s-1 is stage 1 m
    q = xr.DataArray([Q_1M / 0.3048**3], dims="reach", coords={"reach": [1]}, attrs={"units": "ft3 s-1"})
    assert float(hand_inundation(t, rd, rc, q)["stage"].sel(reach=1)) == pytest.approx(1.0, abs=1e-5)
    assert float(stage_for_discharge(rc, q)[0][0]) == pytest.approx(1.0, abs=1e-5)
    # a depth or a volume is no discharge
    for u in ("m", "m3", "mm h-1"):
        q.attrs["units"] = u
        with pytest.raises(InputDataError, match="units"):
            hand_inundation(t, rd, rc, q)
        with pytest.raises(InputDataError, match="units"):
            stage_for_discharge(rc, q)
    # m3 s-1 spellings unchanged
    q = q * 0.3048**3
    for u in ("m3 s-1", "m3/s", "m^3/s"):
        q.attrs["units"] = u
        assert float(hand_inundation(t, rd, rc, q)["stage"].sel(reach=1)) == pytest.approx(1.0, abs=1e-5)


def test_reach_given_twice_is_an_input_error():
    t, rd, rc = _rect_channel()
    # Q 30.5 and 1 m3 s-1 for reach 1: the depth map took the last (stage 0.126 m) and the output listed reach 1
    # twice; which value is meant is unknown
    with pytest.raises(InputDataError, match="more than once"):
        hand_inundation(t, rd, rc, pd.Series([Q_1M, 1.0], index=[1, 1]))
    # stage_for_discharge still answers repeated ids (a vector of queries): 1 m for Q(1 m), 0 for Q = 0
    stage, _ = stage_for_discharge(rc, xr.DataArray([Q_1M, 0.0], dims="reach", coords={"reach": [1, 1]}))
    np.testing.assert_allclose(stage.values, [1.0, 0.0], atol=1e-5)


def test_no_reach_given_maps_every_reach_dry():
    t, rd, rc = _rect_channel()
    # "Reaches not given are dry": an empty mapping was a raw ValueError (cannot reshape array of size 0)
    out = hand_inundation(t, rd, rc, {})
    assert out.sizes["reach"] == 0
    np.testing.assert_array_equal(out["flood_depth"].values, np.zeros((NY, NX), np.float32))
    np.testing.assert_array_equal(out["flood_extent"].values, np.zeros((NY, NX), np.int8))


def test_stage_for_discharge_without_reach_dim_is_an_input_error():
    _, _, rc = _rect_channel()
    # was a raw KeyError 'reach' (hand_inundation checked it, the public stage_for_discharge did not)
    with pytest.raises(InputDataError, match="reach"):
        stage_for_discharge(rc, xr.DataArray([Q_1M], dims="gauge"))


def test_maximum_of_an_empty_series_is_an_input_error():
    t, rd, rc = _rect_channel()
    q = xr.DataArray(np.zeros((0, 1)), dims=("time", "reach"), coords={"reach": [1]})
    # was a raw ValueError (zero-size array to reduction operation maximum)
    with pytest.raises(InputDataError, match="no time steps"):
        hand_inundation(t, rd, rc, q, time="max")


def test_manning_n_per_reach_as_a_series():
    """A pandas Series {reach id: n} is a per-reach mapping (was a raw TypeError from float(series))."""
    t, rd, rc = _rect_channel()
    ids = [int(i) for i in rd["reach"].values]
    n_series = pd.Series({i: N_MAN * 2.0 for i in ids})
    rd2 = reaches(t, max_length_m=1e6, manning_n=n_series)
    np.testing.assert_allclose(rd2["manning_n"].values, N_MAN * 2.0)
    # Manning Q ~ 1/n: the rating table's discharge halves at every stage
    rc2 = rating_curves(t, rd2, stage_max_m=3.0, stage_step_m=0.25)
    np.testing.assert_allclose(rc2["discharge_m3s"].values, rc["discharge_m3s"].values / 2.0, rtol=1e-12)


def test_flood_event_keeps_the_units_of_the_peak_discharge_map():
    """flood_event stamped m3 s-1 over the peak discharge it took from the map: a map in L s-1 gave 1000x the
    discharge to the HAND rating curves. The same flows in L s-1 and in m3 s-1 now give the same HAND depths."""
    from hydro.datasets import balikpapan_dem
    from hydro.flood.example import flood_event
    from hydro.terrain import analyse

    terrain = analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3e6)
    q = (1e-6 * terrain["upstream_area"]).astype("float64")  # 1 m3 s-1 per km2
    q.attrs["units"] = "m3 s-1"
    q_l = q * 1000.0
    q_l.attrs["units"] = "L s-1"
    rain = xr.DataArray([0.0], dims="time", coords={"time": [pd.Timestamp("2025-08-25T01:00")]},
                        attrs={"units": "mm"})
    kw = dict(start="2025-08-25T00:00", duration_h=1.0, rainfall=rain, tide_edge=None)
    a = flood_event(terrain, None, peak_discharge=q, **kw)["hand"]
    b = flood_event(terrain, None, peak_discharge=q_l, **kw)["hand"]
    assert float(a["flood_depth"].max()) > 0.0
    np.testing.assert_allclose(b["flood_depth"].values, a["flood_depth"].values, rtol=1e-9, equal_nan=True)


def test_screening_peak_discharge_is_labelled_m3_per_s():
    """The rational-method screening map kept the upstream area's units (m2): with the HAND map honouring units,
    `hydro flood` and a run without runoff would have been refused. Q = 0.5 x 2 P / D x A: 60 mm in 2 h on 1 km2
    gives 0.5 x 2 x 0.060 / 7200 x 1e6 = 8.333 m3 s-1."""
    from hydro.flood.example import screening_peak_discharge

    terrain = xr.Dataset({"upstream_area": (("y", "x"), np.array([[1e6, 2e6]]), {"units": "m2"})},
                         coords={"y": [0.5], "x": [0.5, 1.5]})
    q = screening_peak_discharge(terrain, 60.0, 2.0)
    assert q.attrs["units"] == "m3 s-1"
    np.testing.assert_allclose(q.values, [[0.5 * 2 * 0.060 / 7200 * 1e6, 2 * 0.5 * 2 * 0.060 / 7200 * 1e6]])
