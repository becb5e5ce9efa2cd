"""Observed discharge in the wrong unit (orders of magnitude above the rainfall) is refused before the search."""
from __future__ import annotations

import pytest

from hydro.calibrate import calibrate
from hydro.errors import InputDataError
from tests.calibrate.test_calibrate import synthetic


def test_discharge_in_litres_per_second_read_as_mm_is_refused():
    """Before: calibrated silently (KGE -0.41, beta 0.0005 on CAMELS-FR J421191001 Q_l_s given as mm/d)."""
    P, E, Q, idx, _ = synthetic(730, seed=4)
    with pytest.raises(InputDataError, match="units"):
        calibrate(P, E, Q * 1000.0, idx, calibration=("2001-07-01", "2002-12-31"), maxiter=1, popsize=5)
    r = calibrate(P, E, Q, idx, calibration=("2001-07-01", "2002-12-31"), maxiter=1, popsize=5)  # plausible: runs
    assert r.scores["calibration"]["kge"]["n"] == 549
