"""Per-step allocation LP solved with HiGHS: lexicographic priorities and water-filling.

The edge LP is built **once** per run (one column per link, per reservoir end storage, spill,
unused source water, outlet and claim; one mass-balance row per node) and passed to a single
``highspy.Highs`` object. Between steps and between priority levels only column/row bounds,
objective costs and the coverage coefficients of water-filling rows change; HiGHS re-solves
from the previous basis (warm start).

Order of decisions in each step (the documented tie-break rule)
---------------------------------------------------------------
0. *candidate LP*: minimise ``−Σ_k W_p(k) x_k`` (priority-rank weights, range ≤ 10⁶) plus the final
   tie-break cost (3). Its objective is the same every step, so only bounds change and HiGHS
   re-solves from the previous basis. If every claim is full, this solution is optimal for the whole
   sequence 1–3 for any positive weights, and no other LP is solved (the common case). The weights
   are not trusted beyond that certificate (a weighted LP is lexicographic only if the weight ratios
   exceed data-dependent exchange rates: losses, coverage coefficients; see docs/allocation.md §4);
   otherwise the exact sequence below runs from the first short level, warm from this basis;
1. priority levels in increasing order (0 = environmental flows and other soft top-priority
   requirements, then 1, 2, ...). Within a level, claims share by **equal coverage**
   (lexicographic max-min of ``x_k / w_k``, water-filling) unless the level is declared
   ``sharing = "max_total"``; each decided claim is pinned (±tolerance) before the next level;
2. supply preferences (``supply_preference`` agreements): minimise ``Σ π_e (1 − λ_e) f_e`` (π times the
   delivered, outlet flow of each link); pinned;
3. final tie-break: maximise ``Σ_r w_r S_r,end`` (keep water in storage, i.e. use run-of-river and
   groundwater before stored water; ``w_r`` = ``storage_weight``, default 1, e.g. 2 upstream to keep
   water where senior users can reach it) minus ``δ Σ_e (1 + 10⁻³ e / n) f_e`` (shortest routes; at equal
   length a lean towards the link declared first, below the solver's dual tolerance: rule 4 may decide), δ = 10⁻⁵;
4. anything still tied: the vertex found by HiGHS dual simplex with fixed options (bit-reproducible).
"""
from __future__ import annotations

import dataclasses
import threading
import time as _time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from hydro.errors import HydroError, InputDataError
from hydro.allocation.network import Network, axis_time, resolve_series
from hydro.allocation.units import parse_quantity

__all__ = ["AllocationModel", "Claim", "StepContext", "INF", "SolverError"]

INF = float("inf")
#: coefficient of the final tie-break on link flows
DELTA = 1e-5
#: absolute tolerance [m3 per step] when pinning an optimum before the next level
ABS_TOL = 1e-9
#: relative tolerance when pinning an optimum
REL_TOL = 1e-12
#: dual value above which a constraint counts as binding
DUAL_TOL = 1e-9
#: physical reasons (pipes, sources) listed per short claim, nearest first
MAX_REASONS = 4
#: within a step only costs (and pinned bounds) change after the first LP: primal simplex
PRIMAL = True
#: ratio between the candidate-LP weights of consecutive priority levels
CANDIDATE_RATIO = 100.0
#: largest ratio between the weights of the most and least senior levels (conditioning)
CANDIDATE_RANGE = 1e6
#: relative widening of pinned claims when HiGHS finds the pins jointly infeasible (round-off)
PIN_RELAX = 1e-9
#: slack below the last common coverage when it becomes the lower bound of the next iteration
T_SLACK = 1e-9


class SolverError(HydroError):
    """HiGHS did not return an optimal solution; the message names the step, level and cause."""


@dataclasses.dataclass
class Claim:
    """One claim on water: a demand tranche or a required flow on a link.

    Attributes
    ----------
    id : str
        ``<demand>`` or ``<demand>:<tranche>`` or ``<agreement>:<link>``.
    kind : {"tranche", "flow"}
    target : int
        Demand index (``tranche``) or link index (``flow``).
    priority : int
        0 = soft top priority (environmental flows), 1 = most senior supply priority, ...
    party : str
        Region id (``""`` for environmental flows).
    agreement : str
        Name of the agreement that created the claim (``"demand"`` for the default tranche).
    demand : str
        Demand node id or link id the claim belongs to.
    """

    id: str
    kind: str
    target: int
    priority: int
    party: str
    agreement: str
    demand: str
    sharing: str = "equal"
    report: bool = True


@dataclasses.dataclass
class StepContext:
    """Exogenous quantities of one step (all volumes in m3 per step), mutable by agreements."""

    t: int
    time: pd.Timestamp
    dt: float
    inflow: np.ndarray          # per node, m3/step (incl. lagged returns)
    evap: np.ndarray            # per reservoir, m3/step (actual)
    storage: np.ndarray         # per reservoir at step start, m3
    demand: np.ndarray          # per demand node, m3/step (after drought cuts)
    demand_raw: np.ndarray      # per demand node before agreements
    link_ub: np.ndarray         # per link, capacity of the inlet (gross) flow m3/step (outlet basis converted)
    link_reason: list[str | None]
    claim_amount: np.ndarray
    claim_weight: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    notes: dict[int, list[tuple[str, str]]]  # claim idx -> non-LP reasons (kind, text)
    preference: np.ndarray | None = None      # per link, supply-preference rank π of the step (0: none)
    level_sharing: dict[int, str] | None = None  # sharing rule per priority level valid in this step


#: serialises the stdout redirection of :func:`_quiet_highs`: file descriptor 1 is process-wide, and two threads
#: (dask scenarios) interleaving save/redirect/restore left it pointing at /dev/null for good — every later print
#: of the process silently lost (found: examples/03_allocation_study.py printed nothing in ~1 run of 8)
_STDOUT_LOCK = threading.Lock()


def _quiet_highs(highspy: Any) -> Any:
    """``highspy.Highs()`` without the banner its C++ constructor writes to the process stdout (thread-safe)."""
    import os
    import sys

    with _STDOUT_LOCK:
        try:
            fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
            saved = os.dup(fd)
        except (OSError, ValueError, AttributeError):
            h = highspy.Highs()
            h.silent()
            return h
        try:
            sys.stdout.flush()
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), fd)
                try:
                    h = highspy.Highs()
                    h.silent()
                finally:
                    os.dup2(saved, fd)
        finally:
            os.close(saved)
        return h


