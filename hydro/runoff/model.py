"""Runoff operators with state: GR-type continuous scheme, SCS Curve Number, Green–Ampt."""
from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
from typing import Any, Mapping

import numpy as np

from hydro.errors import ConfigError, InputDataError, StateError
from hydro.runoff import _kernels as K

__all__ = [
    "GRParameters",
    "RunoffModel",
    "SCSCurveNumber",
    "GreenAmpt",
    "percolation_constant",
    "step_parameters",
    "uh_exponent_for_step",
    "amc_class_from_fill",
    "curve_number_for_amc",
]

_DAY = 86400.0
_HOUR = 3600.0


def _step_seconds(value: Any, what: str) -> float:
    """A model step in seconds: a positive, finite number (ConfigError otherwise, e.g. for "1h" or inf)."""
    try:
        dt = float(value)
    except (TypeError, ValueError):
        dt = math.nan
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"{what} = {value!r} must be a number of seconds, positive and finite (e.g. 3600.0)")
    return dt


def _ncell(value: Any, model: str) -> int:
    """The number of cells: a non-negative integer (ConfigError otherwise; 2.5 was truncated to 2, -1 a raw ValueError)."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        n = math.nan
    if isinstance(value, bool) or not (math.isfinite(n) and n >= 0 and n == int(n)):
        raise ConfigError(f"{model}: ncell = {value!r} must be a non-negative whole number of cells")
    return int(n)


def _yx_order(value: Any) -> Any:
    """A labelled (xarray) map in any dimension order put in (..., y, x) order, so cells ravel row-major like the grid."""
    dims = getattr(value, "dims", None)
    if dims is not None and hasattr(value, "transpose") and "y" in dims and "x" in dims:
        return value.transpose(..., "y", "x")
    return value


def _float_array(value: Any, error: type, what: str) -> np.ndarray:
    """``value`` as a float64 array copy; text or other non-numbers raise ``error`` naming ``what``."""
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise error(f"{what}: not numeric ({exc})") from exc
#: airGR: K = (9/4)^4 daily (GR4J), (21/4)^4 hourly (GR4H/GR5H)
_BETA_DAILY = 9.0 / 4.0
_BETA_HOURLY = 21.0 / 4.0


def percolation_constant(dt_seconds: float | str) -> float:
    """Percolation constant K of ``Perc = S·(1 − (1 + (S/X1)^4/K)^(−1/4))`` for a model step.

    ``"daily"`` / 86400 s → (9/4)^4 and ``"hourly"`` / 3600 s → (21/4)^4 (airGR GR4J / GR4H). Other
    steps: the exponent β of K = β^4 follows the power law through these two points,
    ``β = 9/4 · (86400/Δt)^a`` with ``a = ln(21/9)/ln 24`` (a documented judgement).
    """
    if isinstance(dt_seconds, str):
        key = dt_seconds.lower()
        if key == "daily":
            return _BETA_DAILY**4
        if key == "hourly":
            return _BETA_HOURLY**4
        raise ConfigError(f"percolation step {dt_seconds!r}: expected 'hourly', 'daily' or seconds")
    dt = float(dt_seconds)
    if not (dt > 0 and math.isfinite(dt)):
        raise ConfigError(f"model step {dt_seconds!r} s must be positive and finite")
    a = math.log(_BETA_HOURLY / _BETA_DAILY) / math.log(24.0)
    beta = _BETA_DAILY * (_DAY / dt) ** a
    return beta**4


def step_parameters(exchange_mm: Any, routing_capacity_mm: Any, dt_seconds: float,
                    parameter_step_s: float = _DAY) -> tuple[Any, Any]:
    """Exchange X2 and routing-outflow capacity X3 of the model step from their values at the parameter step.

    ``X2_Δt = X2 · Δt/Δt_p`` (X2 is an exchange per parameter step, a rate) and
    ``X3_Δt = X3 · (Δt_p/Δt)^(1/4)`` for the outflow law ``Q_r = R (1 − (1 + (R/X3)^4)^(−1/4))``.

    Notes
    -----
    The routing-store outflow satisfies ``R_new^−4 = R^−4 + X3^−4`` each step, so n steps of Δt/n
    with ``X3·n^(1/4)`` give exactly one step of Δt with X3: the store's recession, and the store
    depth R itself, do not depend on the model step (smash uses the same rule for the
    percolation constant, ``β = 9/4·(86400/Δt)^(1/4)``). With ``Δt = Δt_p`` both factors are
    exactly 1. The exchange keeps ``F = X2_Δt (R/X3)^3.5`` with the X3 of the parameter step.
    """
    dt = float(dt_seconds)
    ref = float(parameter_step_s)
    if not (dt > 0 and ref > 0 and math.isfinite(dt) and math.isfinite(ref)):
        raise ConfigError(f"model step {dt_seconds!r} s and parameter step {parameter_step_s!r} s must be positive "
                          f"and finite")
    return np.multiply(exchange_mm, dt / ref), np.multiply(routing_capacity_mm, (ref / dt) ** 0.25)


def uh_exponent_for_step(dt_seconds: float) -> float:
    """S-curve exponent of the GR unit hydrographs: 5/2 daily (GR4J), 5/4 below a day (GR4H, airGR)."""
    return 2.5 if float(dt_seconds) >= _DAY else 1.25


def _map_coords(value: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The (y, x) coordinate values of a labelled (xarray) map, None for scalars and bare arrays."""
    dims = getattr(value, "dims", None)
    coords = getattr(value, "coords", None)
    if dims is None or coords is None or not all(c in dims and c in coords for c in ("y", "x")):
        return None
    return np.asarray(coords["y"].values, np.float64), np.asarray(coords["x"].values, np.float64)


