"""``hydro calibrate CONFIG.toml``: calibrate from a CSV (or gridded NetCDF) and write the results."""
from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from hydro.errors import ConfigError, InputDataError, InputMissingError, OutputError

__all__ = ["read_series_csv", "run_calibration"]

_Q_UNITS = {"mm/d", "mm d-1", "mm/day", "m3/s", "m3 s-1", "l/s", "l s-1"}
#: the keys of each table of a calibration TOML: any other key (a typo such as ``discharge_unit``) is a ConfigError,
#: never ignored; [bounds] and [fixed] hold parameter names (checked by :func:`hydro.calibrate.calibrate`)
_KEYS: dict[str, frozenset[str] | None] = {
    "input": frozenset({"csv", "date_column", "precipitation_column", "pet_column", "discharge_column",
                        "discharge_units", "catchment_area_km2", "fill_policy", "station_id", "lat", "lon",
                        "precipitation_netcdf", "precipitation_variable", "pet_netcdf", "pet_variable",
                        "discharge_csv", "netcdf_time_label"}),
    "periods": frozenset({"warmup", "calibration", "validation"}),
    "calibration": frozenset({"parameters", "objective", "optimiser", "seed", "maxiter", "popsize"}),
    "bounds": None,
    "fixed": None,
    "output": frozenset({"directory", "prefix"}),
}


def _local_dates(col: pd.Series) -> pd.DatetimeIndex:
    """Dates of ``col`` as local wall-clock times: a UTC offset is dropped from each value, whatever it is (a
    daylight-saving change mixes +01:00 and +02:00 in one column)."""
    import warnings

    try:
        with warnings.catch_warnings():
            # mixed offsets: pandas 2 warns and returns datetime objects (pandas 3 raises); read them one by one
            warnings.simplefilter("ignore", FutureWarning)
            t = pd.to_datetime(col)
    except ValueError:
        t = None
    if t is None or t.dtype == object:
        t = [pd.Timestamp(v) for v in col]
        t = [v.tz_localize(None) if v is not pd.NaT and v.tz is not None else v for v in t]
    t = pd.DatetimeIndex(t)
    return t.tz_localize(None) if t.tz is not None else t


def read_series_csv(
    path: str | os.PathLike[str],
    *,
    date_column: str = "date",
    precipitation_column: str | None = "precipitation_mm",
    pet_column: str | None = "pet_mm",
    discharge_column: str = "discharge",
    discharge_units: str = "mm/d",
    catchment_area_km2: float | None = None,
    fill_policy: str | None = None,
) -> pd.DataFrame:
    """Read a daily CSV of P [mm/d], PET [mm/d] and observed Q; returns columns P, E, Q_obs (mm/d).

    Discharge in m3/s or l/s is converted with ``catchment_area_km2``. Missing discharge is
    allowed (not scored); missing, negative P or PET is an error unless ``fill_policy="zero"``
    (P only). Dates must be unique, sorted and regularly spaced by one day.
    """
    path = Path(path)
    if not path.is_file():
        raise InputMissingError(f"{path}: calibration CSV not found")
    from hydro.io.tables import numeric_column, read_csv

    df = read_csv(path)
    cols = [c for c in (date_column, precipitation_column, discharge_column, pet_column) if c]
    for c in cols:
        if c not in df.columns:
            raise InputDataError(f"{path}: column {c!r} not found (columns: {list(df.columns)})")
    try:  # e.g. "2020-01-01T09:00:00+10:00" (BoM Water Data Online): the local dates count
        t = _local_dates(df[date_column])
    except (ValueError, TypeError) as exc:
        raise InputDataError(f"{path}: column {date_column!r} is not a date: {exc}") from exc
    if t.has_duplicates:
        raise InputDataError(f"{path}: duplicate dates in {date_column!r}, e.g. {t[t.duplicated()][0]}")
    if not t.is_monotonic_increasing:
        raise InputDataError(f"{path}: dates in {date_column!r} are not sorted")
    steps = np.diff(t.values).astype("timedelta64[s]").astype(np.int64)
    if steps.size and np.any(steps != 86400):
        k = int(np.flatnonzero(steps != 86400)[0])
        raise InputDataError(f"{path}: dates in {date_column!r} are not daily without gaps (after {t[k].date()})")
    out = pd.DataFrame(index=t.normalize())  # one row per day, labelled by its date (a time of day is dropped)
    out.index.name = "time"
    for name, col in (("P", precipitation_column), ("E", pet_column)):
        if col is None:
            continue
        v = numeric_column(df, col, str(path))
        bad = ~np.isfinite(v)
        if bad.any():
            if fill_policy == "zero" and name == "P":
                v = np.where(bad, 0.0, v)
            else:
                raise InputDataError(f"{path}: column {col!r} has {int(bad.sum())} missing values "
                                     f"(first {t[np.flatnonzero(bad)[0]].date()}); set fill_policy = \"zero\" for rain")
        if np.any(v < 0):
            raise InputDataError(f"{path}: column {col!r} has negative values (min {v.min()})")
        out[name] = v
    q = numeric_column(df, discharge_column, str(path))
    q = np.where(q < 0, np.nan, q)  # negative = missing flag in many gauge files
    u = str(discharge_units).strip().lower()
    if u not in _Q_UNITS:
        raise InputDataError(f"{path}: discharge units {discharge_units!r} unknown (expected one of {sorted(_Q_UNITS)})")
    if u.startswith("m3") or u.startswith("l"):
        try:  # a number (a string or a list from the TOML was a TypeError)
            area = float(catchment_area_km2) if not isinstance(catchment_area_km2, (bool, str)) else math.nan
        except (TypeError, ValueError):
            area = math.nan
        if not (math.isfinite(area) and area > 0):
            raise ConfigError(f"discharge in {discharge_units} needs catchment_area_km2 > 0 (a number of km2), got "
                              f"{catchment_area_km2!r}")
        factor = 86400.0 * 1000.0 / (area * 1e6)  # m3/s -> mm/d
        if u.startswith("l"):
            factor /= 1000.0
        q = q * factor
    out["Q_obs"] = q
    return out


