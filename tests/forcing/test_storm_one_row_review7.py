"""Review 7: a one-row depth-duration table (only R24 known, as for Balikpapan) follows DEFAULT_DDF_EXPONENT."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.forcing import design_storm
from hydro.forcing.storms import DEFAULT_DDF_EXPONENT


def test_r24_only_gives_the_default_depth_duration_curve():
    h = design_storm(None, "6h", "1h", idf={24: 140.0}).values
    # before: 70.0 mm in 6 h (exponent 0.5) and a 28.6 mm peak hour
    assert h.sum() == pytest.approx(140.0 * (6 / 24) ** DEFAULT_DDF_EXPONENT, rel=1e-12)  # 88.6 mm
    assert h.max() == pytest.approx(140.0 * (1 / 24) ** DEFAULT_DDF_EXPONENT, rel=1e-12)  # 49.1 mm
    assert h.sum() == pytest.approx(140.0 * (6 / 24) ** (1 / 3), rel=0.01)  # Mononobe


def test_one_row_table_with_a_total_is_the_same_storm_as_no_table():
    a = design_storm(150.0, "3h", "10min", idf={3: 150.0}).values
    b = design_storm(150.0, "3h", "10min").values
    np.testing.assert_allclose(a, b, rtol=1e-12)  # before: peak block 35.4 mm instead of 57.8 mm
