"""`hydro forecast`: the nightly forecast — idempotent, atomic, warm-started, optionally an ensemble.

Run id ``<region>_<reference time %Y%m%dT%H%MZ>_<sha256(config + package version + input files)[:8]>``;
the run folder ``<output root>/<region>/<run id>/`` appears only when complete (see
:class:`hydro.forecast.stages.RunFolder`). Two runs of the same id serialise on a lock file: the second
waits, then finds the first one's complete folder and exits with "already done".

Warm start (operations.md §3), recorded in the manifest and in every output's ``hydro_warm_start``:

1. ``warm``: the state valid at the reference time, saved by an earlier complete run;
2. ``warm-gap``: the newest older state within ``forecast.max_state_age_days``, run forward to the
   reference time with the forcing file's analysed (past) part;
3. ``cold``: the configured initial stores, spun up over ``forecast.spinup_days`` (as far back as the
   forcing reaches).

States that do not fit the model (grid, network, parameters, step) are skipped with a warning, or are an
error (exit 65) with ``forecast.on_bad_state = "error"``.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from hydro import __version__
from hydro.config import ModelConfig, config_hash
from hydro.errors import (EXIT_BALANCE_NOT_CLOSED, ConfigError, InputDataError, InputNotReadyError, OutputError,
                          StateError)
from hydro.forecast.stages import with_output_compression
from hydro.times import naive_utc

__all__ = ["run_forecast", "forecast_run_id", "ForecastResult", "find_states", "forecast_config"]

logger = logging.getLogger(__name__)



@dataclass
class ForecastResult:
    """What a forecast produced (or found already done)."""

    run_id: str
    run_dir: Path
    manifest: dict[str, Any]
    already_done: bool = False
    outputs: dict[str, Path] = field(default_factory=dict)


def _utc(t: Any) -> pd.Timestamp:
    from hydro.times import parse_timestamp

    return naive_utc(parse_timestamp(t, "reference time"))


def forecast_config(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with ``[forecast] forcing`` (when given) as its forcing; keeps the source path."""
    if cfg.forecast.forcing is None:
        return cfg
    out = cfg.model_copy(update={"forcing": cfg.forecast.forcing})
    src = getattr(cfg, "_source_path", None)
    if src is not None:
        object.__setattr__(out, "_source_path", src)
    return out


def _input_files(cfg: ModelConfig, T: pd.Timestamp) -> dict[str, Path]:
    """Files the forecast for ``T`` reads that are published per night (forcing, neighbours' exchange files);
    missing → retry later (75)."""
    from hydro.forecast.hydrology import forcing_path, resolve_path

    files: dict[str, Path] = {}
    fp = forcing_path(cfg, T)
    if fp is not None:
        if not fp.exists():
            raise InputNotReadyError(f"{fp}: forcing for reference time {T:%Y-%m-%dT%H:%MZ} not published yet")
        _not_ready_if_empty(fp, f"forcing for reference time {T:%Y-%m-%dT%H:%MZ}")
        _check_forcing_reaches(cfg, fp, T)
        files["forcing"] = fp
    for i, spec in enumerate(cfg.exchange.inflows):
        p = resolve_path(cfg, spec.file, T, f"exchange.inflows[{i}].file")
        if not p.exists():
            raise InputNotReadyError(f"{p}: neighbour's exchange file for {T:%Y-%m-%dT%H:%MZ} not there yet")
        _not_ready_if_empty(p, f"neighbour's exchange file for {T:%Y-%m-%dT%H:%MZ}")
        files[f"exchange_inflow_{i}_{spec.point}"] = p
    return files


def _not_ready_if_empty(path: Path, what: str) -> None:
    """A published file of 0 bytes is a transfer that has created its name but not written yet (or one that failed
    before its first byte): retry later (75), as for a missing file. A partly written file is judged by its
    content (unreadable: 65; readable but short of the lead time: 75)."""
    if path.stat().st_size == 0:
        raise InputNotReadyError(f"{path}: {what} is an empty file (0 bytes): still being published? retry later")


def _check_forcing_reaches(cfg: ModelConfig, path: Path, T: pd.Timestamp) -> None:
    """Before any work: the night's forcing file must be readable (its variable, units and time axis: exit 65
    otherwise) and reach the end of the lead time (else it is still being published: exit 75, retry later)."""
    from hydro.forcing import open_forcing

    da = open_forcing(path, cfg.forcing.variable)
    last = pd.Timestamp(da["time"].values[-1])
    end = T + pd.Timedelta(hours=cfg.forecast.lead_time_h)
    if end > last:
        raise InputNotReadyError(f"{path}: forcing ends {last}, the forecast needs it to {end}: not complete yet")


def forecast_run_id(cfg: ModelConfig, reference_time: Any, input_hashes: dict[str, str] | None = None) -> str:
    """``<region>_<T:%Y%m%dT%H%MZ>_<hash8>``; the hash covers the config, the package version and the inputs.

    ``input_hashes`` maps an input name to its sha256: :func:`run_forecast` passes every file the run reads
    (forcing, exchange files, DEM file, allocation network and its series files).
    """
    T = _utc(reference_time)
    h = config_hash(run_identity(cfg), {"inputs": dict(sorted((input_hashes or {}).items())),
                                        "reference_time": T.isoformat()})
    return f"{cfg.region}_{T:%Y%m%dT%H%MZ}_{h[:8]}"


