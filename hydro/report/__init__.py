"""Figures and the one-page HTML report of a run: "the night's situation at a glance".

* :func:`hydrograph_figure` — discharge at the gauges with warning levels, the forecast reference
  time, an optional ensemble band and the peak marked;
* :func:`max_depth_figure` — maximum flood depth over a hillshade of the DEM, colour bar in m,
  scale bar in km;
* :func:`allocation_figure` — water delivered vs demanded by region (stacked by source when the
  dataset has that breakdown), shortfalls hatched red;
* :func:`key_numbers` — peak flows and times, flooded area, exposure, shortfalls by region;
* :func:`write_report` — ``<run_dir>/report.html`` linking the figures and files.

matplotlib is imported lazily (object API on an Agg canvas, no pyplot state); every file is
written atomically.
"""
from hydro.report.figures import DPI, allocation_figure, hillshade, hydrograph_figure, max_depth_figure, panel_grid
from hydro.report.html import alert_level, overall_status, write_report
from hydro.report.numbers import format_number, key_numbers

__all__ = [
    "DPI",
    "alert_level",
    "allocation_figure",
    "format_number",
    "hillshade",
    "hydrograph_figure",
    "key_numbers",
    "max_depth_figure",
    "overall_status",
    "panel_grid",
    "write_report",
]
