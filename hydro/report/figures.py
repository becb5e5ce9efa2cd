"""PNG figures of a run: hydrographs at gauges, maximum depth over a hillshade, allocation by region.

matplotlib is imported inside the functions and used through its object API
(:class:`matplotlib.figure.Figure` drawn on an explicit Agg canvas): no ``pyplot``, no global
backend switch (``matplotlib.use`` would change the backend of a user's notebook), nothing left
open in pyplot's figure registry, and figures can be drawn from several threads (dask workers).
Every PNG is written to a temporary name in the target directory and renamed (atomic), at
:data:`DPI` dots per inch with a fixed size in inches (so the pixel size is known), and the same
input gives the same bytes.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError, OutputError
from hydro.times import naive_utc
from hydro.report._data import (
    GaugeSeries,
    RegionSeries,
    depth_factor,
    ensemble_band,
    gauge_series,
    is_geographic,
    raster2d,
    region_series,
    spacing,
)
from hydro.report.numbers import format_number

__all__ = [
    "DEPTH_CLASSES_M",
    "DPI",
    "allocation_figure",
    "hillshade",
    "hydrograph_figure",
    "max_depth_figure",
    "panel_grid",
]

logger = logging.getLogger(__name__)

#: resolution of every figure [dots per inch]
DPI = 110
#: class bounds of the depth colour scale [m] (the first is replaced by ``min_depth_m``)
DEPTH_CLASSES_M = (0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
#: background where the DEM has no data (sea in the embedded DEM)
NODATA_COLOUR = "#dbe7f0"
#: vertical exaggeration of the hillshade under the depth map (context only, no value is read from it)
HILLSHADE_Z_FACTOR = 3.0
_SHORTFALL = "#d62728"
_Q_LABEL = "discharge (m³ s⁻¹)"


def panel_grid(n: int) -> tuple[int, int, tuple[float, float]]:
    """Rows, columns and figure size [inches] of a figure with ``n`` panels (1-6)."""
    if n <= 1:
        return 1, 1, (8.0, 4.0)
    if n == 2:
        return 1, 2, (12.0, 4.0)
    if n <= 4:
        return 2, 2, (12.0, 7.0)
    return 2, 3, (14.0, 7.0)


def _figure(figsize: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically, then release it."""
    from hydro.io import atomic_path, discard_temp, replace_atomically

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"{path}: figures are written as PNG; give a .png file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path.parent}: {exc}") from None
    tmp = atomic_path(path)
    try:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": "hydro.report"})
        replace_atomically(tmp, path)
    except OSError as exc:
        discard_temp(tmp)
        raise OutputError(f"cannot write {path}: {exc}") from exc
    except BaseException:
        discard_temp(tmp)
        raise
    finally:
        fig.clear()
    return path


