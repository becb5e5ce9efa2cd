"""Run an allocation network through time: :func:`allocate`, :class:`AllocationResult`, scenarios."""
from __future__ import annotations

import time as _time
from typing import Any, Mapping

import numpy as np
import pandas as pd


from hydro.allocation.network import Network, load_network
from hydro.allocation.solver import AllocationModel, SolverError
from hydro.allocation.metrics import supply_metrics
from hydro.errors import ConfigError, HydroError
from hydro.times import parse_timestamp

__all__ = ["allocate", "AllocationResult", "run_scenarios"]


class AllocationResult:
    """Results of an allocation run (volumes in m3 per step unless stated).

    Attributes
    ----------
    network : Network
    times : DatetimeIndex
        Start of each step.
    dt : float
        Step length [s].
    demand_ids, link_ids, reservoir_ids : list of str
    requested : ndarray (time, demand)
        Demand before agreements (drought cuts, caps) [m3/step].
    delivered, shortfall : ndarray (time, demand)
        ``shortfall = requested − delivered`` [m3/step].
    flow : ndarray (time, link)
        Inlet (gross) flow of each link [m3/step]; for lagged return links the water leaving.
    loss : ndarray (time, link)
        Conveyance loss [m3/step].
    storage : ndarray (time, reservoir)
        End-of-step storage [m3].
    spill, evaporation : ndarray (time, reservoir)
    claims : DataFrame
        Per claim: amount and delivered volume per step (long format).
    mass_residual : ndarray (time,)
        System water balance ``in − (out + ΔS + losses + Δtransit)`` [m3/step] (≈ 0).
    balance : DataFrame
        The system balance of every step [m3/step], columns :data:`BALANCE_TERMS`:
        ``exogenous_inflow + returns_arriving − consumed − returns_into_transit − conveyance_loss − spill
        − unused_source_water − outlet − reservoir_evaporation − storage_change = residual``. Water leaves
        the system where it goes nowhere else in the network: the consumed part of deliveries (delivered
        minus return flows), spills and unused source water without an ``overflow_to``, outlets, net
        evaporation and losses; lagged return flows leave into transit and arrive ℓ steps later.
        Indexed by step start like the other frames; written as ``<stem>_balance.csv`` with ``time`` = the
        step end, as in the NetCDF files.
    initial_storage : ndarray (reservoir,)
        Storage at the start of the run [m3].
    agreement_state : DataFrame
        Recorded agreement quantities (account balances, licence use, tiers) per step.
    explanations : DataFrame
        One row per (step, demand or required flow with a shortfall, reason): ``time``,
        ``instance``, ``party``, ``requested``, ``delivered``, ``shortfall`` [m3 s-1], ``claim``,
        ``priority``, ``reason`` (``source_empty``, ``pipe_full``, ``agreement_cap``,
        ``higher_priority``, ``drought_tier``, ``shared_shortage``), ``constraint``,
        ``shadow_price`` (marginal m3 of the level's objective per m3 of relaxation).
    metrics : DataFrame
        Supply metrics per region (see :mod:`hydro.allocation.metrics`).
    setup_time, solve_time : float
        Wall-clock seconds to build the LP and to run all steps.
    """

    def __init__(self, **kw: Any):
        self.__dict__.update(kw)

    # -------------------------------------------------------------- convenience
    def delivered_rate(self) -> pd.DataFrame:
        """Delivered flow per demand [m3 s-1] as a DataFrame (time × demand)."""
        return pd.DataFrame(self.delivered / self.dt, index=self.times, columns=self.demand_ids)

    def storage_frame(self) -> pd.DataFrame:
        """End-of-step storage [m3] (time × reservoir)."""
        return pd.DataFrame(self.storage, index=self.times, columns=self.reservoir_ids)

    def flow_rate(self) -> pd.DataFrame:
        """Link inlet flow [m3 s-1] (time × link)."""
        return pd.DataFrame(self.flow / self.dt, index=self.times, columns=self.link_ids)

    def to_dataset(self, kind: str = "demand") -> Any:
        """CF DSG timeSeries Dataset of one instance set.

        Parameters
        ----------
        kind : {"demand", "link", "reservoir", "account", "region"}

        Returns
        -------
        xarray.Dataset
            Dims ``(kind, time)``; ``<kind>_id`` with ``cf_role = "timeseries_id"``.
        """
        from hydro.allocation.outputs import result_dataset

        return result_dataset(self, kind)

    def write(self, path: str, **attrs: Any) -> list[Any]:
        """Write all DSG files (``<stem>_demand.nc``, ``_link.nc``, ``_reservoir.nc``,
        ``_account.nc``, ``_region.nc``) plus ``<stem>_metrics.csv``, ``_explanations.csv``,
        ``_delivery_by_source.csv`` and ``_balance.csv`` (:attr:`balance`) (see :mod:`hydro.allocation.sources`).

        Every dataset is built before the first file is written: a failure leaves no output.
        """
        from hydro.allocation.outputs import write_result

        return write_result(self, path, **attrs)

    def __repr__(self) -> str:
        return (f"<AllocationResult {self.network.name!r}: {len(self.times)} steps, {len(self.demand_ids)} demands, "
                f"max |mass residual| {np.abs(self.mass_residual).max(initial=0):.3g} m3>")


