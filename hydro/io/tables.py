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
        if not any(k in kwargs for k in ("skiprows", "skipfooter", "nrows", "chunksize", "iterator")) \
                and isinstance(df, pd.DataFrame):
            lines = _row_lines(path, kwargs.get("encoding"), len(df), kwargs.get("comment"))
            if lines is not None:
                df.attrs[ROW_LINES] = lines
    return df


#: ``DataFrame.attrs`` key of the file line of each data row, kept only when blank lines shift them
#: (pandas skips blank lines): breakpoints ``[(first row, line of that row − row), ...]``
ROW_LINES = "hydro_csv_row_lines"


def _row_lines(path: str | os.PathLike[str], encoding: str | None, nrows: int,
               comment: str | None = None) -> list[tuple[int, int]] | None:
    """Breakpoints of the file line of each data row, or None when rows are lines 2, 3, ... (or unknown).

    Blank lines, and lines that are only a comment when ``comment`` is given, are no rows (as in pandas)."""
    try:
        with open(path, encoding=encoding or "utf-8", newline="") as fh:
            nonblank = [i + 1 for i, line in enumerate(fh)
                        if (line.split(comment, 1)[0] if comment else line).strip()]
    except (OSError, UnicodeDecodeError, LookupError):
        return None
    data = nonblank[1:]  # the first non-blank line is the header
    if len(data) != nrows:  # quoted line breaks: rows are not lines, keep the plain count
        return None
    breaks: list[tuple[int, int]] = []
    for row, line in enumerate(data):
        if not breaks or line - row != breaks[-1][1]:
            breaks.append((row, line - row))
    return None if breaks in ([], [(0, 2)]) else breaks


def _line_of_row(df: pd.DataFrame, column: str, k: int) -> int:
    """File line of the ``k``-th value of ``df[column]`` (header = line 1, blank lines counted)."""
    breaks = df.attrs.get(ROW_LINES)
    label = df[column].index[k]
    if breaks and isinstance(df.index, pd.RangeIndex) and df.index.step == 1 and isinstance(label, (int, np.integer)):
        offset = 2
        for first, off in breaks:
            if label >= first:
                offset = off
        return int(label) + offset
    return k + 2


def numeric_column(df: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """Column ``column`` as float64; empty cells are NaN, any other non-number is an error naming its line."""
    col = df[column]
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna() & col.notna()
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputDataError(f"{where}: column {column!r} line {_line_of_row(df, column, k)}: {col.iloc[k]!r} is not a number "
                             f"({int(bad.sum())} such value(s))")
    return values.to_numpy(dtype=np.float64)
