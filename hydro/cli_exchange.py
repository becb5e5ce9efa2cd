"""``hydro export-boundary`` and ``hydro validate``: the exchange of border flows between regions.

Registered on the main group by :mod:`hydro.cli` (``cli.add_command(export_boundary_cmd)``,
``cli.add_command(validate_cmd)``). Errors map to exit codes exactly as in :mod:`hydro.cli`
(its ``_guard``, imported when a command runs, so there is no import cycle).
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["EXIT_PROBLEMS", "export_boundary_cmd", "validate_cmd"]

#: exit code of ``hydro validate`` when the file has problems (EX_DATAERR, as InputDataError)
EXIT_PROBLEMS = 65


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """``hydro.cli._guard`` applied at call time: HydroError -> one line on stderr + exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hydro.cli import _guard

        return _guard(func)(*args, **kwargs)

    return wrapper


def _id_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids:
        raise click.BadParameter("give at least one id, e.g. a,b")
    return ids


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    # FloatRange lets nan (every comparison is False) and inf through: int(nan * 2**20) was a ValueError traceback
    if value != value or value in (float("inf"), float("-inf")):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.command("export-boundary")
@click.argument("run_dir", type=click.Path(readable=False, path_type=Path))  # a file or no folder: no manifest.json, exit 66 (not a usage error 2)
@click.option("-o", "--output", required=True, type=click.Path(readable=False),  # a str: keeps a trailing "/" (a directory)
              help="Exchange file to write (a directory, existing or ending in '/', gets "
                   "<region>_<frt>_border_discharge.nc).")
@click.option("--points", default=None, help="Comma-separated gauge ids (default: gauges with border = true).")
@_guarded
def export_boundary_cmd(run_dir: Path, output: str, points: str | None) -> None:
    """Write a finished run's discharge at the border points (hydro-exchange-1.0 NetCDF)."""
    from hydro.exchange import export_boundary

    path = export_boundary(run_dir, output, points=_id_list(points))
    click.echo(str(path))


@click.command("validate")
@click.argument("file", type=click.Path(readable=False, path_type=Path))  # a directory: "not a regular file" [file], exit 65 (not 2)
@click.option("--expected-ids", default=None, help="Comma-separated border point ids that must be present.")
@click.option("--max-mb", type=click.FloatRange(min=0, min_open=True), default=50.0, show_default=True,
              callback=_finite, help="Refuse larger files without opening them [MiB].")
@click.option("--region", default=None, help="Expected issuing region.")
@click.option("--no-cf", is_flag=True, help="Skip the CF-1.11 compliance-checker run (profile checks only).")
@click.option("--strict", is_flag=True, help="Warnings are problems too (exit 65).")
@_guarded
def validate_cmd(file: Path, expected_ids: str | None, max_mb: float, region: str | None, no_cf: bool, strict: bool) -> None:
    """Check an incoming exchange FILE against the hydro-exchange-1.0 profile and CF-1.11.

    Prints one line per problem; exits 0 when the file is usable, 65 when it has errors
    (or warnings, with --strict), 66 when it does not exist.
    """
    from hydro.exchange import PROFILE, validate_exchange

    problems = validate_exchange(file, expected_ids=_id_list(expected_ids), max_bytes=int(max_mb * 2**20),
                                 region=region, check_cf=not no_cf)
    for p in problems:
        click.echo(f"{file}: {p}")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors or (strict and warnings):
        click.echo(f"{file}: {errors} error(s), {warnings} warning(s): not a valid {PROFILE} file", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"{file}: valid {PROFILE} file" + (f" ({warnings} warning(s))" if warnings else ""))
