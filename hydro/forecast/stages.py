"""Stages shared by `hydro run` and `hydro forecast`, and the atomic run folder they write into.

A :class:`RunFolder` is ``<root>/<run-id>.partial/`` while a run works and becomes ``<root>/<run-id>/``
only when every product and, last, ``manifest.json`` (``status = "complete"`` and the sha256 of every
output) are in place. Readers poll for the manifest, never for data files.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hydro.config import ModelConfig
from hydro.errors import ConfigError, InputDataError, OutputError
from hydro.times import iso_utc, naive_utc

__all__ = [
    "RunFolder",
    "completed_manifest",
    "load_dem",
    "gauge_alerts",
    "flood_area_alert",
    "allocation_inputs",
    "write_alerts",
    "sha256",
    "static_input_files",
    "network_files",
]

logger = logging.getLogger(__name__)


def with_output_compression(run: Any) -> Any:
    """Decorate a run function ``run(cfg, ...)``: every NetCDF file it writes has ``cfg.outputs.compression_level``
    (only terrain.nc and peak_discharge.nc had it; the runoff, flood and allocation files kept the writer's
    default). Model state files keep their own level 1."""

    @functools.wraps(run)
    def wrapped(cfg: ModelConfig, *args: Any, **kwargs: Any) -> Any:
        from hydro.io import netcdf_compression

        with netcdf_compression(cfg.outputs.compression_level):
            return run(cfg, *args, **kwargs)

    return wrapped


def sha256(path: str | os.PathLike[str]) -> str:
    from hydro.io import sha256_file

    return sha256_file(Path(path))


def load_dem(cfg: ModelConfig) -> xr.DataArray:
    """The DEM named by the configuration (embedded generator or a file)."""
    from hydro.io import open_dem

    if cfg.dem.source == "embedded":
        from hydro.datasets import balikpapan_dem

        return balikpapan_dem(resolution_m=cfg.dem.resolution_m, seed=cfg.dem.seed)
    from hydro.config import resolve_input

    return open_dem(resolve_input(cfg, cfg.dem.path or "", "dem.path"), crs=cfg.dem.crs)


def _read_network_toml(net_path: Path) -> dict[str, Any]:
    """The allocation network TOML as a dict (errors name the file)."""
    import tomllib

    from hydro.errors import InputMissingError

    if not net_path.is_file():
        raise InputMissingError(f"allocation network not found: {net_path}")
    try:
        return tomllib.loads(net_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{net_path}: not UTF-8 text: byte {exc.start}: {exc.reason}") from None
    except OSError as exc:  # no read permission: 66 (sysexits EX_NOINPUT), not a PermissionError traceback
        raise InputMissingError(f"{net_path}: cannot read the allocation network file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{net_path}: not valid TOML: {exc}") from None


def network_files(net_path: Path) -> dict[str, Path]:
    """The network TOML and every series file it names (``csv = ...``, ``netcdf = ...``; relative to the TOML),
    keyed ``allocation_network`` and ``allocation_series:<as written>``. Series files that do not exist are left
    out here: they are an error (naming the node) only where they are read."""
    raw = _read_network_toml(net_path)
    files: dict[str, Path] = {"allocation_network": net_path}

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("csv", "netcdf") and isinstance(v, str):
                    f = Path(v) if Path(v).is_absolute() else net_path.parent / v
                    if f.is_file():
                        files[f"allocation_series:{v}"] = f.resolve()
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(raw)
    return files


def static_input_files(cfg: ModelConfig, *, flood: bool = False) -> dict[str, Path]:
    """Fixed files a run of ``cfg`` reads besides its forcing: the DEM file, the allocation network and the
    series files it names, and (``flood``, `hydro run` only) the population/roads layers. Their sha256 enter
    the run id and the manifest, so that a changed file is a new run, not "already done".

    Raises
    ------
    InputMissingError
        The DEM file or the allocation network does not exist (message names the config file and key).
    ConfigError
        A path escapes the project; the network is not TOML.
    """
    from hydro.config import config_source, resolve_input
    from hydro.errors import InputMissingError

    files: dict[str, Path] = {}
    if cfg.dem.source == "file":
        p = resolve_input(cfg, cfg.dem.path or "", "dem.path")
        if not p.is_file():
            raise InputMissingError(f"{config_source(cfg)}: dem.path = {cfg.dem.path!r}: DEM file not found: {p}")
        files["dem"] = p
    if cfg.allocation.enabled:
        p = resolve_input(cfg, cfg.allocation.network, "allocation.network")
        if not p.is_file():
            raise InputMissingError(f"{config_source(cfg)}: allocation.network = {cfg.allocation.network!r}: "
                                    f"allocation network not found: {p}")
        files.update(network_files(p))
    if flood and cfg.flood.enabled:
        for k in ("population", "roads"):
            v = getattr(cfg.flood, k)
            if v in (None, "embedded"):
                continue
            p = resolve_input(cfg, v, f"flood.{k}")
            if not p.is_file():
                raise InputMissingError(f"{config_source(cfg)}: flood.{k} = {v!r}: file not found: {p}")
            files[f"flood_{k}"] = p
    return files


def completed_manifest(run_dir: Path, *, verify: bool = True) -> dict[str, Any] | None:
    """The manifest of a complete run folder (every listed output present with its sha256), else None."""
    mpath = run_dir / "manifest.json"
    if not mpath.is_file():
        return None
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("status") != "complete":
        return None
    outputs = manifest.get("outputs", {})
    if not (isinstance(outputs, dict) and all(isinstance(e, dict) and isinstance(e.get("path"), str)
                                              and isinstance(e.get("sha256"), str) for e in outputs.values())):
        logger.warning("run %s: manifest.json does not list its outputs as {key: {path, sha256}}", run_dir.name)
        return None  # not a manifest this package wrote: not complete (the run is redone), not a traceback
    if verify:
        for entry in outputs.values():
            p = run_dir / entry["path"]
            if not p.is_file() or sha256(p) != entry["sha256"]:
                logger.warning("run %s: %s missing or changed since the run", run_dir.name, entry["path"])
                return None
    return manifest


def _exchange_paths(a: Path, b: Path) -> bool:
    """Swap two paths atomically (``renameat2(RENAME_EXCHANGE)``, Linux); False where not available."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = getattr(libc, "renameat2", None)
    except OSError:  # pragma: no cover - no C library handle
        return False
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


