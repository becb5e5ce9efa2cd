"""Hazard rating input checks (FD2321: HR = d (v + 0.5) + DF)."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import InputDataError
from hydro.flood.hazard import hazard_rating


def test_negative_depth_or_speed_is_refused_not_rated_low():
    # d = -0.5 m gave HR = -0.5 (class 1, "low") instead of an error; NaN stays no data
    with pytest.raises(InputDataError, match="negative depth"):
        hazard_rating([0.3, -0.5], [1.0, 1.0])
    with pytest.raises(InputDataError, match="negative speed"):
        hazard_rating(0.3, -1.0)
    assert np.isnan(hazard_rating(np.nan, 1.0))
    assert hazard_rating(0.5, 1.0) == pytest.approx(0.5 * 1.5 + 1.0)
