"""Review 7: a central peak (peak_position=0.5) sits on the same side of mid-storm whatever the step."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydro.forcing import alternating_block, design_storm


@pytest.mark.parametrize("n", range(2, 41))
def test_central_peak_index_is_the_block_ending_at_mid_storm(n):
    h = alternating_block(np.arange(n, 0, -1.0), 0.5)
    assert int(np.argmax(h)) == (n - 1) // 2  # before: round() half to even, (n - 1) // 2 + 1 for n = 4, 8, 12 …


@pytest.mark.parametrize("step", ["10min", "15min", "20min", "30min", "1h"])
def test_3h_storm_peak_ends_by_mid_storm_whatever_the_step(step):
    h = design_storm(150.0, "3h", step, peak_position=0.5, start="2024-01-01 00:00")
    peak_end = pd.Timestamp(h["time"].values[int(np.argmax(h.values))])
    # the peak block ends at 01:30 (even number of blocks) or is centred on it (odd); before: 15 min ended 01:45
    assert peak_end - pd.Timedelta(step) < pd.Timestamp("2024-01-01 01:30") <= peak_end
    assert h.values.sum() == pytest.approx(150.0, rel=1e-13)


def test_ends_and_quarter_positions():
    v = np.arange(8, 0, -1.0)
    assert int(np.argmax(alternating_block(v, 0.0))) == 0 and int(np.argmax(alternating_block(v, 1.0))) == 7
    assert int(np.argmax(alternating_block(v, 0.25))) == 2  # 0.25 * 7 = 1.75 -> 2