def _gridded_series(cfg: Mapping[str, Any], base: Path) -> pd.DataFrame:
    from hydro.forcing import check_time_axis, open_forcing, to_mm_per_step

    label = cfg.get("netcdf_time_label", "start")
    if label not in ("start", "end"):
        raise ConfigError(f"netcdf_time_label {label!r}: expected 'start' or 'end'")

    def has_time_bounds(p: Path) -> bool:
        from hydro.io.netcdf import open_netcdf

        with open_netcdf(p) as ds:
            t = ds["time"] if "time" in ds.variables else None
            return t is not None and bool(t.attrs.get("bounds") or t.encoding.get("bounds"))

    def mean_series(file_key: str, var_key: str) -> pd.Series:
        p = base / cfg[file_key]
        raw = open_forcing(p, cfg[var_key])
        # with CF time bounds open_forcing labels each day by its END (upper bound), whatever the file's
        # labels are: netcdf_time_label only describes files without bounds
        ends = label == "end" or has_time_bounds(p)
        step = check_time_axis(raw["time"].values, f"{p}:{cfg[var_key]}")
        if step != pd.Timedelta("1D"):
            raise InputDataError(f"{p}:{cfg[var_key]}: time step {step}, the lumped calibration needs daily data")
        da = to_mm_per_step(raw, step)
        spatial = [d for d in da.dims if d != "time"]
        m = da.mean(dim=spatial, skipna=True).compute()
        if not np.all(np.isfinite(m.values)):
            raise InputDataError(f"{p}:{cfg[var_key]}: days with no valid cell")
        t = pd.DatetimeIndex(m["time"].values).normalize()
        if ends:
            t = t - pd.Timedelta("1D")
        return pd.Series(m.values.astype(np.float64), index=t)

    P = mean_series("precipitation_netcdf", "precipitation_variable")
    E = mean_series("pet_netcdf", "pet_variable")
    # discharge only: negative values are missing-value flags (not scored), as for the CSV input
    q = read_series_csv(base / cfg["discharge_csv"], date_column=cfg.get("date_column", "date"),
                        precipitation_column=None, pet_column=None,
                        discharge_column=cfg["discharge_column"], discharge_units=cfg.get("discharge_units", "mm/d"),
                        catchment_area_km2=cfg.get("catchment_area_km2"))
    df = pd.DataFrame({"P": P, "E": E}).join(q[["Q_obs"]], how="left")
    if df[["P", "E"]].isna().any().any():
        raise InputDataError("gridded precipitation and PET do not cover the same days")
    return df


