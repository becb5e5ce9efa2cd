"""Review of hydro.runoff (event operators and constructors): labelled maps, ncell and lambda_ checks.

Expected values are derived by hand in the comments (NEH-630 ch. 10, Green-Ampt), not with hydro.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import ConfigError
from hydro.runoff import GreenAmpt, GRParameters, RunoffModel, SCSCurveNumber

# grid of ny = 2 rows (y = 1, 0) and nx = 3 columns (x = 0, 1, 2); cell (y=1, x=2) is flat index 2 (row-major)
_COORDS = {"y": [1.0, 0.0], "x": [0.0, 1.0, 2.0]}


def _map(values):
    return xr.DataArray(np.array(values, dtype=float), dims=("y", "x"), coords=_COORDS)


def test_scs_curve_number_map_in_x_y_order_is_put_on_the_y_x_grid():
    """CN 100 in the first row, last column; CN 50 elsewhere; 10 mm of rain on every cell.

    CN 100: S = 25400/100 - 254 = 0 mm, I_a = 0, Q = (10 - 0)^2/(10 - 0 + 0) = 10 mm.
    CN 50: S = 25400/50 - 254 = 254 mm, I_a = 0.2*254 = 50.8 mm > 10 mm, Q = 0.
    The same map given in (x, y) order (as GRParameters accepts it) was raveled column-major: the 10 mm came out of
    the cell (y=0, x=1) instead."""
    cn = _map([[50.0, 50.0, 100.0], [50.0, 50.0, 50.0]])
    expected = np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 0.0]])
    for m in (cn, cn.transpose("x", "y")):
        q = SCSCurveNumber(m, 6).step(np.full(6, 10.0))
        np.testing.assert_allclose(q.reshape(2, 3), expected, rtol=0, atol=1e-12)


def test_green_ampt_maps_in_x_y_order_are_put_on_the_y_x_grid():
    """K_s = 0 (sealed) in the first row, last column: all 10 mm run off. Elsewhere K_s = 20 mm/h > i = 10 mm/h:
    no ponding, all rain infiltrates, runoff 0 (psi 100 mm, delta theta 0.3, one-hour step)."""
    ks = _map([[20.0, 20.0, 0.0], [20.0, 20.0, 20.0]])
    psi = _map(np.full((2, 3), 100.0))
    expected = np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 0.0]])
    for k in (ks, ks.transpose("x", "y")):
        ga = GreenAmpt(k, psi.transpose("x", "y"), 0.3, 6)
        q = ga.step(np.full(6, 10.0))
        np.testing.assert_allclose(q.reshape(2, 3), expected, rtol=0, atol=1e-12)
        # F = 10 mm everywhere but the sealed cell (F unchanged at 0)
        np.testing.assert_allclose(ga.state["ga_cum_infiltration"].reshape(2, 3), 10.0 - expected, atol=1e-12)


def test_scs_amc_from_a_labelled_store_in_x_y_order():
    """Store fill 90/100 = 0.9 > 0.7 (AMC III) in the first row, last column; 50/100 = 0.5 (AMC II) elsewhere.
    CN_III(80) = 23*80/(10 + 0.13*80) = 1840/20.4 = 90.19607843137254."""
    store = _map([[50.0, 50.0, 90.0], [50.0, 50.0, 50.0]]).transpose("x", "y")
    m = SCSCurveNumber(80.0, 6, amc={"production_store": store, "production_capacity_mm": 100.0})
    np.testing.assert_array_equal(m.amc.reshape(2, 3), [[2, 2, 3], [2, 2, 2]])
    cn = m.curve_number.reshape(2, 3)
    assert cn[0, 2] == pytest.approx(1840.0 / 20.4, rel=1e-14)
    np.testing.assert_array_equal(np.delete(cn.ravel(), 2), 80.0)


@pytest.mark.parametrize("build", [
    lambda n: RunoffModel(GRParameters(), n, 3600.0),
    lambda n: SCSCurveNumber(80.0, n),
    lambda n: GreenAmpt(1.0, 100.0, 0.3, n),
])
def test_ncell_must_be_a_whole_non_negative_number(build):
    """-1, "x" and None raised a raw ValueError/TypeError; 2.5 was silently truncated to 2 cells."""
    for ncell in (-1, 2.5, "x", None):
        with pytest.raises(ConfigError, match="ncell"):
            build(ncell)
    # whole numbers still work (numpy integers, integral floats, an empty domain)
    assert build(np.int64(3)).ncell == 3
    assert build(4.0).ncell == 4
    assert build(0).ncell == 0


def test_scs_lambda_map_is_a_config_error():
    """A per-cell lambda map raised a raw ValueError ("truth value of an array ... is ambiguous")."""
    with pytest.raises(ConfigError, match="lambda_"):
        SCSCurveNumber(80.0, 2, lambda_=np.array([0.2, 0.2]))
    for lam in ([0.05], "0.2", 0.1):
        with pytest.raises(ConfigError, match="lambda_"):
            SCSCurveNumber(80.0, 2, lambda_=lam)
    # the two documented values still work: S = 25400/80 - 254 = 63.5 mm = 2.5 in; S_0.05 = 1.33*2.5^1.15*25.4 mm
    assert SCSCurveNumber(80.0, 2, lambda_=0.2).retention_mm[0] == pytest.approx(63.5, rel=1e-14)
    assert SCSCurveNumber(80.0, 2, lambda_=np.float64(0.05)).retention_mm[0] == pytest.approx(
        1.33 * 2.5**1.15 * 25.4, rel=1e-14)


@pytest.mark.parametrize("x4", [1e9, 100000.5])
def test_unit_hydrograph_beyond_the_limit_is_a_config_error(x4):
    # 2 x4 ordinates would be built: 1e9 hung; the limit is 1e5 steps (a year of 5-minute steps)
    from hydro.runoff.model import GRParameters

    with pytest.raises(ConfigError, match=r"unit_hydrograph_steps .* within 0.5 \.\. 100000 steps"):
        GRParameters(unit_hydrograph_steps=x4)
