"""Deliveries split by source (proportional mixing at junctions): hand-derived tiny networks."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.allocation.sources import delivery_by_source, delivery_by_source_frame
from tests.allocation.alloc_helpers import dem, intake, link, run


def test_two_sources_through_a_junction_with_a_loss():
    # river intake A (pipe 1.5 m3/s), intake B with a 10 % loss; the town needs 2 m3/s
    res = run(
        [intake("a", "5 m3/s"), intake("b", "5 m3/s"), {"id": "j", "type": "junction"},
         dem("town", "a", "2 m3/s"), {"id": "sea", "type": "outlet"}],
        [link("a_in", "a", "j", capacity="1.5 m3/s"), link("b_in", "b", "j", loss_fraction=0.1),
         link("dist", "j", "town"), link("a_sea", "a", "sea"), link("b_sea", "b", "sea")],
        steps=2,
    )
    split = delivery_by_source(res).sel(demand="town")
    qa = float(split.sel(source="a")[0])
    qb = float(split.sel(source="b")[0])
    assert qa + qb == pytest.approx(2.0, abs=1e-9)
    # what arrives from A (no loss) and from B (90 % of its inlet) in the junction's mix
    fa = res.flow[0, res.link_ids.index("a_in")] / res.dt
    fb = 0.9 * res.flow[0, res.link_ids.index("b_in")] / res.dt
    assert qa == pytest.approx(2.0 * fa / (fa + fb), rel=1e-9)
    assert fa <= 1.5 + 1e-9 and fa + fb == pytest.approx(2.0, abs=1e-9)  # B makes up what A's pipe cannot carry
    assert qb >= 0.5 - 1e-9


def test_chain_of_junctions_and_the_frame_sums_to_the_delivery():
    res = run(
        [intake("a", "1 m3/s"), intake("b", "3 m3/s"), {"id": "j1", "type": "junction"},
         {"id": "j2", "type": "junction"}, dem("town", "a", "4 m3/s"), dem("farm", "b", "0.5 m3/s"),
         {"id": "sea", "type": "outlet"}],
        [link("a1", "a", "j1"), link("b1", "b", "j1"), link("j12", "j1", "j2"), link("t", "j2", "town"),
         link("f", "j1", "farm"), link("bsea", "b", "sea"), link("asea", "a", "sea")],
    )
    da = delivery_by_source(res)
    np.testing.assert_allclose(da.sum("source").values.T, res.delivered / res.dt, atol=1e-9)
    # both demands see the same mix at j1: A/B in proportion 1:3 when all the water is taken
    for d in ("town", "farm"):
        s = da.sel(demand=d).isel(time=0)
        tot = float(s.sum())
        if tot > 0:
            assert float(s.sel(source="a")) / tot == pytest.approx(0.25, rel=1e-6)
    df = delivery_by_source_frame(res)
    assert set(df["region"]) <= {"a", "b"} and (df["delivered_m3s"] > 0).all()
    assert df.groupby("demand")["delivered_m3s"].sum().sum() == pytest.approx(float(res.delivered.sum() / res.dt))
