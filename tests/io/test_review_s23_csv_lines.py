"""CSV errors name the file line of the bad value even when blank or comment lines precede it (pandas skips
those lines, so the row number + 2 pointed at the wrong line)."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import InputDataError
from hydro.io.tables import numeric_column, read_csv


def _line_of_error(path, **kw):
    df = read_csv(path, **kw)
    with pytest.raises(InputDataError) as info:
        numeric_column(df, "q", str(path))
    return str(info.value)


def test_blank_lines_counted(tmp_path):
    p = tmp_path / "q.csv"
    # line 1 header, 2 blank, 3 data, 4 blank, 5 only spaces, 6 data with the bad value
    p.write_text("date,q\n\n2024-01-01,1.5\n\n   \n2024-01-02,abc\n")
    msg = _line_of_error(p)
    assert "line 6: 'abc'" in msg
    assert p.read_text().splitlines()[5].endswith("abc")


def test_comment_lines_counted(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("# gauge 3, m3/s\ndate,q\n2024-01-01,1.5\n# re-rated\n2024-01-02,2.0\n2024-01-03,x\n")
    assert "line 6: 'x'" in _line_of_error(p, comment="#")


def test_plain_file_unchanged(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("date,q\n2024-01-01,1.5\n2024-01-02,bad\n")
    df = read_csv(p)
    assert df.attrs == {}  # no breakpoints kept when rows are lines 2, 3, ...
    assert "line 3: 'bad'" in _line_of_error(p)


def test_values_not_affected(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("date,q\n\n2024-01-01,1.5\n\n2024-01-02,\n2024-01-03,3\n")
    np.testing.assert_array_equal(numeric_column(read_csv(p), "q", str(p)), [1.5, np.nan, 3.0])


def test_after_a_later_blank_line_only(tmp_path):
    p = tmp_path / "q.csv"
    # the bad value comes before the blank lines: its line is not shifted
    p.write_text("date,q\n2024-01-01,zz\n\n\n2024-01-02,1\n")
    assert "line 2: 'zz'" in _line_of_error(p)
