"""write_report: numbers on the page, escaping, relative links that exist, status colours, atomic write."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest

from hydro.errors import OutputError
from hydro.report import (
    alert_level,
    allocation_figure,
    format_number,
    hydrograph_figure,
    key_numbers,
    max_depth_figure,
    overall_status,
    write_report,
)
from tests.report.conftest import DAY, START


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.tags, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("href", "src"):
                self.urls.append(v)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def run(tmp_path, dsg_gauges, allocation_result, dem_and_depth):
    """A run folder with three figures and some products, like `hydro run` writes."""
    run_dir = tmp_path / "bpn-20260110T00-abc123.partial"
    (run_dir / "maps").mkdir(parents=True)
    dem, depth = dem_and_depth
    region = allocation_result.to_dataset("region")
    figs = [hydrograph_figure(dsg_gauges, run_dir / "hydrographs.png", warning_levels={"A-1": [30.0]}),
            max_depth_figure(depth, dem, run_dir / "maps" / "max depth.png"),
            allocation_figure(region, run_dir / "allocation.png")]
    (run_dir / "gauges.nc").write_bytes(b"\x89HDF" + b"0" * 2000)
    (run_dir / "maps" / "plain_extent.geojson").write_text("{}")
    files = [run_dir / "gauges.nc", "maps/plain_extent.geojson", run_dir / "maps"]
    kn = key_numbers(dsg_gauges, {"coastal plain (2-D)": depth}, region,
                     exposure={"people_affected": 1234, "roads_affected_km": 2.5})
    return run_dir, figs, files, kn


def _write(run, **kw):
    run_dir, figs, files, kn = run
    args = dict(title="Balikpapan nightly forecast", run_id="bpn-20260110T00-abc123", key_numbers=kn,
                figures=figs, alerts=[], files=files, warm_start="state 2026-01-09T00:00Z",
                reference_time=START)
    args.update(kw)
    return write_report(run_dir, **args)


def test_report_contains_the_key_numbers(run):
    run_dir, figs, files, kn = run
    path = _write(run)
    assert path == run_dir / "report.html"
    page = path.read_text(encoding="utf-8")
    # peaks and times per gauge (hand values of the dsg fixture: 50 at 03:00, 10 at 05:00)
    assert "<td class=n>50.0</td>" in page and "2026-01-10 03:00 UTC" in page
    assert "<td class=n>10.0</td>" in page and "2026-01-10 05:00 UTC" in page
    # flooded area: 20 x 40 wet cells of 25 m x 25 m = 0.5 km2 (1 m deep)
    assert kn["flood"][0]["flooded_area_km2"] == pytest.approx(0.5)
    assert "<td class=n>0.500</td>" in page and "coastal plain (2-D)" in page
    # people and roads
    assert "People affected" in page and "<td class=n>1,234</td>" in page
    assert "Roads affected (km)" in page and "<td class=n>2.50</td>" in page
    # shortfalls by region: 8 640 m3 (5.56 %) and 103 680 m3 (50 %), the short rows highlighted
    assert format_number(0.1 * DAY) == "8,640"
    assert "<td class=n>8,640</td><td class=n>5.56</td>" in page
    assert "<td class=n>103,680</td><td class=n>50.0</td>" in page
    assert page.count('<tr class=short>') == 2
    # run id, reference time and warm start
    assert "bpn-20260110T00-abc123" in page and "2026-01-10 00:00 UTC" in page
    assert "warm start: state 2026-01-09T00:00Z" in page


def test_report_escapes_untrusted_text(run):
    evil = '<script>alert("x")</script>'
    run_dir, figs, files, kn = run
    kn = dict(kn)
    kn["gauges"] = [dict(kn["gauges"][0], name='<img src=x onerror="alert(1)">')]
    path = _write(run, title=evil, run_id='"><script>1</script>', key_numbers=kn, warm_start=evil,
                  alerts=[{"level": 2, "message": evil}])
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "onerror=\"" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    p = _Collector()
    p.feed(page)
    assert "script" not in p.tags and p.tags.count("img") == 3  # only the three figures
    assert "script-src 'none'" in page  # and no script would run anyway


def test_report_links_only_relative_paths_that_exist(run):
    run_dir, figs, files, kn = run
    page = _write(run).read_text(encoding="utf-8")
    p = _Collector()
    p.feed(page)
    assert len(p.urls) == 2 * 3 + 3  # every figure as <img> and <a>, three files
    for url in p.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
        assert ".." not in url.split("/")
        assert (run_dir / unquote(url)).exists(), url
    assert "maps/max%20depth.png" in p.urls
    # the links survive the final rename of the .partial folder
    final = run_dir.with_name(run_dir.name.removesuffix(".partial"))
    run_dir.rename(final)
    assert all((final / unquote(u)).exists() for u in p.urls)


def test_report_rejects_files_outside_the_run_or_missing(run, tmp_path):
    run_dir, figs, files, kn = run
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"x")
    with pytest.raises(OutputError, match="outside the run folder"):
        _write(run, figures=[outside])
    with pytest.raises(OutputError, match="outside the run folder"):
        _write(run, files=["../elsewhere.png"])
    with pytest.raises(OutputError, match="does not exist"):
        _write(run, files=[run_dir / "missing.nc"])
    assert not (run_dir / "report.html").exists()
    assert [p.name for p in run_dir.rglob("*") if ".tmp" in p.name] == []
    with pytest.raises(OutputError, match="does not exist"):
        write_report(tmp_path / "nope", title="t", run_id="r", key_numbers={}, figures=[], alerts=[], files=[])


@pytest.mark.parametrize("alerts, status", [
    ([], "green"),
    ([{"level": "green", "message": "all quiet"}], "green"),
    ([{"gauge": "A-1", "level": 1, "value": 31.0, "threshold": 30.0}], "amber"),
    ([{"severity": "watch", "message": "a"}, {"level": 2, "message": "Ampal above warning 2"}], "red"),
    ([{"message": "no level given"}], "amber"),
])
def test_status_box_colour(run, alerts, status):
    assert overall_status(alerts) == status
    page = _write(run, alerts=alerts).read_text(encoding="utf-8")
    assert f'<section class="status {status}" id="status">' in page
    headline = {"green": "GREEN — no warning threshold exceeded", "amber": "AMBER — 1 amber alert",
                "red": "RED — 1 red and 1 amber alerts"}[status]
    assert f"<h2>{headline}</h2>" in page
    for a in alerts:
        if "message" in a:
            assert a["message"] in page
    if alerts and "gauge" in alerts[0]:
        assert "gauge: A-1; value: 31.0; threshold: 30.0" in page


def test_alert_levels():
    assert [alert_level({"level": v}) for v in (0, 1, 2, 3, "RED", "Warning", "orange", "ok", None)] == \
        ["green", "amber", "red", "red", "red", "red", "amber", "green", "amber"]


def test_report_is_atomic_and_deterministic(run):
    run_dir, figs, files, kn = run
    a = _write(run).read_bytes()
    b = _write(run).read_bytes()
    assert a == b  # no wall-clock time on the page: a rerun writes the same report
    assert [p.name for p in run_dir.rglob("*") if ".tmp" in p.name] == []
    (run_dir / "report.html").unlink()
    (run_dir / "report.html").mkdir()  # cannot replace a directory
    with pytest.raises(OutputError, match="cannot write"):
        _write(run)
    assert [p.name for p in run_dir.rglob("*") if ".tmp" in p.name] == []


def test_report_from_a_model_run_round_trip(tmp_path, model_run):
    """The model's gauges through key_numbers into the page; reference time from key_numbers."""
    g = model_run["result"].gauges
    kn = key_numbers(g)
    kn["reference_time"] = "2026-01-10T12:00:00Z"
    kn["members"] = 11
    fig = hydrograph_figure(g, tmp_path / "h.png", reference_time=pd.Timestamp("2026-01-10T12:00"))
    page = write_report(tmp_path, title="t", run_id="r", key_numbers=kn, figures=[fig], alerts=[], files=[]).read_text()
    for entry in kn["gauges"]:
        assert f"<td>{entry['name']}</td><td class=n>{format_number(entry['peak_discharge_m3_s'])}</td>" in page
    assert "reference time: 2026-01-10 12:00 UTC" in page
    assert "<td>Members</td><td class=n>11.0</td>" in page
    json.dumps(kn)
