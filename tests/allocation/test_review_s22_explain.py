"""Review s22 (allocation explanations, outputs, time zones): tiny networks with hand-derived answers.

a. a demand limited by lagged return water arriving at its junction is explained by that water (it was
   "shared_shortage", and a demand below it named only whichever degenerate upstream bound the basis picked);
b. region ids that give the same metric attribute names are refused; non-ASCII region ids give CF (ASCII) names;
c. naive CSV stamps are times of the run's axis, like the naive dates of the network file (they were UTC);
d. write(): a target path that cannot be replaced (a directory) fails before anything is published and leaves no
   staging file (raw IsADirectoryError after a partial publish / staging files left behind).
"""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from hydro.allocation import allocate, load_network
from hydro.errors import ConfigError, OutputError

DAY = 86400.0


# ---------------------------------------------------------------- helpers (as tests/allocation/alloc_helpers.py)
def make_net(nodes, links, agreements=(), regions=("a", "b", "c"), steps=1, start="2024-01-01", timestep="1D"):
    return {"network": {"name": "tiny", "start": start, "steps": steps, "timestep": timestep},
            "regions": [{"id": r} for r in regions], "nodes": list(nodes), "links": list(links),
            "agreements": list(agreements)}


def run(nodes, links, agreements=(), **kw):
    return allocate(load_network(make_net(nodes, links, agreements, **kw)))


def q(res, demand):
    return res.delivered[:, res.demand_ids.index(demand)] / res.dt


def dem(id_, region, demand, priority=1, **kw):
    return {"id": id_, "type": "demand", "region": region, "demand": demand, "priority": priority, **kw}


def intake(id_, inflow, **kw):
    return {"id": id_, "type": "intake", "inflow": inflow, **kw}


def link(id_, a, b, **kw):
    return {"id": id_, "from": a, "to": b, **kw}


J = {"id": "j", "type": "junction"}
SEA = {"id": "sea", "type": "outlet"}


def _reasons(res, instance):
    ex = res.explanations[res.explanations.instance == instance]
    return {t: set(zip(g.reason, g.constraint)) for t, g in ex.groupby("time")}, ex


# ---------------------------------------------------------------- a. explanations of lagged return water
def test_demand_fed_only_by_lagged_return_water_names_that_water():
    # river 10 m3/s -> up (5 m3/s, priority 1), which returns 0.4 of its delivery one day later to junction j;
    # j feeds only "down" (5 m3/s, priority 2) and the sea. down gets 0 on day 1 (nothing has arrived yet) and
    # 0.4 x 5 = 2 m3/s afterwards. One more m3 arriving at j is one more m3 for down: shadow price 1.
    # It was reported as "shared_shortage" (equal coverage within priority 2) with no constraint named.
    res = run([intake("river", "10 m3/s"), dem("up", "a", "5 m3/s"), J, dem("down", "b", "5 m3/s", 2), SEA],
              [link("ru", "river", "up"), link("ret", "up", "j", return_fraction=0.4, lag=1),
               link("jd", "j", "down"), link("js", "j", "sea")], steps=4)
    assert q(res, "down") == pytest.approx([0.0, 2.0, 2.0, 2.0], abs=1e-9)
    by_t, ex = _reasons(res, "down")
    assert len(by_t) == 4
    assert "shared_shortage" not in set(ex.reason)
    for t, rs in by_t.items():
        assert any(kind == "source_empty" and "junction j" in text for kind, text in rs), (t, rs)
    assert ex.shadow_price.to_numpy() == pytest.approx([1.0] * 4, rel=1e-9)


def test_limit_of_lagged_return_water_is_named_in_every_identical_step():
    # river 1 m3/s; up (5 m3/s, priority 2) takes from the river and returns 0.3 of it a day later to junction j;
    # j -> j2; the river also reaches j2 through rj (capacity 0.5 m3/s); at j2 "down" (priority 1) and "dd"
    # (priority 3) draw, the rest goes to the sea. down takes rj 0.5 + the returns 0.3 x 0.5 = 0.15 -> 0.65 m3/s
    # from day 2 on, up gets the river's other 0.5, dd nothing. Every step from day 2 on is identical. dd is
    # limited by the senior claim of down and by the water reaching j2: one more m3 of return water arriving at j
    # would go to dd (down is pinned; on day 1 nothing arrives yet, the bound is the same) -- it is not degenerate. rj at capacity and the river fully used are
    # jointly binding only (relaxing either alone gives dd nothing), so the basis picks one of them. dd's reasons
    # alternated between the two and never named the return water at j.
    res = run([intake("river", "1 m3/s"), dem("up", "a", "5 m3/s", 2), J, {"id": "j2", "type": "junction"},
               dem("down", "b", "5 m3/s", 1), dem("dd", "c", "1 m3/s", 3), SEA],
              [link("ru", "river", "up"), link("ret", "up", "j", return_fraction=0.3, lag=1), link("jj", "j", "j2"),
               link("j2d", "j2", "down"), link("j2dd", "j2", "dd"), link("js", "j2", "sea"),
               link("rj", "river", "j2", capacity="0.5 m3/s")], steps=10)
    assert q(res, "down") == pytest.approx([0.5] + [0.65] * 9, abs=1e-9)
    assert q(res, "up") == pytest.approx([0.5] * 10, abs=1e-9)
    assert q(res, "dd") == pytest.approx([0.0] * 10, abs=1e-9)
    by_t, ex = _reasons(res, "dd")
    assert len(by_t) == 10
    for t, rs in by_t.items():
        assert ("higher_priority", "1 claim(s) of priority 1 on the same sources (down)") in rs, (t, rs)
        assert any(kind == "source_empty" and "junction j " in text for kind, text in rs), (t, rs)
    junction = ex[ex.constraint.str.contains("junction j ")]
    assert junction.shadow_price.to_numpy() == pytest.approx([1.0] * 10, rel=1e-9)


