"""Model configuration: TOML files validated by pydantic v2 models.

Every model is strict (``extra="forbid"``): an unknown key or a bad value is a
:class:`hydro.errors.ConfigError` naming the file, the key (with its line when it can be found)
and the allowed values. The resolved configuration has a stable hash that goes into run ids
and output provenance.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hydro.errors import ConfigError, InputMissingError

__all__ = [
    "ModelConfig",
    "DemConfig",
    "TerrainConfig",
    "OutputConfig",
    "FloodConfig",
    "AllocationConfig",
    "load_config",
    "config_hash",
    "format_validation_error",
    "StrictModel",
]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DemConfig(StrictModel):
    """Where the DEM comes from."""

    source: Literal["embedded", "file"] = "embedded"
    path: str | None = Field(None, description="GeoTIFF path (source = 'file'), relative to the config file")
    crs: str | None = Field(None, description="CRS to assign when the file has none, e.g. 'EPSG:32750'")
    resolution_m: float = Field(30.0, gt=0, description="cell size of the embedded DEM [m]")
    seed: int = Field(20260125, description="seed of the embedded DEM")

    @model_validator(mode="after")
    def _path_needed(self) -> "DemConfig":
        if self.source == "file" and not self.path:
            raise ValueError("dem.path is required when dem.source = 'file'")
        return self


class TerrainConfig(StrictModel):
    """Terrain analysis options."""

    stream_threshold_km2: float = Field(1.0, gt=0, description="upstream area from which a cell is a stream [km2]")
    epsilon_fill: bool = False


class FloodConfig(StrictModel):
    """Flood stage of `hydro run`: HAND map of the whole catchment + 2-D run on the coastal plain."""

    enabled: bool = True
    start: str = Field("2025-08-25T00:00", description="storm start (UTC, ISO 8601)")
    duration_h: float = Field(12.0, gt=0, description="length of the 2-D run [h]")
    storm_total_mm: float = Field(140.0, gt=0, description="design storm depth [mm]")
    storm_duration_h: float = Field(6.0, gt=0, description="design storm duration [h]")
    output_interval_min: float = Field(30.0, gt=0, description="snapshot interval of the 2-D run [min]")


class AllocationConfig(StrictModel):
    """Allocation stage of `hydro run`: a water network (TOML) solved per time step."""

    enabled: bool = True
    network: str = Field("balikpapan_water.toml", description="network TOML, relative to the model config")


class OutputConfig(StrictModel):
    """Where and how outputs are written."""

    directory: str = Field("outputs", description="output root, relative to the project (current) directory")
    compression_level: int = Field(4, ge=0, le=9)


class ModelConfig(StrictModel):
    """A hydro model configuration (``models/<region>.toml``)."""

    config_version: Literal[1] = 1
    region: str = Field(..., pattern=r"^[a-z0-9_\-]+$", description="region id used in run ids")
    title: str = "hydro model run"
    dem: DemConfig = DemConfig()
    terrain: TerrainConfig = TerrainConfig()
    flood: FloodConfig = FloodConfig(enabled=False)
    allocation: AllocationConfig = AllocationConfig(enabled=False)
    outputs: OutputConfig = OutputConfig()

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("title must not be empty")
        return v


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the key at ``loc`` in a TOML text."""
    if not loc:
        return None
    key = str(loc[-1])
    section = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
    lines = text.splitlines()
    in_section = section == ""
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        m = re.match(r"^\[+\s*([^\]]+?)\s*\]+", s)
        if m:
            in_section = m.group(1) == section or (section == "" and False)
            if section and m.group(1) == f"{section}.{key}":
                return n
            continue
        if in_section and re.match(rf"^{re.escape(key)}\s*=", s):
            return n
    return None


def format_validation_error(exc: ValidationError, source: str, text: str = "") -> str:
    """One line per problem: ``file:line: key: message (allowed: ...)``."""
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(text, loc) if text else None
        where = f"{source}:{line}" if line else source
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key"
            parent = _model_at(loc[:-1])
            if parent is not None:
                msg += f" (allowed: {', '.join(sorted(parent.model_fields))})"
        elif err.get("type") == "literal_error":
            allowed = err.get("ctx", {}).get("expected")
            msg = f"bad value {err.get('input')!r} (allowed: {allowed})"
        out.append(f"{where}: {key}: {msg}")
    return "\n".join(out)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = ModelConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def load_config(path: str | os.PathLike[str], model: type[StrictModel] = ModelConfig) -> Any:
    """Read and validate a TOML configuration.

    Parameters
    ----------
    path : path-like
        TOML file.
    model : pydantic model class
        Top-level model (default :class:`ModelConfig`).

    Returns
    -------
    The validated (frozen) configuration; ``._source_path`` holds the resolved file path.

    Raises
    ------
    InputMissingError
        The file does not exist.
    ConfigError
        Not TOML, or a key/value does not validate (message names file, line, key, allowed values).
    """
    path = Path(path)
    if not path.is_file():
        raise InputMissingError(f"configuration file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        cfg = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path), text)) from exc
    object.__setattr__(cfg, "_source_path", path.resolve())
    return cfg


def config_hash(cfg: BaseModel, extra: dict[str, Any] | None = None) -> str:
    """sha256 of the resolved configuration (plus package version and ``extra``), hex."""
    from hydro import __version__

    payload = {"config": cfg.model_dump(mode="json"), "hydro": __version__, "extra": extra or {}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
