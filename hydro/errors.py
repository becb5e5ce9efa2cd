"""One exception hierarchy for the whole package.

Library code raises these; only :mod:`hydro.cli` maps them to process exit codes
(BSD ``sysexits`` values, see ``EXIT_CODES``).

=========================  ====  ==========================================
exception                  exit  meaning
=========================  ====  ==========================================
``HydroError``             1     any other package error
``InputDataError``         65    bad input data (units, CRS, corrupt file)
``StateError``             65    a state file that does not fit the model
``InputMissingError``      66    a required input file does not exist
``OutputError``            73    an output cannot be created or written
``InputNotReadyError``     75    forcing not yet published: retry later
``ConfigError``            78    invalid configuration
``ResourceError``          65    the job would not fit in memory
=========================  ====  ==========================================

Not an exception: ``hydro run`` and ``hydro forecast`` exit with :data:`EXIT_BALANCE_NOT_CLOSED` (3) when the run
completed and was published but its water balance does not close (a red alert; ``water_balance.json`` names the
process or hand-over). The outputs stay: they are the evidence of the fault.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "HydroError",
    "InputDataError",
    "InputMissingError",
    "InputNotReadyError",
    "StateError",
    "OutputError",
    "ConfigError",
    "ResourceError",
    "EXIT_CODES",
    "EXIT_BALANCE_NOT_CLOSED",
    "exit_code_for",
]


class HydroError(Exception):
    """Root of every error raised on purpose by :mod:`hydro`."""


class InputDataError(HydroError, ValueError):
    """Input data are present but unusable (corrupt, wrong units, NaNs, CRS mismatch...)."""


class InputMissingError(InputDataError, FileNotFoundError):
    """A required input (file, variable, station) does not exist."""

    def __reduce__(self) -> tuple[Any, ...]:
        # the inherited OSError.__reduce__ with ValueError.__init__ made tblib (installed by dask's processes
        # scheduler and by distributed) rebuild it with ValueError.__new__, a TypeError: a member, scenario or
        # trial missing an input on a worker came back as TypeError or a bare Exception (exit 1, not 66)
        return type(self), self.args, (self.__dict__ or None)


class InputNotReadyError(HydroError):
    """An input is not yet published (e.g. tonight's forcing): retry later."""


class StateError(InputDataError):
    """A saved model state does not match the grid, network or parameters of the run."""


class OutputError(HydroError, OSError):
    """An output cannot be created or written."""


class ConfigError(HydroError, ValueError):
    """A configuration file or option is invalid."""


class ResourceError(InputDataError, MemoryError):
    """The requested job does not fit the machine (memory), with the size stated."""


#: exit code of the ``hydro`` CLI for each exception class (most specific first)
EXIT_CODES: dict[type[BaseException], int] = {
    InputNotReadyError: 75,
    ConfigError: 78,
    InputMissingError: 66,
    ResourceError: 65,
    StateError: 65,
    InputDataError: 65,
    OutputError: 73,
    HydroError: 1,
}


#: exit code of a run or forecast that completed and was published, but whose water balance does not close
#: (not 1: the outputs are complete and an "already done" rerun reports the same code; not 0: a scheduler must
#: see that water was lost or created)
EXIT_BALANCE_NOT_CLOSED = 3


def exit_code_for(exc: BaseException) -> int:
    """Return the CLI exit code for an exception (1 for anything unexpected)."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
