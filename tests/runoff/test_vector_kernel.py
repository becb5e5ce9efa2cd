"""The vectorisable GR cell loop: its tanh against libm, and the same numbers as the general kernel."""
import math

import numpy as np
import pytest

from hydro.runoff import _kernels as K


def test_tanh_nonneg_matches_libm_to_1e14():
    x = np.concatenate([np.linspace(0.0, 13.0, 200_001), np.geomspace(1e-300, 1.0, 2001),
                        [0.625, np.nextafter(0.625, 0.0), 13.0]])
    got = np.array([K.tanh_nonneg(v) for v in x[::7]] + [K.tanh_nonneg(v) for v in x[-3:]])
    ref = np.tanh(np.concatenate([x[::7], x[-3:]]))
    assert K.tanh_nonneg(0.0) == 0.0
    assert np.all(got <= 1.0) and np.all(np.diff(got[:len(x[::7])][: 200_001 // 7]) >= 0.0)  # monotone on the grid
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0.0)
    assert K.tanh_nonneg(1e-10) == pytest.approx(math.tanh(1e-10), rel=1e-15)


def test_cells_kernel_equals_general_kernel_without_unit_hydrographs():
    rng = np.random.default_rng(3)
    n = 10_007  # not a multiple of the vector width: the remainder loop is exercised too
    P = rng.gamma(0.5, 4.0, n) * (rng.random(n) < 0.7)
    E = rng.uniform(0.0, 0.6, n)
    params = dict(ci=rng.uniform(0.0, 3.0, n), x1=rng.uniform(50.0, 900.0, n), x2=rng.uniform(-0.2, 0.2, n),
                  x3=rng.uniform(10.0, 300.0, n), x3o=rng.uniform(10.0, 300.0, n), fimp=rng.uniform(0.0, 0.4, n),
                  K=np.full(n, 2.25 * 24.0 ** 0.25))
    I0 = rng.uniform(0.0, 1.0, n) * params["ci"]
    S0 = rng.uniform(0.0, 1.0, n) * params["x1"]
    R0 = rng.uniform(0.0, 1.0, n) * params["x3"]
    outs = []
    for vectorised in (False, True):
        I, S, R = I0.copy(), S0.copy(), R0.copy()
        runoff, aet, exch = np.empty(n), np.empty(n), np.empty(n)
        pv = [params[k] for k in ("ci", "x1", "x2", "x3", "x3o", "fimp", "K")]
        for _ in range(5):
            if vectorised:
                K.gr_step_cells(P, E, I, S, R, *pv, runoff, aet, exch)
            else:
                K.gr_step_grid(P, E, I, S, R, *pv, np.zeros(0), np.zeros(0), np.zeros((n, 0)), np.zeros((n, 0)),
                               runoff, aet, exch)
        outs.append((I, S, R, runoff, aet, exch))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-14)
    # water balance of the cell operator over the 5 steps is untouched by the loop form: stores stay physical
    I, S, R = outs[1][:3]
    assert np.all(I >= 0) and np.all(I <= params["ci"] + 1e-12) and np.all(S >= 0) and np.all(S <= params["x1"])
    assert np.all(R >= 0)