OWNER_FILE = ".hydro-owner.json"  # in a .partial folder while its run works: host, pid and process start time


def _process_start(pid: int) -> str | None:
    """An identity of the live process ``pid`` (its start time in clock ticks since boot, from ``/proc``; ``""``
    where there is no ``/proc``), or None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22 (starttime), counted after the "(comm)" field
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:  # exists, not ours to signal
        pass
    return ""


def _pid_namespace() -> str | None:
    """The pid namespace of this process (``pid:[4026531836]``), None where there is no ``/proc``. Containers that
    share a host name (``--network host``, ``--uts host``) have pid namespaces of their own: a pid recorded in
    one means nothing in another."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _abandoned(partial: Path) -> bool:
    """True when the ``.partial`` folder's run died on this host (its owner process is gone, or the pid was reused
    by another process). Unknown owners (no owner file, another host or pid namespace) are never abandoned."""
    import socket

    try:
        owner = json.loads((partial / OWNER_FILE).read_text())
        host, pid, start = owner["host"], int(owner["pid"]), str(owner.get("start") or "")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if host != socket.gethostname():
        return False
    if owner.get("pidns") and owner["pidns"] != _pid_namespace():
        return False  # another container on this host name: its pid cannot be looked up from here
    now = _process_start(pid)
    return now is None or bool(start and now and now != start)


