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
import string
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hydro.tomlpos import toml_line
from hydro.errors import ConfigError, InputMissingError
from hydro.times import naive_utc

__all__ = [
    "ModelConfig",
    "DemConfig",
    "TerrainConfig",
    "OutputConfig",
    "FloodConfig",
    "AllocationConfig",
    "ForcingConfig",
    "RunoffConfig",
    "RoutingConfig",
    "GaugeConfig",
    "ForecastConfig",
    "EnsembleConfig",
    "ExchangeConfig",
    "ExchangeInflowConfig",
    "ComputeConfig",
    "PathsConfig",
    "resolve_input",
    "project_root",
    "output_root",
    "config_source",
    "check_config",
    "check_path_template",
    "load_config",
    "config_hash",
    "format_validation_error",
    "StrictModel",
]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    # inf/nan are no configuration values (lead_time_h = inf crashed with an OverflowError, msl_m = nan passed)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


#: strftime directives a ``{reference_time:...}`` placeholder may use (C89 + ISO 8601 week fields)
_STRFTIME = set("aAwdbBmyYHIpMSfzZjUWcxXGuV%")


def check_path_template(value: str) -> str:
    """Check the ``{reference_time:<strftime>}`` placeholders of a path (``ValueError`` if malformed).

    Only ``reference_time`` may appear, always with a strftime format made of known directives; a typo
    (``{referenc_time}``, ``{reference_time:%Q}``, a lone brace) would otherwise name a file that never
    appears, and the nightly job would retry ("not published yet", exit 75) forever.
    """
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"{value!r}: bad placeholder ({exc}); use {{reference_time:<strftime>}}, e.g. "
                         "{reference_time:%Y%m%dT%H%MZ}; write a literal brace as {{ or }}") from None
    for _, field_name, spec, conv in parts:
        if field_name is None:
            continue
        if field_name != "reference_time" or conv is not None:
            shown = "{" + field_name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"{value!r}: unknown placeholder {shown}; the only placeholder is "
                             "{reference_time:<strftime>}, e.g. {reference_time:%Y%m%dT%H%MZ}")
        if not spec:
            raise ValueError(f"{value!r}: {{reference_time}} needs a strftime format, e.g. {{reference_time:%Y%m%dT%H%MZ}}")
        directives = re.findall(r"%[-_0^#]?(.?)", spec)
        bad = [d for d in directives if d not in _STRFTIME]
        if bad:
            raise ValueError(f"{value!r}: unknown strftime directive(s) {', '.join('%' + d for d in bad)} in "
                             f"{{reference_time:{spec}}} (allowed: {' '.join('%' + c for c in sorted(_STRFTIME))})")
        if not any(d != "%" for d in directives):
            raise ValueError(f"{value!r}: {{reference_time:{spec}}} has no strftime directive: every night would read "
                             "the same file")
    try:
        value.format(reference_time=datetime(2025, 8, 25))
    except (ValueError, KeyError, IndexError) as exc:  # pragma: no cover - caught above
        raise ValueError(f"{value!r}: bad placeholder ({exc})") from None
    return value


class DemConfig(StrictModel):
    """Where the DEM comes from."""

    source: Literal["embedded", "file"] = "embedded"
    path: str | None = Field(None, description="GeoTIFF path (source = 'file'), relative to the config file")
    crs: str | None = Field(None, description="CRS to assign when the file has none, e.g. 'EPSG:32750'")
    resolution_m: float = Field(30.0, gt=0, description="cell size of the embedded DEM [m]")
    seed: int = Field(20260125, ge=0, description="seed of the embedded DEM")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v: str | None) -> str | None:
        """A CRS pyproj knows (a typo such as 'EPSG:327500' was a traceback at run time, after validate-config)."""
        if v is None:
            return v
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            CRS.from_user_input(v)
        except CRSError as exc:
            raise ValueError(f"crs {v!r} is not a known CRS (e.g. 'EPSG:32750'): {exc}") from None
        return v

    @model_validator(mode="after")
    def _path_needed(self) -> "DemConfig":
        if self.source == "file" and not self.path:
            raise ValueError("dem.path is required when dem.source = 'file'")
        if self.source == "embedded" and self.path:  # the file would be ignored: the user meant source = 'file'
            raise ValueError(f"dem.path = {self.path!r} is given but dem.source = 'embedded' (set source = 'file' "
                             "to use the file, or remove path)")
        return self


class TerrainConfig(StrictModel):
    """Terrain analysis options."""

    stream_threshold_km2: float = Field(1.0, gt=0, description="upstream area from which a cell is a stream [km2]")
    epsilon_fill: bool = False


