"""hydro.allocation against pywr (GLPK edge solver) on networks where the semantics match.

pywr expresses priority by costs; on these networks the optimum is unique (no two claims at
equal cost compete), so both must give the same deliveries and storages. Equal sharing of a
shortage cannot be expressed in pywr (the split between equal-cost outputs is arbitrary,
pywr#962) and is therefore not compared.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from alloc_helpers import make_net, series
from hydro.allocation import allocate, load_network

pywr = pytest.importorskip("pywr")
pytestmark = pytest.mark.peers

DAY = 86400.0
N = 40


def _pywr_model():
    from pywr.core import Model

    return Model(start=pd.Timestamp("2024-01-01"), end=pd.Timestamp("2024-01-01") + pd.Timedelta(days=N - 1),
                 timestep=1, solver="glpk-edge")


def _inflow(seed, scale):
    rng = np.random.default_rng(seed)
    return np.round(scale * np.abs(np.sin(np.arange(N) / 5.0)) * rng.uniform(0.2, 1.5, N), 3)  # m3/day


def test_reservoir_two_priorities_and_spill():
    from pywr.core import Input, Output, Storage
    from pywr.parameters import ArrayIndexedParameter
    from pywr.recorders import NumpyArrayNodeRecorder, NumpyArrayStorageRecorder

    q = np.r_[_inflow(1, 400000.0)[:20], np.full(N - 20, 20000.0)]  # wet spell, then a drought
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _pywr_model()
        c = Input(m, "c", min_flow=ArrayIndexedParameter(m, q), max_flow=ArrayIndexedParameter(m, q))
        s = Storage(m, "s", max_volume=500000.0, initial_volume=300000.0, cost=-1.0)
        sp = Output(m, "spill", cost=0.0)
        d1 = Output(m, "d1", max_flow=80000.0, cost=-100.0)
        d2 = Output(m, "d2", max_flow=60000.0, cost=-50.0)
        c.connect(s)
        s.connect(d1)
        s.connect(d2)
        s.connect(sp)
        r1, r2, rs = NumpyArrayNodeRecorder(m, d1), NumpyArrayNodeRecorder(m, d2), NumpyArrayStorageRecorder(m, s)
        m.run()
    net = make_net(
        [{"id": "s", "type": "reservoir", "capacity": "500000 m3", "initial_storage": "300000 m3",
          "inflow": series(q, "m3/d")},
         {"id": "d1", "type": "demand", "region": "a", "demand": "80000 m3/d", "priority": 1},
         {"id": "d2", "type": "demand", "region": "b", "demand": "60000 m3/d", "priority": 2}],
        [{"id": "l1", "from": "s", "to": "d1"}, {"id": "l2", "from": "s", "to": "d2"}], steps=N)
    res = allocate(load_network(net))
    np.testing.assert_allclose(res.delivered[:, 0], r1.data.ravel(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.delivered[:, 1], r2.data.ravel(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.storage[:, 0], rs.data.ravel(), rtol=1e-9, atol=1e-6)
    assert (res.shortfall[:, 1] > 1).any() and (res.spill[:, 0] > 1).any()  # both regimes exercised


def test_river_losslink_capacity_outage():
    from pywr.core import Input, Link, LossLink, Output
    from pywr.parameters import ArrayIndexedParameter
    from pywr.recorders import NumpyArrayNodeRecorder

    q = _inflow(2, 150000.0)
    cap2 = np.full(N, 30000.0)
    cap2[10:15] = 0.0  # outage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _pywr_model()
        c = Input(m, "c", min_flow=ArrayIndexedParameter(m, q), max_flow=ArrayIndexedParameter(m, q))
        j = Link(m, "j")
        ll = LossLink(m, "ll", loss_factor=0.25, max_flow=40000.0)  # net basis: gross = 1.25 net
        l2 = Link(m, "l2", max_flow=ArrayIndexedParameter(m, cap2))
        d1 = Output(m, "d1", max_flow=35000.0, cost=-100.0)
        d2 = Output(m, "d2", max_flow=50000.0, cost=-50.0)
        sea = Output(m, "sea", cost=0.0)
        c.connect(j)
        j.connect(ll)
        ll.connect(d1)
        j.connect(l2)
        l2.connect(d2)
        j.connect(sea)
        r1, r2 = NumpyArrayNodeRecorder(m, d1), NumpyArrayNodeRecorder(m, d2)
        m.run()
    net = make_net(
        [{"id": "c", "type": "intake", "inflow": series(q, "m3/d")}, {"id": "j", "type": "junction"},
         {"id": "d1", "type": "demand", "region": "a", "demand": "35000 m3/d", "priority": 1},
         {"id": "d2", "type": "demand", "region": "b", "demand": "50000 m3/d", "priority": 2},
         {"id": "sea", "type": "outlet"}],
        [{"id": "cj", "from": "c", "to": "j"},
         # pywr's net loss factor 0.25 = an inlet-basis fraction of 0.25/1.25 with capacity on the outlet
         {"id": "ll", "from": "j", "to": "d1", "loss_fraction": 0.2, "capacity": "40000 m3/d", "capacity_basis": "outlet"},
         {"id": "l2", "from": "j", "to": "d2", "capacity": series(cap2, "m3/d")},
         {"id": "js", "from": "j", "to": "sea"}], steps=N)
    res = allocate(load_network(net))
    np.testing.assert_allclose(res.delivered[:, 0], r1.data.ravel(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.delivered[:, 1], r2.data.ravel(), rtol=1e-9, atol=1e-6)
    assert (res.shortfall[:, 0] > 1).any() and (np.abs(res.delivered[10:15, 1]) < 1e-6).all()


def test_two_reservoirs_in_series():
    from pywr.core import Input, Link, Output, Storage
    from pywr.parameters import ArrayIndexedParameter
    from pywr.recorders import NumpyArrayNodeRecorder, NumpyArrayStorageRecorder

    q = _inflow(3, 120000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _pywr_model()
        c = Input(m, "c", min_flow=ArrayIndexedParameter(m, q), max_flow=ArrayIndexedParameter(m, q))
        up = Storage(m, "up", max_volume=300000.0, initial_volume=100000.0, cost=-2.0)
        dn = Storage(m, "dn", max_volume=200000.0, initial_volume=150000.0, cost=-1.0)
        rel = Link(m, "rel", max_flow=50000.0)
        d_up = Output(m, "d_up", max_flow=40000.0, cost=-100.0)
        d_dn = Output(m, "d_dn", max_flow=70000.0, cost=-90.0)
        sp = Output(m, "sea", cost=0.0)
        c.connect(up)
        up.connect(d_up)
        up.connect(rel)
        rel.connect(dn)
        dn.connect(d_dn)
        dn.connect(sp)
        ra, rb = NumpyArrayNodeRecorder(m, d_up), NumpyArrayNodeRecorder(m, d_dn)
        su, sd = NumpyArrayStorageRecorder(m, up), NumpyArrayStorageRecorder(m, dn)
        m.run()
    net = make_net(
        [{"id": "up", "type": "reservoir", "capacity": "300000 m3", "initial_storage": "100000 m3",
          "inflow": series(q, "m3/d"), "overflow_to": "dn", "storage_weight": 2.0},
         {"id": "dn", "type": "reservoir", "capacity": "200000 m3", "initial_storage": "150000 m3"},
         {"id": "d_up", "type": "demand", "region": "a", "demand": "40000 m3/d", "priority": 1},
         {"id": "d_dn", "type": "demand", "region": "b", "demand": "70000 m3/d", "priority": 2}],
        [{"id": "a", "from": "up", "to": "d_up"}, {"id": "rel", "from": "up", "to": "dn", "capacity": "50000 m3/d"},
         {"id": "b", "from": "dn", "to": "d_dn"}], steps=N)
    res = allocate(load_network(net))
    np.testing.assert_allclose(res.delivered[:, 0], ra.data.ravel(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.delivered[:, 1], rb.data.ravel(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.storage[:, 0], su.data.ravel(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.storage[:, 1], sd.data.ravel(), rtol=1e-9, atol=1e-6)