def _date_axis(ax: Any) -> None:
    """Concise date ticks in UTC; the offset text under the axis names the dates shown (first to last).

    matplotlib's offset names the date of the last tick only: a day ending at midnight was labelled
    with the next day's date. The zone is UTC whatever ``rcParams["timezone"]`` says (a user's
    ``timezone: Asia/Makassar`` put WITA ticks under titles that say UTC).
    """
    import datetime as dt

    import matplotlib.dates as mdates

    class _RangeOffset(mdates.ConciseDateFormatter):
        def get_offset(self) -> str:
            if self.axis is None:
                return super().get_offset()
            lo, hi = sorted(self.axis.get_view_interval())
            a, b = mdates.num2date(lo, tz=self._tz), mdates.num2date(hi, tz=self._tz)
            if (a.year, a.month, a.day) == (b.year, b.month, b.day):
                return f"{a:%d %b %Y}"
            if a.year == b.year:
                return f"{a:%d %b} – {b:%d %b %Y}"
            return f"{a:%d %b %Y} – {b:%d %b %Y}"

    loc = mdates.AutoDateLocator(tz=dt.timezone.utc, minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(_RangeOffset(loc, tz=dt.timezone.utc))


def _level_colours(n: int) -> list[str]:
    if n <= 0:
        return []
    base = {1: ["#d62728"], 2: ["#ff9f1c", "#d62728"], 3: ["#e6b800", "#ff7f0e", "#d62728"]}
    if n in base:
        return base[n]
    import matplotlib

    cmap = matplotlib.colormaps["autumn_r"]
    return [matplotlib.colors.to_hex(cmap(0.2 + 0.8 * i / (n - 1))) for i in range(n)]


def _dt64(t: Any) -> np.datetime64:
    return np.datetime64(naive_utc(t).to_datetime64(), "ns")


def _select_gauges(series: list[GaugeSeries], levels: Mapping[str, Sequence[float]], max_panels: int) -> list[GaugeSeries]:
    """At most ``max_panels`` gauges: most warning levels exceeded first, then highest peak (input order kept)."""
    if len(series) <= max_panels:
        return series

    def key(i: int) -> tuple[int, float]:
        g = series[i]
        peak = g.peak if g.peak is not None else -np.inf
        exceeded = sum(1 for lv in levels.get(g.id, ()) if g.peak is not None and g.peak >= float(lv))
        return exceeded, peak

    keep = sorted(sorted(range(len(series)), key=key, reverse=True)[:max_panels])
    return [series[i] for i in keep]


def _hydrograph_fig(
    gauges: xr.Dataset,
    *,
    warning_levels: Mapping[str, Sequence[float]] = {},
    reference_time: Any = None,
    ensemble: xr.Dataset | None = None,
    max_panels: int = 6,
) -> Any:
    """The hydrograph Figure (not saved); see :func:`hydrograph_figure`."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    series = gauge_series(gauges)
    if not series:
        raise InputDataError("gauges: no gauge (the dataset has no instance)")
    unknown = sorted(set(warning_levels) - {g.id for g in series})
    if unknown:
        raise InputDataError(f"warning levels given for gauges not in the dataset: {unknown}")
    shown = _select_gauges(series, warning_levels, max_panels)
    nrow, ncol, size = panel_grid(len(shown))
    fig = _figure(size)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    ref = _dt64(reference_time) if reference_time is not None else None
    handles: dict[str, Any] = {}
    for ax, g in zip(axes, shown):
        t = np.asarray(g.time.values, dtype="datetime64[ns]")
        title = g.name if g.name == g.id else f"{g.name} ({g.id})"
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel(_Q_LABEL, fontsize=9)
        ax.grid(True, color="0.9", lw=0.6)
        ax.set_axisbelow(True)
        ymax = 0.0
        if ensemble is not None:
            band = ensemble_band(ensemble, g.id, series.index(g), len(series))
            if band is not None:
                et = np.asarray(band["time"].values, dtype="datetime64[ns]")
                ax.fill_between(et, band["low"], band["high"], color="#9ecae1", alpha=0.55, lw=0, zorder=1)
                handles.setdefault(band["label"], Patch(color="#9ecae1", alpha=0.55))
                if band["median"] is not None:
                    ax.plot(et, band["median"], color="#3182bd", lw=1.0, ls="--", zorder=2)
                    handles.setdefault("ensemble median", Line2D([], [], color="#3182bd", lw=1.0, ls="--"))
                ymax = max(ymax, float(np.nanmax(band["high"], initial=0.0)))
        if g.max_discharge is not None:
            ax.plot(t, g.max_discharge, color="#1f77b4", lw=0.8, alpha=0.5, zorder=3)
            handles.setdefault("maximum within step", Line2D([], [], color="#1f77b4", lw=0.8, alpha=0.5))
        ax.plot(t, g.discharge, color="#08306b", lw=1.6, zorder=4)
        handles.setdefault("discharge (step mean)" if g.max_discharge is not None else "discharge",
                           Line2D([], [], color="#08306b", lw=1.6))
        finite = np.isfinite(g.discharge)
        if g.max_discharge is not None:
            finite |= np.isfinite(g.max_discharge)
        if not finite.any():
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.4")
        ymax = max(ymax, float(np.nanmax(g.discharge, initial=0.0) if finite.any() else 0.0),
                   g.peak if g.peak is not None else 0.0)
        levels = sorted(float(v) for v in warning_levels.get(g.id, ()))
        for k, (lv, col) in enumerate(zip(levels, _level_colours(len(levels)))):
            ax.axhline(lv, color=col, ls="--", lw=1.1, zorder=2)
            ax.text(0.995, lv, f"warning {k + 1}: {lv:g}", transform=ax.get_yaxis_transform(),
                    ha="right", va="bottom", fontsize=8, color=col, zorder=5)
            ymax = max(ymax, lv)
        if levels:
            handles.setdefault("warning levels", Line2D([], [], color=_level_colours(1)[0], ls="--", lw=1.1))
        if ref is not None:
            ax.axvline(ref, color="0.15", ls=":", lw=1.2, zorder=5)
            handles.setdefault("forecast reference time", Line2D([], [], color="0.15", ls=":", lw=1.2))
        if g.peak is not None and g.peak_time is not None:
            pt = _dt64(g.peak_time)
            ax.plot([pt], [g.peak], marker="o", ms=6, mfc="white", mec=_SHORTFALL, mew=1.6, zorder=6, ls="none")
            handles.setdefault("peak", Line2D([], [], marker="o", ms=6, mfc="white", mec=_SHORTFALL, mew=1.6, ls="none"))
            frac = (pt - t[0]) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.5
            ha = "left" if frac < 0.33 else ("right" if frac > 0.67 else "center")
            ax.annotate(f"peak {format_number(g.peak)} m³ s⁻¹\n{pd.Timestamp(pt):%d %b %H:%M} UTC",
                        xy=(pt, g.peak), xytext=(0, 9), textcoords="offset points", ha=ha, va="bottom",
                        fontsize=8, zorder=7, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.7", alpha=0.9))
        ax.set_ylim(0.0, ymax * 1.25 if ymax > 0 else 1.0)
        if len(t) > 1:
            ax.set_xlim(t[0], t[-1])
        _date_axis(ax)
        ax.tick_params(labelsize=8)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    note = f" — {len(shown)} of {len(series)} gauges shown" if len(shown) < len(series) else ""
    fig.suptitle(f"River discharge at gauges (UTC){note}", fontsize=11)
    fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center", ncol=min(len(handles), 6),
               fontsize=8, frameon=False)
    return fig


def hydrograph_figure(
    gauges: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    warning_levels: Mapping[str, Sequence[float]] = {},
    reference_time: Any = None,
    ensemble: xr.Dataset | None = None,
    max_panels: int = 6,
) -> Path:
    """Hydrographs at the gauges, one panel each, as a PNG.

    Parameters
    ----------
    gauges : xarray.Dataset
        CF DSG timeSeries with ``discharge`` [m3 s-1 (or L s-1)] on (instance, time), ids in
        ``<instance>_id``, names in ``<instance>_name`` (:attr:`hydro.model.RunResult.gauges`);
        ``max_discharge`` (maximum within the step), when present, is drawn thin and gives the peak.
    path : path
        Output ``.png``.
    warning_levels : mapping gauge id -> sequence of float
        Warning discharges [m3 s-1], drawn as dashed horizontal lines (amber to red, ascending) and
        labelled ``warning k: value``. An id not in ``gauges`` is an error.
    reference_time : datetime-like, optional
        Forecast reference time (UTC), drawn as a dotted vertical line.
    ensemble : xarray.Dataset, optional
        ``discharge`` with a ``realization`` dimension (members; the 10-90 % band and the median
        are computed) or a ``percentile`` dimension (0-100; the outermost percentiles are the
        band, 50 the median), matched to the gauges by ``<instance>_id``.
    max_panels : int
        At most this many panels (grid up to 2 x 3); with more gauges, those exceeding most
        warning levels, then with the highest peaks, are shown and the title says so.

    Returns
    -------
    pathlib.Path
        ``path``, written atomically at :data:`DPI` with the size of :func:`panel_grid`.

    Raises
    ------
    InputDataError
        No ``discharge``, units that are not a flow, unknown gauge ids, bad ensemble.
    OutputError
        The PNG cannot be written.

    Notes
    -----
    The peak is marked with its value and the time label (end) of the output step in which it
    occurs — the same numbers as :func:`hydro.report.key_numbers`.
    """
    if max_panels < 1:
        raise InputDataError("max_panels must be >= 1")
    fig = _hydrograph_fig(gauges, warning_levels=warning_levels, reference_time=reference_time,
                          ensemble=ensemble, max_panels=min(int(max_panels), 6))
    return _save(fig, path)


# ------------------------------------------------------------------------------------ maps
def hillshade(dem: xr.DataArray, *, azimuth_deg: float = 315.0, altitude_deg: float = 45.0,
              z_factor: float = 1.0) -> np.ndarray:
    """Lambertian hillshade (0-1) of a DEM (y, x) [m] lit from ``azimuth_deg`` (clockwise from north).

    ``shade = max(0, n · s)`` with the unit surface normal ``n ∝ (−z_factor ∂z/∂x, −z_factor ∂z/∂y, 1)``
    (x east, y north, gradients by :func:`numpy.gradient` on the coordinates) and the unit vector
    to the sun ``s = (cos a sin φ, cos a cos φ, sin a)`` (altitude ``a``, azimuth ``φ``). A flat
    cell gives ``sin a``. Geographic grids are converted to metres (spherical Earth). NaN where
    the DEM is NaN.
    """
    da = raster2d(dem, "dem")
    z = np.asarray(da.values, dtype=np.float64)
    x = np.asarray(da["x"].values, dtype=np.float64)
    y = np.asarray(da["y"].values, dtype=np.float64)
    if is_geographic(da):
        lat0 = np.radians(float(np.mean(y)))
        x = x * 111_319.49 * np.cos(lat0)
        y = y * 111_319.49
    if z.shape[0] < 2 or z.shape[1] < 2:
        return np.where(np.isfinite(z), np.sin(np.radians(altitude_deg)), np.nan)
    dzdy, dzdx = np.gradient(z, y, x)
    nx, ny, nz = -z_factor * dzdx, -z_factor * dzdy, np.ones_like(z)
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    a, phi = np.radians(altitude_deg), np.radians(azimuth_deg)
    s = (np.cos(a) * np.sin(phi), np.cos(a) * np.cos(phi), np.sin(a))
    shade = (nx * s[0] + ny * s[1] + nz * s[2]) / norm
    shade = np.clip(shade, 0.0, 1.0)
    # np.gradient uses one-sided differences next to NaN only where NaN is absent: mark NaN-touched cells
    return np.where(np.isfinite(z), np.where(np.isfinite(shade), shade, np.sin(a)), np.nan)


def _extent(da: xr.DataArray) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) cell-edge extent of a north-up (y, x) map."""
    dx, dy = spacing(da, "x"), spacing(da, "y")
    x = np.asarray(da["x"].values, dtype=np.float64)
    y = np.asarray(da["y"].values, dtype=np.float64)
    return float(x[0] - dx / 2), float(x[-1] + dx / 2), float(y[-1] - dy / 2), float(y[0] + dy / 2)


def _nice_length(span: float) -> float:
    """Largest 1, 2 or 5 × 10^k not above ``span``."""
    k = np.floor(np.log10(span))
    for m in (5.0, 2.0, 1.0):
        if m * 10**k <= span:
            return float(m * 10**k)
    return float(10**k)


def _depth_norm(max_depth: float, min_depth_m: float) -> tuple[Any, Any, str]:
    import matplotlib
    from matplotlib.colors import BoundaryNorm, ListedColormap

    bounds = [min_depth_m] + [b for b in DEPTH_CLASSES_M[1:] if b > min_depth_m]
    if len(bounds) < 2:  # min_depth_m at or above the last class: one class up to the maximum (or twice the minimum)
        bounds.append(max_depth if np.isfinite(max_depth) and max_depth > min_depth_m else max(2.0 * min_depth_m, 1.0))
    extend = "neither"
    if np.isfinite(max_depth) and max_depth > bounds[-1]:
        extend = "max"
    else:
        top = next((i for i, b in enumerate(bounds) if b >= max_depth), len(bounds) - 1)
        bounds = bounds[: max(top, 1) + 1]
    ncol = len(bounds) - 1 + (1 if extend == "max" else 0)
    base = matplotlib.colormaps["YlGnBu"]
    colours = [base(0.25 + 0.75 * i / max(ncol - 1, 1)) for i in range(ncol)]
    cmap = ListedColormap(colours[: len(bounds) - 1])
    if extend == "max":
        cmap = cmap.with_extremes(over=colours[-1])  # set_over() is deprecated (PendingDeprecationWarning)
    return cmap, BoundaryNorm(bounds, len(bounds) - 1), extend


def _metres_per_unit_of(da: xr.DataArray) -> float:
    """Metres per x/y unit of a projected map (1 without a CRS)."""
    try:
        import rioxarray  # noqa: F401

        crs = da.rio.crs
    except Exception:  # noqa: BLE001 - no rioxarray metadata: metres assumed
        return 1.0
    if crs is None:
        return 1.0
    from pyproj import CRS

    from hydro.io.netcdf import _metres_per_unit

    return _metres_per_unit(CRS.from_wkt(crs.to_wkt()))


def _check_same_crs(a: xr.DataArray, b: xr.DataArray) -> None:
    try:
        import rioxarray  # noqa: F401

        ca, cb = a.rio.crs, b.rio.crs
    except Exception:  # noqa: BLE001 - no rioxarray metadata: nothing to compare
        return
    if ca is not None and cb is not None and ca != cb:
        raise InputDataError(f"max_depth CRS ({ca}) differs from the DEM CRS ({cb}): reproject one of them")


def _max_depth_fig(max_depth: xr.DataArray, dem: xr.DataArray, *, title: str = "", min_depth_m: float = 0.01) -> Any:
    """The maximum-depth Figure (not saved); see :func:`max_depth_figure`."""
    from matplotlib.patches import Rectangle
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    depth = raster2d(max_depth, "max_depth")
    demm = raster2d(dem, "dem")
    _check_same_crs(depth, demm)
    de, ze = _extent(depth), _extent(demm)
    if de[0] >= ze[1] or de[1] <= ze[0] or de[2] >= ze[3] or de[3] <= ze[2]:
        raise InputDataError(f"max_depth extent {de} does not overlap the DEM extent {ze} (same CRS?)")
    d = np.asarray(depth.values, dtype=np.float64) * depth_factor(max_depth, "max_depth")
    dmax = float(np.nanmax(d)) if np.isfinite(d).any() else float("nan")
    shown = np.ma.masked_invalid(np.where(d >= min_depth_m, d, np.nan))
    # view: the depth domain with a margin, inside the DEM
    w, h = de[1] - de[0], de[3] - de[2]
    m = 0.05 * max(w, h)
    view = (max(de[0] - m, ze[0]), min(de[1] + m, ze[1]), max(de[2] - m, ze[2]), min(de[3] + m, ze[3]))
    view = (min(view[0], de[0]), max(view[1], de[1]), min(view[2], de[2]), max(view[3], de[3]))
    fig = _figure((8.0, 7.0))
    ax = fig.add_subplot()
    ax.set_facecolor(NODATA_COLOUR)
    hs = np.ma.masked_invalid(hillshade(demm, z_factor=HILLSHADE_Z_FACTOR))
    # light relief: flat ground light grey (~0.84), full shadow mid grey, so the depth colours stand out
    ax.imshow(hs, extent=ze, origin="upper", cmap="gray", vmin=-0.8, vmax=1.0, interpolation="bilinear", zorder=1)
    cmap, norm, extend = _depth_norm(dmax, min_depth_m)
    im = ax.imshow(shown, extent=de, origin="upper", cmap=cmap, norm=norm, interpolation="nearest", alpha=0.9, zorder=2)
    if de != ze:
        ax.add_patch(Rectangle((de[0], de[2]), w, h, fill=False, ec="0.25", lw=0.8, ls="--", zorder=3))
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    cb = fig.colorbar(im, ax=ax, extend=extend, shrink=0.85, pad=0.02)
    cb.set_label("maximum water depth (m)")
    # scale bar in km (metres per data unit: the CRS's linear unit on projected grids, e.g. 0.3048 for US feet)
    geo = is_geographic(demm)
    m_per_unit = 111_319.49 * np.cos(np.radians(0.5 * (view[2] + view[3]))) if geo else _metres_per_unit_of(demm)
    length_m = _nice_length((view[1] - view[0]) * m_per_unit / 5.0)
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.add_artist(AnchoredSizeBar(ax.transData, length_m / m_per_unit, label, "lower left", pad=0.5, sep=4,
                                  color="black", frameon=True, size_vertical=(view[3] - view[2]) / 150.0,
                                  fontproperties={"size": 9}))
    ax.annotate("N", xy=(0.96, 0.95), xytext=(0.96, 0.84), xycoords="axes fraction", ha="center", va="center",
                fontsize=11, fontweight="bold", arrowprops=dict(arrowstyle="-|>", color="black", lw=1.5))
    stats = f"maximum {format_number(dmax)} m" if np.isfinite(dmax) else "no flooding"
    ax.text(0.99, 0.01, stats, transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
            bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.6", alpha=0.9))
    ax.set_title(title or "Maximum flood depth", fontsize=11)
    return fig


def max_depth_figure(max_depth: xr.DataArray, dem: xr.DataArray, path: str | os.PathLike[str], *,
                     title: str = "", min_depth_m: float = 0.01) -> Path:
    """Maximum flood depth over a hillshade of the DEM, as a PNG.

    Parameters
    ----------
    max_depth : xarray.DataArray
        Maximum depth (y, x) [m; cm or mm converted by ``units``] (length-1 ``time``/``band`` dims are dropped), e.g.
        ``max_flood_depth`` of :func:`hydro.flood.simulate_2d`. It may cover a sub-area of the DEM
        and have another cell size: both are placed by their x/y coordinates (cell edges).
    dem : xarray.DataArray
        Elevation (y, x) [m] in the same CRS; NaN (sea) is drawn pale blue-grey.
    path : path
        Output ``.png``.
    title : str
        Figure title (default "Maximum flood depth").
    min_depth_m : float
        Cells shallower than this (and NaN) are transparent [m]; classes above it: 0.1, 0.25,
        0.5, 1, 1.5, 2, 3, 5 m (colour bar in m).

    Returns
    -------
    pathlib.Path
        ``path`` (8 x 7 in at :data:`DPI`), written atomically.

    Raises
    ------
    InputDataError
        Not (y, x) maps, depth units that are not a length, irregular coordinates, different CRS, no overlap.
    OutputError
        The PNG cannot be written.

    Notes
    -----
    The view is the depth domain plus a 5 % margin (inside the DEM); the domain is outlined when
    it is smaller than the DEM. A scale bar (km) and a north arrow assume a north-up grid.
    """
    if not (min_depth_m >= 0):
        raise InputDataError("min_depth_m must be >= 0")
    return _save(_max_depth_fig(max_depth, dem, title=title, min_depth_m=float(min_depth_m)), path)


# ------------------------------------------------------------------------------------ allocation
_SOURCE_COLOURS = ["#2b8cbe", "#7bccc4", "#41ab5d", "#fdae6b", "#9e9ac8", "#bcbddc", "#969696", "#c7e9c0"]


def _allocation_fig(allocation: xr.Dataset, max_panels: int = 6) -> Any:
    """The allocation Figure (not saved); see :func:`allocation_figure`."""
    import matplotlib.dates as mdates
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    regions: list[RegionSeries] = region_series(allocation)
    if not regions:
        raise InputDataError("allocation: no region")
    shown = regions
    if len(regions) > max_panels:  # the largest shortfalls first (an unknown one counts as the largest)
        order = sorted(range(len(regions)), key=lambda i: np.nan_to_num(regions[i].volumes()["shortfall_volume_m3"],
                                                                        nan=np.inf), reverse=True)
        shown = [regions[i] for i in sorted(order[:max_panels])]
    nrow, ncol, size = panel_grid(len(shown))
    fig = _figure(size)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    handles: dict[str, Any] = {}
    for ax, r in zip(axes, shown):
        edges = mdates.date2num(np.asarray(r.edges, dtype="datetime64[ns]"))
        base = np.zeros_like(r.delivered)
        if r.by_source:
            for k, (name, q) in enumerate(r.by_source.items()):
                col = _SOURCE_COLOURS[k % len(_SOURCE_COLOURS)]
                q = np.nan_to_num(q)
                ax.stairs(base + q, edges, baseline=base, fill=True, color=col, lw=0)
                handles.setdefault(f"delivered from {name}", Patch(color=col))
                base = base + q
        else:
            base = np.nan_to_num(r.delivered)
            ax.stairs(base, edges, baseline=0.0, fill=True, color=_SOURCE_COLOURS[0], lw=0)
            handles.setdefault("delivered", Patch(color=_SOURCE_COLOURS[0]))
        short = np.nan_to_num(r.shortfall)
        if np.any(short > 0):
            ax.stairs(base + short, edges, baseline=base, fill=True, color=_SHORTFALL, alpha=0.35, hatch="///", lw=0)
            handles.setdefault("shortfall", Patch(facecolor=_SHORTFALL, alpha=0.35, hatch="///"))
        ax.stairs(r.demand, edges, baseline=None, color="black", lw=1.3)
        handles.setdefault("demand", Line2D([], [], color="black", lw=1.3))
        v = r.volumes()
        if v["shortfall_volume_m3"] > 0:
            sub, col = (f"shortfall {format_number(v['shortfall_percent'])} % of demand "
                        f"({format_number(v['shortfall_volume_m3'])} m³)"), _SHORTFALL
        elif np.isnan(v["shortfall_volume_m3"]):
            sub, col = "shortfall unknown (missing values)", "#e69500"
        else:
            sub, col = "no shortfall", "#2ca02c"
        title = r.name if r.name == r.id else f"{r.name} ({r.id})"
        if len(title) + len(sub) > 62:  # a long region name would run into the status on the right
            import textwrap

            title = textwrap.fill(title, width=max(16, 60 - len(sub)), break_long_words=False)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_title(sub, fontsize=8.5, loc="right", color=col, fontweight="bold")
        ax.set_ylabel("flow (m³ s⁻¹)", fontsize=9)
        top = float(np.nanmax(np.concatenate([r.demand, base + short]), initial=0.0))
        ax.set_ylim(0.0, top * 1.15 if top > 0 else 1.0)
        ax.set_xlim(edges[0], edges[-1])
        ax.grid(True, axis="y", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
        _date_axis(ax)
        ax.tick_params(labelsize=8)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    note = f" — {len(shown)} of {len(regions)} regions (largest shortfalls)" if len(shown) < len(regions) else ""
    fig.suptitle(f"Water delivered and demanded by region (step means, UTC){note}", fontsize=11)
    fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center",
               ncol=min(len(handles), 5), fontsize=8, frameon=False)
    return fig


def allocation_figure(allocation: xr.Dataset, path: str | os.PathLike[str], *, max_panels: int = 6) -> Path:
    """Delivered vs demanded water by region over time, shortfalls hatched red, as a PNG.

    Parameters
    ----------
    allocation : xarray.Dataset
        ``AllocationResult.to_dataset("region")`` (the ``<stem>_region.nc`` file of
        :mod:`hydro.allocation`), or the ``"demand"`` dataset (summed by ``region_id``); flows
        [m3 s-1] are step means labelled at the step end with ``time_bnds``. With a
        ``delivery_by_source`` variable (instance, ``source``, time) deliveries are stacked by
        source (see :func:`hydro.report._data.region_series`).
    path : path
        Output ``.png``.
    max_panels : int
        At most this many regions (those with the largest shortfall volumes).

    Returns
    -------
    pathlib.Path
        ``path``, written atomically (size of :func:`panel_grid`, :data:`DPI`).

    Raises
    ------
    InputDataError
        Not an allocation dataset, units that are not a flow.
    OutputError
        The PNG cannot be written.
    """
    if max_panels < 1:
        raise InputDataError("max_panels must be >= 1")
    return _save(_allocation_fig(allocation, max_panels=min(int(max_panels), 6)), path)