def _iso_utc(v: str, key: str) -> str:
    """ISO 8601, naive (= UTC), ``Z`` or a numeric offset (converted to UTC); anything else is an error
    (a zone name such as ``WITA`` was dropped silently and the time taken as UTC: an 8 h shift)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?", v.strip()):
        raise ValueError(f"{key} {v!r}: give an ISO 8601 time in UTC such as '2025-08-25T00:00' (or with 'Z' or an "
                         "offset such as '+08:00' for WITA, converted to UTC)")
    try:
        ts = naive_utc(v.strip())
    except ValueError as exc:  # e.g. month 13
        raise ValueError(f"{key} {v!r}: not a date: {exc}") from None
    try:
        ts.as_unit("ns")  # the run's time axis is datetime64[ns]: 2300 passed here and the run died (exit 1)
    except (ValueError, OverflowError):
        raise ValueError(f"{key} {v!r} is outside the time range the package supports "
                         f"({pd.Timestamp.min:%Y-%m-%d} … {pd.Timestamp.max:%Y-%m-%d} UTC)") from None
    return ts.strftime("%Y-%m-%dT%H:%M:%S")


class FloodConfig(StrictModel):
    """Flood stage of `hydro run`: HAND map of the whole catchment + 2-D run on the coastal plain."""

    enabled: bool = True
    start: str = Field("2025-08-25T00:00", description="storm start (UTC, ISO 8601)")
    duration_h: float = Field(12.0, gt=0, description="length of the 2-D run [h]")
    storm_total_mm: float = Field(140.0, gt=0, description="design storm depth [mm]")
    storm_duration_h: float = Field(6.0, gt=0, description="design storm duration [h]")
    output_interval_min: float = Field(30.0, gt=0, description="snapshot interval of the 2-D run [min]")
    hand: bool = Field(True, description="HAND map of the whole catchment")
    two_d: bool = Field(True, description="2-D local-inertial run of the domain")
    domain: list[float] | None = Field(None, min_length=4, max_length=4,
                                       description="2-D domain [x_min, y_min, x_max, y_max] in the DEM CRS [m] "
                                                   "(default: the embedded DEM's coastal plain)")
    resolution_m: float | None = Field(None, gt=0, description="resample the 2-D domain to this cell size [m]")
    tide_edge: Literal["north", "south", "east", "west"] | None = Field("south", description="edge held at the tide")
    tide_high_water: str | None = Field(None, description="time of spring high water (default: the storm peak)")
    tide_m2_amplitude_m: float = Field(1.2, ge=0)
    tide_s2_amplitude_m: float = Field(0.2, ge=0)
    msl_m: float = Field(0.0, description="mean sea level on the DEM datum [m]")
    surge_m: float = Field(0.0, description="storm surge added to the tide [m]")
    inflow_min_area_km2: float = Field(5.0, gt=0, description="rivers entering the domain: upstream area from [km2]")
    manning_n_sea: float = Field(0.02, gt=0)
    manning_n_urban: float = Field(0.035, gt=0, description="land below urban_below_m")
    manning_n_vegetated: float = Field(0.08, gt=0, description="land above urban_below_m")
    urban_below_m: float = Field(8.0, description="land lower than this is the urban plain [m]")
    population: str | None = Field(None, description="people-per-cell raster (any CRS) or 'embedded'")
    roads: str | None = Field(None, description="road centrelines GeoJSON or 'embedded'")

    @field_validator("start")
    @classmethod
    def _flood_start_utc(cls, v: str) -> str:
        return _iso_utc(v, "start")

    @field_validator("tide_high_water")
    @classmethod
    def _high_water_utc(cls, v: str | None) -> str | None:
        return None if v is None else _iso_utc(v, "tide_high_water")

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not (v[0] < v[2] and v[1] < v[3]):
            raise ValueError("domain must be [x_min, y_min, x_max, y_max] with x_min < x_max and y_min < y_max")
        return v


class AllocationConfig(StrictModel):
    """Allocation stage of `hydro run`: a water network (TOML) solved per time step."""

    enabled: bool = True
    network: str = Field("balikpapan_water.toml", description="network TOML, relative to the model config")
    simulated_inflows: dict[str, str] = Field(default_factory=dict,
                                              description="network node id -> gauge id whose routed discharge feeds it")


class ForcingConfig(StrictModel):
    """Rainfall and evaporation driving runoff and routing.

    ``source = "design_storm"`` spreads an alternating-block storm uniformly over the catchment
    (``storm_total_mm`` in ``storm_duration_h``, from ``start``); ``source = "netcdf"`` reads a gridded
    field (any CRS/resolution, units from its attributes) regridded conservatively to the DEM. The
    path may hold ``{reference_time:%Y%m%dT%H%MZ}`` (any strftime format): the nightly forecast then
    reads the file issued for its reference time, and a file not yet there means "retry later" (75).
    """

    source: Literal["design_storm", "netcdf"] = "design_storm"
    path: str | None = Field(None, description="NetCDF forcing (source = 'netcdf'), relative to the config file")
    variable: str = Field("precipitation", description="rainfall variable in the NetCDF file")
    realization_dim: str = Field("realization", description="ensemble member dimension of the file, if any")
    storm_total_mm: float = Field(140.0, gt=0, description="design storm depth [mm]")
    storm_duration_h: float = Field(6.0, gt=0, description="design storm duration [h]")
    storm_peak_position: float = Field(0.4, ge=0, le=1, description="peak block position (0 front .. 1 back)")
    start: str = Field("2025-08-25T00:00", description="design storm start / hydro run start (UTC, ISO 8601)")
    pet_mm_day: float = Field(4.0, ge=0, description="potential evaporation, uniform [mm d-1]")
    duration_h: float = Field(24.0, gt=0, description="length of hydro run's event simulation [h]")

    @field_validator("start")
    @classmethod
    def _start_utc(cls, v: str) -> str:
        return _iso_utc(v, "start")

    @field_validator("path")
    @classmethod
    def _path_template(cls, v: str | None) -> str | None:
        return None if v is None else check_path_template(v)

    @model_validator(mode="after")
    def _path_needed(self) -> "ForcingConfig":
        if self.source == "netcdf" and not self.path:
            raise ValueError("forcing.path is required when forcing.source = 'netcdf'")
        if self.source == "design_storm" and self.path:
            raise ValueError(f"forcing.path = {self.path!r} is given but forcing.source = 'design_storm' (set source = "
                             "'netcdf' to read the file, or remove path)")
        return self


def _duration_with_unit(v: str, key: str, examples: str) -> pd.Timedelta:
    """A positive pandas duration written with its unit (``ValueError`` otherwise).

    A bare number is refused: pandas reads ``"3600"`` as 3600 nanoseconds, not seconds or hours.
    """
    if re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", v):
        raise ValueError(f"{key} {v!r} has no unit (pandas would read it as nanoseconds): write e.g. {examples}")
    try:
        td = pd.Timedelta(v)
    except (ValueError, TypeError):
        raise ValueError(f"{v!r} is not a duration (e.g. {examples})") from None
    if td <= pd.Timedelta(0):
        raise ValueError(f"{v!r} must be positive")
    return td


class RunoffConfig(StrictModel):
    """Runoff generation (GR cell operator, ``hydro.runoff.GRParameters``)."""

    enabled: bool = True
    interception_capacity_mm: float = Field(2.0, ge=0)
    production_capacity_mm: float = Field(200.0, gt=0)
    routing_capacity_mm: float = Field(60.0, gt=0)
    exchange_mm: float = 0.0
    impervious_fraction: float = Field(0.0, ge=0, le=1)
    initial_production_fill: float = Field(0.6, ge=0, le=1, description="cold start: production store fill [-]")
    initial_routing_fill: float = Field(0.3, ge=0, le=1, description="cold start: routing store fill [-]")
    parameter_step: str = Field("1D", description="the step exchange_mm and routing_capacity_mm refer to: '1D' for "
                                                  "daily-calibrated values (hydro calibrate, GR4J), '1h' for hourly "
                                                  "(GR4H) values; converted to routing.model_step")

    @field_validator("parameter_step")
    @classmethod
    def _parameter_step(cls, v: str) -> str:
        """A duration with a unit, 5 minutes to 1 day (a step the GR parameters can be calibrated at): pandas reads
        a bare number as nanoseconds, and parameter_step = "86400" (meant as seconds) ran with X3 shrunk 180-fold."""
        td = _duration_with_unit(v, "parameter_step", "'1h', '1D'")
        if not (pd.Timedelta("5min") <= td <= pd.Timedelta("1D")):
            raise ValueError(f"parameter_step {v!r} must be between 5 minutes and 1 day ('1h' for GR4H, '1D' for GR4J "
                             "values)")
        return v


class RoutingConfig(StrictModel):
    """Kinematic-wave routing (``hydro.routing.RoutingParameters``) and the model/output steps."""

    model_step: str = Field("15min", description="model step, 5 minutes to 1 day")
    output_step: str = Field("1h", description="hydrograph step, a multiple of the model step")
    channel_threshold_km2: float = Field(0.5, gt=0, description="upstream area from which a cell is a channel [km2]")
    manning_n_overland: float = Field(0.15, gt=0)
    manning_n_channel: float = Field(0.035, gt=0)
    channel_substep_s: float = Field(900.0, gt=0)

    @field_validator("model_step", "output_step")
    @classmethod
    def _duration(cls, v: str, info: Any) -> str:
        """A pandas duration ('15min', '1h', '1D'); checked here so that a typo is a configuration error (78)
        from ``validate-config`` and every command alike, not a traceback at run time."""
        td = _duration_with_unit(v, info.field_name, "'15min', '1h', '1D'")
        if info.field_name == "model_step" and not (pd.Timedelta("5min") <= td <= pd.Timedelta("1D")):
            raise ValueError(f"model_step {v!r} must be between 5 minutes and 1 day")
        return v

    @model_validator(mode="after")
    def _multiple(self) -> "RoutingConfig":
        ms, os_ = pd.Timedelta(self.model_step), pd.Timedelta(self.output_step)
        if os_ % ms != pd.Timedelta(0):
            raise ValueError(f"output_step {self.output_step!r} is not a multiple of model_step {self.model_step!r}")
        return self


class GaugeConfig(StrictModel):
    """A point where hydrographs are written, with its warning levels."""

    id: str = Field(..., pattern=r"^[A-Za-z0-9_\-]+$")
    name: str | None = None
    x: float
    y: float
    warning_levels_m3s: list[float] = Field(default_factory=list, description="ascending discharges [m3 s-1]")
    border: bool = Field(False, description="an agreed border point: exported to neighbours")
    max_snap_distance_m: float | None = Field(300.0, gt=0)
    upstream_area_km2: float | None = Field(
        None, gt=0, description="published catchment area of the gauge [km2]: snap to the channel cell within "
                                "max_snap_distance_m whose upstream area is closest to it (not the nearest one, which "
                                "near a confluence may be a tributary's)")

    @field_validator("warning_levels_m3s")
    @classmethod
    def _ascending(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(v, v[1:])) or any(x <= 0 for x in v):
            raise ValueError("warning levels must be positive and strictly ascending")
        return v


class ForecastConfig(StrictModel):
    """The nightly forecast: lead time, warm-start chain, alert thresholds."""

    lead_time_h: float = Field(48.0, gt=0, description="forecast horizon from the reference time [h]")
    state_interval_h: float = Field(24.0, gt=0, description="save a warm state this long after the reference time [h]")
    max_state_age_days: float = Field(3.0, ge=0, description="oldest state the warm start may run forward from [d]")
    spinup_days: float = Field(2.0, ge=0, description="cold start: spin-up before the reference time [d]")
    on_bad_state: Literal["fallback", "error"] = Field("fallback", description="incompatible state: next level or exit 65")
    flooded_area_alert_km2: float | None = Field(None, gt=0, description="alert when the HAND flooded area exceeds this")
    hand_threshold_m: float = Field(0.1, gt=0, description="depth from which a HAND cell counts as flooded [m]")
    lock_timeout_s: float = Field(3600.0, ge=0, description="wait this long for a concurrent run of the same id (hydro forecast and hydro run)")
    forcing: ForcingConfig | None = Field(None, description="forcing of the nightly forecast (default: [forcing])")


class EnsembleConfig(StrictModel):
    """Forcing ensemble: members of the file's realization dimension, or perturbed design storms."""

    members: int = Field(0, ge=0, le=200, description="0 = deterministic; N = run N members")
    rain_spread: float = Field(0.3, ge=0, le=1, description="design-storm members: lognormal sigma of the storm total")
    seed: int = Field(12345, ge=0)
    percentiles: list[float] = Field(default_factory=lambda: [10.0, 50.0, 90.0], min_length=1)

    @field_validator("percentiles")
    @classmethod
    def _percent(cls, v: list[float]) -> list[float]:
        if any(not (0.0 <= x <= 100.0) for x in v):
            raise ValueError(f"percentiles must lie in 0..100, got {v}")
        return v


