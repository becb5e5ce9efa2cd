"""Differential evolution gives the same result with or without a map-like ``evaluate`` (same seed)."""
from __future__ import annotations

from hydro.calibrate import calibrate
from tests.calibrate.test_calibrate import synthetic


def test_result_does_not_depend_on_evaluate():
    """Before: the CLI default (no evaluate, updating="immediate") and --scheduler/--workers (evaluate,
    updating="deferred") returned different parameters for the same seed."""
    P, E, Q, idx, _ = synthetic(730, seed=4)
    kw = dict(calibration=("2001-07-01", "2002-12-31"), objective="nse", seed=2, maxiter=6, popsize=6)
    serial = calibrate(P, E, Q, idx, **kw)
    trials: list[int] = []

    def evaluate(f, xs):
        trials.append(len(xs))
        return [f(x) for x in xs]

    mapped = calibrate(P, E, Q, idx, evaluate=evaluate, **kw)
    # the trials did go through ``evaluate`` (else the comparison is serial against serial): every one of them
    assert trials and sum(trials) == mapped.n_evaluations
    assert serial.parameters == mapped.parameters
    assert serial.scores == mapped.scores
    assert serial.n_evaluations == mapped.n_evaluations