#: columns of :attr:`AllocationResult.balance` (m3 per step; residual = inputs − outputs − storage change)
BALANCE_TERMS = ("exogenous_inflow", "returns_arriving", "consumed", "returns_into_transit", "conveyance_loss",
                 "spill", "unused_source_water", "outlet", "reservoir_evaporation", "storage_change", "residual")


def _time_axis(network: Network, start: Any, steps: int | None) -> tuple[pd.DatetimeIndex, float]:
    meta = network.spec.network
    start = start if start is not None else meta.start
    steps = steps if steps is not None else meta.steps
    if start is None:
        raise network.error("network.start", "no start date (give [network] start or allocate(start=...))")
    if steps is None:
        raise network.error("network.steps", "no number of steps (give [network] steps or allocate(steps=...))")
    dt = pd.Timedelta(meta.timestep)
    t0 = parse_timestamp(start, "start")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps must be a whole number >= 1, got {steps!r}")
    if t0.tzinfo is None:
        times = pd.date_range(t0, periods=int(steps), freq=dt)
    else:
        # steps of fixed length: pandas steps a zoned axis by calendar days (23 h or 25 h across a daylight-saving
        # change) while every volume is rate × dt
        times = pd.date_range(t0.tz_convert("UTC"), periods=int(steps), freq=dt).tz_convert(t0.tzinfo)
    return times, dt.total_seconds()


def allocate(network: Network | str | dict[str, Any], inflows: Mapping[str, Any] | None = None, *,
             start: Any = None, steps: int | None = None, explain: bool = True) -> AllocationResult:
    """Allocate water step by step through time.

    Parameters
    ----------
    network : Network, path or dict
        The network (see :func:`load_network`).
    inflows : mapping, optional
        Run-time series for ``external = "<name>"`` entries of the network: arrays of flow per
        step [m3 s-1], pandas Series indexed by time, or xarray DataArrays with a ``time`` dim
        (e.g. the discharge the routing module writes at named points; units from ``attrs``).
    start : datetime-like, optional
        First step (default ``[network] start``).
    steps : int, optional
        Number of steps (default ``[network] steps``).
    explain : bool
        Record binding constraints and shadow prices for every shortfall.

    Returns
    -------
    AllocationResult

    Raises
    ------
    ConfigError, InputDataError, InputMissingError
        Invalid network or inputs (file and key named).
    SolverError
        HiGHS failed; the message names the step and the diagnosis.
    """
    net = load_network(network)
    times, dt = _time_axis(net, start, steps)
    model = AllocationModel(net, times, dt, dict(inflows or {}), explain=explain)
    return run_model(model)