class ExchangeInflowConfig(StrictModel):
    """A neighbour's exchange file (hydro-exchange profile) used as an upstream inflow."""

    file: str = Field(..., description="exchange NetCDF, relative to the config file; may hold {reference_time:...}")
    point: str = Field(..., description="border point id in the file")
    x: float | None = None
    y: float | None = None
    max_mb: float = Field(50.0, gt=0, description="refuse larger files (untrusted input)")

    @field_validator("file")
    @classmethod
    def _file_template(cls, v: str) -> str:
        return check_path_template(v)

    @model_validator(mode="after")
    def _both_or_neither(self) -> "ExchangeInflowConfig":
        # x alone (or y alone) was used as given with the other coordinate taken from the file, in the producer's
        # CRS and untransformed: an entry point mixing two CRSs, hundreds of metres off, without a word
        if (self.x is None) != (self.y is None):
            given = "x" if self.y is None else "y"
            raise ValueError(f"only {given} is given: give both x and y (the entry point in the model CRS) or neither "
                             "(the file's border point, transformed to the model CRS)")
        return self


class ExchangeConfig(StrictModel):
    """Border flows: what we export and what neighbours send us."""

    export: bool = Field(True, description="write exchange/boundary.nc for the gauges with border = true")
    inflows: list[ExchangeInflowConfig] = Field(default_factory=list)


