"""Review tests (runoff area): event-mode operators on edge inputs."""
import numpy as np
import pytest

from hydro.errors import ConfigError
from hydro.runoff import GreenAmpt, SCSCurveNumber


def test_green_ampt_sealed_cell_all_rain_runs_off():
    """K_s = 0 is accepted (>= 0): a sealed cell must shed all rain, not give NaN runoff and a NaN state."""
    ga = GreenAmpt(np.array([0.0, 10.0]), 110.0, 0.3, ncell=2, dt_seconds=3600.0)
    alone = GreenAmpt(10.0, 110.0, 0.3, ncell=1, dt_seconds=3600.0)
    total = np.zeros(2)
    for p in (10.0, 50.0, 0.0, 30.0):
        q = ga.step(np.array([p, p]))
        q1 = alone.step(np.array([p]))
        assert np.all(np.isfinite(q))
        assert q[0] == p  # nothing infiltrates on the sealed cell
        assert q[1] == q1[0]  # the permeable cell is unaffected
        total += q
    F = ga.state["ga_cum_infiltration"]
    assert F[0] == 0.0
    # balance of the permeable cell: P = runoff + F
    assert total[1] + F[1] == pytest.approx(90.0, rel=1e-12)


def test_scs_amc_from_state_is_checked():
    ok = SCSCurveNumber(80.0, 3, amc={"production_store": [20.0, 100.0, 180.0], "production_capacity_mm": 200.0})
    np.testing.assert_array_equal(ok.amc, [1, 2, 3])
    # a NaN store compared False with both thresholds: silently AMC II (CN 80) instead of an error
    with pytest.raises(ConfigError):
        SCSCurveNumber(80.0, 2, amc={"production_store": [np.nan, 180.0], "production_capacity_mm": 200.0})
    # zero capacity: division by zero, silently a class
    with pytest.raises(ConfigError):
        SCSCurveNumber(80.0, 2, amc={"production_store": [10.0, 10.0], "production_capacity_mm": 0.0})
    # a state of another grid: numpy ValueError traceback
    with pytest.raises(ConfigError):
        SCSCurveNumber(80.0, 3, amc={"production_store": [10.0, 50.0], "production_capacity_mm": 100.0})