def forcing_provenance(cfg: ModelConfig, path: Path | None, digest: str | None = None) -> str:
    """The ``hydro_forcing`` global attribute (netcdf.md §10): the forcing product, its own id and issue time where
    the file states them, and its sha256 (first 16 hex digits); a design storm by its parameters."""
    f = cfg.forcing
    if path is None:
        return (f"design storm: {f.storm_total_mm:g} mm in {f.storm_duration_h:g} h from {f.start}, peak at "
                f"{f.storm_peak_position:g} of the duration")
    parts = [Path(path).name]
    try:
        import netCDF4

        with netCDF4.Dataset(path) as nc:
            g = {k: nc.getncattr(k) for k in nc.ncattrs()}
    except OSError:
        g = {}
    if g.get("id"):
        parts.append(f"id {g['id']}")
    issued = g.get("date_issued") or g.get("date_created")
    if issued:
        parts.append(f"issued {issued}")
    if digest:
        parts.append(f"sha256 {digest[:16]}")
    return "; ".join(str(x) for x in parts)


def stamp_run_attrs(paths: Sequence[Path], attrs: Mapping[str, Any]) -> list[Path]:
    """Give every NetCDF file among ``paths`` the run's global attributes (run ``id``, config hash, warm start...)
    it does not already carry, in place (the files are still in the unpublished ``.partial`` folder, and the
    manifest's sha256 is taken afterwards). Returns the files changed."""
    import netCDF4

    changed = []
    for p in paths:
        if Path(p).suffix != ".nc":
            continue
        try:
            with netCDF4.Dataset(p, "a") as nc:
                have = set(nc.ncattrs())
                todo = {k: v for k, v in attrs.items() if k not in have and v is not None}
                for k, v in todo.items():
                    nc.setncattr(k, v)
        except OSError as exc:  # disk full, file gone: an output that cannot be written (exit 73), not a bug (1)
            raise OutputError(f"{p}: cannot add the run's attributes: {exc}") from exc
        if todo:
            changed.append(Path(p))
    return changed