def scheduler_address_ok(address: str) -> bool:
    """False for a ``tcp://``/``tls://``/``ucx://`` address without a host or a numeric port (``"tcp://"``,
    ``"tcp://host:abc"``): dask's Client raised a bare ValueError (or hung after other clients in the process)."""
    if not address.startswith(("tcp://", "tls://", "ucx://")):
        return True
    return re.fullmatch(r"[a-z]+://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):[0-9]{1,5}/?", address) is not None


class ComputeConfig(StrictModel):
    """Where ensemble members and scenarios run (CLI flags override)."""

    scheduler: str = Field("threads", description="'threads', 'synchronous', 'processes', 'local-cluster' or a "
                                                   "tcp:// (tls://, ucx://, inproc://) address")

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, v: str) -> str:
        if v not in ("threads", "synchronous", "processes", "local-cluster") and not v.startswith(
                ("tcp://", "tls://", "ucx://", "inproc://")):
            raise ValueError(f"scheduler {v!r}: use threads, synchronous, processes, local-cluster or tcp://host:port")
        if not scheduler_address_ok(v):
            # "tcp://" or "tcp://host:abc" passed validate-config and hydro forecast died with a ValueError traceback
            raise ValueError(f"scheduler {v!r}: an address needs a host and a numeric port, e.g. tcp://host:8786")
        return v
    workers: int | None = Field(None, ge=1, description="LocalCluster workers (scheduler = 'local-cluster')")


