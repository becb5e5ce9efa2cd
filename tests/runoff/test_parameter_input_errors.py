"""Bad runoff parameters and forcing are hydro.errors exceptions, not bare Python errors (review).

Before: unit_hydrograph_steps = inf raised OverflowError, parameter_step_s = "1h" a ValueError, and text
forcing in RunoffModel.step a ValueError.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from hydro.errors import ConfigError, InputDataError
from hydro.runoff import GRParameters, RunoffModel


@pytest.mark.parametrize("x4", [math.inf, math.nan, 0.2])
def test_unit_hydrograph_steps_must_be_finite(x4):
    with pytest.raises(ConfigError, match="unit_hydrograph_steps"):
        RunoffModel(GRParameters(unit_hydrograph_steps=x4), 1, 86400.0)


@pytest.mark.parametrize("step", ["1h", None, [3600.0], -1.0, math.inf])
def test_parameter_step_must_be_seconds(step):
    with pytest.raises(ConfigError, match="parameter_step_s"):
        GRParameters(parameter_step_s=step)
    assert GRParameters(parameter_step_s="3600").parameter_step_s == 3600.0


def test_non_numeric_forcing_is_an_input_error():
    m = RunoffModel(GRParameters(), 2, 3600.0)
    with pytest.raises(InputDataError, match="precipitation: not numeric"):
        m.step(np.array(["1.0", "a"]), np.zeros(2))
    with pytest.raises(InputDataError, match="potential evaporation: not numeric"):
        m.step(np.zeros(2), [object(), 1.0])
