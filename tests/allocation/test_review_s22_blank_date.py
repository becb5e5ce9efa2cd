"""A blank date in an allocation CSV series is named (session 22): it was read as NaT, numpy warned, and the run
failed with "no value for step 0" although that step's date was in the file."""
from __future__ import annotations

import pytest

from hydro.allocation import allocate, load_network
from hydro.errors import InputDataError


def test_blank_date_row_named(tmp_path):
    (tmp_path / "q.csv").write_text("time,q\n2024-01-01,1.0\n,2.0\n2024-01-03,3.0\n2024-01-04,4.0\n")
    net = {"network": {"name": "tiny", "start": "2024-01-01", "steps": 3, "timestep": "1D"},
           "regions": [{"id": "a"}],
           "nodes": [{"id": "src", "type": "intake", "inflow": {"csv": "q.csv", "column": "q", "units": "m3/s"}},
                     {"id": "A", "type": "demand", "region": "a", "demand": "100 m3/s", "priority": 1}],
           "links": [{"id": "l", "from": "src", "to": "A"}]}
    with pytest.raises(InputDataError, match=r"no date in data row 2 \(1 such row"):
        allocate(load_network(net, base_dir=tmp_path))
