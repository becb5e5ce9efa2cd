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


def test_tanh_nonneg_nan_inf_and_beyond_the_cap():
    assert math.isnan(K.tanh_nonneg(math.nan))  # input checks rely on NaNs surfacing
    assert K.tanh_nonneg(math.inf) == 1.0 and K.tanh_nonneg(1e300) == 1.0
    for x in (13.0, 20.0, 40.0):
        assert K.tanh_nonneg(x) == pytest.approx(math.tanh(x), rel=1e-15)


def _gr_cell_reference(P, E, I, S, R, ci, x1, x2, x3, x3o, f, Kp):
    """One GR step of one cell from the published equations (airGR GR4J/GR5H, Perrin et al. 2003), with libm tanh
    and real powers, no caps: an independent reference for the kernels' approximations and clips."""
    Ei = min(E, P + I)
    avail = I + P - Ei
    Pn, I = (avail - ci, ci) if avail > ci else (0.0, max(avail, 0.0))
    En = max(0.0, E - Ei)
    Es = 0.0
    if En > 0.0 and S > 0.0:
        t, sr = math.tanh(En / x1), S / x1
        Es = min(S * (2.0 - sr) * t / (1.0 + (1.0 - sr) * t), S)
        S -= Es
    Ps = 0.0
    if Pn > 0.0:
        t, sr = math.tanh(Pn / x1), S / x1
        Ps = max(min(x1 * (1.0 - sr**2) * t / (1.0 + sr * t), Pn, x1 - S), 0.0)
        S += Ps
    perc = S * (1.0 - (1.0 + (S / x1) ** 4 / Kp) ** -0.25)
    S -= perc
    Pr = Pn - Ps + perc
    q9, q1 = 0.9 * Pr, 0.1 * Pr
    F = x2 * (R / x3) ** 3.5
    R1 = max(R + q9 + F, 0.0)
    Qr = R1 * (1.0 - (1.0 + (R1 / x3o) ** 4) ** -0.25)
    Qd = max(q1 + F, 0.0)
    exch = (R1 - (R + q9)) + (Qd - q1)
    g = 1.0 - f
    return I, S, R1 - Qr, f * P + g * (Qr + Qd), g * (Ei + Es), g * exch


def test_cells_kernel_against_the_published_equations_on_edge_states():
    """Empty and full stores, no rain, no PET, 800 mm of rain, fully impervious cells, strong exchange both ways,
    a routing store above its capacity: the kernel (approximate tanh, r^3 sqrt r, capped tanh argument) agrees with
    the equations to 1e-11, and each cell's water balance closes to round-off."""
    rng = np.random.default_rng(11)
    n = 4099
    P = rng.choice([0.0, 0.0, 0.3, 5.0, 60.0, 800.0], n) * rng.uniform(0.5, 1.0, n)
    E = rng.choice([0.0, 0.05, 0.6, 8.0], n)
    ci = rng.choice([0.0, 0.0, 2.0, 5.0], n)
    x1 = rng.choice([1e-3, 10.0, 300.0, 2000.0], n) * rng.uniform(0.8, 1.0, n)
    x2 = rng.choice([-10.0, -0.5, 0.0, 0.5, 5.0], n)
    x3 = rng.choice([1e-3, 20.0, 300.0], n) * rng.uniform(0.8, 1.0, n)
    x3o = x3 * rng.choice([1.0, 24.0 ** 0.25], n)
    fimp = rng.choice([0.0, 0.0, 0.3, 1.0], n)
    Kp = rng.choice([2.25 ** 4, 5.25 ** 4], n)
    I0 = ci * rng.choice([0.0, 1.0, 0.5], n)
    S0 = x1 * rng.choice([0.0, 1.0, 0.7], n)
    R0 = x3 * rng.choice([0.0, 0.4, 2.0], n)
    I, S, R = I0.copy(), S0.copy(), R0.copy()
    runoff, aet, exch = np.empty(n), np.empty(n), np.empty(n)
    K.gr_step_cells(P, E, I, S, R, ci, x1, x2, x3, x3o, fimp, Kp, runoff, aet, exch)
    ref = np.array([_gr_cell_reference(*v) for v in zip(P, E, I0, S0, R0, ci, x1, x2, x3, x3o, fimp, Kp)]).T
    for name, got, want in zip(("I", "S", "R", "runoff", "aet", "exch"), (I, S, R, runoff, aet, exch), ref):
        scale = np.maximum.reduce([np.abs(want), P, E, x1, x3, np.ones(n)])
        assert np.max(np.abs(got - want) / scale) < 1e-11, name
    assert np.all(np.isfinite(runoff)) and np.all(S >= 0) and np.all(S <= x1) and np.all(R >= 0)
    storage = (1.0 - fimp) * ((I - I0) + (S - S0) + (R - R0))
    residual = P + exch - aet - runoff - storage
    assert np.max(np.abs(residual) / np.maximum.reduce([P, R0, S0, np.ones(n)])) < 1e-13