def run_identity(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with the settings that do not change a run's results at their defaults, for the run id: where the
    members run (``[compute]``, bit-identical on threads, processes or a cluster) and how long a run waits for a
    lock (``forecast.lock_timeout_s``). Moving the members to a cluster is no new run (not "already done" missed)."""
    from hydro.config import ComputeConfig, ForecastConfig

    return cfg.model_copy(update={
        "compute": ComputeConfig(),
        "forecast": cfg.forecast.model_copy(update={"lock_timeout_s": ForecastConfig.model_fields["lock_timeout_s"].default}),
    })


@contextlib.contextmanager
def _lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Exclusive lock (``fcntl.flock``) on the file ``path`` (created), or on the directory ``path`` itself when
    it is one (nothing is created): a second holder waits up to ``timeout_s``, then :class:`OutputError` (73)."""
    try:
        if path.is_dir():
            fd = os.open(path, os.O_RDONLY)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot create the lock {path}: {exc}") from exc
    try:
        t0 = time.monotonic()
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if not waited:
                    logger.info("another run holds %s: waiting", path.name)
                    waited = True
                if time.monotonic() - t0 > timeout_s:
                    raise OutputError(f"{path}: another run still holds this lock after {timeout_s:.0f} s "
                                      "(forecast.lock_timeout_s): not started, retry later")
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock


def _when(value: Any) -> pd.Timestamp | None:
    """A manifest time (ISO 8601) as naive UTC, None when absent or invalid."""
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(t):
        return None
    return naive_utc(t)


def _current_runs(region_root: Path) -> dict[pd.Timestamp, tuple[Path, dict[str, Any]]]:
    """The current complete forecast run of every reference time: ``{T: (run folder, manifest)}``.

    Of several complete runs of one reference time (other inputs, other config), the one finished last is
    current; the others are superseded. ``.partial`` and ``.old-`` folders, the ``latest`` link and folders
    without a complete manifest are ignored.
    """
    from hydro.forecast.stages import completed_manifest

    runs: dict[pd.Timestamp, tuple[pd.Timestamp, str, Path, dict[str, Any]]] = {}
    if not region_root.is_dir():
        return {}
    for run_dir in sorted(region_root.iterdir()):
        name = run_dir.name
        if (run_dir.is_symlink() or not run_dir.is_dir() or name.startswith(".") or name.endswith(".partial")
                or ".old-" in name):
            continue
        man = completed_manifest(run_dir, verify=False)
        if man is None or man.get("kind", "forecast") != "forecast":
            continue
        ref = _when(man.get("forecast_reference_time"))
        if ref is None:
            continue
        fin = _when(man.get("finished")) or pd.Timestamp.min
        key = (fin, name)
        if ref not in runs or key > runs[ref][:2]:
            runs[ref] = (fin, name, run_dir, man)
    return {ref: (v[2], v[3]) for ref, v in runs.items()}


def find_states(region_root: Path, T: pd.Timestamp, max_age: pd.Timedelta,
                rejected: list[str] | None = None) -> list[tuple[pd.Timestamp, Path, str]]:
    """Warm-start candidates for reference time ``T``, best first: ``(valid_time, path, run_id)``.

    Only states saved by the current complete run (see :func:`_current_runs`) of an **earlier** reference
    time (``< T``: never a run of the same night, which would warm-start from itself), valid in
    ``[T - max_age, T]``, whose file still has the sha256 its manifest recorded. Newest valid time first;
    for one valid time, the state of the run with the latest reference time. A state that would have been a
    candidate but is missing or changed since its run is appended to ``rejected`` (when given) as
    ``"<file> of run <run id>: ..."``, for the manifest's ``skipped`` list.
    """
    from hydro.forecast.stages import sha256

    found: dict[pd.Timestamp, tuple[pd.Timestamp, Path, str]] = {}
    for ref, (run_dir, man) in _current_runs(region_root).items():
        if ref >= T:
            continue
        hashes = {e.get("path"): e.get("sha256") for e in man.get("outputs", {}).values() if isinstance(e, dict)}
        for st in man.get("states", []):
            vt = _when(st.get("valid_time"))
            if vt is None or not (T - max_age <= vt <= T):
                continue
            p = run_dir / st["path"]
            if vt in found and found[vt][0] > ref:
                continue
            if not p.is_file() or hashes.get(st["path"]) is None or sha256(p) != hashes[st["path"]]:
                logger.warning("warm start: %s of run %s is missing or changed since the run: not used", st["path"],
                               run_dir.name)
                if rejected is not None:
                    rejected.append(f"{p.name} of run {run_dir.name}: "
                                    f"{'missing' if not p.is_file() else 'changed since the run (sha256 differs)'}")
                continue
            found[vt] = (ref, p, run_dir.name)
    return [(vt, p, rid) for vt, (_, p, rid) in sorted(found.items(), key=lambda kv: kv[0], reverse=True)]


def _check_state_time(model: Any, path: Path, vt: pd.Timestamp, run_id: str) -> None:
    """The loaded state's own ``hydro_state_valid_time`` must be the valid time its run's manifest (and its
    file name, ``state_<%Y%m%dT%H%MZ>.nc``) gives."""
    import re

    own = model.valid_time
    if own != vt:
        raise StateError(f"state file {path}: hydro_state_valid_time {own} differs from the valid time {vt} in the "
                         f"manifest of run {run_id}")
    m = re.fullmatch(r"state_(\d{8}T\d{4}Z)\.nc", path.name)
    if m and pd.Timestamp(m.group(1).rstrip("Z")) != vt:
        raise StateError(f"state file {path}: its name says valid at {m.group(1)} but it is valid at {vt}")


def _warm_start(model: Any, cfg: ModelConfig, terrain: xr.Dataset, T: pd.Timestamp, region_root: Path) -> dict[str, Any]:
    """Bring ``model`` to the reference time by the fallback chain; returns the manifest record."""
    from hydro.forecast.hydrology import cold_start, open_rain, pet_per_step

    step = pd.Timedelta(cfg.routing.model_step)
    tried: list[str] = []
    for vt, path, run_id in find_states(region_root, T, pd.Timedelta(days=cfg.forecast.max_state_age_days), tried):
        try:
            model.load_state(path)
            _check_state_time(model, path, vt, run_id)
        except (StateError, InputDataError, OSError) as exc:
            # StateError: a state of another model; a missing/unreadable file (another night's --force replaced it
            # between find_states and here) is no reason to fail the night: the next candidate is tried
            if cfg.forecast.on_bad_state == "error" and isinstance(exc, StateError):
                raise
            logger.warning("warm start: skipping %s: %s", path.name, exc)
            tried.append(f"{path.name}: {exc}")
            continue
        if vt == T:
            return {"level": 1, "source": "warm", "state": str(path), "state_run_id": run_id, "skipped": tried}
        if (T - vt) % step:
            tried.append(f"{path.name}: valid time not on the model step")
            continue
        try:
            # a neighbour's inflow over the gap comes from its earlier nightly files (tonight's starts at T)
            earlier, used = _earlier_inflows(model, cfg, T, vt, step)
            rain = open_rain(cfg, terrain, vt, T, reference_time=T)
            with _inflows_replaced(model, earlier):
                model.run(rain, pet_per_step(cfg), start=vt, steps=int((T - vt) / step), gridded=())
        except InputDataError as exc:
            logger.warning("warm start: cannot run %s forward to %s: %s", path.name, T, exc)
            tried.append(f"{path.name}: {exc}")
            continue
        logger.warning("warm start from an older state (%s), run forward %s", vt, T - vt)
        rec = {"level": 2, "source": "warm-gap", "state": str(path), "state_run_id": run_id,
               "gap_h": (T - vt) / pd.Timedelta(hours=1), "skipped": tried}
        if used:
            rec["earlier_inflow_files"] = used
        return rec
    # a full fresh state: nothing of a state loaded above (and then rejected) may survive
    cold_start(model, cfg)
    max_age = pd.Timedelta(days=cfg.forecast.max_state_age_days)
    if tried:
        reason = f"no usable state: {len(tried)} candidate(s) rejected (see 'skipped')"
    else:
        reason = f"no state saved by a complete run within max_state_age_days ({max_age}) before {T}"
    logger.warning("warm start: cold start (%s)", reason)
    spin = pd.Timedelta(days=cfg.forecast.spinup_days)
    start = T - spin
    detail = f"spin-up {spin}"
    if spin > pd.Timedelta(0) and cfg.forcing.source == "netcdf":
        from hydro.forecast.hydrology import forcing_path
        from hydro.forcing import open_forcing

        first = pd.Timestamp(open_forcing(forcing_path(cfg, T), cfg.forcing.variable)["time"].values[0])
        earliest = first - step  # period-end labels: the first step starts one step earlier
        if start < earliest:
            start = earliest + ((T - earliest) % step)
            detail = f"spin-up shortened to {T - start} (forcing starts {first})"
    # a neighbour's exchange file (an upstream inflow) holds its own forecast, from its reference time on: its
    # earlier nightly files are joined before it, and the spin-up is shortened to what they cover (a run needing it
    # earlier was "bad input data", exit 65, every night a cold start was needed)
    earlier, used = _earlier_inflows(model, cfg, T, start, step) if start < T else ({}, [])
    for k, inflow in enumerate(getattr(model.routing, "inflows", ())):
        earliest = _inflow_start(earlier.get(k, inflow.discharge_m3s), step)
        if earliest is not None and start < earliest:
            start = min(earliest + ((T - earliest) % step), T)
            detail = f"spin-up shortened to {T - start} (inflow {inflow.name!r} starts {earliest})"
    if start < T:
        rain = open_rain(cfg, terrain, start, T, reference_time=T)
        with _inflows_replaced(model, earlier):
            model.run(rain, pet_per_step(cfg), start=start, steps=int((T - start) / step), gridded=())
    else:
        model.valid_time = T
    model.lineage = "cold"
    rec = {"level": 3, "source": "cold", "reason": reason, "detail": detail, "skipped": tried}
    if used:
        rec["earlier_inflow_files"] = used
    return rec


def _earlier_inflows(model: Any, cfg: ModelConfig, T: pd.Timestamp, since: pd.Timestamp,
                     step: pd.Timedelta) -> tuple[dict[int, pd.Series], list[str]]:
    """Neighbours' inflows reaching back to ``since``: tonight's series preceded by the neighbour's earlier nightly
    files (a ``{reference_time}`` file template, read for ``T − 1 d``, ``T − 2 d``, ...).

    A neighbour's exchange file holds its own forecast from its reference time on, so tonight's file alone cannot
    feed a run over the past (a missed night run forward, a cold start's spin-up). Each earlier file contributes
    the part before the next file's first value; stitching stops at the first file that is missing, invalid, of
    another time convention (``cell_methods`` / ``period_s``) or not contiguous with the later part (no silent
    interpolation over a hole). Returns ``{index in model.routing.inflows: series}`` for the inflows that gained
    an earlier part, and a note per earlier file used (path and sha256)."""
    from hydro.forecast.hydrology import _exchange_inflow, resolve_path
    from hydro.forecast.stages import sha256

    out: dict[int, pd.Series] = {}
    notes: list[str] = []
    inflows = list(getattr(model.routing, "inflows", ()))
    for i, spec in enumerate(cfg.exchange.inflows):
        if "{reference_time" not in str(spec.file):
            continue  # one file name overwritten every night: no earlier file to read
        k = next((j for j, f in enumerate(inflows) if f.name == spec.point), None)
        if k is None:
            continue
        cur = inflows[k].discharge_m3s
        start = _inflow_start(cur, step)
        n_back = int(np.ceil((T - since) / pd.Timedelta(days=1))) + 1
        for back in range(1, n_back + 1):
            if start is None or start <= since:
                break
            R = T - pd.Timedelta(days=back)
            key = f"exchange.inflows[{i}].file"
            try:
                path = resolve_path(cfg, spec.file, R, key)
                old = _exchange_inflow(path, spec, reference_time=R).discharge_m3s
            except (InputDataError, InputNotReadyError, ConfigError, OSError) as exc:
                logger.warning("inflow %r: no earlier file for %s (%s): it covers from %s only", spec.point, R, exc, start)
                break
            keys = ("cell_methods", "period_s")
            if any(str(old.attrs.get(a)) != str(cur.attrs.get(a)) for a in keys):
                logger.warning("inflow %r: %s has another time convention than the later file: not joined", spec.point, path)
                break
            seg = old[old.index < cur.index[0]]
            if len(seg) == 0:
                continue
            period = pd.Timedelta(seconds=float(cur.attrs["period_s"])) if cur.attrs.get("period_s") else \
                pd.Timedelta(pd.Series(cur.index).diff().median()) if len(cur) > 1 else step
            if pd.Timestamp(cur.index[0]) - pd.Timestamp(seg.index[-1]) > period * 1.000001:
                logger.warning("inflow %r: %s ends %s, the later file starts %s: a hole, not joined", spec.point, path,
                               seg.index[-1], cur.index[0])
                break
            joined = pd.concat([seg, cur])
            joined.attrs.update(cur.attrs)
            cur = joined
            start = _inflow_start(cur, step)
            out[k] = cur
            notes.append(f"{spec.point}: {path} (sha256 {sha256(path)[:12]})")
    return out, notes


@contextlib.contextmanager
def _inflows_replaced(model: Any, series: Mapping[int, pd.Series]) -> Iterator[None]:
    """``model``'s inflows with the discharge series ``series`` (by index) for the duration of the block."""
    import dataclasses

    rn = model.routing
    saved = list(rn.inflows)
    try:
        for k, q in series.items():
            rn.inflows[k] = dataclasses.replace(rn.inflows[k], discharge_m3s=q)
        yield
    finally:
        rn.inflows[:] = saved


def _inflow_start(series: pd.Series, step: pd.Timedelta) -> pd.Timestamp | None:
    """The earliest model-step start an inflow series covers (see :func:`hydro.routing.series_step_values`):
    the start of its first period for period means, else half a step before its first point (the first step's
    midpoint must lie inside the series); None for an empty series."""
    if len(series.index) == 0:
        return None
    first = naive_utc(pd.Timestamp(series.index[0]))
    attrs = getattr(series, "attrs", {}) or {}
    if str(attrs.get("cell_methods", "")).replace(" ", "").startswith("time:mean") and attrs.get("period_s"):
        return first - pd.Timedelta(seconds=float(attrs["period_s"]))
    return first - step / 2


def _member_task(member: int, *, cfg_json: str, source: str | None, terrain: xr.Dataset, state_path: str,
                 T: str, steps: int, ids: tuple[int, ...] | None = None) -> tuple[int, xr.Dataset, np.ndarray, dict[str, Any]]:
    """One ensemble member from the state at T (top-level: runs in threads, processes or on a cluster): its gauges,
    peak discharge and water-balance summary (every member's balance is checked like the control run's).

    A :class:`hydro.errors.HydroError` of the member is raised again (same class) with the member named: the
    control run (ensemble mean) may have passed where one member's forcing is refused."""
    from hydro.errors import HydroError
    from hydro.forecast.hydrology import build_model, open_rain, run_hydrology

    # the run's own configuration, validated again here, then its nightly forcing: validating the derived one
    # applied the [forcing] checks of hydro run to [forecast] forcing (a pydantic traceback, exit 1)
    cfg = ModelConfig.model_validate_json(cfg_json)
    if source:
        object.__setattr__(cfg, "_source_path", Path(source))
    cfg = forecast_config(cfg)
    t0 = pd.Timestamp(T)
    try:
        model = build_model(cfg, terrain, reference_time=t0)
        model.load_state(state_path)  # NetCDF reads take hydro.io.NETCDF_LOCK: members may run in threads
        rain = open_rain(cfg, terrain, t0, t0 + steps * pd.Timedelta(cfg.routing.model_step), reference_time=t0,
                         member=member)
        h = run_hydrology(model, cfg, rain, t0, steps)
    except HydroError as exc:
        label = f"{member}" if not ids or ids[member] == member else \
            f"{ids[member]} (position {member} along {cfg.forcing.realization_dim!r})"
        raise type(exc)(f"ensemble member {label}: {exc}") from exc
    return member, h.result.gauges, np.asarray(h.peak_discharge.values, np.float32), dict(h.result.summary)


def _concat_results(parts: list[Any]) -> Any:
    """Join consecutive :class:`hydro.model.catchment.RunResult` parts (gauges, water balance, summary)."""
    from hydro.model.catchment import RunResult

    if len(parts) == 1:
        return parts[0]
    def cat(dsets: list[xr.Dataset | None]) -> xr.Dataset | None:
        if dsets[0] is None:
            return None
        out = xr.concat(dsets, dim="time", data_vars="minimal", coords="minimal", compat="override",
                        combine_attrs="override")
        # the first part's attributes describe the first part only: those of the whole run
        if "hydro_run_end" in dsets[-1].attrs:
            out.attrs["hydro_run_end"] = dsets[-1].attrs["hydro_run_end"]
        for k in list(out.attrs):
            if k.startswith("total_") and k.endswith("_m3"):  # water-balance totals [m3] over the run
                out.attrs[k] = float(sum(float(d.attrs.get(k, 0.0)) for d in dsets))
        if "max_step_relative_residual" in out.attrs:
            out.attrs["max_step_relative_residual"] = max(float(d.attrs.get("max_step_relative_residual", 0.0))
                                                          for d in dsets)
        return out
    summary: dict[str, Any] = {}
    for p in parts:
        split = summary.setdefault("process_split", {})
        for k, v in p.summary.get("process_split", {}).items():
            split[k] = split.get(k, 0.0) + v
        for k, v in p.summary.items():
            if not isinstance(v, (int, float)):
                continue
            if "relative" in k:
                summary[k] = max(summary.get(k, 0.0), float(v))
            else:
                summary[k] = summary.get(k, 0) + v
    water_balance = cat([p.water_balance for p in parts])
    if water_balance is not None and "run_relative_residual" in water_balance.attrs:
        water_balance.attrs["run_relative_residual"] = summary.get("relative_residual", 0.0)
    return RunResult(gridded=None, gauges=cat([p.gauges for p in parts]), reservoirs=cat([p.reservoirs for p in parts]),
                     water_balance=water_balance, summary=summary)


@with_output_compression
def run_forecast(
    cfg: ModelConfig,
    reference_time: Any,
    *,
    output_root: str | os.PathLike[str] | None = None,
    force: bool = False,
    client: Any = None,
    scheduler: str = "threads",
    progress: Callable[[str], None] | None = None,
    on_start: Callable[[Path, str], None] | None = None,
    on_run_id: Callable[[str], None] | None = None,
) -> ForecastResult:
    """Run the nightly forecast of ``cfg`` for ``reference_time`` into ``<output_root>/<region>/<run id>/``.

    Parameters
    ----------
    cfg : ModelConfig
        Model configuration (its ``[forecast]`` section: lead time, states, alerts, forcing).
    reference_time : datetime-like
        Forecast reference time (UTC; naive times are UTC).
    output_root : path, optional
        Default ``cfg.outputs.directory``.
    force : bool
        Redo a complete run (the old folder is replaced atomically).
    client : distributed.Client, optional
        Run ensemble members on this cluster (the caller owns it); else ``scheduler``.
    scheduler : {"threads", "synchronous", "processes"}
        Local dask scheduler for ensemble members.
    progress : callable, optional
        Called with a stage name.
    on_start : callable, optional
        Called as ``on_start(partial_dir, run_id)`` once the run folder exists (the CLI opens
        ``run.log`` there).
    on_run_id : callable, optional
        Called as ``on_run_id(run_id)`` as soon as the run id is known, before the lock is taken (also for an
        "already done" run: the CLI puts the id on every log record).

    Returns
    -------
    ForecastResult

    Raises
    ------
    InputNotReadyError
        Forcing (or a neighbour's file) for the reference time not there yet: nothing is written.
    InputDataError, InputMissingError, StateError, ConfigError, OutputError
        See :mod:`hydro.errors`; a failed run removes its ``.partial`` folder (a killed one leaves it for the next run to delete).
    """
    from hydro.forecast.hydrology import build_model, member_ids, members_of, open_rain, run_hydrology
    from hydro.forecast.stages import (RunFolder, completed_manifest, flood_area_alert, gauge_alerts, load_dem,
                                       sha256, stamp_run_attrs, allocation_skip_reason, write_alerts,
                                       forcing_provenance)
    from hydro.io import write_netcdf
    from hydro.terrain import analyse

    from hydro.config import check_config, config_source
    from hydro.config import output_root as _output_root
    from hydro.forecast.stages import check_network, static_input_files

    stage = progress or (lambda s: None)
    T = _utc(reference_time)
    check_config(cfg)  # the same checks as `hydro validate-config`, before any data is read
    check_network(cfg)
    fcfg = forecast_config(cfg)
    mstep = pd.Timedelta(fcfg.routing.model_step)
    lead = pd.Timedelta(hours=fcfg.forecast.lead_time_h)
    if lead % mstep or lead % pd.Timedelta(fcfg.routing.output_step):  # configs built without validation
        raise ConfigError(f"{config_source(fcfg)}: forecast.lead_time_h {fcfg.forecast.lead_time_h} is not a multiple "
                          "of the model/output step")
    if (T - T.normalize()) % mstep:
        raise ConfigError(f"reference time {T} is not on the model step {mstep}")
    inputs = _input_files(fcfg, T)
    fixed = static_input_files(fcfg)
    input_hashes = {k: sha256(p) for k, p in inputs.items()}
    fixed_hashes = {k: sha256(p) for k, p in fixed.items()}
    run_id = forecast_run_id(fcfg, T, {**input_hashes, **fixed_hashes})
    if on_run_id is not None:
        on_run_id(run_id)
    root = _output_root(fcfg, output_root)
    region_root = root / fcfg.region
    folder = RunFolder(region_root, run_id)
    with _lock(region_root / ".locks" / f"{run_id}.lock", fcfg.forecast.lock_timeout_s):
        folder.recover()
        if not force:
            man = completed_manifest(folder.final)
            if man is not None:
                logger.info("forecast %s already done", run_id)
                # a run killed between its publish and the link update (or whose update timed out) left `latest`
                # at an older night: its rerun repairs the link
                _update_latest(region_root, fcfg.forecast.lock_timeout_s)
                return ForecastResult(run_id, folder.final, man, True,
                                      {k: folder.final / v["path"] for k, v in man.get("outputs", {}).items()})
        partial = folder.create()
        try:
            if on_start is not None:
                on_start(partial, run_id)
            logger.info("forecast %s: reference time %s, lead %s", run_id, T, lead)
            timings: dict[str, float] = {}
            t0 = time.perf_counter()
            stage("terrain")
            dem = load_dem(fcfg)
            terrain = analyse(dem, fcfg.terrain.stream_threshold_km2 * 1e6, epsilon=fcfg.terrain.epsilon_fill)
            timings["terrain_s"] = time.perf_counter() - t0
            stage("warm start")
            t1 = time.perf_counter()
            model = build_model(fcfg, terrain, reference_time=T)
            warm = _warm_start(model, fcfg, terrain, T, region_root)
            logger.info("warm start: level %d (%s)", warm["level"], warm["source"])
            model.valid_time = T
            states: list[dict[str, str]] = []
            sT = model.save_state(partial / "state" / f"state_{T:%Y%m%dT%H%MZ}.nc")
            folder.add("state/reference_time", sT)
            states.append({"valid_time": T.isoformat(), "path": sT.relative_to(partial).as_posix()})
            timings["warm_start_s"] = time.perf_counter() - t1

            stage("forecast run")
            t1 = time.perf_counter()
            nsteps = int(lead / mstep)
            rain = open_rain(fcfg, terrain, T, T + lead, reference_time=T)
            si = pd.Timedelta(hours=fcfg.forecast.state_interval_h)
            split = int(si / mstep) if (si < lead and si % pd.Timedelta(fcfg.routing.output_step) == pd.Timedelta(0)) else nsteps
            parts = []
            peak = None
            done = 0
            # the forecast period only (not the warm-start gap or spin-up)
            for n in ([split, nsteps - split] if split < nsteps else [nsteps]):
                t_start = T + done * mstep
                h = run_hydrology(model, fcfg, rain, t_start, n)
                parts.append(h.result)
                peak = h.peak_discharge if peak is None else np.fmax(peak, h.peak_discharge)
                done += n
                if done == split and split < nsteps or (done == nsteps and si == lead):
                    p = model.save_state(partial / "state" / f"state_{model.valid_time:%Y%m%dT%H%MZ}.nc")
                    folder.add(f"state/{model.valid_time:%Y%m%dT%H%MZ}", p)
                    states.append({"valid_time": model.valid_time.isoformat(), "path": p.relative_to(partial).as_posix()})
            result = _concat_results(parts)
            from hydro.forecast.pipeline import catchment_balance, process_balances

            balances = {"runoff_routing": catchment_balance(result.summary, "runoff/run_water_balance.nc"),
                        **process_balances(result.summary)}
            transfers: dict[str, Any] = {}
            common = {"id": run_id, "hydro_run_id": run_id, "hydro_config_hash": config_hash(fcfg), "hydro_warm_start": warm["source"],
                      "hydro_warm_start_level": int(warm["level"]),
                      "hydro_forcing": forcing_provenance(fcfg, inputs.get("forcing"), input_hashes.get("forcing")),
                      "forecast_reference_time": T.strftime("%Y-%m-%dT%H:%M:%SZ")}
            for k, p in result.write(partial / "runoff", prefix="run", **common).items():
                folder.add(f"runoff/{k}", p)
            peak = peak.rio.write_crs(dem.rio.crs).rio.write_transform(dem.rio.transform())
            from hydro.forecast.hydrology import peak_dataset

            folder.add("runoff/peak_discharge", write_netcdf(
                peak_dataset(peak, T, T + lead), partial / "runoff" / "peak_discharge.nc",
                title=f"{fcfg.title}: forecast peak discharge of every cell",
                summary=f"Largest routed discharge of each cell from {T} to {T + lead}.", attrs=common,
                complevel=fcfg.outputs.compression_level))
            timings["forecast_s"] = time.perf_counter() - t1

            # ---- ensemble
            members = members_of(fcfg, T)
            ens_gauges: list[xr.Dataset] = []
            ens_ids: list[int] = []
            member_peaks: list[np.ndarray] = []
            if members != [None]:
                stage(f"ensemble ({len(members)} members)")
                t1 = time.perf_counter()
                src = getattr(fcfg, "_source_path", None)
                # the forcing file's own member numbers (its realization coordinate) name the member outputs
                ids = member_ids(fcfg, members, T)
                res = _map_members(members, client=client, scheduler=scheduler, cfg_json=cfg.model_dump_json(),
                                   source=str(src) if src else None, terrain=terrain, state_path=str(sT), T=T.isoformat(),
                                   steps=nsteps, ids=tuple(ids))
                for pos, g, pk, msum in sorted(res, key=lambda r: r[0]):
                    m = ids[pos]
                    ens_ids.append(m)
                    ens_gauges.append(g)
                    member_peaks.append(pk)
                    # each member's water balance (runoff + routing + reservoirs) is a process of water_balance.json
                    mb = catchment_balance(msum, f"ensemble/member_{m:03d}_gauges.nc")
                    balances[f"ensemble_member_{m:03d}"] = mb
                    p = write_netcdf(g, partial / "ensemble" / f"member_{m:03d}_gauges.nc",
                                     title=f"{fcfg.title}: ensemble member {m} hydrographs",
                                     summary="Routed discharge at the gauges for one forcing member.",
                                     attrs={**common, "realization": int(m),
                                            "hydro_water_balance_residual_m3": float(mb["residual"]),
                                            "hydro_water_balance_relative_residual": float(
                                                max(mb["relative_residual"], mb.get("stated_max_relative_residual", 0.0))),
                                            "hydro_water_balance_closed": int(mb["closed"])})
                    folder.add(f"ensemble/member_{m:03d}", p)
                timings["ensemble_s"] = time.perf_counter() - t1

            # ---- HAND flood map (control + probability over members)
            stage("flood map")
            t1 = time.perf_counter()
            from hydro.flood.hand import extent_probability, hand_map_of_grid, rating_curves, reaches
            from hydro.flood.products import flooded_area_km2, write_flood_netcdf

            rd = reaches(terrain, max_length_m=2000.0, manning_n=0.05)
            rating = rating_curves(terrain, rd, stage_max_m=10.0, stage_step_m=0.1)
            thr = fcfg.forecast.hand_threshold_m

            def hand_for(peak_grid: np.ndarray) -> xr.Dataset:
                # reaches without a finite peak (no data) are mapped as no data, not as dry
                return hand_map_of_grid(terrain, rd, rating, np.asarray(peak_grid), threshold_m=thr)

            hand = hand_for(peak.values)
            # true cell areas (feet, Web Mercator and degree grids are not |dx * dy| m2)
            flooded_km2 = flooded_area_km2(np.asarray(hand["flood_extent"].values) == 1, terrain["hand"])
            hand_out = hand.drop_vars([v for v in ("stage", "stage_capped") if v in hand])
            for p in write_flood_netcdf(hand_out, partial / "flood" / "hand_flood.nc",
                                        title=f"{fcfg.title}: HAND flood map of the forecast peak", attrs=common):
                folder.add(f"flood/{Path(p).name}", p)
            prob_km2 = None
            if member_peaks:
                # fraction over the members with data at each cell; NaN outside the HAND domain
                prob = extent_probability([np.asarray(hand_for(pk)["flood_extent"].values) for pk in member_peaks])
                pda = xr.DataArray(prob, dims=("y", "x"), coords={"y": terrain["y"], "x": terrain["x"]},
                                   name="flood_probability",
                                   attrs={"long_name": f"probability of flood depth above {thr} m (fraction of members)",
                                          "units": "1", "coverage_content_type": "modelResult",
                                          "valid_min": np.float32(0.0), "valid_max": np.float32(1.0)})
                pda = pda.rio.write_crs(dem.rio.crs).rio.write_transform(dem.rio.transform())
                folder.add("flood/flood_probability", write_netcdf(
                    pda.to_dataset(), partial / "flood" / "flood_probability.nc",
                    title=f"{fcfg.title}: probability of flooding", attrs={**common, "realizations": len(member_peaks)},
                    summary="Fraction of ensemble members whose HAND depth exceeds the threshold."))
                prob_km2 = flooded_area_km2(prob >= 0.5, terrain["hand"])
            timings["flood_s"] = time.perf_counter() - t1

            # ---- percentiles, alerts, exchange, allocation, report
            gauges = result.gauges
            exceed = None
            ens_summary = None
            if ens_gauges:
                ens_summary = _ensemble_summary(ens_gauges, fcfg)
                p = write_netcdf(ens_summary, partial / "ensemble" / "gauge_percentiles.nc",
                                 title=f"{fcfg.title}: ensemble percentiles at the gauges",
                                 summary="Percentiles of routed discharge over the ensemble members.", attrs=common)
                folder.add("ensemble/percentiles", p)
                exceed = _exceedance(ens_gauges, fcfg)
            alerts = gauge_alerts(fcfg, gauges, exceedance=exceed, ensemble_members=len(ens_gauges))
            alerts += flood_area_alert(fcfg, flooded_km2, source="hand")
            if fcfg.exchange.export and any(g.border for g in fcfg.gauges):
                folder.add("exchange/boundary", _export(fcfg, gauges, ens_gauges, partial, run_id, T, dem,
                                                        provenance=common, member_ids=ens_ids))
            alloc = None
            allocation_notes = None
            # daily allocation steps need one whole UTC day of routed discharge; a short lead is no failure
            allocation_skipped = allocation_skip_reason(T, T + lead) if fcfg.allocation.enabled else None
            if allocation_skipped:
                logger.warning("forecast %s: %s", run_id, allocation_skipped)
            elif fcfg.allocation.enabled:
                stage("allocation")
                from hydro.forecast.pipeline import _allocate, allocation_balance, allocation_transfers
                from hydro.forecast.stages import allocation_inputs

                net, external, notes = allocation_inputs(fcfg, gauges, T, T + lead)
                allocation_notes = notes
                amodel, alloc = _allocate(net, external)
                balances["allocation"] = allocation_balance(alloc, "allocation/water_*.nc")
                transfers.update(allocation_transfers(fcfg, gauges, amodel, alloc))
                for f in alloc.write(partial / "allocation" / "water", id=run_id):
                    folder.add(f"allocation/{Path(f).name}", f)
            from hydro.forecast.pipeline import BALANCE_FILE, balance_alert, summarise_balances, write_balance_file

            wb = summarise_balances(balances, transfers, {"hand": "HAND flood map: a mapping of the routed peak "
                                                                  "discharge to depths (no balance)"},
                                    domain=result.summary)
            alerts += balance_alert(wb)
            if not wb["closed"]:
                logger.warning("forecast %s: water balance does not close: %s", run_id, ", ".join(wb["not_closed"]))
            folder.add("water_balance", write_balance_file(partial / BALANCE_FILE, wb))
            folder.add("alerts", write_alerts(partial / "alerts.json", alerts, run_id=run_id, reference_time=T))
            if fcfg.outputs.report:
                stage("report")
                from hydro.forecast.report import make_report

                for k, p in make_report(fcfg, partial, run_id=run_id, gauges=gauges, flood=None, dem=dem, allocation=alloc,
                                        alerts=alerts, files=list(folder.outputs.values()), warm_start=warm["source"],
                                        reference_time=T, ensemble=ens_summary,
                                        hand=hand).items():
                    folder.add(k, p)
            timings["total_s"] = time.perf_counter() - t0
            stamp_run_attrs(list(folder.outputs.values()), common)  # flood, allocation... files too
            manifest = folder.publish({
                "kind": "forecast",
                "region": fcfg.region,
                "forecast_reference_time": T.isoformat(),
                "lead_time_h": fcfg.forecast.lead_time_h,
                "config_hash": config_hash(fcfg),
                "hydro_version": __version__,
                "config": fcfg.model_dump(mode="json"),
                "inputs": {k: {"path": str(p), "sha256": input_hashes[k]} for k, p in inputs.items()},
                "fixed_inputs": {k: {"path": str(p), "sha256": fixed_hashes[k]} for k, p in fixed.items()},
                "warm_start": warm,
                "states": states,
                "members": len(ens_gauges),
                "alert": bool(alerts),
                "alert_level": max((int(a.get("level", 1)) for a in alerts), default=0),
                "facts": {"hand_flooded_km2": flooded_km2, "flood_probability_ge_50pct_km2": prob_km2,
                          "water_balance": wb,
                          **({"allocation_skipped": allocation_skipped} if allocation_skipped else {}),
                          **({"allocation_inflows": allocation_notes} if allocation_notes is not None else {})},
                "water_balance_closed": wb["closed"],
                "timings": timings,
                "finished": pd.Timestamp.now("UTC").isoformat(),
                "exit_code": 0 if wb["closed"] else EXIT_BALANCE_NOT_CLOSED,
            })
        except BaseException:
            folder.discard()  # a failed run leaves nothing behind
            raise
    _update_latest(region_root, fcfg.forecast.lock_timeout_s)
    logger.info("forecast %s complete in %.1f s", run_id, timings["total_s"])
    return ForecastResult(run_id, folder.final, manifest, False, folder.final_outputs())


def _map_members(members: list[int], *, client: Any, scheduler: str, **shared: Any) -> list[Any]:
    from hydro.forecast.parallel import map_tasks

    return map_tasks(_member_task, members, client=client, scheduler=scheduler, shared=shared)


def _ensemble_summary(ens: list[xr.Dataset], cfg: ModelConfig) -> xr.Dataset:
    """Percentiles of discharge over members (``discharge_percentile`` (percentile, station, time))."""
    q = np.stack([np.asarray(g["discharge"].values, np.float64) for g in ens])  # (member, station, time)
    pct = np.asarray(cfg.ensemble.percentiles, np.float64)
    vals = np.percentile(q, pct, axis=0)
    base = ens[0].drop_vars([v for v in ("discharge", "max_discharge") if v in ens[0]])
    base = base.assign_coords(percentile=("percentile", pct, {"long_name": "percentile over ensemble members",
                                                                "units": "percent"}))
    base["discharge_percentile"] = (("percentile", "station", "time"), vals.astype(np.float32),
                                    {"long_name": "percentile of river discharge over ensemble members",
                                     "standard_name": "water_volume_transport_in_river_channel",
                                     "units": "m3 s-1", "coordinates": "lat lon",
                                     "cell_methods": "time: mean",
                                     "coverage_content_type": "modelResult"})
    base.attrs["realizations"] = len(ens)
    return base


def _exceedance(ens: list[xr.Dataset], cfg: ModelConfig) -> dict[str, list[float]]:
    """Per gauge: fraction of members whose peak reaches each warning level.

    Over the members with a finite peak at the gauge (a member without data is neither "above" nor "below");
    a gauge no member has data for is left out.
    """
    out: dict[str, list[float]] = {}
    ids = [str(s) for s in ens[0]["station_id"].values]
    var = "max_discharge" if "max_discharge" in ens[0] else "discharge"
    for g in cfg.gauges:
        if g.id not in ids or not g.warning_levels_m3s:
            continue
        peaks = []
        for e in ens:
            v = np.asarray(e[var].isel(station=ids.index(g.id)).values, np.float64)
            v = v[np.isfinite(v)]
            if v.size:
                peaks.append(float(v.max()))
        if not peaks:
            continue
        pk = np.asarray(peaks)
        out[g.id] = [float((pk >= lv).mean()) for lv in g.warning_levels_m3s]
    return out


def _export(cfg: ModelConfig, gauges: xr.Dataset, ens: list[xr.Dataset], partial: Path, run_id: str,
            T: pd.Timestamp, dem: xr.DataArray, provenance: Mapping[str, Any] | None = None,
            member_ids: list[int] | None = None) -> Path:
    """``exchange/<region>_<T>.nc``: discharge at the border gauges in the hydro-exchange profile.

    The point coordinates are the configured gauge ``x``/``y`` (the agreed border points, as
    :func:`hydro.exchange.export_boundary` writes them), not the model cell they were snapped to; the run's
    warm-start and forcing provenance (netcdf.md §10) is copied from ``provenance``.
    """
    from hydro.exchange import exchange_dataset, exchange_filename, write_exchange

    ids = [str(s) for s in gauges["station_id"].values]
    border = [g for g in cfg.gauges if g.border and g.id in ids]
    idx = [ids.index(g.id) for g in border]
    if ens:
        q = xr.concat([e["discharge"].isel(station=idx) for e in ens], dim="realization").transpose("time", "station", "realization")
        # the members' own numbers (``member_ids``, else 0 … N-1), as in ensemble/member_###_gauges.nc
        q = q.assign_coords(realization=np.asarray(member_ids if member_ids else range(len(ens)), np.int64))
    else:
        q = gauges["discharge"].isel(station=idx).transpose("time", "station")
    q = q.rename(station="point").drop_vars([c for c in q.coords if c not in ("time", "realization")], errors="ignore")
    q.attrs = {"units": "m3 s-1"}
    keep = ("hydro_warm_start", "hydro_warm_start_level", "hydro_forcing")
    extra = {k: v for k, v in (provenance or {}).items() if k in keep}
    if ens:
        extra["hydro_ensemble_members"] = len(ens)
    ds = exchange_dataset(q, [g.id for g in border], [float(g.x) for g in border], [float(g.y) for g in border],
                          dem.rio.crs, T, cfg.region, run_id=run_id,
                          config_hash=config_hash(cfg), hydro_version=__version__,
                          point_names=[g.name or g.id for g in border],
                          time_bounds=gauges["time_bnds"].values if "time_bnds" in gauges else None, attrs=extra)
    return write_exchange(ds, partial / "exchange" / exchange_filename(cfg.region, T))


def _update_latest(region_root: Path, timeout_s: float) -> None:
    """Point ``<region>/latest`` at the current complete run with the newest reference time.

    Not simply at the run that just finished: a backfill (an older reference time) or a ``--force`` rerun of
    an older night must not move it back. Runs of the region serialise on ``.locks/latest.lock`` so that two
    runs finishing at once cannot leave the older one linked.
    """
    try:
        with _lock(region_root / ".locks" / "latest.lock", timeout_s):
            runs = _current_runs(region_root)
            if runs:
                _link_latest(region_root, runs[max(runs)][0].name)
    except OutputError as exc:  # not fatal: the run folder is complete
        logger.warning("cannot update the 'latest' link: %s", exc)


def _link_latest(region_root: Path, run_id: str) -> None:
    """``<region>/latest`` → ``run_id`` (symlink replaced atomically)."""
    link = region_root / "latest"
    if link.is_symlink() and os.readlink(link) == run_id:
        return
    tmp = region_root / f".latest.{os.getpid()}.{threading.get_ident()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_id, tmp)
        os.replace(tmp, link)
    except OSError as exc:  # not fatal: the run folder is complete
        logger.warning("cannot update the 'latest' link: %s", exc)