# ---------------------------------------------------------------- b. metric attribute names
def test_region_ids_that_give_the_same_attribute_names_are_refused():
    # "a-b" and "a_b" both wrote metric_a_b_* global attributes: one region's metrics overwrote the other's
    net = make_net([intake("r1", "1 m3/s"), intake("r2", "1 m3/s"), dem("A", "a-b", "1 m3/s"),
                    dem("B", "a_b", "2 m3/s")], [link("la", "r1", "A"), link("lb", "r2", "B")],
                   regions=("a-b", "a_b"), steps=2)
    with pytest.raises(ConfigError, match=r"regions\[1\]\.id.*'a-b' and 'a_b'.*metric_a_b_"):
        load_network(net)


def test_non_ascii_region_id_gives_cf_attribute_names(tmp_path):
    # CF attribute names hold ASCII letters, digits and "_": "metric_sépaku_*" failed the CF check (§2.3).
    # river 1 m3/s, demand 2 m3/s for 2 days: reliability_volume = 2 / 4 = 0.5, reliability_time = 0
    import netCDF4

    res = run([intake("river", "1 m3/s"), dem("A", "sépaku", "2 m3/s")], [link("la", "river", "A")],
              regions=("sépaku",), steps=2)
    res.write(tmp_path / "r")
    with netCDF4.Dataset(tmp_path / "r_demand.nc") as nc:
        names = [k for k in nc.ncattrs() if k.startswith("metric_")]
        assert names and all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", k) for k in names), names
        assert nc.getncattr("metric_s_paku_reliability_volume") == pytest.approx(0.5)
        assert nc.getncattr("metric_s_paku_reliability_time") == pytest.approx(0.0)
        assert list(json.loads(nc.getncattr("hydro_supply_metrics"))) == ["sépaku"]


# ---------------------------------------------------------------- c. naive dates of a CSV series
def test_naive_csv_dates_are_times_of_a_zoned_axis_like_the_agreement_dates(tmp_path):
    # a run in WITA (start 2024-01-01T00:00+08:00, daily steps = local days); the CSV holds daily means labelled by
    # local dates without offset: 31 Dec 0, 1 Jan 1, 2 Jan 2, 3 Jan 3, 4 Jan 4 m3/s; an outage (naive dates, read
    # on the axis: local) closes the pipe on 2 Jan. Expected 1, 0, 3 m3/s. The CSV dates were read as UTC (8 h
    # later than the outage dates): day 1 = 8 h of "31 Dec" (0) + 16 h of "1 Jan" (1) = 0.667 m3/s, day 3 2.667.
    p = tmp_path / "q.csv"
    pd.DataFrame({"time": ["2023-12-31"] + [f"2024-01-0{d}" for d in range(1, 5)],
                  "q": [0.0, 1.0, 2.0, 3.0, 4.0]}).to_csv(p, index=False)
    res = run([intake("i", {"csv": str(p), "column": "q", "units": "m3/s"}), dem("d", "a", "1000 m3/s")],
              [link("l", "i", "d", outages=[{"start": "2024-01-02", "end": "2024-01-03"}])],
              steps=3, start="2024-01-01T00:00:00+08:00")
    assert q(res, "d") == pytest.approx([1.0, 0.0, 3.0], abs=1e-9)
    # unchanged on a naive axis (UTC): the same file gives 1, 2, 3 m3/s
    res = run([intake("i", {"csv": str(p), "column": "q", "units": "m3/s"}), dem("d", "a", "1000 m3/s")],
              [link("l", "i", "d")], steps=3)
    assert q(res, "d") == pytest.approx([1.0, 2.0, 3.0], abs=1e-12)


# ---------------------------------------------------------------- d. write() when a target cannot be replaced
def _small():
    return run([intake("river", "1 m3/s"), dem("A", "a", "2 m3/s")], [link("la", "river", "A")], steps=2)


def test_write_with_a_directory_in_place_of_a_file_publishes_nothing(tmp_path):
    # an earlier run's files are there; r_link.nc is a directory. os.replace raised IsADirectoryError (not
    # OutputError) after r_demand.nc had been replaced by the new run, and left the other staging files behind.
    res = _small()
    res.write(tmp_path / "r")
    before = (tmp_path / "r_demand.nc").read_bytes()
    (tmp_path / "r_link.nc").unlink()
    (tmp_path / "r_link.nc").mkdir()
    res2 = run([intake("river", "3 m3/s"), dem("A", "a", "2 m3/s")], [link("la", "river", "A")], steps=2)
    with pytest.raises(OutputError, match="r_link.nc is a directory"):
        res2.write(tmp_path / "r")
    assert not [p.name for p in tmp_path.iterdir() if ".staged-" in p.name]
    assert (tmp_path / "r_demand.nc").read_bytes() == before


def test_stale_file_that_cannot_be_removed_leaves_no_staging_files(tmp_path):
    # no reservoirs: r_reservoir.nc of an earlier run must go; it is a directory -> OutputError, and the seven
    # staging files of this run were left behind
    (tmp_path / "r_reservoir.nc").mkdir()
    with pytest.raises(OutputError, match="stale"):
        _small().write(tmp_path / "r")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r_reservoir.nc"]