def run_model(model: AllocationModel) -> AllocationResult:
    """Run a built :class:`AllocationModel` over all its steps."""
    nt, nD, nL, nR, nC = model.nt, model.nD, model.nL, model.nR, model.nC
    state = model.initial_state()
    delivered = np.zeros((nt, nD))
    requested = model.demand.copy()
    flow = np.zeros((nt, nL))
    storage = np.zeros((nt, nR))
    spill = np.zeros((nt, nR))
    evap = np.zeros((nt, nR))
    unused = np.zeros((nt, model.nS))
    absorbed = np.zeros((nt, model.nO))
    amounts = np.zeros((nt, nC))
    cvals = np.zeros((nt, nC))
    residual = np.zeros(nt)
    #: per-step system balance terms [m3/step], in the order of BALANCE_TERMS
    terms = np.zeros((nt, len(BALANCE_TERMS)))
    records: list[dict[str, float]] = []
    expl: list[dict[str, Any]] = []
    claim_of_demand = [[k for k in model.demand_claims(d)] for d in range(nD)]
    ret_e = model.dem_return
    # per-step bookkeeping as array operations (built once)
    cl_dem = np.zeros((nC, nD))
    for d, ks in enumerate(claim_of_demand):
        cl_dem[ks, d] = 1.0
    dem_rho = np.where(ret_e >= 0, model.ret_frac[np.maximum(ret_e, 0)], 0.0)
    lag_dem = np.flatnonzero((ret_e >= 0) & (model.ret_lag[np.maximum(ret_e, 0)] > 0))
    lag_dem_e = ret_e[lag_dem]
    transit_links = np.flatnonzero(model.is_return & (model.ret_lag > 0))
    spill_free = np.array([model.net.spec.nodes[n].overflow_to is None for n in model.res_nodes], bool)
    unused_free = np.array([getattr(model.net.spec.nodes[n], "overflow_to", None) is None for n in model.src_nodes], bool)
    t0 = _time.perf_counter()
    for t in range(nt):
        ctx = model.prepare(t, state)
        try:
            x, why = model.solve_step(ctx)
        except SolverError as exc:
            from hydro.allocation.explain import diagnose

            raise SolverError(f"{model.net.source}: step {t} ({ctx.time.isoformat()}): HiGHS returned {exc}. "
                              + diagnose(model, ctx)) from None
        f = x[model.cF:model.cF + nL].copy()
        c = x[model.cC:model.cC + nC]
        dl = c @ cl_dem
        # lagged return links carry ρ·x of this step (leaving into transit)
        if lag_dem.size:
            f[lag_dem_e] = model.ret_frac[lag_dem_e] * dl[lag_dem]
        Send = x[model.cS:model.cS + nR]
        sp = x[model.cSP:model.cSP + nR]
        un = x[model.cU:model.cU + model.nS]
        ab = x[model.cO:model.cO + model.nO]
        # --- system mass balance
        loss = model.link_loss * f
        inflow_in = ctx.inflow.sum()
        consumed = float(dl @ (1.0 - dem_rho))
        transit_out = float(((1.0 - model.link_loss[transit_links]) * f[transit_links]).sum())
        spill_out = float(sp[spill_free].sum())
        unused_out = float(un[unused_free].sum())
        dS = float((Send - ctx.storage).sum())
        residual[t] = inflow_in - (consumed + transit_out + spill_out + unused_out + ab.sum() + ctx.evap.sum()
                                   + loss.sum() + dS)
        arriving = float(state["returns"][0].sum())
        terms[t] = (inflow_in - arriving, arriving, consumed, transit_out, float(loss.sum()), spill_out, unused_out,
                    float(ab.sum()), float(ctx.evap.sum()), dS, residual[t])
        res = dict(flow=f, delivered=dl, storage=Send, spill=sp, claims=c, unused=un)
        for ag in model.agreements:
            ag.after(model, ctx, state[ag.name], res)
        # --- state: storage, lagged returns
        state["storage"] = Send.copy()
        R = state["returns"]
        R[:-1] = R[1:]
        R[-1] = 0.0
        for e in np.flatnonzero(model.is_return & (model.ret_lag > 0)):
            R[int(model.ret_lag[e]) - 1, int(model.link_to[e])] += (1.0 - model.link_loss[e]) * f[e]
        # --- record
        delivered[t], flow[t], storage[t], spill[t], evap[t] = dl, f, Send, sp, ctx.evap
        unused[t], absorbed[t], amounts[t], cvals[t] = un, ab, ctx.claim_amount, c
        rec: dict[str, float] = {}
        for ag in model.agreements:
            rec.update(ag.record(model, state[ag.name]))
        records.append(rec)
        if model.explain:
            expl.extend(_explain_step(model, ctx, t, dl, c, why, requested[t]))
    solve_time = _time.perf_counter() - t0
    from hydro.allocation.explain import explanation_frame

    explanations = explanation_frame(expl)
    metrics = supply_metrics(requested.T, delivered.T, model.dem_region)
    claims = pd.DataFrame({
        "time": np.repeat(model.times.values, nC),
        "claim": np.tile([c.id for c in model.claims], nt),
        "priority": np.tile([c.priority for c in model.claims], nt),
        "amount": amounts.ravel(), "delivered": cvals.ravel(),
    })
    claims = claims[claims["priority"] >= 0].reset_index(drop=True)
    return AllocationResult(
        network=model.net, model_info=dict(ncol=model.ncol, nrow=model.nrow, nsolve=model.lp.nsolve, explained=bool(model.explain),
                                              one_lp_steps=model.n_candidate_only, pin_relaxations=model.lp.nrelax),
        times=model.times, dt=model.dt, demand_ids=model.dem_ids, link_ids=model.link_ids,
        reservoir_ids=model.res_ids, source_ids=[model.node_ids[n] for n in model.src_nodes],
        demand_region=model.dem_region, requested=requested, delivered=delivered,
        shortfall=np.maximum(requested - delivered, 0.0), flow=flow, loss=flow * model.link_loss,
        storage=storage, spill=spill, evaporation=evap, unused=unused, outlet=absorbed,
        claims=claims, mass_residual=residual,
        balance=pd.DataFrame(terms, index=pd.Index(model.times, name="time"), columns=list(BALANCE_TERMS)),
        initial_storage=model.res_init.copy(),
        agreement_state=pd.DataFrame(records, index=model.times),
        explanations=explanations, metrics=metrics,
        setup_time=model.setup_time, solve_time=solve_time,
    )