@dataclass
class RunFolder:
    """``<root>/<run_id>.partial`` → ``<root>/<run_id>`` (atomic publish, manifest last)."""

    root: Path
    run_id: str
    outputs: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()

    @property
    def final(self) -> Path:
        return self.root / self.run_id

    @property
    def partial(self) -> Path:
        return self.root / f"{self.run_id}.partial"

    def recover(self) -> None:
        """Repair what a killed run of this id left, before deciding whether the run is already done (the caller
        holds the run id's lock, so no live process owns these folders).

        A ``--force`` publish killed between its two renames leaves the only complete copy at ``<id>.old-<pid>``:
        it is put back. Once the complete folder is in place, this id's ``.partial`` folder (a killed rerun) and
        other ``.old-*`` copies are removed, so that an "already done" rerun does not keep them for ever."""
        try:
            olds = sorted(self.root.glob(f"{self.run_id}.old-*"))
            if not self.final.exists():
                for old in olds:
                    if completed_manifest(old) is not None:
                        logger.info("restoring %s from %s (a publish was killed half-way)", self.final, old)
                        os.replace(old, self.final)
                        break
            if completed_manifest(self.final, verify=False) is None:
                return
            for stale in [self.partial, *self.root.glob(f"{self.run_id}.old-*")]:
                if stale.is_dir():
                    logger.info("removing stale %s", stale)
                    shutil.rmtree(stale, ignore_errors=True)
        except OSError as exc:
            raise OutputError(f"cannot tidy the run folders of {self.final}: {exc}") from exc

    def create(self) -> Path:
        """Start afresh: a stale ``.partial`` (a crashed run) and ``.old-*`` folders of this run id are removed,
        and so are the ``.partial`` folders of other run ids whose run died on this host (a crashed night with
        other inputs would otherwise stay for ever); the new folder records its owner process."""
        import socket

        try:
            for other in self.root.glob("*.partial"):
                if other != self.partial and other.is_dir() and _abandoned(other):
                    logger.info("removing %s, left by a run that died", other)
                    shutil.rmtree(other, ignore_errors=True)
            if self.partial.exists():
                logger.info("removing stale %s", self.partial)
                shutil.rmtree(self.partial)
            for stale in self.root.glob(f"{self.run_id}.old-*"):  # a --force publish that died half-way
                if self.final.exists():
                    logger.info("removing stale %s", stale)
                    shutil.rmtree(stale, ignore_errors=True)
                else:  # it holds the only complete copy: put it back
                    os.replace(stale, self.final)
            self.partial.mkdir(parents=True)
            owner = {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid()),
                     "pidns": _pid_namespace()}
            (self.partial / OWNER_FILE).write_text(json.dumps(owner))
        except OSError as exc:
            raise OutputError(f"cannot create run folder {self.partial}: {exc}") from exc
        return self.partial

    def discard(self) -> None:
        """Remove the unfinished ``.partial`` folder (a failed run leaves nothing behind)."""
        shutil.rmtree(self.partial, ignore_errors=True)

    def add(self, key: str, path: str | os.PathLike[str]) -> Path:
        p = Path(path).absolute()
        if self.partial not in p.parents:
            raise OutputError(f"{p} is not inside the run folder {self.partial}")
        self.outputs[key] = p
        return p

    def publish(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Write the manifest (outputs with sha256) last, then rename the folder into place."""
        man = dict(manifest)
        man["status"] = "complete"
        man["run_id"] = self.run_id
        man["outputs"] = {k: {"path": p.relative_to(self.partial).as_posix(), "sha256": sha256(p)}
                          for k, p in sorted(self.outputs.items())}
        tmp = self.partial / ".manifest.json.tmp"
        try:
            (self.partial / OWNER_FILE).unlink(missing_ok=True)
            tmp.write_text(json.dumps(man, indent=2, default=str))
            os.replace(tmp, self.partial / "manifest.json")
            if self.final.exists():  # --force: the complete run stays readable until the new one is in place
                if _exchange_paths(self.partial, self.final):  # one atomic swap (Linux renameat2)
                    shutil.rmtree(self.partial, ignore_errors=True)
                else:
                    old = self.root / f"{self.run_id}.old-{os.getpid()}"
                    os.replace(self.final, old)
                    try:
                        os.replace(self.partial, self.final)
                    except OSError:
                        os.replace(old, self.final)  # put the complete run back
                        raise
                    shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(self.partial, self.final)
        except OSError as exc:
            raise OutputError(f"cannot publish run folder {self.final}: {exc}") from exc
        return man

    def final_outputs(self) -> dict[str, Path]:
        return {k: self.final / p.relative_to(self.partial) for k, p in self.outputs.items()}


# ---------------------------------------------------------------------------------------- alerts
def gauge_alerts(cfg: ModelConfig, gauges: xr.Dataset, *, exceedance: Mapping[str, list[float]] | None = None,
                 ensemble_members: int = 0) -> list[dict[str, Any]]:
    """Warning-level exceedances at the configured gauges.

    The peak is the largest sub-step maximum (``max_discharge``, else ``discharge``). One record per
    gauge whose peak reaches its first level: ``level`` (1 = lowest), ``threshold_m3s``, ``peak_m3s``,
    ``peak_time``, ``first_exceedance_time``; with an ensemble, ``exceedance_probability`` per level.
    """
    ids = [str(s) for s in np.asarray(gauges["station_id"].values)]
    var = "max_discharge" if "max_discharge" in gauges else "discharge"
    out: list[dict[str, Any]] = []
    for g in cfg.gauges:
        if not g.warning_levels_m3s or g.id not in ids:
            continue
        q = gauges[var].isel(station=ids.index(g.id))
        qv = np.asarray(q.values, np.float64)
        probs = None
        if exceedance is not None and g.id in exceedance:
            probs = [float(p) for p in exceedance[g.id]]
        ens_level = sum(p >= 0.5 for p in probs) if probs is not None else 0
        if not np.isfinite(qv).any():
            # no finite discharge: the warning state is unknown, which is no "green"
            nd: dict[str, Any] = {
                "type": "gauge_no_data", "id": g.id, "name": g.name or g.id, "level": int(max(ens_level, 1)),
                "levels_m3s": list(g.warning_levels_m3s), "peak_m3s": None,
                "message": f"{g.name or g.id}: no finite discharge ({var}) in the forecast: warning level unknown"}
            if probs is not None:
                nd["exceedance_probability"] = probs
                nd["members"] = int(ensemble_members)
                nd["message"] += "; members above each level: " + ", ".join(f"{p:.0%}" for p in probs)
            out.append(nd)
            continue
        peak = float(np.nanmax(qv))
        times = pd.DatetimeIndex(q["time"].values)
        det_level = sum(peak >= lv for lv in g.warning_levels_m3s)
        level = max(det_level, ens_level)
        if level == 0:
            continue
        lv = g.warning_levels_m3s[max(level, 1) - 1]
        above = np.flatnonzero(qv >= g.warning_levels_m3s[0])
        rec: dict[str, Any] = {
            "type": "gauge",
            "id": g.id,
            "name": g.name or g.id,
            "level": int(level),
            "levels_m3s": list(g.warning_levels_m3s),
            "threshold_m3s": float(lv),
            "peak_m3s": round(peak, 3),
            "peak_time": iso_utc(times[int(np.nanargmax(qv))]),
            "first_exceedance_time": iso_utc(times[int(above[0])]) if above.size else None,
        }
        if det_level >= level:
            rec["message"] = (f"{rec['name']}: peak {peak:.0f} m3/s at {rec['peak_time']} reaches warning level {level} "
                              f"({lv:.0f} m3/s)")
        else:  # the level comes from the ensemble: the control peak stays below it
            rec["message"] = (f"{rec['name']}: {probs[level - 1]:.0%} of the ensemble members reach warning level "
                              f"{level} ({lv:.0f} m3/s); control peak {peak:.0f} m3/s at {rec['peak_time']}")
        if probs is not None:
            rec["exceedance_probability"] = probs
            rec["members"] = int(ensemble_members)
            rec["message"] += "; members above each level: " + ", ".join(f"{p:.0%}" for p in probs)
        out.append(rec)
    return out


def flood_area_alert(cfg: ModelConfig, flooded_km2: float, *, source: str) -> list[dict[str, Any]]:
    """An alert record when the flooded area exceeds ``forecast.flooded_area_alert_km2``."""
    lim = cfg.forecast.flooded_area_alert_km2
    if lim is None or not flooded_km2 > lim:
        return []
    return [{"type": "flooded_area", "id": source, "name": f"flooded area ({source})", "level": 1,
             "threshold_km2": float(lim), "flooded_km2": round(float(flooded_km2), 3),
             "message": f"flooded area {flooded_km2:.1f} km2 ({source}) exceeds {lim:g} km2"}]


def write_alerts(path: Path, alerts: Sequence[Mapping[str, Any]], *, run_id: str, reference_time: Any = None) -> Path:
    """``alerts.json`` (atomic): run id, reference time, the highest level and every record."""
    doc = {
        "run_id": run_id,
        "forecast_reference_time": iso_utc(reference_time),
        "alert": bool(alerts),
        "max_level": max((int(a.get("level", 1)) for a in alerts), default=0),
        "alerts": list(alerts),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, indent=2))
        os.replace(tmp, path)
    except OSError as exc:  # disk full, read-only folder: 73, not a traceback
        raise OutputError(f"cannot write {path}: {exc}") from exc
    return path


# ---------------------------------------------------------------------------------------- allocation
def whole_days(start: Any, end: Any) -> tuple[pd.Timestamp, int]:
    """First midnight at or after ``start`` and the number of whole UTC days from it to ``end``."""
    first = pd.Timestamp(start).ceil("D")
    return first, max(int((pd.Timestamp(end).floor("D") - first) // pd.Timedelta("1D")), 0)


def allocation_skip_reason(start: Any, end: Any) -> str | None:
    """Why a run from ``start`` to ``end`` cannot allocate (no whole UTC day for the daily steps), or None."""
    if whole_days(start, end)[1] >= 1:
        return None
    return (f"allocation skipped: the run {pd.Timestamp(start):%Y-%m-%dT%H:%M} … {pd.Timestamp(end):%Y-%m-%dT%H:%M} "
            "holds no whole UTC day (the allocation runs in daily steps)")


def check_network(cfg: ModelConfig) -> None:
    """The allocation network's keys and values as written (a typo is a :class:`ConfigError` naming the file), when
    the allocation is enabled and its file exists: before any data is read, in `hydro run`, `hydro forecast` and
    `hydro validate-config` alike."""
    if not cfg.allocation.enabled:
        return
    import copy

    from hydro.allocation import load_network
    from hydro.config import resolve_input

    net_path = resolve_input(cfg, cfg.allocation.network, "allocation.network")
    if not net_path.is_file():
        return  # missing: exit 66 where the run reads it
    try:
        load_network(copy.deepcopy(_read_network_toml(net_path)), base_dir=net_path.parent)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("<dict>", str(net_path))) from None


def allocation_inputs(cfg: ModelConfig, gauges: xr.Dataset | None, start: Any, end: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """The allocation network of ``cfg`` for the run period, fed with the simulated inflows.

    Nodes listed in ``[allocation] simulated_inflows`` (node id → gauge id) take the daily mean of the
    routed discharge at that gauge. Series of other nodes that do not cover the run period (a scenario
    year's CSV) are replaced by their calendar-month means (a monthly climatology), and the manifest
    records which. Returns ``(network, external inflows, substitutions)``.

    The allocation runs in daily steps over the **whole UTC days** inside ``[start, end]``: a partly
    simulated first or last day (a run starting at 12 UTC) is left out and noted (``"_period"``), since
    the mean of part of a day applied to the whole day would create or lose water. A run holding no
    whole day is an :class:`InputDataError`.
    """
    from hydro.allocation import load_network
    from hydro.config import config_source, resolve_input
    from hydro.errors import InputMissingError

    net_path = resolve_input(cfg, cfg.allocation.network, "allocation.network")
    check_network(cfg)  # the file as written, before any substitution: a typo ("unit", "factr") is an error
    raw = _read_network_toml(net_path)
    t0, t1 = naive_utc(start), naive_utc(end)  # gauges: naive UTC
    start, ndays = whole_days(t0, t1)
    last = start + ndays * pd.Timedelta("1D")
    if ndays < 1:
        raise InputDataError(f"allocation: the run {t0} … {t1} holds no whole UTC day; the allocation runs in daily "
                             f"steps (run at least from one midnight to the next)")
    end = last
    try:
        step = pd.Timedelta(str(raw.get("network", {}).get("timestep", "1D")))
    except (ValueError, TypeError):
        raise ConfigError(f"{net_path}: network.timestep = {raw['network'].get('timestep')!r} is not a duration") from None
    if step != pd.Timedelta("1D"):
        raise ConfigError(f"{net_path}: hydro run allocates in daily steps, the network has timestep {step}")
    out_step = pd.Timedelta(cfg.routing.output_step)
    if cfg.allocation.simulated_inflows and pd.Timedelta("1D") % out_step != pd.Timedelta(0):
        raise ConfigError(f"{config_source(cfg)}: routing.output_step = {cfg.routing.output_step} does not divide a day: "
                          "the daily means of allocation.simulated_inflows need whole output steps in every day")
    raw.setdefault("network", {})["start"] = start.strftime("%Y-%m-%d")
    raw["network"]["steps"] = ndays
    external: dict[str, Any] = {}
    notes: dict[str, str] = {}
    sim = dict(cfg.allocation.simulated_inflows)
    ids = [] if gauges is None else [str(s) for s in np.asarray(gauges["station_id"].values)]
    days = pd.date_range(start, periods=ndays, freq="D")
    node_ids = [n.get("id") for n in raw.get("nodes", []) if isinstance(n, dict)]
    unknown = sorted(set(sim) - set(node_ids))
    if unknown:
        raise ConfigError(f"{config_source(cfg)}: allocation.simulated_inflows: {unknown} not node ids of the network "
                          f"{net_path} (nodes: {node_ids})")
    for k, node in enumerate(raw.get("nodes", [])):
        spec = node.get("inflow")
        if "id" not in node:
            raise ConfigError(f"{net_path}: nodes[{k}]: 'id' missing")
        if node["id"] in sim:
            gid = sim[node["id"]]
            if gid not in ids:
                raise ConfigError(f"{config_source(cfg)}: allocation.simulated_inflows: {node['id']} = {gid!r} is not "
                                  f"a gauge ({ids})")
            q = gauges["discharge"].isel(station=ids.index(gid)).to_series()
            q.index = q.index - pd.Timedelta(cfg.routing.output_step)  # period-start labels
            by_day = q.resample("D")  # a day with a NaN step has no daily mean (a part-day mean would create water)
            # every output step of the day present and finite (a part-day mean would create or lose water)
            daily = by_day.mean().where(by_day.count() == int(pd.Timedelta("1D") / out_step)).reindex(days)
            if daily.isna().any():
                # no simulated value on a day of the run (never held on from a neighbouring day)
                missing = [d.strftime("%Y-%m-%d") for d in daily.index[daily.isna().to_numpy()][:5]]
                raise InputDataError(f"allocation.simulated_inflows: {node['id']} = {gid!r}: no routed discharge on "
                                     f"{missing} of the run period")
            node["inflow"] = {"external": node["id"]}
            external[node["id"]] = daily.values.astype(np.float64)
            notes[node["id"]] = f"simulated: daily mean routed discharge at gauge {gid}"
        elif isinstance(spec, dict) and "csv" in spec:
            where = f"{net_path}: nodes[{k}] ({node['id']!r}).inflow"
            csv = Path(spec["csv"])
            csv = csv if csv.is_absolute() else net_path.parent / csv
            if not csv.is_file():
                raise InputMissingError(f"{where}: CSV file {csv} not found")
            tcol = spec.get("time_column", "time")
            if "column" not in spec:
                raise ConfigError(f"{where}: csv series need 'column'")
            try:
                df = pd.read_csv(csv, parse_dates=[tcol], index_col=tcol)
            except ValueError as exc:
                raise InputDataError(f"{where}: {csv}: {exc}") from None
            if spec["column"] not in df.columns:
                raise InputDataError(f"{where}: column {spec['column']!r} not in {csv} (columns: {list(df.columns)})")
            col = df[spec["column"]]
            if not (col.index.min() <= start and col.index.max() >= days[-1]):
                monthly = col.groupby(col.index.month).mean().reindex(range(1, 13)).interpolate().bfill().ffill()
                node["inflow"] = {"monthly": [float(v) for v in monthly.values], "units": spec["units"],
                                  "factor": spec.get("factor", 1.0)}  # (units required: validated above)
                notes[node["id"]] = f"monthly climatology of {csv.name}:{spec['column']} (series does not cover the run)"
    if start != t0 or last != t1:
        notes["_period"] = (f"allocation over the whole days {start:%Y-%m-%d} … {last - pd.Timedelta('1D'):%Y-%m-%d} "
                            f"of the run {t0:%Y-%m-%dT%H:%M} … {t1:%Y-%m-%dT%H:%M} (partial days left out)")
    try:
        net = load_network(raw, base_dir=net_path.parent)
    except ConfigError as exc:  # validated from a dict: name the file, not "<dict>"
        raise ConfigError(str(exc).replace("<dict>", str(net_path))) from None
    net.source = str(net_path)  # later series errors name the file too
    return net, external, notes