class PathsConfig(StrictModel):
    """Where input files may live. Paths in a config resolve against the config file's folder and must
    stay inside the project (the folder holding ``models/``) or one of ``allowed_roots``."""

    allowed_roots: list[str] = Field(default_factory=list, description="extra folders inputs may come from")


class OutputConfig(StrictModel):
    """Where and how outputs are written."""

    directory: str = Field("outputs", description="output root; a relative path is relative to the project folder "
                                                  "(the parent of models/, else the config file's folder), never to "
                                                  "the current directory")
    compression_level: int = Field(4, ge=0, le=9, description="zlib level (0 = none) of every NetCDF output of "
                                   "the run; model state files keep level 1 (fast restarts)")
    report: bool = Field(True, description="PNG figures and the one-page report.html")


class ModelConfig(StrictModel):
    """A hydro model configuration (``models/<region>.toml``)."""

    config_version: Literal[1] = 1
    region: str = Field(..., pattern=r"^[a-z0-9_\-]+$", description="region id used in run ids")
    title: str = "hydro model run"
    dem: DemConfig = DemConfig()
    terrain: TerrainConfig = TerrainConfig()
    flood: FloodConfig = FloodConfig(enabled=False)
    allocation: AllocationConfig = AllocationConfig(enabled=False)
    forcing: ForcingConfig = ForcingConfig()
    runoff: RunoffConfig = RunoffConfig(enabled=False)
    routing: RoutingConfig = RoutingConfig()
    gauges: list[GaugeConfig] = Field(default_factory=list)
    forecast: ForecastConfig = ForecastConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    compute: ComputeConfig = ComputeConfig()
    paths: PathsConfig = PathsConfig()
    outputs: OutputConfig = OutputConfig()

    @model_validator(mode="before")
    @classmethod
    def _forecast_forcing_inherits(cls, data: Any) -> Any:
        """``[forecast] forcing`` overrides ``[forcing]`` key by key: a key it leaves out takes the ``[forcing]``
        value, not the class default (``pet_mm_day`` left out of the nightly forcing silently became 4 mm/d whatever
        ``[forcing]`` said). ``path`` is inherited only with an unchanged ``source``."""
        if not isinstance(data, dict):
            return data
        fc, base = data.get("forecast"), data.get("forcing", {})
        if not (isinstance(fc, dict) and isinstance(fc.get("forcing"), dict) and isinstance(base, dict)):
            return data
        own = fc["forcing"]
        merged = dict(base)
        if "source" in own and own["source"] != base.get("source", "design_storm"):
            merged.pop("path", None)
        merged.update(own)
        return {**data, "forecast": {**fc, "forcing": merged}}

    @model_validator(mode="after")
    def _unique_gauges(self) -> "ModelConfig":
        ids = [g.id for g in self.gauges]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"gauge ids must be unique, repeated: {dup}")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> "ModelConfig":
        """Cross-section checks that `hydro run` / `hydro forecast` would otherwise only make at run time."""
        ms, os_ = pd.Timedelta(self.routing.model_step), pd.Timedelta(self.routing.output_step)
        if self.dem.source == "embedded" and not (5.0 <= self.dem.resolution_m <= 1000.0):
            # the generator's range: validate-config said ok and hydro run failed with exit 65 ("bad input data")
            raise ValueError(f"dem.resolution_m = {self.dem.resolution_m:g} m: the embedded DEM is generated at 5 to "
                             "1000 m")
        fc = self.forecast.forcing
        # every duration becomes a pd.Timedelta at run time: beyond its range (~292 years) that was an
        # OutOfBoundsTimedelta traceback (exit 1), e.g. max_state_age_days = 1e6
        for key, value, unit in (("forecast.lead_time_h", self.forecast.lead_time_h, "h"),
                                 ("forecast.state_interval_h", self.forecast.state_interval_h, "h"),
                                 ("forecast.max_state_age_days", self.forecast.max_state_age_days, "d"),
                                 ("forecast.spinup_days", self.forecast.spinup_days, "d"),
                                 ("forcing.duration_h", self.forcing.duration_h, "h"),
                                 ("forcing.storm_duration_h", self.forcing.storm_duration_h, "h"),
                                 ("forecast.forcing.storm_duration_h", fc.storm_duration_h if fc else 1.0, "h"),
                                 ("flood.duration_h", self.flood.duration_h, "h"),
                                 ("flood.storm_duration_h", self.flood.storm_duration_h, "h"),
                                 ("flood.output_interval_min", self.flood.output_interval_min, "min")):
            try:
                pd.Timedelta(value, unit={"h": "h", "d": "D", "min": "min"}[unit])
            except (OverflowError, ValueError):
                raise ValueError(f"{key} = {value:g} {unit} is beyond any run length") from None
        # the cold start of hydro forecast spins up over whole model steps ending at the reference time: off the
        # step it started off the forcing's time grid (exit 65 blaming the forcing file) or, with a design storm,
        # ran whole steps ending before T and labelled the state T
        if pd.Timedelta(days=self.forecast.spinup_days) % ms:
            raise ValueError(f"forecast.spinup_days = {self.forecast.spinup_days:g} d "
                             f"({pd.Timedelta(days=self.forecast.spinup_days)}) is not a multiple of routing.model_step "
                             f"{self.routing.model_step!r}")
        # a design storm is built in whole model steps: another duration was a ConfigError at run time only (after the
        # terrain stage), naming neither the file nor the key
        storms = []
        if self.runoff.enabled or fc is None:  # [forcing]: hydro run, and hydro forecast without [forecast] forcing
            storms.append(("forcing", self.forcing))
        if fc is not None:
            storms.append(("forecast.forcing", fc))
        for key, f in storms:
            if f.source == "design_storm" and pd.Timedelta(hours=f.storm_duration_h) % ms:
                raise ValueError(f"{key}.storm_duration_h = {f.storm_duration_h:g} h is not a multiple of "
                                 f"routing.model_step {self.routing.model_step!r} (the design storm is built in model "
                                 "steps)")
        lead = pd.Timedelta(hours=self.forecast.lead_time_h)
        for step, key in ((ms, "routing.model_step"), (os_, "routing.output_step")):
            if lead % step:
                raise ValueError(f"forecast.lead_time_h = {self.forecast.lead_time_h:g} h is not a multiple of {key} "
                                 f"{getattr(self.routing, key.split('.')[1])!r}")
        # the nightly forecast splits its run at T + state_interval_h to save the next night's state: off the output
        # step it could not split there and saved no state (silently)
        if self.forecast.state_interval_h > self.forecast.lead_time_h:
            # the run ends before T + state_interval_h: no state for the next night (silently warm-gap from T)
            raise ValueError(f"forecast.state_interval_h = {self.forecast.state_interval_h:g} h is beyond "
                             f"forecast.lead_time_h = {self.forecast.lead_time_h:g} h: the forecast would never reach "
                             "the time of the next night's state")
        if pd.Timedelta(hours=self.forecast.state_interval_h) % os_:
            raise ValueError(f"forecast.state_interval_h = {self.forecast.state_interval_h:g} h is not a multiple of "
                             f"routing.output_step {self.routing.output_step!r} (no state would be saved there)")
        if self.runoff.enabled:
            # exactly: the run length was rounded to whole model steps, so 24.2 h ran 24 h without a word
            if pd.Timedelta(hours=self.forcing.duration_h) % os_:
                raise ValueError(f"forcing.duration_h = {self.forcing.duration_h:g} h (the run length of hydro run) is not "
                                 f"a multiple of routing.output_step {self.routing.output_step!r}")
        if self.flood.enabled and self.flood.two_d and self.runoff.enabled and self.flood.duration_h > self.forcing.duration_h:
            # the 2-D run starts with the routed run (forcing.start) and takes its rivers and rain: beyond its end it
            # failed after the whole hydrology with exit 65 ("rainfall covers 0 s to 86400 s ...")
            raise ValueError(f"flood.duration_h = {self.flood.duration_h:g} h is longer than forcing.duration_h = "
                             f"{self.forcing.duration_h:g} h, the routed run whose rivers and rain drive the 2-D run")
        if (self.flood.enabled and self.flood.two_d and self.runoff.enabled
                and pd.Timedelta(hours=self.flood.duration_h) % os_):
            # the routed rivers reach the 2-D run as output-step volumes: a run ending inside a step took a share of
            # it the routed run never stated, and its transfer check failed (exit 3) on a correct run
            raise ValueError(f"flood.duration_h = {self.flood.duration_h:g} h is not a multiple of routing.output_step "
                             f"{self.routing.output_step!r} (the 2-D run takes the routed rivers in whole output steps)")
        if (self.flood.enabled and self.flood.two_d and self.flood.resolution_m is not None
                and self.dem.source == "embedded" and not _whole_multiple(self.flood.resolution_m, self.dem.resolution_m)):
            raise ValueError(f"flood.resolution_m = {self.flood.resolution_m:g} m is not a whole multiple of the DEM cell "
                             f"size dem.resolution_m = {self.dem.resolution_m:g} m (the 2-D domain is coarsened by "
                             "whole cells)")
        if self.flood.enabled and self.flood.two_d and self.dem.source == "file" and self.flood.domain is None:
            raise ValueError("flood.domain = [x_min, y_min, x_max, y_max] is needed for the 2-D run of a DEM file "
                             "(or set flood.two_d = false for the HAND map only)")
        if self.allocation.enabled and self.allocation.simulated_inflows:
            ids = [g.id for g in self.gauges]
            for node, gid in self.allocation.simulated_inflows.items():
                if gid not in ids and not (self.flood.enabled and re.fullmatch(r"flood_inflow_\d+", gid)):
                    raise ValueError(f"allocation.simulated_inflows: {node} = {gid!r} is not a gauge id (gauges: {ids})")
        return self

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("title must not be empty")
        return v


