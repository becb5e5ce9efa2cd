"""A run without explanations writes no explanations table (a header-only `<stem>_explanations.csv` read as "no
demand was short"), and removes an earlier explained run's table of that stem (it described other results)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hydro.allocation import allocate, load_network


def _net():
    # 1 m3/s inflow, two demands of 1 m3/s at one priority: each gets 0.5 (equal coverage), both short
    return load_network({
        "network": {"name": "t", "start": "2024-01-01", "steps": 2, "timestep": "1D"},
        "regions": [{"id": "a"}, {"id": "b"}],
        "nodes": [{"id": "in", "type": "intake", "inflow": "1 m3/s"},
                  {"id": "da", "type": "demand", "region": "a", "demand": "1 m3/s", "priority": 1},
                  {"id": "db", "type": "demand", "region": "b", "demand": "1 m3/s", "priority": 1}],
        "links": [{"id": "l1", "from": "in", "to": "da"}, {"id": "l2", "from": "in", "to": "db"}],
    })


def test_no_explanations_table_without_explanations(tmp_path):
    stem = tmp_path / "w"
    explained = allocate(_net(), explain=True)
    names = {p.name for p in explained.write(stem)}
    assert "w_explanations.csv" in names
    table = pd.read_csv(tmp_path / "w_explanations.csv")
    assert set(table["instance"]) == {"da", "db"} and len(table) == 4  # 2 demands x 2 steps short
    plain = allocate(_net(), explain=False)
    np.testing.assert_allclose(plain.delivered[0], [43200.0, 43200.0], rtol=1e-9)  # 0.5 m3/s x 86400 s each
    names = {p.name for p in plain.write(stem)}
    assert "w_explanations.csv" not in names
    assert not (tmp_path / "w_explanations.csv").exists()  # the explained run's table is gone
    assert (tmp_path / "w_demand.nc").exists()
