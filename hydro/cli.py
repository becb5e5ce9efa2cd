"""The ``hydro`` command line: a thin layer that parses options, sets up logging and progress,
calls the Python API and maps :mod:`hydro.errors` exceptions to exit codes.

Exit codes (BSD sysexits):

====  ==========================================================
0     success (also "already done")
1     unexpected error (a bug: please report it)
2     command-line usage error
65    bad input data (corrupt file, wrong units, CRS mismatch, incompatible state)
66    a required input file is missing
73    an output cannot be created or written
75    forcing not yet available: retry later
78    invalid configuration
====  ==========================================================
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click

from hydro import __version__
from hydro.errors import HydroError, exit_code_for

__all__ = ["main", "cli"]

logger = logging.getLogger("hydro")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def _setup_logging(level: str, json_logs: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("hydro")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)


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


def _fail(exc: BaseException) -> None:
    code = exit_code_for(exc)
    first = str(exc).strip().splitlines()
    click.echo(f"hydro: error: {first[0] if first else type(exc).__name__}", err=True)
    for line in first[1:]:
        click.echo(f"  {line}", err=True)
    sys.exit(code)


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hydro")
@click.option("--log-level", default="WARNING", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--json-logs", is_flag=True, help="Log JSON lines to stderr.")
def cli(log_level: str, json_logs: bool) -> None:
    """hydro: terrain, rainfall-runoff, flood maps and water allocation.

    Exit codes: 0 ok, 1 bug, 2 usage, 65 bad input data, 66 missing input, 73 cannot write
    output, 75 input not ready (retry later), 78 bad configuration.
    """
    _setup_logging(log_level, json_logs)


@cli.command()
@click.argument("dem", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="NetCDF file to write.")
@click.option("--stream-threshold-km2", type=float, default=1.0, show_default=True, help="Upstream area of stream cells [km2].")
@click.option("--crs", default=None, help="CRS for a DEM that has none, e.g. EPSG:32750.")
@click.option("--epsilon", is_flag=True, help="Fill with a tiny gradient instead of exact flats.")
@_guard
def terrain(dem: Path, output: Path, stream_threshold_km2: float, crs: str | None, epsilon: bool) -> None:
    """Terrain analysis of DEM (GeoTIFF) → CF NetCDF (filled DEM, D8, accumulation, streams, HAND)."""
    from hydro.errors import InputDataError
    from hydro.io import open_dem, write_netcdf
    from hydro.terrain import analyse

    if stream_threshold_km2 <= 0:
        raise InputDataError(f"--stream-threshold-km2 must be positive, got {stream_threshold_km2}")
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
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@_guard
def validate_config(config: Path) -> None:
    """Validate a model configuration without running it (exit 78 on error)."""
    from hydro.config import load_config

    load_config(config)
    click.echo(f"{config}: ok")


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output-root", type=click.Path(file_okay=False, path_type=Path), default=None, help="Override outputs.directory.")
@click.option("--force", is_flag=True, help="Redo a run that is already complete.")
@_guard
def run(config: Path, output_root: Path | None, force: bool) -> None:
    """Run the main job of a model configuration (e.g. models/balikpapan.toml)."""
    from hydro.config import load_config
    from hydro.forecast import run_model

    cfg = load_config(config)
    bar = _Progress(None, f"run {cfg.region}")
    t0 = time.perf_counter()
    try:
        result = run_model(cfg, output_root=output_root, force=force, progress=bar)
    finally:
        bar.close()
    click.echo(f"run {result.run_id}: {result.manifest['status']} in {time.perf_counter() - t0:.1f} s -> {result.run_dir}")
    for name, path in result.outputs.items():
        click.echo(f"  {name}: {path}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="hydro", standalone_mode=True)
    except HydroError as exc:  # pragma: no cover - commands are guarded
        _fail(exc)


if __name__ == "__main__":  # pragma: no cover
    main()