def _whole_multiple(resolution_m: float, cell_m: float) -> bool:
    """``resolution_m`` is k × ``cell_m`` for a whole k ≥ 1 (to round-off): the 2-D run coarsens by whole cells."""
    k = round(resolution_m / cell_m)
    return k >= 1 and abs(resolution_m - k * cell_m) <= 1e-6 * resolution_m


def format_validation_error(exc: ValidationError, source: str, text: str = "") -> str:
    """One line per problem: ``file:line: key: message (allowed: ...)``."""
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = toml_line(text, loc) if text else None
        where = f"{source}:{line}" if line else source
        msg = err.get("msg", "invalid")
        if not loc and err.get("type") == "value_error":
            # a cross-section check: its message starts with the key, e.g. "forecast.lead_time_h = ..."
            msg = msg.removeprefix("Value error, ")
            m = re.match(r"([a-z_]+(?:\.[a-z_0-9]+)+)\b", msg)
            line = toml_line(text, tuple(m.group(1).split("."))) if (m and text) else None
            out.append(f"{source}:{line}: {msg}" if line else f"{source}: {msg}")
            continue
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
        if isinstance(part, int):  # an item of a list of tables ([[gauges]]): its model was taken from the list
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        sub = _table_model(field.annotation)
        if sub is None:
            return None
        model = sub
    return model


