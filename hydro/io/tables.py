"""CSV tables in: a file that is empty, binary or not CSV, or a column that is not numbers, is an
:class:`~hydro.errors.InputDataError` naming the file (and the row), never a pandas traceback."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from hydro.errors import InputDataError

__all__ = ["read_csv", "numeric_column"]


def read_csv(path: str | os.PathLike[str], where: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`pandas.read_csv` with unreadable files as :class:`InputDataError` (``where`` names them).

    Rows with more fields than the header (decimal commas, a trailing comma) are an error too, unless
    ``index_col`` is given (pandas would otherwise move the first column into the index silently)."""
    where = where or str(path)
    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputDataError(f"{where}: empty CSV file (no header, no rows)") from None
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{where}: not a UTF-8 text CSV file (byte {exc.start}: {exc.reason}); save it as "
                             "CSV UTF-8") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputDataError(f"{where}: not a readable CSV file ({str(exc).strip().splitlines()[0]})") from None
    if "index_col" not in kwargs and isinstance(df, pd.DataFrame) and not isinstance(df.index, pd.RangeIndex):
        # pandas silently turns the first column(s) into the index when every row has more fields than the
        # header: decimal commas ("1,5" read as a date column 1 and a value 5) or a comma at the end of each row
        raise InputDataError(f"{where}: the rows have more fields than the header ({list(df.columns)}): decimal "
                             "commas (write 1.5, not 1,5) or a comma at the end of each row?")
    if isinstance(path, (str, os.PathLike)) and "names" not in kwargs and "header" not in kwargs:
        # pandas renames a repeated column ("Q", "Q" -> "Q", "Q.1"): the first was used and the other ignored silently
        opts = {k: v for k, v in kwargs.items() if k in ("sep", "delimiter", "encoding", "skiprows", "comment", "quotechar")}
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, **opts)
        names = [str(c) for c in header.iloc[0].tolist()] if len(header) else []
        dup = sorted({c for c in names if c and names.count(c) > 1})
        if dup:
            raise InputDataError(f"{where}: repeated column names {dup} in the header: which one to use is "
                                 "ambiguous; rename or remove the extra column(s)")
    return df


def numeric_column(df: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """Column ``column`` as float64; empty cells are NaN, any other non-number is an error naming its line."""
    col = df[column]
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna() & col.notna()
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputDataError(f"{where}: column {column!r} line {k + 2}: {col.iloc[k]!r} is not a number "
                             f"({int(bad.sum())} such value(s))")
    return values.to_numpy(dtype=np.float64)
