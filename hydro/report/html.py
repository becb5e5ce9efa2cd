"""The one-page HTML report of a run (``<run_dir>/report.html``)."""
from __future__ import annotations

import html
import logging
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from hydro.errors import OutputError
from hydro.report.numbers import format_number, iso_time

__all__ = ["REPORT_NAME", "alert_level", "overall_status", "write_report"]

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"

_RED = {"red", "warning", "severe", "danger", "extreme", "high", "critical", "major"}
_AMBER = {"amber", "orange", "yellow", "alert", "watch", "moderate", "medium", "minor", "advisory"}
_GREEN = {"green", "ok", "none", "low", "info", "normal", "clear"}
_RANK = {"green": 0, "amber": 1, "red": 2}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1400px;
padding:12px 18px;color:#1a1a1a;font-size:14px;line-height:1.35}
h1{font-size:22px;margin:4px 0}h2{font-size:16px;margin:14px 0 6px;border-bottom:1px solid #ddd;padding-bottom:2px}
h3{font-size:14px;margin:6px 0 2px}
.meta{color:#555;font-size:12.5px}.meta span{margin-right:16px;white-space:nowrap}
.status{border-radius:6px;padding:10px 14px;margin:10px 0;border:2px solid}
.status h2{border:none;margin:0 0 4px;font-size:18px}.status ul{margin:4px 0 0 18px;padding:0}
.red{background:#fde0dc;border-color:#c62828;color:#7f0000}.amber{background:#fff3cd;border-color:#e69500;color:#664400}
.green{background:#e3f4e1;border-color:#2e7d32;color:#1b4d1e}
.chip{display:inline-block;min-width:44px;text-align:center;border-radius:3px;font-size:11px;font-weight:bold;
padding:0 4px;margin-right:6px;border:1px solid}
.grid{display:flex;flex-wrap:wrap;gap:8px 24px}.grid>div{flex:1 1 340px}
table{border-collapse:collapse;font-size:13px;margin:2px 0 6px;width:100%}
th,td{border-bottom:1px solid #e3e3e3;padding:3px 6px;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.short td{background:#fdecea}
#figures .figs{display:flex;flex-wrap:wrap;gap:4px 16px}figure{margin:6px 0 10px;flex:1 1 560px}figure img{max-width:100%;height:auto;border:1px solid #e3e3e3}
figcaption{font-size:12px;color:#555}
ul.files{columns:2;font-size:12.5px;margin:4px 0;padding-left:18px}.files small{color:#777}
"""


def alert_level(alert: Mapping[str, Any]) -> str:
    """Colour of one alert: ``"red"``, ``"amber"`` or ``"green"``.

    Read from the first of ``level``, ``severity``, ``status``, ``colour``/``color``: a word
    (red/warning/severe/danger → red; amber/orange/yellow/alert/watch → amber; green/ok/none →
    green) or a number (0 green, 1 amber, ≥ 2 red: the index of the highest warning level
    exceeded). An alert with no such key, or an unknown word, is amber.
    """
    for key in ("level", "severity", "status", "colour", "color"):
        if key in alert and alert[key] is not None:
            v = alert[key]
            if isinstance(v, (bool, np.bool_)):
                return "amber" if v else "green"
            if isinstance(v, numbers.Real):  # also numpy integers (np.int64 is no int)
                return "green" if v <= 0 else ("amber" if v < 2 else "red")
            w = str(v).strip().lower()
            try:
                n = float(w)  # a number written as text ("2" from a CSV or a form)
            except ValueError:
                pass
            else:
                if np.isfinite(n):
                    return "green" if n <= 0 else ("amber" if n < 2 else "red")
            if w in _RED:
                return "red"
            if w in _GREEN:
                return "green"
            return "amber"
    return "amber"


def overall_status(alerts: Sequence[Mapping[str, Any]]) -> str:
    """The worst :func:`alert_level` of ``alerts`` (green when there are none)."""
    return max((alert_level(a) for a in alerts), key=_RANK.__getitem__, default="green")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _alert_text(alert: Mapping[str, Any]) -> str:
    for key in ("message", "text", "description", "summary"):
        if alert.get(key):
            return str(alert[key])
    skip = {"level", "severity", "status", "colour", "color"}
    parts = [f"{k}: {format_number(v) if isinstance(v, (int, float)) else v}" for k, v in alert.items() if k not in skip]
    return "; ".join(parts) or "alert"


def _link(path: Path, run_dir: Path, what: str) -> str:
    """``path`` relative to ``run_dir`` as a URL path; the file must exist inside ``run_dir``."""
    p = path if path.is_absolute() else run_dir / path
    if not p.exists():
        raise OutputError(f"report: {what} {path} does not exist")
    try:
        rel = p.resolve().relative_to(run_dir.resolve())
    except ValueError:
        raise OutputError(f"report: {what} {path} is outside the run folder {run_dir}; the report links only "
                          "files of the run (relative links survive moving the folder)") from None
    return quote(rel.as_posix(), safe="/")


def _size(p: Path) -> str:
    n = float(p.stat().st_size)
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return ""  # pragma: no cover


_KIND = {".nc": "NetCDF", ".tif": "GeoTIFF", ".tiff": "GeoTIFF", ".geojson": "GeoJSON", ".png": "figure",
         ".csv": "table", ".json": "JSON", ".html": "HTML", ".log": "log", ".toml": "config"}


def _table(head: Sequence[tuple[str, bool]], rows: Sequence[tuple[Sequence[Any], str]]) -> str:
    th = "".join(f'<th{" class=n" if num else ""}>{_e(h)}</th>' for h, num in head)
    body = []
    for cells, cls in rows:
        tds = "".join(f'<td{" class=n" if num else ""}>{_e(c)}</td>' for c, (_, num) in zip(cells, head))
        body.append(f'<tr{f" class={cls}" if cls else ""}>{tds}</tr>')
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _when(iso: str | None) -> str:
    """``2026-01-10T03:00:00Z`` → ``2026-01-10 03:00 UTC`` (seconds shown only when not zero)."""
    if not iso:
        return "–"
    text = iso_time(iso) or "–"
    if text.endswith(":00Z"):
        text = text[:-4] + "Z"
    return text.replace("T", " ").replace("Z", " UTC")


def _label(key: str) -> str:
    units = {"_km2": " (km²)", "_km": " (km)", "_m3": " (m³)", "_m": " (m)"}
    for suf, u in units.items():
        if key.endswith(suf):
            return key[: -len(suf)].replace("_", " ").capitalize() + u
    return key.replace("_", " ").capitalize()


def _numbers_html(kn: Mapping[str, Any]) -> str:
    blocks = []
    if kn.get("gauges"):
        rows = [((g.get("name") or g.get("id"), format_number(g.get("peak_discharge_m3_s")),
                  _when(g.get("peak_time"))), "") for g in kn["gauges"]]
        blocks.append("<div><h3>Peak flows</h3>" + _table(
            [("Gauge", False), ("Peak discharge (m³ s⁻¹)", True), ("Time of peak", False)], rows) + "</div>")
    if kn.get("flood") or kn.get("exposure"):
        parts = []
        if kn.get("flood"):
            rows = [((f.get("domain"), format_number(f.get("flooded_area_km2")), format_number(f.get("max_depth_m")),
                      format_number(f.get("threshold_m"))), "") for f in kn["flood"]]
            parts.append(_table([("Flood map", False), ("Flooded area (km²)", True), ("Max depth (m)", True),
                                 ("Depth threshold (m)", True)], rows))
        exp = kn.get("exposure")
        if exp and all(isinstance(v, Mapping) for v in exp.values()):  # per flood map: one row each, named
            keys = list(dict.fromkeys(k for v in exp.values() for k in v))
            rows = [((dom, *(format_number(v.get(k)) for k in keys)), "") for dom, v in exp.items()]
            parts.append(_table([("Affected", False)] + [(_label(k), True) for k in keys], rows))
        elif exp:
            rows = [((_label(k), format_number(v)), "") for k, v in exp.items()]
            parts.append(_table([("Affected", False), ("Value", True)], rows))
        blocks.append("<div><h3>Flooding</h3>" + "".join(parts) + "</div>")
    if kn.get("allocation"):
        rows = []
        for r in kn["allocation"]:
            short = r.get("shortfall_volume_m3")
            short = float("nan") if short is None else float(short)  # None/NaN: unknown (missing values)
            rows.append(((r.get("name") or r.get("region"), format_number(r.get("demand_volume_m3")),
                          format_number(r.get("delivered_volume_m3")), format_number(short),
                          format_number(r.get("shortfall_percent"))), "" if short <= 0 else "short"))
        blocks.append("<div><h3>Water shortfalls by region</h3>" + _table(
            [("Region", False), ("Demand (m³)", True), ("Delivered (m³)", True), ("Shortfall (m³)", True),
             ("Shortfall (%)", True)], rows) + "</div>")
    known = {"gauges", "flood", "exposure", "allocation", "reference_time"}
    other = [(k, v) for k, v in kn.items() if k not in known and (v is None or isinstance(v, (str, int, float)))]
    if other:
        blocks.append("<div><h3>Other</h3>" + _table([("", False), ("Value", True)],
                                                   [((_label(k), format_number(v)), "") for k, v in other]) + "</div>")
    if not blocks:
        return "<p>No key numbers were given.</p>"
    return '<div class="grid">' + "".join(blocks) + "</div>"


_PROCESS = {"runoff_routing": "Runoff + routing (domain)", "runoff_generation": "Runoff generation (cells)",
            "routing": "Routing (reaches, reservoirs)", "flood_2d": "2-D flood (coastal plain)",
            "allocation": "Allocation (supply network)"}

#: the balance summary a run writes next to the report (same as ``manifest["facts"]["water_balance"]``)
BALANCE_NAME = "water_balance.json"


def _terms(d: Mapping[str, Any]) -> str:
    # a non-finite term is null in the (strict JSON) summary: say so, never drop it (an "in: 0" for a NaN rain)
    return "; ".join(f"{k.replace('_', ' ')} {'not finite' if v is None else format_number(v)}"
                     for k, v in d.items() if v is None or v)


def _balance_html(wb: Mapping[str, Any]) -> str:
    """The water balance of every process (m³): inputs, outputs, storage change, residual, closed or not."""
    procs = wb.get("processes") or {}
    if not procs:
        return "<p>No water balance was recorded.</p>"
    tol = wb.get("tolerance")
    rows = []
    def g(v: Any, spec: str) -> str:  # non-finite terms are null in the (strict JSON) summary
        return "not finite" if v is None else format(float(v), spec)

    for k, m in procs.items():
        rels = (m.get("relative_residual", 0.0), m.get("stated_max_relative_residual", 0.0))
        rel = None if None in rels else max(float(r) for r in rels)
        ok = bool(m.get("closed"))
        rows.append(((_PROCESS.get(k, k), format_number(m.get("total_in")), format_number(m.get("total_out")),
                      format_number(m.get("storage_change")), g(m.get("residual", 0.0), ".3g"), g(rel, ".2g"),
                      "yes" if ok else "NO"), "" if ok else "short"))
    parts = [_table([("Process", False), ("In (m³)", True), ("Out (m³)", True), ("Storage change (m³)", True),
                     ("Residual (m³)", True), ("Relative residual", True), ("Closes", False)], rows)]
    detail = []
    for k, m in procs.items():
        detail.append(f"<li><b>{_e(_PROCESS.get(k, k))}</b>: in: {_e(_terms(m.get('inputs') or {}) or '0')}; "
                      f"out: {_e(_terms(m.get('outputs') or {}) or '0')}</li>")
    for k, t in (wb.get("transfers") or {}).items():
        ok = bool(t.get("closed"))
        detail.append(f"<li><b>{_e(k.replace('_', ' '))}</b>: sent {_e(format_number(t.get('sent')))} m³, received "
                      f"{_e(format_number(t.get('received')))} m³ (relative difference "
                      f"{g(t.get('relative_difference', 0.0), '.2g')}{'' if ok else ', DOES NOT CLOSE'})</li>")
    for k, why in (wb.get("not_applicable") or {}).items():
        detail.append(f"<li><b>{_e(k)}</b>: {_e(why)}</li>")
    head = ("All balances close" if wb.get("closed", True) else
            "Water balance does NOT close: " + ", ".join(str(x) for x in wb.get("not_closed", [])))
    return (f"<p>{_e(head)} (relative tolerance {_e(tol)}; residual = in − out − storage change).</p>"
            + "".join(parts) + f"<ul>{''.join(detail)}</ul>")


def _status_html(alerts: Sequence[Mapping[str, Any]]) -> str:
    status = overall_status(alerts)
    counts = {c: sum(1 for a in alerts if alert_level(a) == c) for c in ("red", "amber")}
    n = counts["red"] + counts["amber"]
    if status == "green":
        head = "GREEN — no warning threshold exceeded"
    else:
        parts = " and ".join(f"{counts[c]} {c}" for c in ("red", "amber") if counts[c])
        head = f"{status.upper()} — {parts} alert{'s' if n != 1 else ''}"
    items = []
    ordered = sorted(alerts, key=lambda a: -_RANK[alert_level(a)])
    for a in ordered:
        lv = alert_level(a)
        items.append(f'<li><span class="chip {lv}">{lv.upper()}</span>{_e(_alert_text(a))}</li>')
    lst = f"<ul>{''.join(items)}</ul>" if items else ""
    return f'<section class="status {status}" id="status"><h2>{_e(head)}</h2>{lst}</section>'


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    title: str,
    run_id: str,
    key_numbers: Mapping[str, Any],
    figures: Sequence[str | os.PathLike[str]],
    alerts: Sequence[Mapping[str, Any]],
    files: Sequence[str | os.PathLike[str]],
    warm_start: str | None = None,
    reference_time: Any = None,
    water_balance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/report.html``: the night's situation on one self-contained page.

    Parameters
    ----------
    run_dir : path
        The run folder (may be the ``<run-id>.partial`` folder: links are relative, so they
        survive the final rename).
    title : str
        Page title (escaped).
    run_id : str
        Run identifier.
    key_numbers : mapping
        Output of :func:`hydro.report.key_numbers` (``gauges``, ``flood``, ``exposure``,
        ``allocation``); other scalar entries are listed under "Other"; ``reference_time`` is
        used when the argument is not given.
    figures : sequence of path
        PNG figures shown in order (absolute, or relative to ``run_dir``).
    alerts : sequence of mapping
        One per alert; colour by :func:`alert_level`, text from ``message`` (or ``text``,
        ``description``; else the alert's items). The headline box takes the worst colour
        (green with no alerts).
    files : sequence of path
        Products listed with relative links, kind and size.
    warm_start : str, optional
        Where the initial state came from (state file, "cold start with spin-up" ...).
    reference_time : datetime-like, optional
        Forecast reference time (UTC).
    water_balance : mapping, optional
        The run's water balance (``manifest["facts"]["water_balance"]``); default: ``run_dir/water_balance.json``
        when the run wrote one. Shown as a table of every process (a "Water balance" section).

    Returns
    -------
    pathlib.Path
        ``run_dir/report.html``, written atomically (UTF-8). The page has no script and no
        external resource: inline CSS, ``<img>`` and ``<a>`` with relative URLs only. It holds no
        wall-clock time, so a rerun of the same run writes the same bytes.

    Raises
    ------
    OutputError
        A figure or file that does not exist or lies outside ``run_dir``; the report cannot be
        written.
    """
    from hydro.io import atomic_path, discard_temp, replace_atomically

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise OutputError(f"report: run folder {run_dir} does not exist")
    out = run_dir / REPORT_NAME
    if water_balance is None and (run_dir / BALANCE_NAME).is_file():
        import json

        try:
            water_balance = json.loads((run_dir / BALANCE_NAME).read_text())
        except (OSError, ValueError) as exc:
            raise OutputError(f"report: cannot read {run_dir / BALANCE_NAME}: {exc}") from exc
    balance_html = ("" if water_balance is None else
                    f'<section id="water-balance"><h2>Water balance</h2>{_balance_html(water_balance)}</section>\n')
    ref = iso_time(reference_time if reference_time is not None else key_numbers.get("reference_time"))
    figs = []
    for f in figures:
        url = _link(Path(f), run_dir, "figure")
        cap = Path(f).name
        figs.append(f'<figure><a href="{_e(url)}"><img src="{_e(url)}" alt="{_e(cap)}"></a>'
                    f"<figcaption>{_e(cap)}</figcaption></figure>")
    items = []
    for f in files:
        p = Path(f) if Path(f).is_absolute() else run_dir / f
        if p.resolve() == out.resolve():  # the report itself (not written yet on the first run)
            continue
        url = _link(Path(f), run_dir, "file")
        kind = "folder" if p.is_dir() else _KIND.get(p.suffix.lower(), p.suffix.lstrip(".") or "file")
        size = "" if p.is_dir() else f", {_size(p)}"
        items.append(f'<li><a href="{_e(url)}">{_e(url)}</a> <small>({_e(kind)}{_e(size)})</small></li>')
    meta = (f'<span>run id: <code>{_e(run_id)}</code></span>'
            f'<span>reference time: {_e(_when(ref))}</span>'
            f'<span>warm start: {_e(warm_start or "not recorded")}</span>')
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header><h1>{_e(title)}</h1><div class="meta">{meta}</div></header>
{_status_html(alerts)}
<section id="numbers"><h2>Key numbers</h2>{_numbers_html(key_numbers)}</section>
{balance_html}<section id="figures"><h2>Figures</h2>{f'<div class="figs">{"".join(figs)}</div>' if figs else '<p>No figures.</p>'}</section>
<section id="files"><h2>Files</h2>{f'<ul class="files">{"".join(items)}</ul>' if items else '<p>No files.</p>'}</section>
</body>
</html>
"""
    tmp = atomic_path(out)
    try:
        tmp.write_text(page, encoding="utf-8")
        replace_atomically(tmp, out)
    except OSError as exc:
        discard_temp(tmp)
        raise OutputError(f"cannot write {out}: {exc}") from exc
    except BaseException:  # Ctrl-C / SystemExit: no temporary file is left behind
        discard_temp(tmp)
        raise
    logger.debug("wrote %s (%d figures, %d files, status %s)", out, len(figs), len(items), overall_status(alerts))
    return out