def _table_model(ann: Any) -> type[BaseModel] | None:
    """The model of a field that holds a table, an optional table or a list of tables, else None."""
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (list, tuple, typing.Union) or type(ann).__name__ == "UnionType":
        models = [m for m in (_table_model(a) for a in args) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (TOML files are UTF-8): byte {exc.start}: {exc.reason}") from exc
    except OSError as exc:  # no read permission: 66 (sysexits EX_NOINPUT), not a PermissionError traceback
        raise InputMissingError(f"{path}: cannot read the configuration file: {exc.strerror or exc}") from exc
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


def project_root(cfg: BaseModel) -> Path | None:
    """The project folder of a config read from a file: the parent of ``models/``, else the config's folder."""
    src = getattr(cfg, "_source_path", None)
    if src is None:
        return None
    folder = Path(src).parent
    return folder.parent if folder.name == "models" else folder


def config_source(cfg: BaseModel) -> str:
    """The file a configuration was read from (for error messages), or ``<config>`` when built in Python."""
    src = getattr(cfg, "_source_path", None)
    return str(src) if src is not None else "<config>"


def output_root(cfg: BaseModel, override: str | os.PathLike[str] | None = None) -> Path:
    """The output root of ``cfg``: ``override`` (e.g. ``--output-root``, relative to the current directory) or
    ``[outputs] directory``, which, when relative, is relative to the project folder of the config file (the
    parent of ``models/``, else the config file's folder) — as ``[paths] allowed_roots`` are — and never to the
    current directory. A configuration built in Python (no file) keeps it relative to the current directory.
    """
    if override is not None:
        return Path(override)
    d = Path(getattr(getattr(cfg, "outputs", None), "directory", "outputs"))
    root = project_root(cfg)
    if d.is_absolute() or root is None:
        return d
    return root / d


def _sample_path(text: str) -> str:
    """A path template with its ``{reference_time:...}`` placeholders filled in (for static checks)."""
    try:
        return text.format(reference_time=datetime(2025, 8, 25))
    except (ValueError, KeyError, IndexError):
        return text


def check_config(cfg: BaseModel) -> None:
    """Checks of a loaded configuration that need its file's location (the rest is pydantic validation).

    Every input path the configuration would use must resolve inside the project or ``[paths]
    allowed_roots``. Files are not opened and need not exist yet (a missing file is exit 66, or 75 for
    forcing/exchange files that are not published yet). ``hydro validate-config``, ``hydro run`` and
    ``hydro forecast`` all call this before reading any data.

    Raises
    ------
    ConfigError
        One line per offending key, naming the file and the key.
    """
    c: Any = cfg
    keys: list[tuple[str, str]] = []
    if c.dem.source == "file" and c.dem.path:
        keys.append(("dem.path", c.dem.path))
    if c.forcing.source == "netcdf" and c.forcing.path:
        keys.append(("forcing.path", c.forcing.path))
    if c.forecast.forcing is not None and c.forecast.forcing.source == "netcdf" and c.forecast.forcing.path:
        keys.append(("forecast.forcing.path", c.forecast.forcing.path))
    if c.allocation.enabled:
        keys.append(("allocation.network", c.allocation.network))
    if c.flood.enabled:
        for k in ("population", "roads"):
            v = getattr(c.flood, k)
            if v not in (None, "embedded"):
                keys.append((f"flood.{k}", v))
    for i, spec in enumerate(c.exchange.inflows):
        keys.append((f"exchange.inflows[{i}].file", spec.file))
    problems = []
    for key, value in keys:
        try:
            resolve_input(cfg, _sample_path(value), key)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))


def resolve_input(cfg: BaseModel, path: str | os.PathLike[str], key: str) -> Path:
    """An input path of ``cfg``: relative to the config file, and inside the project or an allowed root.

    Raises
    ------
    ConfigError
        The path escapes the project (e.g. ``../../etc/passwd``) and no ``[paths] allowed_roots`` holds it.
    """
    p = Path(path)
    src = getattr(cfg, "_source_path", None)
    if src is None:
        return p
    if not p.is_absolute():
        p = Path(src).parent / p
    resolved = p.resolve()
    root = project_root(cfg)
    assert root is not None
    roots = [root.resolve()] + [(root / r).resolve() for r in getattr(getattr(cfg, "paths", None), "allowed_roots", [])]
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise ConfigError(f"{src}: {key} = {str(path)!r} resolves to {resolved}, outside the project {roots[0]} "
                          "(add its folder to [paths] allowed_roots)")
    return resolved


def config_hash(cfg: BaseModel, extra: dict[str, Any] | None = None) -> str:
    """sha256 of the resolved configuration (plus package version and ``extra``), hex."""
    from hydro import __version__

    payload = {"config": cfg.model_dump(mode="json"), "hydro": __version__, "extra": extra or {}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