def run_calibration(config_path: str | os.PathLike[str], *, evaluate: Any = None) -> dict[str, Any]:
    """Run the calibration described by a TOML file and write its outputs.

    Config sections: ``[input]`` (``csv`` + column names, ``discharge_units``, ``catchment_area_km2``;
    or ``precipitation_netcdf``/``pet_netcdf`` + variables + ``discharge_csv``), ``[periods]``
    (``warmup``, ``calibration``, ``validation`` as [start, end]), ``[calibration]`` (``parameters``,
    ``objective``, ``optimiser``, ``seed``, ``maxiter``, ``popsize``), ``[bounds]``, ``[fixed]``,
    ``[output]`` (``directory``, ``prefix``). Relative paths are relative to the config file.

    Writes ``<prefix>_simulated.csv``, ``<prefix>_simulated.nc`` (CF DSG timeSeries) and
    ``<prefix>_scores.json``; nothing is written if anything fails before the end.

    ``evaluate``: map-like that runs each generation's trials together (e.g. on a dask cluster, see
    :func:`hydro.calibrate.core.calibrate_series`).

    Returns
    -------
    dict with ``paths`` and ``result`` (:class:`hydro.calibrate.CalibrationResult`).
    """
    from hydro.calibrate.core import calibrate

    config_path = Path(config_path)
    if not config_path.is_file():
        raise InputMissingError(f"{config_path}: configuration not found")
    try:
        cfg = tomllib.loads(config_path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}: not UTF-8 text (TOML files are UTF-8): byte {exc.start}: {exc.reason}") from exc
    except OSError as exc:  # no read permission: 66 (sysexits EX_NOINPUT), not a PermissionError traceback
        raise InputMissingError(f"{config_path}: cannot read the configuration file: {exc.strerror or exc}") from exc
    base = config_path.parent
    for sec in ("input", "periods", "output"):
        if sec not in cfg:
            raise ConfigError(f"{config_path}: missing section [{sec}]")
    unknown = sorted(set(cfg) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{config_path}: unknown section(s) {unknown} (expected some of {sorted(_KEYS)})")
    for sec, keys in _KEYS.items():
        if sec not in cfg:
            continue
        if not isinstance(cfg[sec], dict):
            raise ConfigError(f"{config_path}: {sec} must be a table [{sec}]")
        extra = set(cfg[sec]) - keys if keys is not None else set()
        if extra:
            raise ConfigError(f"{config_path}: unknown keys in [{sec}]: {sorted(extra)} (expected some of "
                              f"{sorted(keys or ())})")
    inp = cfg["input"]
    for k, lim in (("lat", 90.0), ("lon", 360.0)):  # checked before the search, not when writing its results
        v = inp.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) <= lim):
            raise ConfigError(f"{config_path}: [input] {k} = {v!r}: expected a number of degrees within ±{lim:g}")
    if "csv" in inp:
        df = read_series_csv(base / inp["csv"], date_column=inp.get("date_column", "date"),
                             precipitation_column=inp.get("precipitation_column", "precipitation_mm"),
                             pet_column=inp.get("pet_column", "pet_mm"),
                             discharge_column=inp.get("discharge_column", "discharge"),
                             discharge_units=inp.get("discharge_units", "mm/d"),
                             catchment_area_km2=inp.get("catchment_area_km2"), fill_policy=inp.get("fill_policy"))
    elif "precipitation_netcdf" in inp:
        need = ("precipitation_variable", "pet_netcdf", "pet_variable", "discharge_csv", "discharge_column")
        lacking = [k for k in need if k not in inp]
        if lacking:
            raise ConfigError(f"{config_path}: [input] lacks {lacking}")
        df = _gridded_series(inp, base)
    else:
        raise ConfigError(f"{config_path}: [input] needs 'csv' or 'precipitation_netcdf'")
    per = cfg["periods"]
    if "calibration" not in per:
        raise ConfigError(f"{config_path}: [periods] needs 'calibration'")
    from hydro.times import parse_timestamp

    scored = {k: per[k] for k in ("calibration", "validation") if k in per}
    dates: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for k in list(scored) + (["warmup"] if "warmup" in per else []):
        if not isinstance(per[k], list) or len(per[k]) != 2:
            raise ConfigError(f"{config_path}: [periods] {k} must be [start, end]")
        # a date that is no date (2021-02-30, a typo) is a ConfigError naming the period, not a pandas traceback
        dates[k] = (parse_timestamp(per[k][0], f"{config_path}: [periods] {k} start"),
                    parse_timestamp(per[k][1], f"{config_path}: [periods] {k} end"))
        if any(t.tz is not None for t in dates[k]):  # compared below with local dates: a raw TypeError
            raise ConfigError(f"{config_path}: [periods] {k} {per[k]!r}: a UTC offset; the input dates are local "
                              f"(offsets dropped): give the period without an offset")
    # the run covers every period, whatever their order (validation may precede calibration)
    first = min(dates[k][0] for k in scored)
    end = max(dates[k][1] for k in scored)
    w0, w1 = dates["warmup"] if "warmup" in per else (first, None)
    start = min(w0, first)
    if start < df.index[0] or end > df.index[-1]:
        raise InputDataError(f"{config_path}: periods {start.date()}…{end.date()} not covered by the input "
                             f"({df.index[0].date()}…{df.index[-1].date()})")
    if w1 is not None and (w1 < w0 or w1 >= first):
        raise ConfigError(f"{config_path}: [periods] warmup {w0.date()}…{w1.date()} must end before the first scored "
                          f"day ({first.date()}): warm-up days are never scored")
    df = df.loc[start:end]
    cal = cfg.get("calibration", {})
    kwargs = {k: cal[k] for k in _KEYS["calibration"] or () if k in cal}
    bounds = dict(cfg.get("bounds", {}))  # checked (pairs of numbers) by calibrate
    from hydro.calibrate.core import DEFAULTS, GR4J_EQUIVALENT

    calibrated = kwargs.get("parameters", GR4J_EQUIVALENT)
    if isinstance(calibrated, (list, tuple)):
        idle = [n for n in bounds if n in DEFAULTS and n not in calibrated]
        if idle:
            raise ConfigError(f"{config_path}: [bounds] {idle}: not calibrated (add to [calibration] parameters, "
                              f"calibrated: {list(calibrated)})")
    res = calibrate(df["P"].values, df["E"].values, df["Q_obs"].values, pd.DatetimeIndex(df.index),
                    bounds=bounds, fixed=cfg.get("fixed"), calibration=per["calibration"],
                    validation=per.get("validation"), evaluate=evaluate, **kwargs)
    out = cfg["output"]
    outdir = base / out.get("directory", ".")
    prefix = out.get("prefix", config_path.stem)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot create output directory: {exc}") from exc
    csv_path = outdir / f"{prefix}_simulated.csv"
    nc_path = outdir / f"{prefix}_simulated.nc"
    json_path = outdir / f"{prefix}_scores.json"
    table = pd.DataFrame({"precipitation_mm": df["P"], "pet_mm": df["E"], "discharge_obs_mm": df["Q_obs"],
                          "discharge_sim_mm": res.simulated.values}, index=df.index)
    # the three files are staged under temporary names and renamed only when all are written: an error part way
    # (disk full) or Ctrl-C leaves the previous calibration's files as they were and no temporary file behind
    staged: list[tuple[Path, Path]] = []
    try:
        tmp = csv_path.with_name(csv_path.name + ".part")
        staged.append((tmp, csv_path))
        table.to_csv(tmp, index_label="date", float_format="%.6f")
        tmpn = nc_path.with_name(nc_path.name + ".part")
        staged.append((tmpn, nc_path))
        _write_nc(table, tmpn, res, inp, ident=nc_path.stem)
        tmpj = json_path.with_name(json_path.name + ".part")
        staged.append((tmpj, json_path))
        tmpj.write_text(json.dumps({"parameters": res.parameters, "scores": res.scores, "objective": res.objective,
                                    "optimiser": res.optimiser, "seed": res.seed,
                                    "n_evaluations": res.n_evaluations, "periods": per}, indent=2, default=str))
        for tmp, final in staged:
            os.replace(tmp, final)
    except BaseException as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):  # disk full, read-only folder: 73
            raise OutputError(f"cannot write the calibration results in {outdir}: {exc}") from exc
        raise
    return {"paths": {"csv": csv_path, "netcdf": nc_path, "scores": json_path}, "result": res}