class _Highs:
    """Thin wrapper on one highspy model with cached bounds/costs (only changes are sent)."""

    def __init__(self, ncol: int, nrow: int, starts: np.ndarray, index: np.ndarray, value: np.ndarray,
                 col_lb: np.ndarray, col_ub: np.ndarray, row_lb: np.ndarray, row_ub: np.ndarray):
        import highspy

        self.hs = highspy
        h = _quiet_highs(highspy)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("simplex_strategy", 1)  # dual simplex, deterministic
        h.setOptionValue("simplex_dual_edge_weight_strategy", 0)  # Dantzig pricing: cheapest on these warm re-solves
        h.setOptionValue("presolve", "off")      # keep the basis between solves (warm start)
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", 0)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = ncol, nrow
        lp.col_cost_ = np.zeros(ncol)
        lp.col_lower_, lp.col_upper_ = col_lb.copy(), col_ub.copy()
        lp.row_lower_, lp.row_upper_ = row_lb.copy(), row_ub.copy()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = starts.astype(np.int32)
        lp.a_matrix_.index_ = index.astype(np.int32)
        lp.a_matrix_.value_ = value.astype(np.float64)
        lp.sense_ = highspy.ObjSense.kMinimize
        h.passModel(lp)
        self.h = h
        self.cost = np.zeros(ncol)
        self.col_lb, self.col_ub = col_lb.copy(), col_ub.copy()
        self.row_lb, self.row_ub = row_lb.copy(), row_ub.copy()
        self.allcols = np.arange(ncol, dtype=np.int32)
        self.allrows = np.arange(nrow, dtype=np.int32)
        self.nsolve = 0
        self.nrelax = 0
        self.relax: Any = None
        self.last_x = np.zeros(ncol)

    def set_col_bounds(self, lb: np.ndarray, ub: np.ndarray) -> None:
        ch = np.flatnonzero((lb != self.col_lb) | (ub != self.col_ub)).astype(np.int32)
        if ch.size:
            self.h.changeColsBounds(ch.size, ch, lb[ch], ub[ch])
            self.col_lb[ch], self.col_ub[ch] = lb[ch], ub[ch]

    def set_cols(self, idx: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        idx = np.asarray(idx, np.int32)
        if idx.size:
            self.h.changeColsBounds(idx.size, idx, np.asarray(lb, float), np.asarray(ub, float))
            self.col_lb[idx], self.col_ub[idx] = lb, ub

    def set_row_bounds(self, lb: np.ndarray, ub: np.ndarray) -> None:
        ch = np.flatnonzero((lb != self.row_lb) | (ub != self.row_ub)).astype(np.int32)
        if ch.size:
            self.h.changeRowsBounds(ch.size, ch, lb[ch], ub[ch])
            self.row_lb[ch], self.row_ub[ch] = lb[ch], ub[ch]

    def set_rows(self, idx: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        idx = np.asarray(idx, np.int32)
        if idx.size:
            self.h.changeRowsBounds(idx.size, idx, np.asarray(lb, float), np.asarray(ub, float))
            self.row_lb[idx], self.row_ub[idx] = lb, ub

    def set_cost(self, cost: np.ndarray) -> None:
        ch = np.flatnonzero(cost != self.cost).astype(np.int32)
        if ch.size:
            self.h.changeColsCost(ch.size, ch, cost[ch])
            self.cost[ch] = cost[ch]

    def solve(self, primal: bool = False) -> tuple[np.ndarray, float]:
        strat = 4 if primal else 1
        if strat != getattr(self, "_strat", 1):
            self.h.setOptionValue("simplex_strategy", strat)
            self._strat = strat
        self.h.run()
        self.nsolve += 1
        st = self.h.getModelStatus()
        if st != self.hs.HighsModelStatus.kOptimal:
            # numerical trouble: retry from scratch once before giving up
            self.h.clearSolver()
            self.h.run()
            st = self.h.getModelStatus()
            if st != self.hs.HighsModelStatus.kOptimal and self.relax is not None and self.relax():
                # pins of earlier LPs are jointly infeasible by more than the solver tolerance
                # (round-off accumulated over several pinned solutions): widen them and retry
                self.nrelax += 1
                self.h.run()
                st = self.h.getModelStatus()
            if st != self.hs.HighsModelStatus.kOptimal:
                raise SolverError(self.h.modelStatusToString(st))
        sol = self.h.getSolution()
        self.last_x = np.asarray(sol.col_value)
        return self.last_x, float(self.h.getInfo().objective_function_value)

    def duals(self) -> tuple[np.ndarray, np.ndarray]:
        sol = self.h.getSolution()
        return np.asarray(sol.row_dual), np.asarray(sol.col_dual)


class AllocationModel:
    """The allocation LP of one network over one time axis.

    Parameters
    ----------
    network : Network
    times : pandas.DatetimeIndex
        Start of each step (UTC).
    dt : float
        Step length [s].
    external : dict, optional
        Run-time series (``external = "..."`` in the network file), e.g. simulated inflows.
    explain : bool
        Record binding constraints and shadow prices for every claim with a shortfall.
    """

    def __init__(self, network: Network, times: pd.DatetimeIndex, dt: float,
                 external: dict[str, Any] | None = None, explain: bool = True):
        t0 = _time.perf_counter()
        self.net = network
        self.times = times
        self.dt = float(dt)
        self.nt = len(times)
        self.explain = explain
        self.external = external or {}
        spec = network.spec
        self.node_ids = [n.id for n in spec.nodes]
        self.node_ix = {nid: i for i, nid in enumerate(self.node_ids)}
        self.link_ids = [lk.id for lk in spec.links]
        self.link_ix = {lid: i for i, lid in enumerate(self.link_ids)}
        self.res_nodes = [i for i, n in enumerate(spec.nodes) if n.type == "reservoir"]
        self.src_nodes = [i for i, n in enumerate(spec.nodes) if n.type in ("intake", "inflow", "groundwater")]
        self.out_nodes = [i for i, n in enumerate(spec.nodes) if n.type == "outlet"]
        self.dem_nodes = [i for i, n in enumerate(spec.nodes) if n.type == "demand"]
        self.res_ix = {self.node_ids[n]: k for k, n in enumerate(self.res_nodes)}
        self.dem_ix = {self.node_ids[n]: k for k, n in enumerate(self.dem_nodes)}
        self.dem_ids = [self.node_ids[n] for n in self.dem_nodes]
        self.res_ids = [self.node_ids[n] for n in self.res_nodes]
        self.dem_region = [spec.nodes[n].region for n in self.dem_nodes]
        nL, nR, nS, nO, nD = len(spec.links), len(self.res_nodes), len(self.src_nodes), len(self.out_nodes), len(self.dem_nodes)
        self.nL, self.nR, self.nS, self.nO, self.nD = nL, nR, nS, nO, nD
        self.link_from = np.array([self.node_ix[lk.from_] for lk in spec.links], dtype=np.int64)
        self.link_to = np.array([self.node_ix[lk.to] for lk in spec.links], dtype=np.int64)
        self.link_loss = np.array([lk.loss_fraction for lk in spec.links], float)
        self.is_return = np.array([lk.return_fraction is not None for lk in spec.links], bool)
        self.ret_frac = np.array([lk.return_fraction or 0.0 for lk in spec.links], float)
        self.ret_lag = np.array([lk.lag for lk in spec.links], dtype=np.int64)
        # return link of each demand (-1 if none)
        self.dem_return = np.full(nD, -1, dtype=np.int64)
        for e in np.flatnonzero(self.is_return):
            self.dem_return[self.dem_ix[self.node_ids[self.link_from[e]]]] = e
        self._compile_series()
        # ----------------------------------------------------------- claims
        self.claims: list[Claim] = []
        self._default_claim = np.full(nD, -1, dtype=np.int64)
        self.level_sharing: dict[int, str] = {}
        for k, n in enumerate(self.dem_nodes):
            node = spec.nodes[n]
            self._default_claim[k] = self.add_claim(Claim(node.id, "tranche", k, node.priority, node.region, "demand", node.id))
        self.extra_rows: list[dict[str, Any]] = []
        self.preference = np.zeros(nL)
        # each model has its own copies: agreements keep per-run state (series of this run's inputs, claim and row
        # indices, balances) on themselves, and models built from one network may run at once (dask threads)
        self.agreements = sorted((a.model_copy(deep=True) for a in network.agreements), key=lambda a: (a.phase, a.index))
        for ag in self.agreements:
            ag.setup(self)
        self._build()
        self.setup_time = _time.perf_counter() - t0

    # ------------------------------------------------------------------ setup API for agreements
    def add_claim(self, claim: Claim) -> int:
        """Register a claim; returns its index."""
        self.claims.append(claim)
        return len(self.claims) - 1

    def drop_default_claim(self, demand: int) -> None:
        """Remove the default tranche of a demand (an agreement supplies its own tranches)."""
        k = int(self._default_claim[demand])
        if k >= 0:
            self.claims[k].priority = -1  # inactive: never claimed
            self._default_claim[demand] = -1

    def default_claim(self, demand: int) -> int:
        """Index of the default tranche of demand ``demand`` (-1 if an agreement dropped it)."""
        return int(self._default_claim[demand])

    def add_row(self, coeffs: dict[str, dict[int, float]], *, name: str, kind: str, label: str,
                links: Sequence[int] = (), demands: Sequence[int] = ()) -> int:
        """Register an agreement row ``lb ≤ Σ coef·col ≤ ub`` (bounds set each step in ``before``).

        ``coeffs`` maps column groups (``"link"``, ``"claim"``, ``"spill"``: reservoir index, ``"unused"``: source
        index) to {index: coefficient}.
        Returns the row's index among the agreement rows.
        """
        self.extra_rows.append(dict(coeffs=coeffs, name=name, kind=kind, label=label,
                                    links=set(links), demands=set(demands)))
        return len(self.extra_rows) - 1

    def demand_claims(self, d: int) -> list[int]:
        """Active claims (tranches) of demand ``d``."""
        cache = getattr(self, "_dc_cache", None)
        if cache is not None:
            return cache[d]
        return [i for i, c in enumerate(self.claims) if c.kind == "tranche" and c.target == d and c.priority >= 0]

    def quantity(self, value: Any, kind: str, where: str) -> float:
        """Parse a quantity of an agreement (rates, volumes, limits, thresholds: never negative), raising
        ConfigError naming the file and key."""
        try:
            v = parse_quantity(value, kind)
        except ValueError as exc:
            raise self.net.error(where, str(exc)) from None
        if v < 0:
            # e.g. a negative entitlement left more than the whole demand to the surplus claim
            raise self.net.error(where, f"{value!r} must not be negative")
        return v

    def nonnegative_series(self, spec: Any, where: str) -> np.ndarray:
        """An agreement's flow series (required flows, obligations) in m3 per step; negative values are an error."""
        v = self._series(spec, where) * self.dt
        if (v < 0).any():
            raise self.net.error(where, f"negative value at step {int(np.argmax(v < 0))}")
        return v

    # ------------------------------------------------------------------ compile series
    def _series(self, spec: Any, where: str, allow_inf: bool = False) -> np.ndarray:
        return resolve_series(spec, self.times, self.dt, where, self.net, self.external, allow_inf=allow_inf)

    def _compile_series(self) -> None:
        spec, nt, dt = self.net.spec, self.nt, self.dt
        node_pos = {n.id: i for i, n in enumerate(spec.nodes)}
        self.inflow = np.zeros((nt, len(spec.nodes)))
        for n in spec.nodes:
            i = node_pos[n.id]
            if n.id in self.external and n.type in ("reservoir", "intake", "inflow", "groundwater"):
                # run-time override by node id (e.g. the routed discharge at this node from ``hydro run``)
                from hydro.allocation.network import SeriesSpec
                # units: xarray from its attrs; pandas from attrs["units"] if given, else m3 s-1 as arrays
                self.inflow[:, i] = self._series(SeriesSpec(external=n.id), f"inflows[{n.id!r}]")
            elif n.type == "reservoir" and n.inflow is not None:
                self.inflow[:, i] = self._series(n.inflow, f"nodes[{i}].inflow")
            elif n.type in ("intake", "inflow"):
                self.inflow[:, i] = self._series(n.inflow, f"nodes[{i}].inflow")
            elif n.type == "groundwater":
                self.inflow[:, i] = self._series(n.sustainable_yield, f"nodes[{i}].sustainable_yield")
        if (self.inflow < 0).any():
            i, j = np.argwhere(self.inflow < 0)[0]
            raise InputDataError(f"{self.net.source}: nodes[{j}]: negative inflow at step {i}")
        self.inflow *= dt
        self.demand = np.zeros((nt, self.nD))
        self.dem_cap = np.full(self.nD, INF)
        for k, n in enumerate(self.dem_nodes):
            node = spec.nodes[n]
            self.demand[:, k] = self._series(node.demand, f"nodes[{n}].demand") * dt
            if node.cap is not None:
                self.dem_cap[k] = parse_quantity(node.cap, "flow") * dt
        if (self.demand < 0).any():
            i, k = np.argwhere(self.demand < 0)[0]
            raise InputDataError(f"{self.net.source}: nodes[{self.dem_nodes[k]}].demand: negative demand at step {i}")
        self.capacity = np.full((nt, self.nL), INF)
        tz = self.times.tz
        for e, lk in enumerate(spec.links):
            if lk.capacity is not None:
                self.capacity[:, e] = self._series(lk.capacity, f"links[{e}].capacity", allow_inf=True) * dt
                if (self.capacity[:, e] < 0).any():
                    raise self.net.error(f"links[{e}].capacity", f"negative capacity in link {lk.id!r}")
            t0 = self.times.asi8.astype(np.float64)
            for o in lk.outages:
                a, b = axis_time(o.start, tz), axis_time(o.end, tz)
                # fraction of each step inside [start, end): the step's capacity is the time-weighted mean (as every
                # series: the volume is kept), so an outage shorter than a step or straddling step starts counts
                # for the part of the step it covers
                ov = np.clip((np.minimum(t0 + dt * 1e9, float(b.value)) - np.maximum(t0, float(a.value))) / (dt * 1e9),
                             0.0, 1.0)
                cap = self.capacity[:, e]
                low = np.minimum(cap, parse_quantity(o.capacity, "flow") * dt)
                with np.errstate(invalid="ignore"):
                    mean = np.where(np.isfinite(cap), (1.0 - ov) * cap + ov * low, INF)
                self.capacity[:, e] = np.where(ov >= 1.0, low, np.where(ov > 0.0, mean, cap))
        self.res_cap = np.zeros(self.nR)
        self.res_dead = np.zeros(self.nR)
        self.res_init = np.zeros(self.nR)
        self.evap_rate = np.zeros((nt, self.nR))
        self.res_area: list[Any] = []
        for r, n in enumerate(self.res_nodes):
            node = spec.nodes[n]
            self.res_cap[r] = parse_quantity(node.capacity, "volume")
            self.res_dead[r] = parse_quantity(node.dead_storage, "volume")
            self.res_init[r] = parse_quantity(node.initial_storage, "volume")
            if node.evaporation is not None:
                self.evap_rate[:, r] = self._series(node.evaporation, f"nodes[{n}].evaporation") * dt
            if node.area_table is not None:
                tb = node.area_table
                from hydro.allocation.units import to_si
                self.res_area.append((np.asarray(tb["storage"], float) * to_si(1, tb["storage_units"], "volume"),
                                      np.asarray(tb["area"], float) * to_si(1, tb["area_units"], "area")))
            elif node.area is not None:
                self.res_area.append(parse_quantity(node.area, "area"))
            else:
                self.res_area.append(0.0)

    def surface_area(self, r: int, storage: float) -> float:
        """Water surface area of reservoir ``r`` [m2] at ``storage`` [m3] (table interpolation)."""
        a = self.res_area[r]
        if isinstance(a, tuple):
            return float(np.interp(storage, a[0], a[1]))
        return float(a)

    # ------------------------------------------------------------------ LP build (once)
    def _build(self) -> None:
        spec = self.net.spec
        nL, nR, nS, nO = self.nL, self.nR, self.nS, self.nO
        self.claims_active = np.array([c.priority >= 0 for c in self.claims], bool)
        nC = len(self.claims)
        self.nC = nC
        # column layout
        self.cF = 0
        self.cS = nL
        self.cSP = nL + nR
        self.cU = nL + 2 * nR
        self.cO = nL + 2 * nR + nS
        self.cC = self.cO + nO
        self.cT = self.cC + nC
        ncol = self.cT + 1
        self.ncol = ncol
        cols: list[list[tuple[int, float]]] = [[] for _ in range(ncol)]
        row = 0
        nN = len(spec.nodes)
        # node balance rows: Σout + S_end + spill + unused + absorb − Σin_net − Σ overflow-in = exogenous
        self.rB = 0
        for e in range(nL):
            if self.is_return[e] and self.ret_lag[e] > 0:
                continue  # lagged return: arrives later as exogenous inflow
            cols[self.cF + e].append((self.rB + int(self.link_from[e]), 1.0))
            cols[self.cF + e].append((self.rB + int(self.link_to[e]), -(1.0 - self.link_loss[e])))
        for e in np.flatnonzero(self.is_return):  # demand balance rows must not see the return link outflow
            if self.ret_lag[e] == 0:
                cols[self.cF + e] = [(r, v) for (r, v) in cols[self.cF + e] if r != self.rB + int(self.link_from[e])]
        for r, n in enumerate(self.res_nodes):
            cols[self.cS + r].append((self.rB + n, 1.0))
            cols[self.cSP + r].append((self.rB + n, 1.0))
            tgt = spec.nodes[n].overflow_to
            if tgt is not None:
                cols[self.cSP + r].append((self.rB + self.node_ix[tgt], -1.0))
        for s, n in enumerate(self.src_nodes):
            cols[self.cU + s].append((self.rB + n, 1.0))
            tgt = getattr(spec.nodes[n], "overflow_to", None)
            if tgt is not None:
                cols[self.cU + s].append((self.rB + self.node_ix[tgt], -1.0))
        for o, n in enumerate(self.out_nodes):
            cols[self.cO + o].append((self.rB + n, 1.0))
        for k, c in enumerate(self.claims):
            if c.kind == "tranche" and c.priority >= 0:
                cols[self.cC + k].append((self.rB + self.dem_nodes[c.target], 1.0))
        row = nN
        # return rows (lag 0): F_r − ρ Σ claims(d) = 0
        self.rRet = row
        self.ret_rows: list[int] = []
        for d in range(self.nD):
            e = int(self.dem_return[d])
            if e >= 0 and self.ret_lag[e] == 0:
                cols[self.cF + e].append((row, 1.0))
                for k in self.demand_claims(d):
                    cols[self.cC + k].append((row, -self.ret_frac[e]))
                self.ret_rows.append(row)
                row += 1
        # flow-claim rows: F_e − C_k ≥ 0
        self.rFC = row
        self.flow_claim_row = np.full(nC, -1, dtype=np.int64)
        for k, c in enumerate(self.claims):
            if c.kind == "flow" and c.priority >= 0:
                cols[self.cF + c.target].append((row, 1.0))
                cols[self.cC + k].append((row, -1.0))
                self.flow_claim_row[k] = row
                row += 1
        # coverage rows: C_k − w_k T ≥ 0 (active) / −inf (inactive)
        self.rCov = row
        for k in range(nC):
            cols[self.cC + k].append((row + k, 1.0))
            cols[self.cT].append((row + k, -1.0))
        row += nC
        self.cov_w = np.ones(nC)
        # level rows: Σ_{claims at p} C ≥ lb
        self.levels = sorted({c.priority for c in self.claims if c.priority >= 0})
        self.rLev = row
        self.level_row = {}
        for p in self.levels:
            for k, c in enumerate(self.claims):
                if c.priority == p:
                    cols[self.cC + k].append((row, 1.0))
            self.level_row[p] = row
            row += 1
        # preference row Σ π (1 − λ) f ≤ ub: the preference weighs the water a link *delivers* (its outlet
        # flow), so a lossy preferred link is still drawn first (weighing the inlet flow would count its
        # losses as extra cost and could rank a less preferred loss-free source ahead of it)
        self.rPref = row
        self.has_pref = bool(np.any(self.preference > 0))
        self.pref_cost = self.preference * (1.0 - self.link_loss)
        if self.has_pref:
            for e in np.flatnonzero(self.preference > 0):
                cols[self.cF + e].append((row, float(self.pref_cost[e])))
            row += 1
        # agreement rows
        self.rX = row
        for j, xr_ in enumerate(self.extra_rows):
            for e, v in xr_["coeffs"].get("link", {}).items():
                cols[self.cF + e].append((row + j, float(v)))
            for k, v in xr_["coeffs"].get("claim", {}).items():
                cols[self.cC + k].append((row + j, float(v)))
            for r_, v in xr_["coeffs"].get("spill", {}).items():
                cols[self.cSP + r_].append((row + j, float(v)))
            for s_, v in xr_["coeffs"].get("unused", {}).items():
                cols[self.cU + s_].append((row + j, float(v)))
        row += len(self.extra_rows)
        self.nrow = row
        # CSC arrays
        starts = np.zeros(ncol + 1, dtype=np.int64)
        idx: list[int] = []
        val: list[float] = []
        for j, entries in enumerate(cols):
            merged: dict[int, float] = {}
            for r_, v in entries:
                merged[r_] = merged.get(r_, 0.0) + v
            for r_ in sorted(merged):
                idx.append(r_)
                val.append(merged[r_])
            starts[j + 1] = len(idx)
        self.A_idx = np.asarray(idx, np.int64)
        self.A_val = np.asarray(val, float)
        self.A_start = starts
        col_lb = np.zeros(ncol)
        col_ub = np.full(ncol, INF)
        row_lb = np.zeros(row)
        row_ub = np.zeros(row)
        row_lb[self.rCov:self.rCov + nC] = -INF
        row_ub[self.rCov:] = INF
        row_lb[self.rLev:] = -INF
        row_ub[self.rFC:self.rCov] = INF  # flow-claim rows ≥ 0
        row_lb[self.rFC:self.rCov] = 0.0
        self.row_lb0, self.row_ub0 = row_lb, row_ub
        self.lp = _Highs(ncol, row, starts, self.A_idx, self.A_val, col_lb, col_ub, row_lb, row_ub)
        self.lp.relax = self._relax_pins
        # final tie-break cost
        cost = np.zeros(ncol)
        cost[self.cF:self.cF + nL] = DELTA * (1.0 + 1e-3 * np.arange(nL) / max(nL, 1))
        cost[self.cSP:self.cSP + nR] = DELTA
        cost[self.cS:self.cS + nR] = -np.array([spec.nodes[n].storage_weight for n in self.res_nodes], float)
        self.final_cost = cost
        # candidate objective: deliveries weighted by priority rank (senior heavier) + tie-break
        self.claim_priority = np.array([c.priority for c in self.claims], dtype=np.int64)
        big = 10.0 * max(1.0, float(-cost[self.cS:self.cS + nR].min(initial=0.0)))
        nlev = len(self.levels)
        ratio = min(CANDIDATE_RATIO, CANDIDATE_RANGE ** (1.0 / max(nlev - 1, 1)))
        wlev = {p: big * ratio ** (nlev - 1 - i) for i, p in enumerate(self.levels)}
        cand = np.zeros(ncol) if self.has_pref else cost.copy()
        for k in range(nC):
            p = int(self.claim_priority[k])
            if p >= 0:
                cand[self.cC + k] = -wlev[p]
        self.candidate_cost = cand
        self.n_candidate_only = 0
        # per-step constants
        self._lb0 = np.zeros(ncol)
        self._ub0 = np.full(ncol, INF)
        self._ub0[self.cS:self.cS + nR] = self.res_cap
        self._ub0[self.cT] = 0.0
        self._res_arr = np.asarray(self.res_nodes, dtype=np.int64)
        self._outlet_basis = np.array([lk.capacity_basis == "outlet" for lk in spec.links], bool)
        self._lagged = self.is_return & (self.ret_lag > 0)
        dc: list[list[int]] = [[] for _ in range(self.nD)]
        for i, c in enumerate(self.claims):
            if c.kind == "tranche" and c.priority >= 0:
                dc[c.target].append(i)
        self._dc_cache = dc
        # uncontrolled water into each reservoir — overflow of upstream reservoirs (spill) and sources (unused
        # water), same-step return flows — directly or through junctions (a junction must pass on all it gets)
        reach = self._forced_reach()
        self._ovf_res: list[list[int]] = [[] for _ in range(nR)]
        self._ovf_src = [False] * nR
        for q, m in enumerate(self.res_nodes):
            if spec.nodes[m].overflow_to is not None:
                for r in reach(self.node_ix[spec.nodes[m].overflow_to]):
                    self._ovf_res[r].append(q)
        for m in self.src_nodes:
            if getattr(spec.nodes[m], "overflow_to", None) is not None:
                for r in reach(self.node_ix[spec.nodes[m].overflow_to]):
                    self._ovf_src[r] = True
        # same-step return flows: at most (1 − λ) ρ × the claims of the returning demand (per reservoir reached)
        ret_mat = np.zeros((nR, self.nC))
        jun_mat = np.zeros((nR, len(self.node_ids)))
        for d in range(self.nD):
            e = int(self.dem_return[d])
            if e < 0:
                continue
            to = int(self.link_to[e])
            if self.ret_lag[e] == 0:
                for r in reach(to):
                    for k in self._dc_cache[d]:
                        ret_mat[r, k] += (1.0 - self.link_loss[e]) * self.ret_frac[e]
            elif spec.nodes[to].type == "junction":
                # a lagged return arriving at a junction (its exogenous inflow) must be passed on as well
                for r in reach(to):
                    jun_mat[r, to] = 1.0
        self._ret_mat = ret_mat if ret_mat.any() else None
        self._jun_mat = jun_mat if jun_mat.any() else None
        self._has_ovf = any(self._ovf_res) or any(self._ovf_src)
        self._labels()
        self._upstream_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _forced_reach(self) -> Any:
        """``reach(node)``: the reservoirs (indices) that water arriving at ``node`` uncontrolled can be forced
        into — the node itself if a reservoir, else through junctions, which must pass on all they receive
        (computed on demand: only overflow and return-flow targets are asked)."""
        spec = self.net.spec
        outs: list[list[int]] = [[] for _ in self.node_ids]
        for e in range(self.nL):
            if not self.is_return[e]:
                outs[int(self.link_from[e])].append(int(self.link_to[e]))
        res_of = {n: r for r, n in enumerate(self.res_nodes)}
        memo: dict[int, set[int]] = {}

        def reach(n0: int) -> set[int]:
            if n0 not in memo:
                found: set[int] = set()
                seen = {n0}
                stack = [n0]
                while stack:
                    n = stack.pop()
                    if n in res_of:
                        found.add(res_of[n])
                    elif spec.nodes[n].type == "junction":
                        for m in outs[n]:
                            if m not in seen:
                                seen.add(m)
                                stack.append(m)
                memo[n0] = found
            return memo[n0]
        return reach

    def _labels(self) -> None:
        spec = self.net.spec
        self.col_kind = ["" for _ in range(self.ncol)]
        self.col_label = ["" for _ in range(self.ncol)]
        for e, lk in enumerate(spec.links):
            self.col_kind[self.cF + e] = "pipe_full"
            self.col_label[self.cF + e] = f"link {lk.id} at capacity"
        for r, n in enumerate(self.res_nodes):
            self.col_kind[self.cS + r] = "source_empty"
            self.col_label[self.cS + r] = f"reservoir {self.node_ids[n]} drawn to its floor (dead storage)"
        for s, n in enumerate(self.src_nodes):
            self.col_kind[self.cU + s] = "source_empty"
            self.col_label[self.cU + s] = f"{spec.nodes[n].type} {self.node_ids[n]} fully used"
        for k, c in enumerate(self.claims):
            self.col_kind[self.cC + k] = "claim"
            self.col_label[self.cC + k] = c.id
        # junctions that receive lagged return flows: that water is an exogenous inflow of the junction's balance row
        # (no column of its own), so a demand it limits is explained by the row's dual (it was "shared_shortage")
        frm: dict[int, list[str]] = {}
        for e in np.flatnonzero(self.is_return & (self.ret_lag > 0)):
            n = int(self.link_to[e])
            if spec.nodes[n].type == "junction":
                frm.setdefault(n, []).append(self.node_ids[int(self.link_from[e])])
        self.ret_junctions = np.array(sorted(frm), dtype=np.int64)
        self.ret_junction_label = [f"lagged return flow arriving at junction {self.node_ids[n]} (from "
                                   f"{', '.join(frm[n])}) all used" for n in self.ret_junctions.tolist()]

    # ------------------------------------------------------------------ graph helpers
    def upstream(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Masks (nodes, links) that can send water to claim ``k``."""
        d = self.upstream_dist(k)
        return d[0] >= 0, d[1] >= 0

    def upstream_dist(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Number of links between each node/link and claim ``k`` (-1: cannot reach it)."""
        if k in self._upstream_cache:
            return self._upstream_cache[k]
        if not hasattr(self, "_into"):
            into: list[list[tuple[int, int]]] = [[] for _ in range(len(self.node_ids))]
            for e in range(self.nL):
                into[int(self.link_to[e])].append((int(self.link_from[e]), e))
            for n in self.res_nodes + self.src_nodes:
                tgt = getattr(self.net.spec.nodes[n], "overflow_to", None)
                if tgt is not None:
                    into[self.node_ix[tgt]].append((n, -1))
            self._into = into
        c = self.claims[k]
        start = self.dem_nodes[c.target] if c.kind == "tranche" else int(self.link_from[c.target])
        nd = np.full(len(self.node_ids), -1, dtype=np.int64)
        ld = np.full(self.nL, -1, dtype=np.int64)
        if c.kind == "flow":
            ld[c.target] = 0
        nd[start] = 0
        frontier = [start]
        while frontier:
            nxt = []
            for m in frontier:
                for (src, e) in self._into[m]:
                    if e >= 0 and ld[e] < 0:
                        ld[e] = nd[m] + 1
                    if nd[src] < 0:
                        nd[src] = nd[m] + 1
                        nxt.append(src)
            frontier = nxt
        self._upstream_cache[k] = (nd, ld)
        return nd, ld

    # ------------------------------------------------------------------ state
    def initial_state(self) -> dict[str, Any]:
        """State at the start of the run (storage, return-flow history, agreement states)."""
        st: dict[str, Any] = {
            "storage": self.res_init.copy(),
            "returns": np.zeros((int(self.ret_lag.max(initial=0)) + 1, len(self.node_ids))),
        }
        for ag in self.agreements:
            st[ag.name] = ag.initial_state(self)
        return st

    # ------------------------------------------------------------------ one step
    def context(self, t: int, state: dict[str, Any]) -> StepContext:
        S = state["storage"]
        inflow = self.inflow[t].copy()
        inflow += state["returns"][0]
        evap = np.zeros(self.nR)
        # net evaporation (evaporation minus rainfall on the water surface) × the surface area at
        # start-of-step storage; at most the water present. A negative rate is a net gain (rain on the
        # surface exceeds evaporation): negative evaporation, added to the reservoir like inflow.
        for r in np.flatnonzero(self.evap_rate[t] != 0):
            n = self.res_nodes[r]
            e = self.evap_rate[t, r] * self.surface_area(r, S[r])
            evap[r] = min(e, S[r] + inflow[n]) if e > 0 else e
        # link capacities on the inlet (gross) basis of the link variable: an outlet-basis capacity
        # C limits the delivered flow (1 − λ) f, i.e. f ≤ C / (1 − λ). Agreements then cap ``link_ub``
        # with quantities of water drawn at the link's inlet (shares, shortage allotments).
        link_ub = self.capacity[t].copy()
        if self._outlet_basis.any():
            link_ub[self._outlet_basis] = link_ub[self._outlet_basis] / (1.0 - self.link_loss[self._outlet_basis])
        ctx = StepContext(
            t=t, time=self.times[t], dt=self.dt, inflow=inflow, evap=evap, storage=S.copy(),
            demand=self.demand[t].copy(), demand_raw=self.demand[t].copy(),
            link_ub=link_ub, link_reason=[None] * self.nL,
            claim_amount=np.zeros(self.nC), claim_weight=np.zeros(self.nC),
            row_lb=np.full(len(self.extra_rows), -INF), row_ub=np.full(len(self.extra_rows), INF),
            notes={},
            preference=np.zeros(self.nL) if self.has_pref else None,
            level_sharing=dict(self.level_sharing),
        )
        return ctx

    def _default_tranches(self, ctx: StepContext) -> None:
        has = self._default_claim >= 0
        ctx.claim_amount[self._default_claim[has]] = ctx.demand[has]

    def _apply_caps(self, ctx: StepContext) -> None:
        """Demand cap R: tranches are cut, most junior first, so their sum is ≤ R·Δt. Within one priority the
        demand's default tranche is the junior part (a ``minimum_delivery`` claim is the senior part of the
        request), then later tranches of an agreement before earlier ones."""
        for d in np.flatnonzero(np.isfinite(self.dem_cap)):
            dflt = int(self._default_claim[d])
            ks = sorted(self.demand_claims(d), key=lambda k: (self.claims[k].priority, k == dflt, k))
            left = self.dem_cap[d]
            for k in ks:
                a = min(ctx.claim_amount[k], left)
                if a < ctx.claim_amount[k] - 1e-12:
                    ctx.notes.setdefault(k, []).append(("agreement_cap", f"delivery cap of {self.dem_ids[d]}"))
                ctx.claim_amount[k] = a
                left -= a

    def prepare(self, t: int, state: dict[str, Any]) -> StepContext:
        """Evaluate every rule from start-of-step state (the ``before`` phase)."""
        ctx = self.context(t, state)
        done_default = False
        for ag in self.agreements:
            if ag.phase >= 20 and not done_default:
                self._default_tranches(ctx)
                done_default = True
            if ag.phase >= 30 and not getattr(ctx, "_capped", False):
                self._apply_caps(ctx)
                ctx._capped = True  # type: ignore[attr-defined]
            ag.before(self, ctx, state[ag.name])
        if not done_default:
            self._default_tranches(ctx)
        if not getattr(ctx, "_capped", False):
            self._apply_caps(ctx)
        # weights default to the claim amount (equal coverage of what is claimed)
        w = ctx.claim_weight
        unset = w <= 0
        w[unset] = ctx.claim_amount[unset]
        return ctx

    def solve_step(self, ctx: StepContext) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Solve the lexicographic sequence of LPs for one step.

        Returns
        -------
        x : ndarray
            Column values of the final LP.
        why : list of dict
            Binding constraints behind every shortfall (empty if ``explain`` is False).
        """
        lp = self.lp
        nC, nR = self.nC, self.nR
        # ---- column bounds
        lb = self._lb0.copy()
        ub = self._ub0.copy()
        link_ub = ctx.link_ub.copy()  # inlet (gross) basis already (see ``context``)
        link_ub[self._lagged] = 0.0
        ub[self.cF:self.cF + self.nL] = link_ub
        S0 = ctx.storage
        avail = S0 + ctx.inflow[self._res_arr] - ctx.evap if nR else np.zeros(0)
        lb[self.cS:self.cS + nR] = np.maximum(0.0, np.minimum(self.res_dead, avail))
        # spill is the overflow of the step: at most what would exceed capacity with no release at all
        # (it can never serve as an extra outlet that bypasses link capacities)
        # (plus the water that can arrive uncontrolled: overflow of upstream reservoirs and sources, same-step
        # return flows — spill ≤ max(0, avail + that inflow − capacity), so stored water never spills)
        amt = np.where(self.claims_active, np.maximum(ctx.claim_amount, 0.0), 0.0)
        ret_in = self._ret_mat @ amt if self._ret_mat is not None else 0.0
        if self._jun_mat is not None:
            ret_in = ret_in + self._jun_mat @ ctx.inflow
        sp_ub = np.maximum(0.0, avail + ret_in - self.res_cap)
        if self._has_ovf:
            for _ in range(nR):
                new = np.maximum(0.0, avail + ret_in - self.res_cap + np.array(
                    [sum(sp_ub[q] for q in self._ovf_res[r]) + (INF if self._ovf_src[r] else 0.0) for r in range(nR)]))
                if np.array_equal(new, sp_ub):
                    break
                sp_ub = new
        ub[self.cSP:self.cSP + nR] = sp_ub
        ub[self.cC:self.cC + nC] = amt
        lp.set_col_bounds(lb, ub)
        # ---- row bounds
        rlb = self.row_lb0.copy()
        rub = self.row_ub0.copy()
        exo = ctx.inflow.copy()
        if nR:
            exo[self._res_arr] += S0 - ctx.evap
        rlb[self.rB:self.rB + len(exo)] = exo
        rub[self.rB:self.rB + len(exo)] = exo
        if self.extra_rows:
            rlb[self.rX:self.rX + len(self.extra_rows)] = ctx.row_lb
            rub[self.rX:self.rX + len(self.extra_rows)] = ctx.row_ub
        lp.set_row_bounds(rlb, rub)
        why: list[dict[str, Any]] = []
        pinned = np.zeros(nC, bool)
        active = self.claims_active & (amt > 0)
        # ---- candidate LP (the common case: the only LP of the step). Objective = priority-weighted
        # deliveries + the final tie-break cost; it is the same every step, so only bounds change and
        # HiGHS re-solves from the previous optimal basis (dual simplex, typically a few pivots).
        # If every claim is full in its optimum, this solution *is* the lexicographic optimum for any
        # positive weights (any other all-full solution with a lower tie-break cost would have a lower
        # objective), so no further solve is needed. Otherwise the exact sequence below starts from
        # this basis (see docs/allocation.md §4 for why weights alone are not exact).
        lp.set_cost(self.candidate_cost)
        x, _ = lp.solve()
        c = x[self.cC:self.cC + nC]
        tol = ABS_TOL + REL_TOL * amt
        if np.all(c[active] >= amt[active] - tol[active]):
            if not self.has_pref:
                self.n_candidate_only += 1
                return x, why
            self._pin(np.flatnonzero(active), amt, pinned)
        else:
            for p in self.levels:
                K = np.flatnonzero(active & (self.claim_priority == p) & ~pinned)
                if K.size == 0:
                    continue
                cur = self.lp.last_x[self.cC + K]
                if np.all(cur >= amt[K] - tol[K]):
                    # the last solution meets every claim of this level and all pins so far:
                    # the level's optimum is "all full" without another solve
                    self._pin(K, amt, pinned)
                    continue
                sharing = (ctx.level_sharing if ctx.level_sharing is not None else self.level_sharing).get(p, "equal")
                if sharing == "equal":
                    self._water_fill(K, amt, ctx, pinned, why)
                else:
                    cost = np.zeros(self.ncol)
                    cost[self.cC + K] = -1.0
                    lp.set_cost(cost)
                    x, obj = lp.solve(primal=PRIMAL)
                    opt = float(x[self.cC + K].sum())
                    full = x[self.cC + K] >= amt[K] - tol[K]
                    if self.explain and not full.all():
                        self._record_why(K[~full], x, amt, ctx, why, p)
                    r = self.level_row[p]
                    lp.set_rows(np.array([r]), np.array([opt - ABS_TOL - REL_TOL * abs(opt)]), np.array([INF]))
                    pinned[K] = True
        # ---- supply preferences (only those valid in this step: start/end of each agreement)
        pref_on = False
        if self.has_pref:
            pref = ctx.preference if ctx.preference is not None else self.preference
            coef = pref * (1.0 - self.link_loss)
            for e in np.flatnonzero(coef != self.pref_cost):
                lp.h.changeCoeff(self.rPref, self.cF + int(e), float(coef[e]))
                self.pref_cost[e] = coef[e]
            pref_on = bool(np.any(coef > 0))
        if pref_on:
            cost = np.zeros(self.ncol)
            cost[self.cF:self.cF + self.nL] = self.pref_cost
            lp.set_cost(cost)
            x, obj = lp.solve(primal=PRIMAL)
            lp.set_rows(np.array([self.rPref]), np.array([-INF]), np.array([obj + ABS_TOL + REL_TOL * abs(obj)]))
        # ---- final tie-break (every claim is pinned now: the candidate objective differs from the
        # tie-break cost only by a constant within the pins, and ending the step on it keeps the
        # basis dual feasible for the next step's candidate LP)
        lp.set_cost(self.final_cost if self.has_pref else self.candidate_cost)
        x, _ = lp.solve(primal=PRIMAL)
        # reset level/preference rows and the coverage column for the next step
        lev = np.array(list(self.level_row.values()), dtype=np.int32)
        if lev.size:
            lp.set_rows(lev, np.full(lev.size, -INF), np.full(lev.size, INF))
        if self.has_pref:
            lp.set_rows(np.array([self.rPref]), np.array([-INF]), np.array([INF]))
        return x, why

    def _relax_pins(self) -> bool:
        """Widen every pinned claim by ``PIN_RELAX`` (relative, at least 10⁻⁶ m3) and the level and
        preference rows likewise; returns False if nothing is pinned (then the failure is real)."""
        lp = self.lp
        sl = slice(self.cC, self.cC + self.nC)
        lo, up = lp.col_lb[sl], lp.col_ub[sl]
        pin = np.flatnonzero((lo > 0) & np.isfinite(up) & (up - lo < 1e-6 * np.maximum(1.0, up)))
        rows = [r for r in list(self.level_row.values()) + ([self.rPref] if self.has_pref else [])
                if np.isfinite(lp.row_lb[r]) or np.isfinite(lp.row_ub[r])]
        if not pin.size and not rows:
            return False
        w = np.maximum(1e-6, PIN_RELAX * up[pin])
        lp.set_cols(self.cC + pin, np.maximum(0.0, lo[pin] - w), up[pin] + w)
        for r in rows:
            a, b = lp.row_lb[r], lp.row_ub[r]
            lp.set_rows(np.array([r]), np.array([a - max(1e-6, PIN_RELAX * abs(a)) if np.isfinite(a) else a]),
                        np.array([b + max(1e-6, PIN_RELAX * abs(b)) if np.isfinite(b) else b]))
        return True

    def _pin(self, K: np.ndarray, values: np.ndarray, pinned: np.ndarray) -> None:
        """Fix claims ``K`` at ``values`` (± tolerance), never excluding the current LP solution
        (which satisfies every earlier pin within HiGHS' feasibility tolerance): the pins of a
        level stay jointly feasible despite round-off in the common coverage ``T*``."""
        v = np.maximum(values[K], 0.0)
        cur = self.lp.last_x[self.cC + K]
        tol = ABS_TOL + REL_TOL * v
        self.lp.set_cols(self.cC + K, np.maximum(0.0, np.minimum(v, cur) - tol), np.maximum(v, cur) + tol)
        pinned[K] = True

    def _water_fill(self, K: np.ndarray, amt: np.ndarray, ctx: StepContext, pinned: np.ndarray,
                    why: list[dict[str, Any]]) -> None:
        """Lexicographic max-min of coverage ``x_k / w_k`` over the claims ``K`` of one level.

        Each iteration maximises a common coverage ``T`` with ``x_k ≥ T·w_k`` for the unfrozen
        claims and freezes those whose coverage row has a positive dual (they cannot increase
        without lowering another claim at ``T*``: Lagrangian argument, see docs) or that reached
        their amount.
        """
        lp = self.lp
        w = ctx.claim_weight
        p = int(self.claim_priority[K[0]])
        # coefficients of the coverage rows for this step
        for k in K:
            if w[k] != self.cov_w[k]:
                lp.h.changeCoeff(self.rCov + int(k), self.cT, -float(w[k]))
                self.cov_w[k] = w[k]
        left = K.copy()
        t_lo = 0.0
        while left.size:
            ratio = amt[left] / w[left]
            cost = np.zeros(self.ncol)
            cost[self.cT] = -float(w[left].sum())  # objective = common-coverage delivery [m3]: duals in m3/m3
            lp.set_cost(cost)
            lp.set_rows(self.rCov + left, np.zeros(left.size), np.full(left.size, INF))
            lp.set_cols(np.array([self.cT]), np.array([t_lo]), np.array([float(ratio.max())]))
            x, _ = lp.solve(primal=PRIMAL)
            tstar = float(x[self.cT])
            rd, cd = lp.duals()
            cov_dual = np.abs(rd[self.rCov + left])
            frozen = (cov_dual > DUAL_TOL) | (ratio <= tstar * (1 + 1e-12) + ABS_TOL)
            if not frozen.any():
                frozen[:] = True
            F = left[frozen]
            vals = np.minimum(amt[F], tstar * w[F])
            short = vals < amt[F] - (ABS_TOL + REL_TOL * amt[F])
            if self.explain and short.any():
                # the duals are in m3 of the objective Σ_{left} w_k · T per m3 of relaxation; only the claims held at
                # the common coverage by a binding constraint (positive coverage dual) gain when it is relaxed, so
                # rescale to m3 delivered to those claims: unrelated unfrozen claims of the level (met in full
                # later, other sources) must not inflate the price
                wb = float(w[left[cov_dual > DUAL_TOL]].sum())
                scale = wb / float(w[left].sum()) if wb > 0 else 1.0
                self._record_why(F[short], x, amt, ctx, why, p, duals=(rd * scale, cd * scale), coverage=tstar)
            lp.set_rows(self.rCov + F, np.full(F.size, -INF), np.full(F.size, INF))
            full_vals = amt.copy()
            full_vals[F] = vals
            self._pin(F, full_vals, pinned)
            left = left[~frozen]
            t_lo = max(0.0, tstar - T_SLACK)  # a hint only (T* ≥ this anyway): never cut off the current point
        lp.set_cols(np.array([self.cT]), np.array([0.0]), np.array([0.0]))

    def _record_why(self, F: np.ndarray, x: np.ndarray, amt: np.ndarray, ctx: StepContext,
                    why: list[dict[str, Any]], level: int, duals: tuple[np.ndarray, np.ndarray] | None = None,
                    coverage: float | None = None) -> None:
        """Binding constraints (|dual| > tol) upstream of each claim in ``F`` with their duals."""
        rd, cd = duals if duals is not None else self.lp.duals()
        lp = self.lp
        cf = np.abs(cd[self.cF:self.cF + self.nL])
        ubF = lp.col_ub[self.cF:self.cF + self.nL]
        fx = x[self.cF:self.cF + self.nL]
        pipe = (cf > DUAL_TOL) & np.isfinite(ubF) & (fx >= ubF - 1e-9 * np.maximum(1.0, np.where(np.isfinite(ubF), ubF, 1.0)))
        cs = np.abs(cd[self.cS:self.cS + self.nR])
        res_b = (cs > DUAL_TOL) & (x[self.cS:self.cS + self.nR] <= lp.col_lb[self.cS:self.cS + self.nR] + 1e-6)
        cu = np.abs(cd[self.cU:self.cU + self.nS])
        src_b = (cu > DUAL_TOL) & (x[self.cU:self.cU + self.nS] <= 1e-6)
        # a junction's row dual is negative when more water arriving there would raise the (minimised) objective's
        # deliveries; the opposite sign (water that must be passed on into a full reservoir) limits nobody
        cj = np.maximum(-rd[self.rB + self.ret_junctions], 0.0) if self.ret_junctions.size else np.zeros(0)
        cc = np.abs(cd[self.cC:self.cC + self.nC])
        hp = np.flatnonzero((cc > DUAL_TOL) & (self.claim_priority < level) & (self.claim_priority >= 0))
        lev_rows = [(p, r) for p, r in self.level_row.items() if p < level and abs(rd[r]) > DUAL_TOL]
        xrows = [j for j in range(len(self.extra_rows)) if abs(rd[self.rX + j]) > DUAL_TOL]
        res_nodes = np.asarray(self.res_nodes, dtype=np.int64)
        src_nodes = np.asarray(self.src_nodes, dtype=np.int64)
        pipe_idx = np.flatnonzero(pipe)
        res_idx = np.flatnonzero(res_b) if self.nR else np.zeros(0, np.int64)
        src_idx = np.flatnonzero(src_b) if self.nS else np.zeros(0, np.int64)
        jun_idx = np.flatnonzero(cj > DUAL_TOL)
        HP = self._source_matrix()[hp] if hp.size else None
        sp_all = np.concatenate([cf[pipe_idx], cs[res_idx], cu[src_idx], cj[jun_idx]])
        code = np.concatenate([np.zeros(pipe_idx.size, np.int64), np.ones(res_idx.size, np.int64),
                               np.full(src_idx.size, 2, np.int64), np.full(jun_idx.size, 3, np.int64)])
        ref = np.concatenate([pipe_idx, res_idx, src_idx, jun_idx])
        Fi = [int(k) for k in F]
        dists = [self.upstream_dist(k) for k in Fi]
        if ref.size:
            rn = res_nodes[res_idx] if res_idx.size else np.zeros(0, np.int64)
            sn = src_nodes[src_idx] if src_idx.size else np.zeros(0, np.int64)
            jn = self.ret_junctions[jun_idx]
            D = np.array([np.concatenate([ld[pipe_idx], nd[rn], nd[sn], nd[jn]]) for nd, ld in dists], dtype=float)
            # nearest first, then the largest shadow price; unreachable last
            key = np.where(D >= 0, D, np.inf) + 0.5 * (1.0 - sp_all / (sp_all.max() + 1.0))
            m = min(MAX_REASONS, ref.size)
            top = np.argpartition(key, m - 1, axis=1)[:, :m] if ref.size > m else np.tile(np.arange(ref.size), (len(Fi), 1))
        # physical reasons per claim, nearest first (sorted once for all claims)
        phys: list[list[tuple[str, str, float]]] = [[] for _ in Fi]
        if ref.size:
            ktop = np.take_along_axis(key, top, axis=1)
            order = np.take_along_axis(top, np.argsort(ktop, axis=1, kind="stable"), axis=1)
            fin = np.isfinite(np.take_along_axis(key, order, axis=1))
            texts: dict[int, tuple[str, str, float]] = {}
            for i in np.unique(order[fin]).tolist():
                j = int(ref[i])
                if code[i] == 0:
                    rk = ctx.link_reason[j]
                    kind, text = (rk.partition(":")[0], rk.partition(":")[2].strip()) if rk else ("pipe_full", self.col_label[self.cF + j])
                    if not rk and self._outlet_basis[j]:
                        # the dual is per m3 of inlet flow; an outlet-basis capacity C bounds the inlet at C/(1 − λ),
                        # so one m3 more of the stated capacity is 1/(1 − λ) m3 more inlet flow
                        texts[i] = (kind, text, float(sp_all[i]) / (1.0 - float(self.link_loss[j])))
                        continue
                elif code[i] == 1:
                    kind, text = "source_empty", self.col_label[self.cS + j]
                elif code[i] == 2:
                    kind, text = "source_empty", self.col_label[self.cU + j]
                else:
                    kind, text = "source_empty", self.ret_junction_label[j]
                texts[i] = (kind, text, float(sp_all[i]))
            for row_i, (orow, frow) in enumerate(zip(order.tolist(), fin.tolist())):
                phys[row_i] = [texts[i] for i, ok in zip(orow, frow) if ok]
        # higher-priority claims on the same sources, per priority (counts, max dual, first 3 names)
        hp_text: list[list[tuple[str, str, float]]] = [[] for _ in Fi]
        if HP is not None:
            SF = self._source_matrix()[np.asarray(F, dtype=np.int64)]
            SHARE = (SF[:, None, :] & HP[None, :, :]).any(axis=2)  # bit-packed masks: no BLAS threads
            hp_pr = self.claim_priority[hp]
            for p in np.unique(hp_pr).tolist():
                cols = np.flatnonzero(hp_pr == p)
                M = SHARE[:, cols]
                cnt = M.sum(axis=1)
                mx = np.where(M, cc[hp[cols]][None, :], -np.inf).max(axis=1)
                first = np.argsort(~M, axis=1, kind="stable")[:, :3]
                ids = [self.claims[int(o)].id for o in hp[cols]]
                for row_i in np.flatnonzero(cnt).tolist():
                    n_ = int(cnt[row_i])
                    names = ", ".join(ids[c] for c in first[row_i, :min(3, n_)].tolist()) + (", ..." if n_ > 3 else "")
                    hp_text[row_i].append(("higher_priority", f"{n_} claim(s) of priority {p} on the same sources ({names})",
                                           float(mx[row_i])))
        lev_text = [("higher_priority", f"priority {p} claims", abs(float(rd[r]))) for p, r in lev_rows]
        cov = coverage if coverage is not None else float("nan")
        for row_i, k in enumerate(Fi):
            reasons = phys[row_i] + hp_text[row_i] + lev_text
            if xrows:
                links = dists[row_i][1] >= 0
                for j in xrows:
                    xr_ = self.extra_rows[j]
                    if (xr_["links"] and links[list(xr_["links"])].any()) or (
                            self.claims[k].kind == "tranche" and self.claims[k].target in xr_["demands"]):
                        reasons.append((xr_["kind"], xr_["label"], abs(float(rd[self.rX + j]))))
            for kind, text in ctx.notes.get(int(k), []):
                reasons.append((kind, text, float("nan")))
            if not reasons:
                reasons.append(("shared_shortage", f"equal coverage {coverage:.4g} within priority {level}"
                                if coverage is not None else f"priority {level}", float("nan")))
            cid = self.claims[k].id
            for kind, text, sp in reasons:
                why.append(dict(claim=cid, level=level, reason=kind, constraint=text, shadow_price=sp, coverage=cov))

    def _source_matrix(self) -> np.ndarray:
        """Bit-packed masks (claim × ⌈sources / 8⌉ bytes) of the sources upstream of every claim (built once)."""
        M = self.__dict__.get("_src_matrix")
        if M is None:
            dense = np.array([self._source_mask(k) for k in range(self.nC)], dtype=bool).reshape(self.nC, -1)
            M = np.packbits(dense, axis=1)
            self._src_matrix = M
        return M

    def _source_mask(self, k: int) -> np.ndarray:
        """Sources (reservoirs, intakes, inflows, groundwater) upstream of claim ``k``."""
        cache = self.__dict__.setdefault("_src_cache", {})
        if k not in cache:
            nodes, _ = self.upstream(k)
            cache[k] = nodes[np.asarray(self.res_nodes + self.src_nodes, dtype=np.int64)]
        return cache[k]