def _explain_step(model: AllocationModel, ctx: Any, t: int, dl: np.ndarray, c: np.ndarray,
                  why: list[dict[str, Any]], req: np.ndarray) -> list[dict[str, Any]]:
    """Rows of the explanation table for one step: every demand and required flow short of its request."""
    out: list[dict[str, Any]] = []
    dt = model.dt
    by_claim: dict[str, list[dict[str, Any]]] = {}
    for w in why:
        by_claim.setdefault(w["claim"], []).append(w)
    for d in range(model.nD):
        short = req[d] - dl[d]
        if short <= 1e-6 * max(req[d], 1.0):
            continue
        rows: list[tuple[str, str, str, float, int]] = []
        for k in model.demand_claims(d):
            cl = model.claims[k]
            for w in by_claim.get(cl.id, []):
                rows.append((cl.id, w["reason"], w["constraint"], w["shadow_price"], cl.priority))
            for kind, text in ctx.notes.get(k, []):
                if not any(r[1] == kind and r[2] == text for r in rows):
                    rows.append((cl.id, kind, text, float("nan"), cl.priority))
        if not rows:
            rows.append(("", "not_claimed", "request above every claim of this demand", float("nan"), -1))
        seen = set()
        for claim, kind, text, sp, pr in rows:
            if (claim, kind, text) in seen:
                continue
            seen.add((claim, kind, text))
            out.append(dict(time=ctx.time, instance=model.dem_ids[d], party=model.dem_region[d],
                            requested=req[d] / dt, delivered=dl[d] / dt, shortfall=short / dt, claim=claim,
                            priority=pr, reason=kind, constraint=text, shadow_price=sp))
    for k, cl in enumerate(model.claims):
        if cl.kind != "flow" or cl.priority < 0 or not cl.report:
            continue
        short = ctx.claim_amount[k] - c[k]
        if short <= 1e-6 * max(ctx.claim_amount[k], 1.0):
            continue
        ws = by_claim.get(cl.id, []) or [dict(reason="shared_shortage", constraint=f"priority {cl.priority}", shadow_price=float("nan"))]
        for w in ws:
            out.append(dict(time=ctx.time, instance=cl.id, party=cl.party, requested=ctx.claim_amount[k] / dt,
                            delivered=c[k] / dt, shortfall=short / dt, claim=cl.id, priority=cl.priority,
                            reason=w["reason"], constraint=w["constraint"], shadow_price=w["shadow_price"]))
    return out


