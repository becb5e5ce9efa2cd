"""A tiny (subnormal) inflow or reach volume gives a finite discharge, never NaN (fix_4)."""
import numpy as np

from hydro.routing import _kernels as k


def test_tiny_inflow_or_volume_gives_finite_discharge():
    for inflow, volume in [(1e-310, 0.0), (5e-324, 0.0), (1.0, 1e-310), (1.0, 5e-324), (1e-310, 1e-312)]:
        q, v, it = k.kinematic_cell(inflow, volume, 500.0, 60.0, 1 / 0.6)
        assert np.isfinite(q) and np.isfinite(v) and q >= 0 and v >= 0, (inflow, volume, q, v)
        assert it <= k.NEWTON_MAXITER
        # the volume balance of the reach (to round-off; subnormal numbers hold few digits)
        assert abs(v + 60.0 * q - (volume + 60.0 * inflow)) <= 1e-15 * (volume + 60.0 * inflow) + 1e-320
    # a normal new inflow on a reach left with a subnormal volume is solved as on an empty reach
    q0, v0, _ = k.kinematic_cell(1.0, 0.0, 500.0, 60.0, 1 / 0.6)
    q1, v1, _ = k.kinematic_cell(1.0, 1e-310, 500.0, 60.0, 1 / 0.6)
    np.testing.assert_allclose([q1, v1], [q0, v0], rtol=1e-12)