def _as_param(value: Any, name: str) -> float | np.ndarray:
    value = _yx_order(value)  # a labelled map (xarray) in any dimension order: cells are raveled in (y, x) order
    if np.isscalar(value):
        try:
            v = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"runoff parameter {name!r} = {value!r} is not a number") from exc
        if not math.isfinite(v):
            raise ConfigError(f"runoff parameter {name!r} = {value!r} is not finite")
        return v
    arr = _float_array(value, ConfigError, f"runoff parameter map {name!r}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"runoff parameter map {name!r} has non-finite values")
    return arr


#: longest unit hydrograph (X4) in model steps: a year of 5-minute steps; a lumped GR4J X4 is 0.5-10 days
MAX_UH_STEPS = 1.0e5


@dataclasses.dataclass
class GRParameters:
    """Parameters of the GR cell operator (runoff.md §1); each a scalar or a flat/2-D map.

    Attributes
    ----------
    interception_capacity_mm : c_i [mm] (0 = GR4J neutralisation).
    production_capacity_mm : X1 = c_p [mm].
    routing_capacity_mm : X3 = c_t [mm] at the parameter step; the outflow law uses
        ``X3·(parameter_step_s/Δt)^(1/4)`` at the model step Δt (:func:`step_parameters`).
    exchange_mm : X2 [mm per parameter step] (groundwater exchange; 0 = off); scaled by
        ``Δt/parameter_step_s`` at the model step.
    impervious_fraction : f_imp [-], share of the cell whose rain runs off directly.
    percolation_K : K (-), "hourly", "daily", or None = from the model step (:func:`percolation_constant`).
    unit_hydrograph_steps : X4 [model steps]; None for the gridded scheme (routing does the lag),
        a value for lumped GR4J-type runs (UH1/UH2 buffers become state).
    uh_exponent : S-curve exponent of the unit hydrographs; None = from the model step
        (5/2 daily, 5/4 below a day, :func:`uh_exponent_for_step`).
    parameter_step_s : step [s] the values of X2 and X3 refer to: 86400 (default) for
        values calibrated daily (GR4J, :mod:`hydro.calibrate`), 3600 for GR4H hourly values.
    map_coords : (set from the maps) name → (y, x) labels of each map given as an xarray DataArray;
        :class:`hydro.model.CatchmentModel` refuses a map whose labels are not its grid's, in order.
    """

    interception_capacity_mm: Any = 2.0
    production_capacity_mm: Any = 200.0
    routing_capacity_mm: Any = 60.0
    exchange_mm: Any = 0.0
    impervious_fraction: Any = 0.0
    percolation_K: Any = None
    unit_hydrograph_steps: float | None = None
    uh_exponent: float | None = None
    parameter_step_s: float = _DAY

    def __post_init__(self) -> None:
        try:
            step_s = float(self.parameter_step_s) if np.isscalar(self.parameter_step_s) else math.nan
        except (TypeError, ValueError):
            step_s = math.nan
        if not (math.isfinite(step_s) and step_s > 0):
            raise ConfigError(f"parameter_step_s = {self.parameter_step_s!r} must be a positive number of seconds")
        self.parameter_step_s = step_s
        for f in ("uh_exponent", "unit_hydrograph_steps"):
            v = getattr(self, f)
            if v is not None:
                try:
                    float(v)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{f} = {v!r} is not a number") from exc
        if self.uh_exponent is not None and not float(self.uh_exponent) > 0:
            raise ConfigError(f"uh_exponent = {self.uh_exponent!r} must be > 0")
        #: y/x labels of the maps given as xarray (not part of the values or the hash): the model checks them against
        #: its grid, as a map with y ascending on a y-descending grid has the right shape but mirrored cells
        self.map_coords: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for f in ("interception_capacity_mm", "production_capacity_mm", "routing_capacity_mm", "exchange_mm",
                  "impervious_fraction", "percolation_K"):
            xy = _map_coords(getattr(self, f))
            if xy is not None:
                self.map_coords[f] = xy
        for f in ("interception_capacity_mm", "production_capacity_mm", "routing_capacity_mm", "exchange_mm",
                  "impervious_fraction"):
            setattr(self, f, _as_param(getattr(self, f), f))
        if isinstance(self.percolation_K, str):  # "hourly" / "daily" (airGR constants)
            self.percolation_K = percolation_constant(self.percolation_K)
        if self.percolation_K is not None:
            self.percolation_K = _as_param(self.percolation_K, "percolation_K")
        checks = {
            "interception_capacity_mm": (0.0, np.inf),
            "production_capacity_mm": (1e-6, np.inf),
            "routing_capacity_mm": (1e-6, np.inf),
            "impervious_fraction": (0.0, 1.0),
        }
        for f, (lo, hi) in checks.items():
            v = np.asarray(getattr(self, f))
            if np.any(v < lo) or np.any(v > hi):
                raise ConfigError(f"runoff parameter {f!r} outside [{lo}, {hi}]: min {v.min()}, max {v.max()}")
        if self.percolation_K is not None and np.any(np.asarray(self.percolation_K) <= 0):
            raise ConfigError("runoff parameter 'percolation_K' must be > 0")
        if self.unit_hydrograph_steps is not None and not 0.5 <= float(self.unit_hydrograph_steps) <= MAX_UH_STEPS:
            # 2 X4 ordinates are built and convolved every step: 1e9 steps hung building them
            raise ConfigError(f"unit_hydrograph_steps = {self.unit_hydrograph_steps!r} must be within 0.5 .. "
                              f"{MAX_UH_STEPS:g} steps")

    def hash(self) -> str:
        """SHA-256 of all parameter values (stored in state files)."""
        h = hashlib.sha256()
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            h.update(f.name.encode())
            if v is None:
                h.update(b"None")
            else:
                a = np.ascontiguousarray(np.asarray(v, dtype=np.float64))
                h.update(str(a.shape).encode())
                h.update(a.tobytes())
        return h.hexdigest()

    def flat(self, name: str, ncell: int) -> np.ndarray:
        """Parameter ``name`` broadcast to a flat float64 array of length ``ncell``."""
        v = np.asarray(getattr(self, name), dtype=np.float64)
        if v.ndim == 0:
            return np.full(ncell, float(v))
        v = v.ravel()
        if v.size != ncell:
            raise ConfigError(f"runoff parameter map {name!r} has {v.size} cells, model has {ncell}")
        return np.ascontiguousarray(v)


_STATE_KEYS = ("interception_store", "production_store", "routing_store")


def _check_forcing(x: np.ndarray, ncell: int, name: str) -> np.ndarray:
    try:
        a = np.ascontiguousarray(x, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{name}: not numeric ({exc})") from exc
    if a.size != ncell:
        raise InputDataError(f"{name}: {a.size} values for {ncell} cells")
    nbad, nneg = K.count_invalid(a)
    if nbad:
        raise InputDataError(f"{name}: NaN or infinite values in {nbad} cells")
    if nneg:
        raise InputDataError(f"{name}: negative values in {nneg} cells (min {a.min()} mm)")
    return a


class RunoffModel:
    """Continuous GR-type runoff generation per cell (runoff.md §1).

    Parameters
    ----------
    params : GRParameters
    ncell : int
        Number of cells (flat arrays; a lumped catchment is ``ncell = 1``).
    dt_seconds : float
        Model step [s]; sets the percolation constant unless ``params.percolation_K`` is given,
        and scales X2 and the routing-outflow capacity from ``params.parameter_step_s``
        (:func:`step_parameters`).
    state : mapping, optional
        Initial state (see :attr:`state`); default: production store half full, routing store
        30 % full, interception store empty.

    Notes
    -----
    ``step(P, E)`` returns the runoff leaving each cell [mm per step]. After each step
    ``actual_evaporation_mm`` and ``exchange_mm`` (gain > 0) hold the step fluxes, and the balance
    ``P + exchange = E_actual + Δstorage + runoff`` closes per cell to round-off (≤ 1e-12 mm).
    Stores are depths over the pervious fraction ``1 − f_imp``; :meth:`storage_mm` is per cell area.
    """

    def __init__(self, params: GRParameters, ncell: int, dt_seconds: float, state: Mapping[str, Any] | None = None):
        if not isinstance(params, GRParameters):
            raise ConfigError(f"params must be GRParameters, got {type(params).__name__}")
        self.params = params
        self.ncell = _ncell(ncell, "RunoffModel")
        self.dt_seconds = _step_seconds(dt_seconds, "dt_seconds")
        n = self.ncell
        self._ci = params.flat("interception_capacity_mm", n)
        self._x1 = params.flat("production_capacity_mm", n)
        self._x3 = params.flat("routing_capacity_mm", n)
        # X2 per model step and the outflow capacity at the model step (both exact at dt = parameter step)
        x2, x3o = step_parameters(params.flat("exchange_mm", n), self._x3, self.dt_seconds, params.parameter_step_s)
        self._x2 = np.ascontiguousarray(x2, dtype=np.float64)
        self._x3o = np.ascontiguousarray(x3o, dtype=np.float64)
        self._fimp = params.flat("impervious_fraction", n)
        if params.percolation_K is None:
            self._K = np.full(n, percolation_constant(self.dt_seconds))
        else:
            self._K = params.flat("percolation_K", n)
        if params.unit_hydrograph_steps is not None:
            expo = uh_exponent_for_step(self.dt_seconds) if params.uh_exponent is None else float(params.uh_exponent)
            self._o1, self._o2 = K.uh_ordinates(params.unit_hydrograph_steps, expo)
        else:
            self._o1 = np.zeros(0)
            self._o2 = np.zeros(0)
        self._I = np.zeros(n)
        self._S = 0.5 * self._x1
        self._R = 0.3 * self._x3
        self._uh1 = np.zeros((n, self._o1.size))
        self._uh2 = np.zeros((n, self._o2.size))
        self.actual_evaporation_mm = np.zeros(n)
        self.exchange_mm = np.zeros(n)
        self._runoff = np.zeros(n)
        if state is not None:
            self.set_state(state)

    # --------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, np.ndarray]:
        """Copy of the state: name → flat float64 array [mm] (plus ``uh1``/``uh2`` (ncell, n) if lumped)."""
        out = {"interception_store": self._I.copy(), "production_store": self._S.copy(), "routing_store": self._R.copy()}
        if self._o1.size:
            out["uh1"] = self._uh1.copy()
            out["uh2"] = self._uh2.copy()
        return out

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state (checked: shape, finite, 0 ≤ store ≤ capacity)."""
        caps = {"interception_store": self._ci, "production_store": self._x1, "routing_store": None}
        new = {}
        for k in _STATE_KEYS:
            if k not in state:
                raise StateError(f"runoff state has no {k!r}")
            a = _float_array(state[k], StateError, f"runoff state {k!r}").ravel()
            if a.size != self.ncell:
                raise StateError(f"runoff state {k!r}: {a.size} cells, model has {self.ncell}")
            if not np.all(np.isfinite(a)) or np.any(a < 0):
                raise StateError(f"runoff state {k!r}: negative or non-finite values")
            cap = caps[k]
            if cap is not None and np.any(a > cap * (1 + 1e-12) + 1e-12):
                raise StateError(f"runoff state {k!r} exceeds its capacity (parameters differ from the state's?)")
            new[k] = a
        for k, shape in (("uh1", self._uh1.shape), ("uh2", self._uh2.shape)):
            if shape[1]:
                if k not in state:
                    raise StateError(f"runoff state has no {k!r} (lumped unit-hydrograph buffers)")
                a = _float_array(state[k], StateError, f"runoff state {k!r}")
                if a.size != shape[0] * shape[1]:
                    raise StateError(f"runoff state {k!r}: {a.size} values, the unit hydrograph needs {shape}")
                a = a.reshape(shape)
                if not np.all(np.isfinite(a)) or np.any(a < 0):
                    raise StateError(f"runoff state {k!r}: negative or non-finite values")
                new[k] = a
        self._I, self._S, self._R = new["interception_store"], new["production_store"], new["routing_store"]
        if "uh1" in new:
            self._uh1, self._uh2 = new["uh1"], new["uh2"]

    def storage_mm(self) -> np.ndarray:
        """Water held in the cell [mm over the cell area]: stores (+ unit-hydrograph buffers)."""
        s = self._I + self._S + self._R
        if self._o1.size:
            s = s + self._uh1.sum(axis=1) + self._uh2.sum(axis=1)
        return (1.0 - self._fimp) * s

    def step(self, precip_mm: np.ndarray, pet_mm: np.ndarray) -> np.ndarray:
        """Advance one step; returns runoff leaving each cell [mm per step] (a new array)."""
        P = _check_forcing(precip_mm, self.ncell, "precipitation")
        E = _check_forcing(pet_mm, self.ncell, "potential evaporation")
        runoff = np.empty(self.ncell)
        aet = np.empty(self.ncell)
        exch = np.empty(self.ncell)
        stores = (self._I, self._S, self._R, self._ci, self._x1, self._x2, self._x3, self._x3o, self._fimp, self._K)
        if self._o1.size == 0 and self._o2.size == 0:  # gridded scheme: no unit hydrographs, a vectorised loop
            K.gr_step_cells(P, E, *stores, runoff, aet, exch)
        else:
            K.gr_step_grid(P, E, *stores, self._o1, self._o2, self._uh1, self._uh2, runoff, aet, exch)
        self.actual_evaporation_mm = aet
        self.exchange_mm = exch
        return runoff


# ------------------------------------------------------------------------------------------
def amc_class_from_fill(fill: np.ndarray, dry: float = 0.3, wet: float = 0.7) -> np.ndarray:
    """Antecedent moisture class per cell from the production-store fill ``S/X1``.

    Judgement (documented in docs/runoff.md): fill < ``dry`` → I, > ``wet`` → III, else II.
    Returns an int array with values 1, 2, 3.
    """
    f = np.asarray(fill, dtype=np.float64)
    return np.where(f < dry, 1, np.where(f > wet, 3, 2))


def curve_number_for_amc(cn_ii: np.ndarray, amc: np.ndarray) -> np.ndarray:
    """CN_I = 4.2·CN_II/(10 − 0.058·CN_II), CN_III = 23·CN_II/(10 + 0.13·CN_II) (NEH-630 ch. 10)."""
    cn = np.asarray(cn_ii, dtype=np.float64)
    amc = np.asarray(amc)
    cn1 = 4.2 * cn / (10.0 - 0.058 * cn)
    cn3 = 23.0 * cn / (10.0 + 0.13 * cn)
    return np.where(amc == 1, cn1, np.where(amc == 3, cn3, cn))



def _read_store(state: Mapping[str, Any], name: str, ncell: int, model: str) -> np.ndarray:
    """A non-negative, finite float64 store of ``ncell`` values from a state mapping (StateError otherwise)."""
    if name not in state:
        raise StateError(f"{model} state has no {name!r}")
    a = _float_array(state[name], StateError, f"{model} state {name!r}").ravel()
    if a.size != ncell or np.any(~np.isfinite(a)) or np.any(a < 0):
        raise StateError(f"{model} state {name!r} has a wrong size or invalid values")
    return a

class SCSCurveNumber:
    """SCS Curve Number event runoff on cumulative event rain (runoff.md §2).

    Parameters
    ----------
    cn : float or array
        Curve number for AMC II (0 < CN ≤ 100).
    ncell : int
    lambda_ : float
        Initial-abstraction ratio: 0.2 (handbook) or 0.05 (Hawkins et al. 2002; S converted by
        ``S_0.05 = 1.33·S_0.2^1.15`` with S in inches).
    amc : "I", "II", "III", or a mapping with ``production_store`` and ``production_capacity_mm``
        (the last continuous state: class from the store fill, :func:`amc_class_from_fill`).

    Notes
    -----
    Evaporation is ignored during an event (``actual_evaporation_mm`` = 0). The water retained
    (initial abstraction + infiltration, ``P_cum − Q_cum``) is the event storage, so
    ``P = runoff + Δstorage`` exactly. Event runs never write into the continuous state chain.
    """

    def __init__(self, cn: Any, ncell: int, lambda_: float = 0.2, amc: Any = "II", state: Mapping[str, Any] | None = None):
        self.ncell = _ncell(ncell, "SCSCurveNumber")
        cn_val = _float_array(_yx_order(cn), ConfigError, "curve number")
        cn_arr = np.full(self.ncell, float(cn_val)) if cn_val.ndim == 0 else cn_val.ravel()
        if cn_arr.size != self.ncell:
            raise ConfigError(f"curve number map has {cn_arr.size} cells, model has {self.ncell}")
        if np.any(~np.isfinite(cn_arr)) or np.any(cn_arr <= 0) or np.any(cn_arr > 100):
            raise ConfigError("curve number must be in (0, 100]")
        if isinstance(amc, str):
            classes = {"I": 1, "II": 2, "III": 3}
            if amc not in classes:
                raise ConfigError(f"amc {amc!r}: expected 'I', 'II', 'III' or a state mapping")
            amc_arr = np.full(self.ncell, classes[amc])
        elif isinstance(amc, Mapping):
            try:
                store = np.asarray(_yx_order(amc["production_store"]), np.float64).ravel()
                cap = np.asarray(_yx_order(amc["production_capacity_mm"]), np.float64).ravel()
            except KeyError as exc:
                raise ConfigError(f"amc state mapping lacks {exc}") from exc
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"amc state mapping: not numeric ({exc})") from exc
            for name, a in (("production_store", store), ("production_capacity_mm", cap)):
                if a.size not in (1, self.ncell):
                    raise ConfigError(f"amc state mapping: {name!r} has {a.size} values, model has {self.ncell} cells")
            # a NaN store compared False with both thresholds and silently gave AMC II; a zero capacity gave inf
            if not (np.all(np.isfinite(store)) and np.all(store >= 0)):
                raise ConfigError("amc state mapping: 'production_store' has NaN, infinite or negative values (cells "
                                  "off the network of a saved state are NaN: fill them first)")
            if not (np.all(np.isfinite(cap)) and np.all(cap > 0)):
                raise ConfigError("amc state mapping: 'production_capacity_mm' must be finite and > 0")
            amc_arr = np.broadcast_to(amc_class_from_fill(store / cap), (self.ncell,))
        else:
            raise ConfigError(f"amc {amc!r}: expected 'I', 'II', 'III' or a state mapping")
        self.amc = amc_arr
        self.curve_number = curve_number_for_amc(cn_arr, amc_arr)
        s02 = 25400.0 / self.curve_number - 254.0
        # a map or text compared with 0.2 raised a raw ValueError ("truth value of an array is ambiguous")
        if not (np.ndim(lambda_) == 0 and isinstance(lambda_, numbers.Real) and lambda_ in (0.2, 0.05)):
            raise ConfigError(f"lambda_ = {lambda_!r}: use 0.2 (NEH-630) or 0.05 (Hawkins et al. 2002)")
        if lambda_ == 0.2:
            smax = s02
        elif lambda_ == 0.05:
            smax = 1.33 * (s02 / 25.4) ** 1.15 * 25.4
        else:
            raise ConfigError(f"lambda_ = {lambda_!r}: use 0.2 (NEH-630) or 0.05 (Hawkins et al. 2002)")
        self.lambda_ = float(lambda_)
        self.retention_mm = smax
        self._lam = np.full(self.ncell, self.lambda_)
        self._cumP = np.zeros(self.ncell)
        self.actual_evaporation_mm = np.zeros(self.ncell)
        self.exchange_mm = np.zeros(self.ncell)
        if state is not None:
            self.set_state(state)

    @property
    def state(self) -> dict[str, np.ndarray]:
        return {"event_cum_precip": self._cumP.copy()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._cumP = _read_store(state, "event_cum_precip", self.ncell, "SCS-CN")

    def cumulative_runoff_mm(self) -> np.ndarray:
        """Q(P_cum) = (P − I_a)²/(P − I_a + S) for P > I_a, else 0 [mm]."""
        ia = self._lam * self.retention_mm
        d = np.maximum(self._cumP - ia, 0.0)
        return d * d / (d + self.retention_mm)

    def storage_mm(self) -> np.ndarray:
        return self._cumP - self.cumulative_runoff_mm()

    def step(self, precip_mm: np.ndarray, pet_mm: np.ndarray | None = None) -> np.ndarray:
        P = _check_forcing(precip_mm, self.ncell, "precipitation")
        out = np.empty(self.ncell)
        K.scs_step_grid(P, self._cumP, self.retention_mm, self._lam, out)
        return out


class GreenAmpt:
    """Green–Ampt infiltration with Mein–Larson ponding (runoff.md §2), rain excess as runoff.

    Parameters
    ----------
    ks_mm_h : saturated hydraulic conductivity [mm h-1]
    psi_mm : wetting-front suction head [mm]
    delta_theta : moisture deficit θ_s − θ_i [-]
    ncell : int
    dt_seconds : model step [s] (default 3600)

    Notes
    -----
    Rain is uniform within a step. Before ponding all rain infiltrates; ponding starts at
    ``F_p = K_s·ψΔθ/(i − K_s)``; afterwards ``F − F_p − ψΔθ·ln((F + ψΔθ)/(F_p + ψΔθ)) = K_s (t − t_p)``
    is solved by Newton. No redistribution between storms (an event model). Storage = cumulative
    infiltration F, so ``P = runoff + ΔF`` exactly; evaporation is ignored.
    """

    def __init__(self, ks_mm_h: Any, psi_mm: Any, delta_theta: Any, ncell: int, dt_seconds: float = 3600.0,
                 state: Mapping[str, Any] | None = None):
        self.ncell = _ncell(ncell, "GreenAmpt")
        self.dt_hours = _step_seconds(dt_seconds, "Green-Ampt dt_seconds") / 3600.0

        def flat(v, name, lo):
            a = _float_array(_yx_order(v), ConfigError, f"Green-Ampt {name}")
            a = np.full(self.ncell, float(a)) if a.ndim == 0 else a.ravel().copy()
            if a.size != self.ncell:
                raise ConfigError(f"Green-Ampt {name}: {a.size} cells, model has {self.ncell}")
            if np.any(~np.isfinite(a)) or np.any(a < lo):
                raise ConfigError(f"Green-Ampt {name}: values must be finite and >= {lo}")
            return a

        self.ks_mm_h = flat(ks_mm_h, "ks_mm_h", 0.0)
        self.psi_mm = flat(psi_mm, "psi_mm", 0.0)
        self.delta_theta = flat(delta_theta, "delta_theta", 0.0)
        if np.any(self.delta_theta > 1):
            raise ConfigError("Green-Ampt delta_theta must be <= 1")
        self._F = np.zeros(self.ncell)
        self.actual_evaporation_mm = np.zeros(self.ncell)
        self.exchange_mm = np.zeros(self.ncell)
        if state is not None:
            self.set_state(state)

    @property
    def state(self) -> dict[str, np.ndarray]:
        return {"ga_cum_infiltration": self._F.copy()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._F = _read_store(state, "ga_cum_infiltration", self.ncell, "Green-Ampt")

    def storage_mm(self) -> np.ndarray:
        return self._F.copy()

    def step(self, precip_mm: np.ndarray, pet_mm: np.ndarray | None = None) -> np.ndarray:
        P = _check_forcing(precip_mm, self.ncell, "precipitation")
        out = np.empty(self.ncell)
        K.green_ampt_step_grid(P, self.dt_hours, self._F, self.ks_mm_h, self.psi_mm, self.delta_theta, out)
        return out