def _write_nc(table: pd.DataFrame, path: Path, res: Any, inp: Mapping[str, Any], ident: str | None = None) -> None:
    from hydro.io import timeseries_dataset, write_netcdf

    t_end = table.index + pd.Timedelta("1D")  # daily totals labelled at the period end
    attrs = {
        "discharge_sim": {"long_name": "simulated discharge depth per day (lumped model)", "units": "mm",
                          "cell_methods": "time: sum", "coverage_content_type": "modelResult"},
        "discharge_obs": {"long_name": "observed discharge depth per day", "units": "mm",
                          "cell_methods": "time: sum", "coverage_content_type": "physicalMeasurement"},
    }
    ds = timeseries_dataset(
        {"discharge_sim": table["discharge_sim_mm"].values[None, :],
         "discharge_obs": table["discharge_obs_mm"].values[None, :],
         "precipitation": table["precipitation_mm"].values[None, :],
         "potential_evaporation": table["pet_mm"].values[None, :]},
        ids=[str(inp.get("station_id", "catchment"))], time=t_end,
        lat=[float(inp.get("lat", np.nan))], lon=[float(inp.get("lon", np.nan))],
        attrs=attrs, time_bounds=list(zip(table.index, t_end)),
    )
    ds["potential_evaporation"].attrs["units"] = "kg m-2"  # 1 mm of water = 1 kg m-2
    write_netcdf(ds, path, title="hydro lumped calibration", summary="Calibrated lumped GR-type model: simulated "
                 "and observed discharge", parameters=res.parameters, attrs={"id": ident or path.stem})