def run_scenarios(network: Network | str | dict[str, Any], scenarios: Mapping[str, Mapping[str, Any]], *,
                  start: Any = None, steps: int | None = None, scheduler: Any = None,
                  explain: bool = False) -> dict[str, AllocationResult]:
    """Run many inflow scenarios (ensemble members, dry years) in parallel with dask.

    Parameters
    ----------
    network : Network, path or dict
    scenarios : mapping name -> inflows
        Each value is passed as ``inflows`` to :func:`allocate`.
    start, steps : optional
        Time axis (defaults from the network).
    scheduler : optional
        Passed to ``dask.compute`` (``"threads"``, ``"processes"``, ``"synchronous"`` or a
        ``distributed.Client``); None uses dask's default (or the active client). No cluster
        is ever created here.
    explain : bool
        Record explanations (off by default for ensembles).

    Returns
    -------
    dict name -> AllocationResult
        In the order of ``scenarios``; identical to sequential runs (each scenario has its own LP).
    """
    import dask

    if isinstance(scheduler, str) and scheduler not in _DASK_SCHEDULERS:
        # "local-cluster" or a tcp:// address (the [compute] values of a model config) need a Client made by the
        # caller: dask.compute raised a bare ValueError
        raise ConfigError(f"scheduler {scheduler!r}: use 'threads', 'processes', 'synchronous' or pass a "
                          "distributed.Client (run_scenarios never creates a cluster)")
    net = load_network(network)
    # pure=False: a task per member, whatever its inputs hash to (dask's tokens of pandas Series ignore attrs such
    # as "units", so two members could otherwise share one task and one result)
    tasks = [dask.delayed(_scenario, pure=False)(name, net, inf, start=start, steps=steps, explain=explain)
             for name, inf in scenarios.items()]
    results = dask.compute(*tasks, scheduler=scheduler)
    return dict(zip(scenarios.keys(), results))


#: scheduler names dask.compute knows
_DASK_SCHEDULERS = ("threads", "threading", "processes", "multiprocessing", "synchronous", "sync",
                    "single-threaded", "distributed")


def _scenario(name: Any, net: Network, inflows: Any, **kw: Any) -> AllocationResult:
    """:func:`allocate` of one scenario; a :class:`hydro.errors.HydroError` is raised again (same class) naming
    the scenario (which of the members failed)."""
    try:
        return allocate(net, inflows, **kw)
    except HydroError as exc:
        raise type(exc)(f"scenario {name!r}: {exc}") from exc
