"""Benchmark: hydro.allocation (HiGHS, lexicographic) against pywr (GLPK edge solver).

Synthetic river networks of about 10, 100 and 1000 nodes, 365 daily steps, both models in one
process. Each module of 5 nodes is a catchment intake → reservoir → river junction feeding a
priority-1 and a priority-2 demand; junctions chain down to one outlet (the sea). Inflows are
seasonal with a dry spell so that priority 2 is short in part of the year (water-filling runs).

Usage::

    python benchmarks/allocation.py                 # 10, 100, 1000 nodes
    python benchmarks/allocation.py --sizes 10 100  # subset

Prints, per size: setup time and time per step of each model, the per-step ratio hydro/pywr
(both measured in the same run), LPs per step and the number of steps solved by one LP.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import numpy as np
import pandas as pd

DAYS = 365
START = "2024-01-01"


def synthetic(n_nodes: int, seed: int = 1, demand_factor: float = 1.0) -> tuple[dict, dict]:
    """Network dict for hydro and the same structure for pywr (flows m3/day, volumes m3)."""
    rng = np.random.default_rng(seed)
    k = max(1, (n_nodes - 1) // 5)
    doy = np.arange(DAYS)
    nodes, links, regions = [], [], [{"id": f"r{i}"} for i in range(k)]
    spec = {"modules": []}
    for i in range(k):
        base = rng.uniform(0.5, 1.5)
        q = base * (1.0 + 0.8 * np.sin(2 * np.pi * (doy - 30) / 365.0)) * rng.uniform(0.7, 1.3, DAYS)
        q = np.maximum(q, 0.0)  # m3/s
        cap = float(rng.uniform(2e5, 8e5))
        d1, d2 = float(base * 0.4 * demand_factor), float(base * 0.6 * demand_factor)
        nodes += [
            {"id": f"c{i}", "type": "intake", "inflow": {"values": q.tolist(), "units": "m3/s"}},
            {"id": f"s{i}", "type": "reservoir", "capacity": f"{cap} m3", "initial_storage": f"{cap / 2} m3"},
            {"id": f"j{i}", "type": "junction"},
            {"id": f"d{i}a", "type": "demand", "region": f"r{i}", "demand": f"{d1} m3/s", "priority": 1},
            {"id": f"d{i}b", "type": "demand", "region": f"r{i}", "demand": f"{d2} m3/s", "priority": 2},
        ]
        nxt = f"j{i + 1}" if i + 1 < k else "sea"
        links += [
            {"id": f"c{i}s", "from": f"c{i}", "to": f"s{i}"},
            {"id": f"s{i}j", "from": f"s{i}", "to": f"j{i}"},
            {"id": f"j{i}a", "from": f"j{i}", "to": f"d{i}a", "capacity": f"{d1 * 1.0} m3/s"},
            {"id": f"j{i}b", "from": f"j{i}", "to": f"d{i}b"},
            {"id": f"j{i}n", "from": f"j{i}", "to": nxt},
        ]
        spec["modules"].append(dict(q=q * 86400.0, cap=cap, d1=d1 * 86400.0, d2=d2 * 86400.0))
    nodes.append({"id": "sea", "type": "outlet"})
    net = {"network": {"name": f"synthetic{n_nodes}", "start": START, "steps": DAYS, "timestep": "1D"},
           "regions": regions, "nodes": nodes, "links": links}
    return net, spec


def build_pywr(spec: dict):
    from pywr.core import Model, Input, Output, Link, Storage
    from pywr.parameters import ArrayIndexedParameter

    model = Model(start=pd.Timestamp(START), end=pd.Timestamp(START) + pd.Timedelta(days=DAYS - 1),
                  timestep=1, solver="glpk-edge")
    sea = Output(model, "sea")
    mods = spec["modules"]
    juncs = [Link(model, f"j{i}") for i in range(len(mods))]
    for i, m in enumerate(mods):
        c = Input(model, f"c{i}", min_flow=ArrayIndexedParameter(model, m["q"]), max_flow=ArrayIndexedParameter(model, m["q"]))
        s = Storage(model, f"s{i}", max_volume=m["cap"], initial_volume=m["cap"] / 2, cost=-1.0)
        da = Output(model, f"d{i}a", max_flow=m["d1"], cost=-100.0)
        db = Output(model, f"d{i}b", max_flow=m["d2"], cost=-50.0)
        c.connect(s)
        s.connect(juncs[i])
        juncs[i].connect(da)
        juncs[i].connect(db)
        juncs[i].connect(juncs[i + 1] if i + 1 < len(mods) else sea)
    return model


def bench(n: int, demand_factor: float = 1.0, explain: bool = True) -> dict:
    from hydro.allocation import load_network
    from hydro.allocation.core import run_model, _time_axis
    from hydro.allocation.solver import AllocationModel

    net_dict, spec = synthetic(n, demand_factor=demand_factor)
    nn = len(net_dict["nodes"])
    # hydro
    t0 = time.perf_counter()
    net = load_network(net_dict)
    times, dt = _time_axis(net, None, None)
    model = AllocationModel(net, times, dt, explain=explain)
    h_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run_model(model)
    h_run = time.perf_counter() - t0
    # pywr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        pm = build_pywr(spec)
        pm.setup()
        p_setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        pm.run()
        p_run = time.perf_counter() - t0
    return dict(regime="stressed" if demand_factor >= 1 else "normal", nodes=nn, links=len(net_dict["links"]), hydro_setup_s=h_setup, pywr_setup_s=p_setup,
                hydro_step_ms=1e3 * h_run / DAYS, pywr_step_ms=1e3 * p_run / DAYS,
                ratio=(h_run / p_run), lp_solves_per_step=res.model_info["nsolve"] / DAYS,
                one_lp_steps=model.n_candidate_only, pin_relax=model.lp.nrelax,
                shortfall_steps=int((res.shortfall.sum(axis=1) > 1e-6).sum()),
                max_mass_residual_m3=float(np.abs(res.mass_residual).max()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000])
    ap.add_argument("--regimes", nargs="*", default=["stressed", "normal"],
                    help="stressed: demand = 100 %% of the mean inflow (shortage most days); normal: 60 %%")
    ap.add_argument("--no-explain", action="store_true", help="hydro without explanations")
    a = ap.parse_args(argv)
    factors = {"stressed": 1.0, "normal": 0.6}
    rows = [bench(n, factors[r], explain=not a.no_explain) for r in a.regimes for n in a.sizes]
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for reg in a.regimes:
        sub = [r for r in rows if r["regime"] == reg]
        if len(sub) > 1:
            a0, a1 = sub[0], sub[-1]
            lg = np.log(a1["nodes"] / a0["nodes"])
            g = np.log(a1["hydro_step_ms"] / a0["hydro_step_ms"]) / lg
            gp = np.log(a1["pywr_step_ms"] / a0["pywr_step_ms"]) / lg
            gs = np.log(a1["hydro_setup_s"] / a0["hydro_setup_s"]) / lg
            print(f"{reg}: growth exponent (time ~ nodes^k): hydro per step k = {g:.2f}, pywr per step k = {gp:.2f}, "
                  f"hydro setup k = {gs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
