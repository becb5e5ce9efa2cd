"""Where a key sits in a TOML text, for error messages (``file:line: key: message``).

Python's :mod:`tomllib` keeps no positions, so this is a best-effort scan of the text: ``[section]`` and
``[[array]]`` headers are followed and ``key =`` lines matched. Core module: no imports from the rest of hydro.
"""
from __future__ import annotations

import re
from typing import Any


def toml_line(text: str | None, loc: tuple[Any, ...] | list[Any]) -> int | None:
    """Best-effort line number of the key at ``loc`` in a TOML text (``[[array]]`` tables counted, so
    ``gauges.1.y`` is the ``y`` of the second ``[[gauges]]``; keys of inline tables ``a = {b = 1}`` found on the
    line of ``a``; ``nodes.3`` alone is the line of the fourth ``[[nodes]]`` header). None when the key cannot be
    located (a dict, not a file; keys written as dotted keys or inline arrays of tables)."""
    if not text or not loc:
        return None
    loc = tuple(loc)
    if isinstance(loc[-1], int) and len(loc) >= 2:
        name = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
        seen = -1
        for n, line in enumerate(text.splitlines(), start=1):
            m = re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", line.strip())
            if m and m.group(1) == name:
                seen += 1
                if seen == loc[-1]:
                    return n
        return None
    key = str(loc[-1])
    parts = [str(p) for p in loc[:-1] if not isinstance(p, int)]
    section = ".".join(parts)
    index = next((p for p in reversed(loc[:-1]) if isinstance(p, int)), None)
    lines = text.splitlines()
    in_section = section == ""
    seen = -1  # occurrences of the [[section]] header so far
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        m = re.match(r"^(\[+)\s*([^\]]+?)\s*\]+", s)
        if m:
            name = m.group(2)
            if name == section and len(m.group(1)) == 2:
                seen += 1
                in_section = index is None or seen == index
            else:
                in_section = name == section and len(m.group(1)) == 1
            if section and name == f"{section}.{key}":
                return n
            continue
        if in_section and re.match(rf"^{re.escape(key)}\s*=", s):
            return n
        if in_section is False and parts and re.match(rf"^{re.escape(parts[-1])}\s*=\s*\{{", s):
            # inline table: a = {{ ... key = ... }} on this line
            if re.search(rf"[{{,]\s*{re.escape(key)}\s*=", s):
                return n
    if len(parts) >= 2:  # inline table inside its parent section
        return toml_line(text, tuple(loc[:-2]) + (parts[-1],))
    return None
