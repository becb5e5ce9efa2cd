"""Calibration of the lumped GR-type model (the same cell operator as the gridded runs).

A lumped run is the catchment as one cell: :func:`hydro.runoff._kernels.gr_run_lumped` calls the
same ``gr_production`` / ``gr_routing`` functions as the gridded :class:`hydro.runoff.RunoffModel`;
lumped runs keep the GR4J unit hydrographs (``unit_hydrograph_steps`` = X4), gridded runs let the
D8 routing do the lag.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import differential_evolution

from hydro.calibrate import metrics
from hydro.calibrate.sceua import sce_ua
from hydro.errors import ConfigError, InputDataError
from hydro.runoff import _kernels as K
from hydro.runoff.model import percolation_constant, step_parameters, uh_exponent_for_step

__all__ = [
    "DEFAULT_BOUNDS",
    "LOG_PARAMETERS",
    "CalibrationResult",
    "simulate_lumped",
    "calibrate",
    "calibrate_series",
    "OBJECTIVES",
    "GR4J_EQUIVALENT",
    "DEFAULTS",
    "score_all",
    "PHYSICAL_RANGE",
    "MIN_OBSERVED",
    "MAX_RUNOFF_RATIO",
    "MIN_RUNOFF_RATIO",
]

#: search ranges (GR4J-usual; X4 in model steps: at a sub-daily step its upper bound, 10 days, is scaled to that many
#: steps unless bounds are given, so that an hourly calibration can find a lag of more than 10 h)
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "production_capacity_mm": (10.0, 3000.0),
    "exchange_mm": (-10.0, 5.0),
    "routing_capacity_mm": (5.0, 1000.0),
    "unit_hydrograph_steps": (0.5, 10.0),
    "interception_capacity_mm": (0.0, 10.0),
}
#: parameters searched in log space
LOG_PARAMETERS = frozenset({"production_capacity_mm", "routing_capacity_mm"})
DEFAULTS: dict[str, float] = {
    "production_capacity_mm": 350.0,
    "exchange_mm": 0.0,
    "routing_capacity_mm": 90.0,
    "unit_hydrograph_steps": 1.7,
    "interception_capacity_mm": 0.0,
}
#: default calibrated set at a daily step: interception capacity fixed at 0 (GR4J neutralisation)
GR4J_EQUIVALENT = ("production_capacity_mm", "exchange_mm", "routing_capacity_mm", "unit_hydrograph_steps")
OBJECTIVES: dict[str, Callable[..., dict]] = {"nse": metrics.nse, "kge": metrics.kge, "kge_prime": metrics.kge_prime}


#: physical range of each parameter: (lowest, highest, lowest is allowed)
PHYSICAL_RANGE: dict[str, tuple[float, float, bool]] = {
    "production_capacity_mm": (0.0, math.inf, False),
    "exchange_mm": (-math.inf, math.inf, True),
    "routing_capacity_mm": (0.0, math.inf, False),
    "unit_hydrograph_steps": (0.0, math.inf, False),
    "interception_capacity_mm": (0.0, math.inf, True),
}


def _check_physical(name: str, b: Any, what: str) -> None:
    """``b`` = (lower, upper) finite, lower ≤ upper, inside :data:`PHYSICAL_RANGE` of ``name``."""
    try:
        lo, hi = (float(v) for v in b)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} of {name!r}: {b!r}: expected numbers") from exc
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{what} of {name!r}: {b!r}: not finite")
    if hi < lo:
        raise ConfigError(f"{what} of {name!r}: lower {lo} > upper {hi} (inverted)")
    pmin, pmax, closed = PHYSICAL_RANGE[name]
    if lo < pmin or (lo == pmin and not closed) or hi > pmax:
        rng = f"{'≥' if closed else '>'} {pmin:g}"
        raise ConfigError(f"{what} of {name!r}: {b if what == 'bounds' else lo!r} outside the physical range ({rng})")


def simulate_lumped(
    precip_mm: np.ndarray,
    pet_mm: np.ndarray,
    params: Mapping[str, float],
    dt_seconds: float = 86400.0,
    initial_fill: tuple[float, float] = (0.3, 0.5),
    uh_exponent: float | None = None,
    parameter_step_s: float = 86400.0,
) -> np.ndarray:
    """Runoff [mm per step] of the catchment as one cell (interception, GR stores, GR4J UHs).

    ``params`` keys as :data:`DEFAULTS`; ``unit_hydrograph_steps`` None/absent drops the UHs.
    ``initial_fill`` = (S/X1, R/X3) at the start (airGR's defaults 0.3, 0.5). X2 and X3 are
    values at ``parameter_step_s`` (default one day), scaled to ``dt_seconds`` exactly as
    :class:`hydro.runoff.RunoffModel` does (:func:`hydro.runoff.step_parameters`).
    """
    p = {**DEFAULTS, **params}
    for name in PHYSICAL_RANGE:  # the kernels do not check (a zero capacity divides by zero: NaN runoff)
        if p.get(name) is not None:
            _check_physical(name, (p[name], p[name]), "value")
    P = np.ascontiguousarray(precip_mm, dtype=np.float64)
    E = np.ascontiguousarray(pet_mm, dtype=np.float64)
    if P.shape != E.shape or P.ndim != 1:
        raise InputDataError("precipitation and PET series must be 1-D and of equal length")
    for name, a in (("precipitation", P), ("potential evaporation", E)):
        nbad, nneg = K.count_invalid(a)
        if nbad or nneg:
            raise InputDataError(f"{name}: {nbad} NaN/inf and {nneg} negative values")
    x1, x3 = float(p["production_capacity_mm"]), float(p["routing_capacity_mm"])
    if uh_exponent is None:
        uh_exponent = uh_exponent_for_step(dt_seconds)
    x2, x3o = step_parameters(float(p["exchange_mm"]), x3, dt_seconds, parameter_step_s)
    x4 = p.get("unit_hydrograph_steps")
    if x4 is None:
        o1 = o2 = np.zeros(0)
    else:
        o1, o2 = K.uh_ordinates(float(x4), uh_exponent)
    return K.gr_run_lumped(P, E, 0.0, initial_fill[0] * x1, initial_fill[1] * x3,
                           float(p["interception_capacity_mm"]), x1, float(x2), x3, float(x3o),
                           percolation_constant(dt_seconds), o1, o2, np.zeros(o1.size), np.zeros(o2.size))


@dataclasses.dataclass
class CalibrationResult:
    """Outcome of a calibration.

    Attributes
    ----------
    parameters : dict, calibrated and fixed parameter values (:func:`calibrate`: every parameter the
        simulation used, the :data:`DEFAULTS` of those neither calibrated nor fixed included).
    simulated : pandas.Series, simulated discharge [mm per step] over the whole run.
    scores : dict period → {"nse": {...}, "kge": {...}, "kge_prime": {...}} (with components).
    objective : str
    n_evaluations : int
    optimiser : str
    seed : int
    """

    parameters: dict[str, float]
    simulated: pd.Series
    scores: dict[str, dict[str, dict[str, float]]]
    objective: str
    n_evaluations: int
    optimiser: str
    seed: int


def _period_mask(index: pd.DatetimeIndex, period: Sequence[Any] | None, name: str) -> np.ndarray:
    if period is None:
        return np.zeros(index.size, bool)
    if isinstance(period, (str, bytes)) or not hasattr(period, "__len__") or len(period) != 2:
        raise ConfigError(f"period {name!r} must be [start, end], got {period!r}")
    from hydro.times import parse_timestamp

    a, b = (parse_timestamp(v, f"period {name!r} {k}") for v, k in zip(period, ("start", "end")))
    if index.tz is not None:  # period dates are read in the time zone of the dates
        a, b = (t.tz_localize(index.tz) if t.tz is None else t.tz_convert(index.tz) for t in (a, b))
    elif a.tz is not None or b.tz is not None:  # comparing them was a raw TypeError (tz-naive and tz-aware)
        raise ConfigError(f"period {name!r} {period!r}: a UTC offset, but the dates have none: give the period as "
                          f"dates or date-times without an offset, in the clock of the dates")
    if b < a:
        raise ConfigError(f"period {name!r}: end {b} before start {a}")
    # a bound given as a date (00:00) means the whole day: daily steps stamped at a time of day
    # (e.g. 09:00) and the sub-daily steps of the end date belong to the period
    first = index[0].normalize() if a == a.normalize() else index[0]
    whole_end = b == b.normalize()
    last = index[-1].normalize() if whole_end else index[-1]
    if a < first or b > last:
        raise InputDataError(f"period {name!r} {a.date()}…{b.date()} is not covered by the data "
                             f"({index[0].date()}…{index[-1].date()})")
    return np.asarray((index >= a) & ((index < b + pd.Timedelta("1D")) if whole_end else (index <= b)))


#: fewest observed discharge values (finite) a scored period may have
MIN_OBSERVED = 10
#: largest plausible ratio of observed runoff to rainfall over a year or more (wrong discharge units above)
MAX_RUNOFF_RATIO = 5.0
#: smallest plausible ratio over a year or more (below: an area in m2 given as km2, m3/s declared as l/s); the
#: driest year of the shared real data (BoM HRS 410044) has 0.0015
MIN_RUNOFF_RATIO = 1e-4


def _check_index(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The regular step of the run's dates (unique, sorted, no gaps), else :class:`InputDataError`."""
    from hydro.forcing import check_time_axis

    return check_time_axis(index, "dates (the model runs on a regular step)")


def _check_scorable(o: np.ndarray, period: str) -> None:
    """At least :data:`MIN_OBSERVED` observed values, not all equal (NSE/KGE undefined), in ``period``."""
    ok = o[np.isfinite(o)]
    if ok.size < MIN_OBSERVED:
        raise InputDataError(f"{ok.size} observed discharge values in the {period} period: at least "
                             f"{MIN_OBSERVED} needed (missing days are not scored)")
    if np.all(ok == ok[0]):
        raise InputDataError(f"observed discharge is constant ({ok[0]}) on the {period} period: NSE and KGE are "
                             f"undefined (zero variance)")


def score_all(sim: np.ndarray, obs: np.ndarray, mask: np.ndarray) -> dict[str, dict[str, float]]:
    """NSE, KGE and KGE' (with components) on the steps of ``mask``."""
    return {k: f(sim[mask], obs[mask]) for k, f in OBJECTIVES.items()}


def calibrate_series(
    simulate: Callable[[dict[str, float]], np.ndarray],
    observed: np.ndarray,
    index: pd.DatetimeIndex,
    *,
    parameters: Sequence[str],
    bounds: Mapping[str, tuple[float, float]],
    fixed: Mapping[str, float] | None = None,
    calibration: Sequence[Any],
    validation: Sequence[Any] | None = None,
    objective: str = "kge",
    optimiser: str = "differential_evolution",
    seed: int = 0,
    maxiter: int = 50,
    popsize: int = 12,
    log_parameters: frozenset[str] = LOG_PARAMETERS,
    evaluate: Callable[[Callable[[Any], float], Sequence[Any]], Sequence[float]] | None = None,
) -> CalibrationResult:
    """Calibrate ``simulate(params) -> series`` against ``observed`` (generic; used for peers too).

    The run covers the whole ``index`` (warm-up = everything before the calibration period is run
    but not scored). ``popsize`` is scipy's multiplier (population = popsize × n parameters).

    ``evaluate`` is a map-like ``evaluate(cost, trials) -> costs`` that runs the trials of one
    differential-evolution generation together, e.g. on a dask cluster
    (:func:`hydro.forecast.parallel.client_map`); the generation is then updated at once
    (scipy ``updating="deferred"``), so the result depends on ``seed`` only, not on where the trials
    ran. SCE-UA evolves its complexes sequentially and ignores it.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective {objective!r}: expected one of {sorted(OBJECTIVES)}")
    for key, value, least in (("seed", seed, 0), ("maxiter", maxiter, 1), ("popsize", popsize, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ConfigError(f"{key} = {value!r}: expected an integer >= {least}")
    obs = np.asarray(observed, dtype=np.float64)
    index = pd.DatetimeIndex(index)
    if obs.shape != (index.size,):
        raise InputDataError("observed discharge and forcing differ in length")
    _check_index(index)
    if np.any(np.isinf(obs)):
        raise InputDataError(f"observed discharge has {int(np.isinf(obs).sum())} infinite values (first "
                             f"{index[np.flatnonzero(np.isinf(obs))[0]]}); leave missing values as NaN")
    if np.any(obs < 0):
        raise InputDataError(f"observed discharge has {int((obs < 0).sum())} negative values (first "
                             f"{index[np.flatnonzero(obs < 0)[0]]}); give missing values as NaN")
    cal = _period_mask(index, calibration, "calibration")
    val = _period_mask(index, validation, "validation")
    # the objective uses only the steps with an observation (NaN gaps are not scored), at least MIN_OBSERVED
    _check_scorable(obs[cal], "calibration")
    if val.any():
        _check_scorable(obs[val], "validation")
    fixed = dict(fixed or {})
    if isinstance(parameters, (str, bytes)):  # list("exchange_mm") was the parameters 'e', 'x', ...
        raise ConfigError(f"parameters = {parameters!r}: expected a list of names, e.g. [{parameters!r}]")
    names = list(parameters)
    if not names:
        raise ConfigError("no parameter to calibrate (parameters is empty)")
    for n in names:
        if n not in bounds:
            raise ConfigError(f"no bounds for calibrated parameter {n!r}")
    for n in names:
        b = bounds[n]
        if len(b) != 2 or not all(isinstance(v, (int, float, np.integer, np.floating)) for v in b) \
                or not np.all(np.isfinite(np.asarray(b, dtype=np.float64))):
            raise ConfigError(f"bounds of {n!r}: {b!r}: expected two finite numbers [lower, upper]")
        if not b[1] > b[0]:
            raise ConfigError(f"bounds of {n!r}: lower {b[0]} must be < upper {b[1]}")
        if n in log_parameters and b[0] <= 0:
            raise ConfigError(f"bounds of {n!r}: {b[0]} … {b[1]}: searched in log space, the lower bound must be > 0")
    lo = np.array([math.log(bounds[n][0]) if n in log_parameters else bounds[n][0] for n in names], dtype=np.float64)
    hi = np.array([math.log(bounds[n][1]) if n in log_parameters else bounds[n][1] for n in names], dtype=np.float64)
    score_fn = OBJECTIVES[objective]
    obs_cal = obs[cal]
    count = [0]

    def decode(x: np.ndarray) -> dict[str, float]:
        d = dict(fixed)
        for n, v in zip(names, x):
            d[n] = float(math.exp(v)) if n in log_parameters else float(v)
        return d

    scored = np.isfinite(obs_cal)

    def cost(x: np.ndarray) -> float:
        count[0] += 1
        sim = np.asarray(simulate(decode(x)), dtype=np.float64)
        sc = sim[cal]
        if not np.all(np.isfinite(sc[scored])):  # a failed simulation is never scored on fewer days
            return 1e9
        s = score_fn(sc, obs_cal)["score"]
        return 1.0 - s if np.isfinite(s) else 1e9

    if optimiser in ("differential_evolution", "de"):
        # always generation-wise ("deferred") updating: the same trials, hence the same result, with or
        # without ``evaluate`` (serial runs used "immediate", so --scheduler/--workers changed the result)
        extra: dict[str, Any] = {"updating": "deferred"}
        if evaluate is not None:
            def workers(f: Callable[[Any], float], xs: Any) -> list[float]:
                return [float(v) for v in evaluate(f, list(xs))]

            extra["workers"] = workers
        res = differential_evolution(cost, list(zip(lo, hi)), seed=seed, maxiter=maxiter, popsize=popsize,
                                     polish=False, tol=1e-8, init="latinhypercube", **extra)
        if evaluate is not None:
            count[0] = int(res.nfev)  # trials may have run in other processes
        xbest = res.x
    elif optimiser in ("sce-ua", "sceua", "sce_ua"):
        xbest, _ = sce_ua(cost, lo, hi, seed=seed, max_evaluations=maxiter * popsize * len(names))
    else:
        raise ConfigError(f"optimiser {optimiser!r}: expected 'differential_evolution' or 'sce-ua'")
    best = decode(xbest)
    # an array, as in cost(): a pandas Series returned by ``simulate`` was realigned on ``index`` below (all NaN)
    sim = np.asarray(simulate(best), dtype=np.float64)
    scores = {"calibration": score_all(sim, obs, cal)}
    if val.any():
        scores["validation"] = score_all(sim, obs, val)
    return CalibrationResult(best, pd.Series(sim, index=index, name="discharge_sim_mm"), scores, objective,
                             count[0], optimiser, int(seed))


def calibrate(
    precip_mm: np.ndarray,
    pet_mm: np.ndarray,
    observed_mm: np.ndarray,
    index: pd.DatetimeIndex,
    *,
    parameters: Sequence[str] = GR4J_EQUIVALENT,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    calibration: Sequence[Any],
    validation: Sequence[Any] | None = None,
    objective: str = "kge",
    optimiser: str = "differential_evolution",
    seed: int = 0,
    maxiter: int = 50,
    popsize: int = 12,
    dt_seconds: float | None = None,
    evaluate: Callable[[Callable[[Any], float], Sequence[Any]], Sequence[float]] | None = None,
) -> CalibrationResult:
    """Calibrate the lumped hydro model on series of P, PET and observed Q (all mm per step).

    ``index`` holds the dates of the steps (regular, no gaps); the model step is their spacing
    (``dt_seconds`` None) or ``dt_seconds``, which must equal it. Observed NaN are missing days: not
    scored; each scored period needs :data:`MIN_OBSERVED` values that are not all equal. Bounds and
    fixed values must lie in the physical range of each parameter (:data:`PHYSICAL_RANGE`), bounds
    with lower < upper; unknown parameter names are errors.

    Parameters not calibrated take ``fixed`` values or :data:`DEFAULTS`; set
    ``fixed={"unit_hydrograph_steps": None}`` to drop the unit hydrographs. The default set is
    :data:`GR4J_EQUIVALENT` (``interception_capacity_mm`` = 0: at a daily step the interception
    store reduces to GR4J's neutralisation; add it to ``parameters`` for sub-daily runs).
    """
    if isinstance(parameters, (str, bytes)):  # list("exchange_mm") was the parameters 'e', 'x', ... ("unknown 'e'")
        raise ConfigError(f"parameters = {parameters!r}: expected a list of names, e.g. [{parameters!r}]")
    for n in list(parameters) + list(bounds or {}) + list(fixed or {}):
        if n not in DEFAULTS:
            raise ConfigError(f"unknown parameter {n!r}: expected some of {sorted(DEFAULTS)}")
    for n, v in (bounds or {}).items():
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
            raise ConfigError(f"bounds of {n!r}: {v!r}: expected [lower, upper]")
    b = {**DEFAULT_BOUNDS, **{k: tuple(v) for k, v in (bounds or {}).items()}}
    for n in parameters:
        _check_physical(n, b[n], "bounds")
    for n, v in (fixed or {}).items():
        if n in parameters:
            raise ConfigError(f"parameter {n!r} is both calibrated and fixed")
        if v is None and n == "unit_hydrograph_steps":
            continue
        _check_physical(n, (v, v), "fixed value")
    idx = pd.DatetimeIndex(index)
    step = _check_index(idx)
    if dt_seconds is None:
        if step is None:
            raise InputDataError("one date: pass dt_seconds")
        dt_seconds = step.total_seconds()
    elif step is not None and step.total_seconds() != float(dt_seconds):
        raise InputDataError(f"the dates are {step} apart but dt_seconds = {dt_seconds}: P, PET and discharge must "
                             f"be amounts per model step (pass dt_seconds={step.total_seconds():g} or daily data)")
    if "unit_hydrograph_steps" not in (bounds or {}) and float(dt_seconds) < 86400.0:
        # X4 is in model steps: the GR4J range 0.5-10 was 0.5-10 h at an hourly step (airGR's GR4H searches days)
        lo_x4, hi_x4 = DEFAULT_BOUNDS["unit_hydrograph_steps"]
        b["unit_hydrograph_steps"] = (lo_x4, hi_x4 * 86400.0 / float(dt_seconds))
    P = np.asarray(precip_mm, dtype=np.float64)
    E = np.asarray(pet_mm, dtype=np.float64)
    # validate the forcing once, before the optimiser (errors inside it would be wrapped)
    if P.shape != E.shape or P.shape != np.shape(observed_mm) or P.shape != (len(index),):
        raise InputDataError(f"precipitation ({P.size}), PET ({E.size}), discharge ({np.size(observed_mm)}) and "
                             f"dates ({len(index)}) differ in length")
    for name, a in (("precipitation", P), ("potential evaporation", E)):
        nbad, nneg = K.count_invalid(np.ascontiguousarray(a))
        if nbad or nneg:
            raise InputDataError(f"{name}: {nbad} NaN/inf and {nneg} negative values")

    # discharge in the wrong unit (l/s or m3/s read as mm, an area in m2 read as km2) is orders of magnitude
    # off: over a year or more of scored observations, runoff above MAX_RUNOFF_RATIO x rainfall is refused
    q_obs = np.asarray(observed_mm, dtype=np.float64)
    scored = _period_mask(idx, calibration, "calibration") | _period_mask(idx, validation, "validation")
    seen = np.isfinite(q_obs) & scored
    if seen.sum() * dt_seconds >= 365 * 86400.0 and P[seen].sum() > 0:
        ratio = float(q_obs[seen].sum() / P[seen].sum())
        if ratio > MAX_RUNOFF_RATIO:
            raise InputDataError(f"observed discharge totals {ratio:.3g} x the rainfall on the same steps (more than "
                                 f"{MAX_RUNOFF_RATIO:g}): check the discharge units (mm per step) and the catchment area")
        if ratio < MIN_RUNOFF_RATIO:
            raise InputDataError(f"observed discharge totals {ratio:.3g} x the rainfall on the same steps (less than "
                                 f"{MIN_RUNOFF_RATIO:g}): check the discharge units (mm per step) and the catchment area "
                                 f"(km2, not m2)")

    def sim(p: dict[str, float]) -> np.ndarray:
        return simulate_lumped(P, E, p, dt_seconds)

    # the result records every value the simulation used: the defaults of the parameters neither calibrated nor
    # fixed too (interception_capacity_mm = 0 is not GRParameters' default 2 mm: a set read back must run the same)
    full = {n: v for n, v in DEFAULTS.items() if n not in parameters}
    full.update(fixed or {})
    return calibrate_series(sim, observed_mm, index, parameters=parameters, bounds=b, fixed=full,
                            calibration=calibration, validation=validation, objective=objective,
                            optimiser=optimiser, seed=seed, maxiter=maxiter, popsize=popsize, evaluate=evaluate)
