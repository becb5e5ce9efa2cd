"""The variable vocabulary: CF attributes for every variable hydro writes.

One table (``hydro/data/vocabulary.toml``) is the single source of truth for standard names,
long names, units, cell methods and on-disk encodings; writers and tests read it from here.
"""
from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any

__all__ = ["VOCABULARY", "entry", "cf_attrs"]

#: on-disk keys that are not netCDF attributes
_ENCODING_KEYS = ("dtype", "fill")


@functools.cache
def _load() -> dict[str, dict[str, Any]]:
    text = resources.files("hydro").joinpath("data/vocabulary.toml").read_text("utf-8")
    return tomllib.loads(text)


VOCABULARY: dict[str, dict[str, Any]] = _load()


def entry(name: str) -> dict[str, Any]:
    """Return the vocabulary entry of variable ``name`` (KeyError if unknown)."""
    return dict(VOCABULARY[name])


def cf_attrs(name: str) -> dict[str, Any]:
    """CF/ACDD attributes for variable ``name`` (no encoding keys), with ``hydro_name``."""
    attrs = {k: v for k, v in VOCABULARY[name].items() if k not in _ENCODING_KEYS}
    attrs["hydro_name"] = name
    return attrs
