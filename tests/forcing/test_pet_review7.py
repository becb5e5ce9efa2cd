"""Review 7: Hargreaves with one latitude and (time, station) temperatures keeps time on the first axis."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydro.forcing import extraterrestrial_radiation, pet_hargreaves, pet_oudin

DATES = pd.DatetimeIndex(["2024-06-21", "2024-12-21"])
LAT = -1.2  # Balikpapan


def _by_hand(tmin, tmax):
    ra = 0.408 * extraterrestrial_radiation(LAT, DATES)  # (time,)
    return 0.0023 * ra[:, None] * (0.5 * (tmin + tmax) + 17.8) * np.sqrt(tmax - tmin)


def test_hargreaves_two_days_two_stations_scalar_latitude():
    tmin, tmax = np.full((2, 2), 23.0), np.full((2, 2), 31.0)
    got = pet_hargreaves(tmin, tmax, LAT, DATES)
    # 21 June 3.910 mm/d, 21 December 4.294 mm/d at both stations (before: the stations got one day each)
    np.testing.assert_allclose(got, _by_hand(tmin, tmax), rtol=1e-12)
    assert got[0, 0] == pytest.approx(got[0, 1]) and got[0, 0] == pytest.approx(3.90997, abs=1e-4)


def test_hargreaves_three_stations_scalar_latitude():
    tmin, tmax = np.array([[23.0, 22.0, 24.0], [23.5, 22.5, 24.5]]), np.array([[31.0, 32.0, 30.0]] * 2)
    got = pet_hargreaves(tmin, tmax, LAT, DATES)  # before: ValueError (shapes (2,) and (2, 3))
    np.testing.assert_allclose(got, _by_hand(tmin, tmax), rtol=1e-12)


def test_oudin_and_hargreaves_same_layout_rules():
    t = np.full((2, 3), 27.0)
    assert pet_oudin(t, LAT, DATES).shape == pet_hargreaves(t - 4, t + 4, LAT, DATES).shape == (2, 3)
    lat = np.array([-1.0, -1.2, -1.4])
    np.testing.assert_allclose(pet_hargreaves(t - 4, t + 4, lat, DATES)[:, 1], pet_hargreaves(t - 4, t + 4, LAT, DATES)[:, 1])
