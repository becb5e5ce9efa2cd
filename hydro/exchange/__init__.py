"""Exchange of border discharge between regions: the ``hydro-exchange-1.0`` NetCDF profile.

* :func:`exchange_dataset` / :func:`write_exchange` — build and write our border flows;
* :func:`export_boundary` — the exchange file of a finished run folder;
* :func:`validate_exchange` / :func:`read_exchange` — check and read a neighbour's (untrusted) file.

The profile is documented in ``docs/exchange.md``; :mod:`hydro.exchange.profile` is its single
source of truth.
"""
from hydro.exchange.export import export_boundary
from hydro.exchange.profile import (
    DEFAULT_MAX_BYTES,
    PROFILE,
    exchange_dataset,
    exchange_filename,
    write_exchange,
)
from hydro.exchange.validate import Problem, read_exchange, validate_exchange

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PROFILE",
    "Problem",
    "exchange_dataset",
    "exchange_filename",
    "export_boundary",
    "read_exchange",
    "validate_exchange",
    "write_exchange",
]
