"""The ``hydro`` command line: a thin layer that parses options, sets up logging and progress,
calls the Python API and maps :mod:`hydro.errors` exceptions to exit codes.

Exit codes (BSD sysexits):

====  ==========================================================
0     success (also "already done")
1     unexpected error (a bug: please report it)
2     command-line usage error
3     run published, but its water balance does not close
65    bad input data (corrupt file, wrong units, CRS mismatch, incompatible state)
66    a required input file is missing
73    an output cannot be created or written
75    forcing not yet available: retry later
78    invalid configuration
====  ==========================================================
"""
from __future__ import annotations

import atexit
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click

from hydro import __version__
from hydro.errors import EXIT_BALANCE_NOT_CLOSED, HydroError, exit_code_for

__all__ = ["main", "cli"]

logger = logging.getLogger("hydro")


#: run context added to every log record (run id, region, reference time, stage)
_CONTEXT: dict[str, Any] = {}


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for k, v in _CONTEXT.items():
            setattr(record, k, v)
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k in _CONTEXT:
            doc[k] = getattr(record, k, None)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def _setup_logging(level: str, json_logs: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger("hydro")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").handlers[:] = [handler]


def _log_to_file(path: Path) -> logging.Handler:
    """JSON lines of every hydro log record (INFO and above) into ``path``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_JsonFormatter())
    handler.addFilter(_ContextFilter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger("hydro")
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
        for h in root.handlers:
            if h is not handler and h.level == logging.NOTSET:
                h.setLevel(logging.WARNING)
    return handler


class _Progress:
    """tqdm bar over named stages; silent when stderr is not a terminal."""

    def __init__(self, stages: list[str] | None = None, desc: str = "hydro") -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=len(stages) if stages else None, desc=desc, disable=None, unit="stage", leave=False)

    def __call__(self, stage: str) -> None:
        self.bar.set_postfix_str(stage)
        self.bar.update(1)
        logger.debug("stage: %s", stage)

    def close(self) -> None:
        self.bar.close()


#: background compile processes started by this process (see :func:`_precompile_terrain_in_background`)
_BACKGROUND: list[Any] = []


def _leave_background_running() -> None:
    """At exit: a compile process still running is left to finish on its own (it has its own session); marking it
    done keeps its Popen from warning "subprocess ... is still running" during interpreter shutdown."""
    for proc in _BACKGROUND:
        if proc.poll() is None:
            proc.returncode = 0


atexit.register(_leave_background_running)


def _precompile_terrain_in_background() -> None:
    """With an empty numba cache, compile the later terrain kernels in a second process (second core)."""
    import subprocess

    from hydro.terrain import _kernels

    if _kernels.cache_is_warm() or any(p.poll() is None for p in _BACKGROUND):
        return
    # kept referenced: a Popen collected while its process runs raises a ResourceWarning (an error under pytest)
    _BACKGROUND.append(subprocess.Popen(
        [sys.executable, "-c", "from hydro.terrain._kernels import precompile_later_stages as p; p()"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    ))


def _fail(exc: BaseException) -> None:
    code = exit_code_for(exc)
    first = str(exc).strip().splitlines()
    click.echo(f"hydro: error: {first[0] if first else type(exc).__name__}", err=True)
    for line in first[1:]:
        click.echo(f"  {line}", err=True)
    sys.exit(code)


def _exit_if_balance_open(manifest: dict[str, Any], run_dir: Path) -> None:
    """Exit :data:`~hydro.errors.EXIT_BALANCE_NOT_CLOSED` (3) after a published run whose water balance does not
    close (also when it was "already done": the same run, the same code); the outputs stay."""
    if manifest.get("water_balance_closed", True) is not False:
        return
    wb = manifest.get("facts", {}).get("water_balance", {})
    click.echo(f"hydro: water balance does not close (tolerance {wb.get('tolerance')}): "
               f"{', '.join(wb.get('not_closed', [])) or 'see water_balance.json'}; outputs kept in {run_dir}",
               err=True)
    sys.exit(EXIT_BALANCE_NOT_CLOSED)


def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body, turning package errors into a one-line message and an exit code."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HydroError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            click.echo("hydro: interrupted", err=True)
            sys.exit(130)

    return wrapper


# click.Path(readable=False): click's own check of an unreadable input was a usage error (exit 2); the readers raise
# InputMissingError (66, "cannot be read") as the README's exit-code table says

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hydro")
@click.option("--log-level", default="WARNING", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--json-logs", is_flag=True, help="Log JSON lines to stderr.")
def cli(log_level: str, json_logs: bool) -> None:
    """hydro: terrain, rainfall-runoff, flood maps and water allocation.

    Exit codes: 0 ok, 1 bug, 2 usage, 3 run published but its water balance does not close,
    65 bad input data, 66 missing input, 73 cannot write output, 75 input not ready (retry later),
    78 bad configuration.
    """
    _setup_logging(log_level, json_logs)


@cli.command()
@click.argument("dem", type=click.Path(readable=False, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(readable=False, dir_okay=False, path_type=Path), required=True, help="NetCDF file to write.")
@click.option("--stream-threshold-km2", type=float, default=1.0, show_default=True, help="Upstream area of stream cells [km2].")
@click.option("--crs", default=None, help="CRS for a DEM that has none, e.g. EPSG:32750.")
@click.option("--epsilon", is_flag=True, help="Fill with a tiny gradient instead of exact flats.")
@_guard
def terrain(dem: Path, output: Path, stream_threshold_km2: float, crs: str | None, epsilon: bool) -> None:
    """Terrain analysis of DEM (GeoTIFF) → CF NetCDF (filled DEM, D8, accumulation, streams, HAND)."""
    from hydro.errors import ConfigError
    from hydro.io import open_dem, write_netcdf
    from hydro.terrain import analyse

    if not stream_threshold_km2 > 0 or stream_threshold_km2 == float("inf"):  # an option value: 78, as every other
        raise ConfigError(f"--stream-threshold-km2 must be a positive number, got {stream_threshold_km2}")
    _precompile_terrain_in_background()
    stages = ["read", "fill", "flow direction", "network", "accumulation", "streams", "hand", "write"]
    bar = _Progress(stages, "terrain")
    try:
        bar("read")
        da = open_dem(dem, crs=crs)
        ds = analyse(da, stream_threshold_km2 * 1e6, epsilon=epsilon, progress=bar)
        bar("write")
        write_netcdf(
            ds,
            output,
            title=f"Terrain analysis of {dem.name}",
            summary="Filled DEM, D8 flow directions, accumulation, upstream area, streams, Strahler order and HAND.",
            input_files=[dem],
            parameters={"stream_threshold_km2": stream_threshold_km2, "epsilon": epsilon},
        )
    finally:
        bar.close()
    click.echo(f"wrote {output}")


@cli.command("validate-config")
@click.argument("config", type=click.Path(readable=False, dir_okay=False, path_type=Path))
@_guard
def validate_config(config: Path) -> None:
    """Validate a model configuration without running it (exit 78 on error).

    The same checks `hydro run` and `hydro forecast` make before reading any data: keys and values, path
    placeholders, lead time and run length against the model/output steps, gauges named by the allocation,
    every input path inside the project (files need not exist yet), and the water network's keys and values
    when its file exists.
    """
    from hydro.config import check_config, load_config
    from hydro.forecast.stages import check_network

    cfg = load_config(config)
    check_config(cfg)
    check_network(cfg)  # the water network's keys and values, as hydro run and hydro allocate check them
    click.echo(f"{config}: ok")


@cli.command()
@click.argument("config", type=click.Path(readable=False, dir_okay=False, path_type=Path))
@click.option("--output-root", type=click.Path(readable=False, file_okay=False, path_type=Path), default=None, help="Override outputs.directory (relative to the current directory; outputs.directory is relative to the project folder).")
@click.option("--force", is_flag=True, help="Redo a run that is already complete.")
@_guard
def run(config: Path, output_root: Path | None, force: bool) -> None:
    """Run the main job of a model configuration (e.g. models/balikpapan.toml)."""
    from hydro.config import load_config
    from hydro.forecast import run_model

    cfg = load_config(config)
    _precompile_terrain_in_background()
    bar = _Progress(None, f"run {cfg.region}")
    t0 = time.perf_counter()
    try:
        result = run_model(cfg, output_root=output_root, force=force, progress=bar)
    finally:
        bar.close()
    status = "already done" if result.manifest.get("already_done") else result.manifest["status"]
    click.echo(f"run {result.run_id}: {status} in {time.perf_counter() - t0:.1f} s -> {result.run_dir}")
    for name, path in result.outputs.items():
        click.echo(f"  {name}: {path}")
    _exit_if_balance_open(result.manifest, result.run_dir)


@cli.command()
@click.argument("network", type=click.Path(readable=False, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, help="Output stem, e.g. outputs/balikpapan_water; a directory (outputs/) takes the network file's name.")
@click.option("--start", default=None, help="Override the start of the time axis (ISO 8601).")
@click.option("--steps", type=int, default=None, help="Number of steps to run.")
@click.option("--no-explain", is_flag=True, help="Skip the shortfall explanations.")
@_guard
def allocate(network: Path, output: str, start: str | None, steps: int | None, no_explain: bool) -> None:
    """Allocate water on a network (TOML) under its agreements; write CF DSG files + CSV tables."""
    from hydro.allocation import cli_allocate

    for f in cli_allocate(network, output, start=start, steps=steps, explain=not no_explain):
        click.echo(str(f))


@cli.command()
@click.argument("config", type=click.Path(readable=False, dir_okay=False, path_type=Path))
@click.option("--scheduler", default=None, help="Run each generation's trials on: threads | processes | local-cluster | tcp://host:port.")
@click.option("--workers", type=int, default=None, help="Start a LocalCluster with N worker processes.")
@_guard
def calibrate(config: Path, scheduler: str | None, workers: int | None) -> None:
    """Calibrate runoff parameters against observed discharge (CONFIG: calibration TOML)."""
    from hydro.calibrate import run_calibration
    from hydro.forecast.parallel import client_map, cluster

    if scheduler is None and workers is None:
        res = run_calibration(config)
    else:
        with cluster(scheduler, workers) as (client, local):
            res = run_calibration(config, evaluate=client_map(client, local if client is None else "threads"))
    for kind, path in res["paths"].items():
        click.echo(f"{kind}: {path}")


@cli.command()
@click.option("--resolution-m", type=float, default=30.0, show_default=True, help="Cell size of the embedded DEM [m].")
@click.option("--start", default="2025-08-25T00:00", show_default=True, help="Storm start (UTC).")
@click.option("--duration-h", type=float, default=12.0, show_default=True, help="Length of the 2-D run [h].")
@click.option("--storm-total-mm", type=float, default=140.0, show_default=True)
@click.option("--storm-duration-h", type=float, default=6.0, show_default=True)
@click.option("--output-dir", type=click.Path(readable=False, file_okay=False, path_type=Path), required=True)
@_guard
def flood(resolution_m: float, start: str, duration_h: float, storm_total_mm: float, storm_duration_h: float, output_dir: Path) -> None:
    """Balikpapan flood example: HAND map of the catchment + 2-D coastal plain (spring tide, design storm)."""
    from hydro.flood.example import balikpapan_flood

    out = balikpapan_flood(resolution_m, start=start, duration_h=duration_h, storm_total_mm=storm_total_mm,
                           storm_duration_h=storm_duration_h, output_dir=output_dir)
    for f in out["files"]:
        click.echo(str(f))


@cli.command("run-catchment")
@click.argument("terrain", type=click.Path(readable=False, dir_okay=False, path_type=Path))
@click.option("--precipitation", type=click.Path(readable=False, dir_okay=False, path_type=Path), required=True, help="NetCDF (time, y, x) in mm per step.")
@click.option("--precipitation-var", default="precipitation", show_default=True)
@click.option("--evaporation", default="0", show_default=True, help="NetCDF file or a constant [mm per step].")
@click.option("--evaporation-var", default="potential_evaporation", show_default=True)
@click.option("--start", default=None, help="Start of the run (ISO 8601, UTC); default: the --state-in state's valid "
              "time, else the start of the first precipitation period.")
@click.option("--steps", type=int, default=None)
@click.option("--dt", default="1h", show_default=True)
@click.option("--output-step", default=None)
@click.option("--keep-peak", is_flag=True)
@click.option("--gauges", type=click.Path(readable=False, dir_okay=False, path_type=Path), default=None, help="CSV of named gauge points.")
@click.option("--outlets", type=int, default=0, show_default=True, help="Also report the N largest outlets (N >= 0).")
@click.option("--reservoirs", type=click.Path(readable=False, dir_okay=False, path_type=Path), default=None, help="TOML of level-pool reservoirs.")
@click.option("--inflow", "inflows", multiple=True, help="FILE:STATION_ID of an upstream inflow (repeatable); FILE:STATION_ID@MEMBER picks an ensemble "
              "member by its realization label, FILE:STATION_ID@mean the ensemble mean.")
@click.option("--state-in", type=click.Path(readable=False, dir_okay=False, path_type=Path), default=None)
@click.option("--state-out", type=click.Path(readable=False, dir_okay=False, path_type=Path), default=None)
@click.option("--runoff-param", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--routing-param", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--gridded", default="runoff,soil_moisture,discharge", show_default=True)
@click.option("--output-dir", type=click.Path(readable=False, file_okay=False, path_type=Path), required=True)
@click.option("--prefix", default="run", show_default=True, help="File-name prefix: <output-dir>/<prefix>_grid.nc, ...")
@_guard
def run_catchment_cmd(terrain: Path, precipitation: Path, precipitation_var: str, evaporation: str, evaporation_var: str,
                      start: str | None, steps: int | None, dt: str, output_step: str | None, keep_peak: bool,
                      gauges: Path | None, outlets: int, reservoirs: Path | None, inflows: tuple[str, ...],
                      state_in: Path | None, state_out: Path | None, runoff_param: tuple[str, ...],
                      routing_param: tuple[str, ...], gridded: str, output_dir: Path, prefix: str) -> None:
    """Rainfall-runoff + kinematic-wave routing over a terrain file, with gauges, reservoirs and state."""
    from hydro.errors import ConfigError
    from hydro.model import run_catchment

    # malformed option values are configuration errors (78), like a value that is not a number
    def kv(items: tuple[str, ...]) -> dict[str, float]:
        out = {}
        for item in items:
            if "=" not in item:
                raise ConfigError(f"parameter {item!r} is not KEY=VALUE")
            k, v = item.split("=", 1)
            try:
                out[k.strip()] = float(v)
            except ValueError:
                raise ConfigError(f"parameter {item!r}: {v.strip()!r} is not a number") from None
        return out

    def inflow(item: str) -> tuple[str, str, str | None]:
        if ":" not in item:
            raise ConfigError(f"--inflow {item!r} is not FILE:STATION_ID[@MEMBER]")
        f, sid = item.rsplit(":", 1)
        sid, _, member = sid.partition("@")
        if not sid or (_ and not member):
            raise ConfigError(f"--inflow {item!r} is not FILE:STATION_ID[@MEMBER]")
        return f, sid, member or None

    try:
        evap: str | float = float(evaporation)
    except ValueError:
        evap = evaporation
    res = run_catchment(
        terrain, precipitation, output_dir=output_dir, start=start, steps=steps, dt=dt, output_step=output_step,
        keep_peak=keep_peak, precipitation_var=precipitation_var, evaporation=evap, evaporation_var=evaporation_var,
        runoff_params=kv(runoff_param), routing_params=kv(routing_param), gauges=gauges, outlets=outlets,
        reservoirs=reservoirs, inflows=[inflow(i) for i in inflows], state_in=state_in, state_out=state_out,
        gridded=tuple(g for g in gridded.split(",") if g), prefix=prefix,
    )
    paths = res["paths"]
    for key, value in (paths.items() if isinstance(paths, dict) else enumerate(paths)):
        click.echo(f"{key}: {value}")


@cli.command()
@click.argument("config", type=click.Path(readable=False, dir_okay=False, path_type=Path))
@click.option("--reference-time", "-t", required=True, help="Forecast reference time, ISO 8601 UTC (e.g. 2025-08-25T00:00Z).")
@click.option("--output-root", type=click.Path(readable=False, file_okay=False, path_type=Path), default=None, help="Override outputs.directory (relative to the current directory; outputs.directory is relative to the project folder).")
@click.option("--force", is_flag=True, help="Redo a forecast that is already complete.")
@click.option("--members", type=int, default=None, help="Override ensemble.members (0 = deterministic).")
@click.option("--scheduler", default=None, help="threads | synchronous | processes | local-cluster | tcp://host:port (default: compute.scheduler).")
@click.option("--workers", type=int, default=None, help="Start a LocalCluster with N worker processes.")
@_guard
def forecast(config: Path, reference_time: str, output_root: Path | None, force: bool, members: int | None,
             scheduler: str | None, workers: int | None) -> None:
    """The nightly forecast: warm start, forecast run, ensemble, HAND map, alerts, exchange file.

    Safe to rerun: a complete forecast exits 0 with "already done"; forcing not yet published exits
    75 (retry later). The run log (JSON lines) is written to <run folder>/run.log.
    """
    from hydro.config import load_config
    from hydro.forecast.nightly import run_forecast
    from hydro.forecast.parallel import cluster

    cfg = load_config(config)
    if members is not None:
        from pydantic import ValidationError

        from hydro.errors import ConfigError

        if members < 0:
            raise ConfigError(f"--members must be >= 0, got {members}")
        try:  # the bounds of ensemble.members apply to the option too (model_copy does not validate: 201 members
            # died with a pydantic traceback, exit 1, when each member re-read the configuration)
            ensemble = type(cfg.ensemble).model_validate({**cfg.ensemble.model_dump(), "members": members})
        except ValidationError as exc:
            raise ConfigError(f"--members {members}: {exc.errors()[0]['msg']} (ensemble.members)") from None
        src = getattr(cfg, "_source_path", None)
        cfg = cfg.model_copy(update={"ensemble": ensemble})
        object.__setattr__(cfg, "_source_path", src)
    _CONTEXT.update(region=cfg.region, forecast_reference_time=reference_time, run_id=None, stage="start")
    _precompile_terrain_in_background()
    handlers: list[logging.Handler] = []

    def on_run_id(run_id: str) -> None:
        _CONTEXT["run_id"] = run_id

    def on_start(partial: Path, run_id: str) -> None:
        _CONTEXT["run_id"] = run_id
        handlers.append(_log_to_file(partial / "run.log"))

    def progress(stage: str) -> None:
        _CONTEXT["stage"] = stage
        logger.info("stage: %s", stage)

    t0 = time.perf_counter()
    try:
        # --workers N alone is a LocalCluster of N workers (flags over the config's [compute] scheduler)
        sched = scheduler or ("local-cluster" if workers is not None else cfg.compute.scheduler)
        with cluster(sched, workers if workers is not None else cfg.compute.workers) as (client, local):
            result = run_forecast(cfg, reference_time, output_root=output_root, force=force, client=client,
                                  scheduler=local if client is None else "threads", progress=progress,
                                  on_start=on_start, on_run_id=on_run_id)
    finally:
        for h in handlers:
            logging.getLogger("hydro").removeHandler(h)
            h.close()
    status = "already done" if result.already_done else "complete"
    alert = " ALERT level %d" % result.manifest.get("alert_level", 0) if result.manifest.get("alert") else ""
    click.echo(f"forecast {result.run_id}: {status} in {time.perf_counter() - t0:.1f} s{alert} -> {result.run_dir}")
    if not result.already_done:
        ws = result.manifest.get("warm_start", {})
        click.echo(f"  warm start: level {ws.get('level')} ({ws.get('source')})")
    _exit_if_balance_open(result.manifest, result.run_dir)


def _register_subsystem_commands() -> None:
    """Commands defined next to their subsystem (exchange between regions)."""
    from hydro.cli_exchange import export_boundary_cmd, validate_cmd

    cli.add_command(export_boundary_cmd, "export-boundary")
    cli.add_command(validate_cmd, "validate")


_register_subsystem_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="hydro", standalone_mode=True)
    except HydroError as exc:  # pragma: no cover - commands are guarded
        _fail(exc)


if __name__ == "__main__":  # pragma: no cover
    main()
