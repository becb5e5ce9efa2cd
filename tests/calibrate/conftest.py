"""Fixtures of the calibration tests: the peer GR4J (hydrogr) simulator."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def gr4j_peer():
    hydrogr = pytest.importorskip("hydrogr._hydrogr", reason="hydrogr (peer GR4J) not installed")

    def make(P, E):
        P = np.ascontiguousarray(P, dtype=np.float64)
        E = np.ascontiguousarray(E, dtype=np.float64)

        def sim(p):
            x = [p["X1"], p["X2"], p["X3"], p["X4"]]
            _, _, _, q = hydrogr.gr4j(x, P, E, np.array([0.3 * x[0], 0.5 * x[2]]), np.zeros(20), np.zeros(40))
            return np.asarray(q, dtype=np.float64)

        return sim

    return make
