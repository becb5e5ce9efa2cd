"""The CF-1.11 / ACDD-1.3 gate (IOOS compliance-checker) and the georeference read-back check."""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hydro.io.netcdf import NETCDF_LOCK, netcdf4_dataset

__all__ = ["cf_report", "assert_cf_compliant", "assert_georeferenced", "ALLOWED_ACDD_NOTICES"]

#: ACDD results that are structurally unavoidable (design note netcdf.md §9), allowed by name.
#: Each entry: (check name fragment, message fragment or "" for any message of that check).
ALLOWED_ACDD_NOTICES: tuple[tuple[str, str], ...] = (
    # variables with no CF standard name (HAND, flow direction, storages, allocations...)
    ("standard_name", ""),
    # 2-D products have no vertical extent
    ("geospatial_vertical", ""),
    ("geospatial_bounds_vertical_crs", ""),
    # station files have no lat/lon resolution
    ("geospatial_lat_resolution", ""),
    ("geospatial_lon_resolution", ""),
)


def cf_report(path: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Run compliance-checker (``-t cf:1.11 -t acdd:1.3 -c strict``) and return failed results per suite.

    Returns
    -------
    dict
        ``{"cf:1.11": [...], "acdd:1.3": [...]}`` where each item has ``name``, ``msgs``, ``weight``.
        A check that raised inside the checker (it did not run, e.g. on a NaN attribute) is a
        failed item named ``checker error <check>``.
    """
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite.load_all_available_checkers()
    stderr = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, NETCDF_LOCK:  # the checker reads with netCDF4 (not thread-safe)
        out = Path(tmp) / "report.json"
        # the checker reports checks that raised only on stderr (not in the JSON report)
        with contextlib.redirect_stderr(stderr):
            _, errors_occurred = ComplianceChecker.run_checker(
                str(path), ["cf:1.11", "acdd:1.3"], 0, "strict", output_filename=str(out), output_format="json_new"
            )
        report = json.loads(out.read_text())
    if len(report) == 1 and all(isinstance(v, dict) and any(":" in k for k in v) for v in report.values()):
        report = next(iter(report.values()))  # json_new: keyed by file, then by suite
    failures: dict[str, list[dict[str, Any]]] = {}
    for suite, result in report.items():
        items = []
        for prio in ("high_priorities", "medium_priorities", "low_priorities"):
            for r in result.get(prio, []):
                value = r.get("value")
                ok = value[0] >= value[1] if isinstance(value, (list, tuple)) else bool(value)
                if not ok or (suite.startswith("cf") and r.get("msgs")):
                    items.append({"name": r.get("name", ""), "msgs": r.get("msgs", []), "weight": r.get("weight")})
        if result.get("errors"):
            items.append({"name": "checker errors", "msgs": [str(result["errors"])], "weight": 3})
        failures[suite] = items
    if errors_occurred:
        found = False
        for line in stderr.getvalue().splitlines():
            for suite in failures:
                if line.startswith(suite + "."):
                    check, _, msg = line[len(suite) + 1:].partition(": ")
                    failures[suite].append({"name": f"checker error {check}", "msgs": [msg or line], "weight": 3})
                    found = True
        if not found:
            failures.setdefault("checker", []).append(
                {"name": "checker error", "msgs": [stderr.getvalue().strip() or "a check raised"], "weight": 3})
    return failures


def _allowed(item: dict[str, Any], allow: Iterable[tuple[str, str]]) -> list[str]:
    """Messages of a failed result that are not allowed (empty list: the whole result is allowed)."""
    allow = list(allow)
    msgs = item["msgs"] or [item["name"]]
    left = []
    for m in msgs:
        text = (item["name"] + " " + m).lower()
        if not any(check.lower() in text and msg.lower() in text for check, msg in allow):
            left.append(m)
    return left


def _is_informational_cf(item: dict[str, Any]) -> bool:
    # the §4.4 calendar note is attached to a passing result (design note netcdf.md §9)
    return bool(item["msgs"]) and all("calendar" in m.lower() and "1582" in m for m in item["msgs"])


def assert_cf_compliant(path: str | os.PathLike[str], allow: Iterable[tuple[str, str]] = ALLOWED_ACDD_NOTICES) -> None:
    """Fail unless the file passes CF-1.11 completely and ACDD-1.3 up to the allowed notices."""
    report = cf_report(path)
    allow = list(allow)
    with netcdf4_dataset(path) as nc:
        static = "time" not in nc.variables
        # station files of instances without a known position (lat/lon all missing) have no extent to state
        unplaced = all(v in nc.variables for v in ("lat", "lon")) and any(
            bool(np.ma.getmaskarray(np.ma.masked_invalid(nc[v][:])).all()) for v in ("lat", "lon"))
    if static:
        # a product without a time axis (terrain, static maps) has no time coverage to state
        allow += [("time_coverage", "")]
    if unplaced:
        allow += [("geospatial", "")]
    problems = []
    for suite, items in report.items():
        for item in items:
            if suite.startswith("cf") and _is_informational_cf(item):
                continue
            msgs = _allowed(item, allow) if suite.startswith("acdd") else item["msgs"]
            if suite.startswith("acdd") and not msgs:
                continue
            problems.append(f"[{suite}] {item['name']}: {'; '.join(msgs)}")
    if problems:
        raise AssertionError(f"{path} is not CF/ACDD compliant:\n" + "\n".join(problems))


def assert_georeferenced(path: str | os.PathLike[str], variable: str, expected: Any, fill: float | None = None) -> None:
    """Re-open ``variable`` with rioxarray and rasterio/GDAL; compare CRS, transform and pixel values.

    ``expected`` is a DataArray with a rioxarray CRS and transform (e.g. the one written);
    ``fill`` is the on-disk fill value of integer variables (those cells read back as masked).
    """
    import rasterio
    import rioxarray
    import xarray as xr
    from pyproj import CRS

    exp_crs = CRS.from_wkt(expected.rio.crs.to_wkt())
    exp_tr = expected.rio.transform(recalc=False)
    exp_vals = np.asarray(expected.values, dtype=np.float64)
    if fill is not None:
        exp_vals = np.where(exp_vals == fill, np.nan, exp_vals)

    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        # opening the multi-variable container (not the variable) has no geotransform; the
        # variable's CRS and transform are checked below
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with NETCDF_LOCK:  # GDAL's netCDF driver calls netCDF-C (not thread-safe)
            da = rioxarray.open_rasterio(path, variable=variable, masked=True)
            da.load()
    if isinstance(da, list):  # pragma: no cover
        da = da[0]
    if isinstance(da, xr.Dataset):
        da = da[variable]
    got_crs = CRS.from_wkt(da.rio.crs.to_wkt())
    assert got_crs == exp_crs, f"rioxarray CRS {got_crs.to_string()} != {exp_crs.to_string()}"
    assert np.allclose(tuple(da.rio.transform())[:6], tuple(exp_tr)[:6]), f"rioxarray transform {da.rio.transform()} != {exp_tr}"
    vals = np.asarray(da.squeeze().values, dtype=np.float64)
    assert np.allclose(vals, exp_vals, equal_nan=True, rtol=1e-6, atol=1e-6), "rioxarray pixel values differ (row flip?)"

    with NETCDF_LOCK, rasterio.open(f"netcdf:{path}:{variable}") as src:
        assert src.crs is not None, "GDAL sees no CRS"
        assert CRS.from_wkt(src.crs.to_wkt()) == exp_crs, "GDAL CRS differs"
        assert np.allclose(tuple(src.transform)[:6], tuple(exp_tr)[:6]), f"GDAL transform {src.transform} != {exp_tr}"
        arr = src.read(1, masked=True).astype(np.float64).filled(np.nan)
        assert np.allclose(arr, exp_vals, equal_nan=True, rtol=1e-6, atol=1e-6), "GDAL pixel values differ (row flip?)"
