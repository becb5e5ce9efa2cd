"""Allocation network declared in TOML (or a dict): nodes, links, regions, agreements.

The file is validated with pydantic v2; every error names the file, the key (e.g.
``links[3].to``) and what is wrong, and is raised as :class:`hydro.errors.ConfigError`.

Node types
----------
``reservoir``  capacity, dead_storage, initial_storage, inflow, evaporation, area or area_table, overflow_to
``intake``     river intake: inflow series (unused water leaves to ``overflow_to`` or out of the system)
``inflow``     any other exogenous inflow (a neighbour's exchange file, a routed discharge)
``groundwater`` sustainable_yield per step (unused yield stays in the aquifer)
``demand``     region, sector, demand (series or monthly profile), priority, cap
``junction``   pure mass balance
``outlet``     sink (sea, downstream boundary)

Every number carries its unit (``"500 L/s"``, ``"16.3 Mm3"``); bare numbers are rejected.
"""
from __future__ import annotations

import datetime as _dt
import re
import warnings
import tomllib
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hydro.errors import ConfigError, InputDataError, InputMissingError
from hydro.tomlpos import toml_line
from hydro.times import naive_utc
from hydro.io.netcdf import open_netcdf
from hydro.allocation.units import QuantityError, parse_quantity, to_si

__all__ = ["Network", "load_network", "SeriesSpec", "resolve_series", "NODE_TYPES", "axis_time"]

NODE_TYPES = ("reservoir", "intake", "inflow", "groundwater", "demand", "junction", "outlet")


# ------------------------------------------------------------------ quantities and series
def _quantity_validator(kind: str):
    def check(v: Any) -> Any:
        if v is None:
            return v
        try:
            parse_quantity(v, kind)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
        return v
    return check


class SeriesSpec(BaseModel):
    """A time series of one quantity (flow or evaporation rate).

    Exactly one of ``value``, ``monthly``, ``values``, ``csv``, ``netcdf``, ``external``.
    """

    model_config = ConfigDict(extra="forbid")
    kind: str = "flow"
    value: float | None = None
    monthly: list[float] | None = None
    values: list[float] | None = None
    csv: str | None = None
    column: str | None = None
    time_column: str = "time"
    netcdf: str | None = None
    variable: str | None = None
    station: str | None = None
    external: str | None = None
    units: str | None = None
    factor: float = 1.0

    @model_validator(mode="after")
    def _one_source(self) -> "SeriesSpec":
        given = [k for k in ("value", "monthly", "values", "csv", "netcdf", "external") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, monthly, values, csv, netcdf, external "
                             f"(got {given or 'none'})")
        if self.monthly is not None and len(self.monthly) != 12:
            raise ValueError(f"monthly needs 12 values (January..December), got {len(self.monthly)}")
        if self.csv is not None and self.column is None:
            raise ValueError("csv series need 'column'")
        if self.netcdf is not None and self.variable is None:
            raise ValueError("netcdf series need 'variable'")
        if self.units is None and self.netcdf is None and self.external is None:
            raise ValueError("units missing: add units = '...' (e.g. 'L/s', 'm3/s', 'mm/d')")
        if self.units is not None:
            try:
                to_si(1.0, self.units, self.kind)
            except QuantityError as exc:
                raise ValueError(str(exc)) from None
        if not (np.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"factor = {self.factor} must be a positive number")
        return self

    def negative_values(self) -> list[float]:
        """Given values (value, monthly, values) that are negative or not finite (files are checked when read)."""
        given = np.asarray([self.value] if self.value is not None else (self.monthly or self.values or []), float)
        return given[~(np.isfinite(given) & (given >= 0))].tolist()


def _when(v: Any) -> Any:
    """Before-validator of ``date | datetime`` fields: a string with a time of day is read as a date-time, keeping its
    UTC offset (pydantic reads ``"2024-01-01T00:00:00+08:00"`` as the date 2024-01-01 and drops the offset: 8 h off)."""
    if isinstance(v, str) and len(v.strip()) > 10:
        try:
            return _dt.datetime.fromisoformat(v.strip())
        except ValueError:
            return v
    return v


def _not_negative(what: str):
    """After-validator of a flow series field: negative or non-finite given values are errors (an inflow, a yield or
    a demand cannot be negative; evaporation rates can: a net gain)."""
    def check(v: Any) -> Any:
        if isinstance(v, SeriesSpec) and v.negative_values():
            raise ValueError(f"negative {what}: {v.negative_values()[:3]}")
        return v
    return check


def _series(kind: str):
    def check(v: Any) -> Any:
        if v is None or isinstance(v, SeriesSpec):
            return v
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            try:
                val = parse_quantity(v, kind)
            except QuantityError as exc:
                raise ValueError(str(exc)) from None
            return SeriesSpec(kind=kind, value=val, units="m3/s" if kind == "flow" else "m/s")
        if isinstance(v, dict):
            if "kind" in v:  # set by the field (flow or evaporation rate), not by the file
                raise ValueError(f"'kind' is not a key of a series table (this one is a {kind} series)")
            return SeriesSpec(kind=kind, **v)
        raise ValueError(f"expected a quantity ('10 L/s') or a series table, got {v!r}")
    return check


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _lat_lon_pair(obj: Any) -> Any:
    """A position is both ``lat`` and ``lon`` or neither: with only one, the output writers fell back to another
    position (the region's or the network's) or failed with a raw TypeError after the whole run."""
    if (obj.lat is None) != (obj.lon is None):
        given, missing = ("lat", "lon") if obj.lon is None else ("lon", "lat")
        raise ValueError(f"{given} is given without {missing}: give both (WGS84 degrees) or neither")
    return obj


class RegionSpec(_Base):
    """A party: a region owning demands and accounts."""

    id: str
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    _v_pos = model_validator(mode="after")(_lat_lon_pair)


class _NodeBase(_Base):
    id: str
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    region: str | None = None
    _v_pos = model_validator(mode="after")(_lat_lon_pair)


class ReservoirSpec(_NodeBase):
    type: Literal["reservoir"]
    capacity: str
    dead_storage: str = "0 m3"
    initial_storage: str
    inflow: Any = None
    evaporation: Any = None
    area: str | None = None
    area_table: dict[str, Any] | None = None
    overflow_to: str | None = None
    storage_weight: float = Field(1.0, gt=0.0)

    _v_vol = field_validator("capacity", "dead_storage", "initial_storage")(_quantity_validator("volume"))
    _v_area = field_validator("area")(_quantity_validator("area"))
    _v_in = field_validator("inflow", mode="before")(_series("flow"))
    _v_ev = field_validator("evaporation", mode="before")(_series("depth_rate"))
    _v_in_sign = field_validator("inflow", mode="after")(_not_negative("inflow"))

    @field_validator("area_table")
    @classmethod
    def _table(cls, v: Any) -> Any:
        if v is None:
            return v
        need = {"storage", "area", "storage_units", "area_units"}
        if not need <= set(v) or not set(v) <= need | {"level"}:
            raise ValueError(f"area_table needs the keys {sorted(need)} and optionally 'level' (m)")
        s, a = np.asarray(v["storage"], float), np.asarray(v["area"], float)
        if s.shape != a.shape or s.size < 2 or np.any(np.diff(s) <= 0):
            raise ValueError("area_table: storage must increase and have as many values as area (>= 2)")
        if "level" in v:
            lv = np.asarray(v["level"], float)
            if lv.shape != s.shape or np.any(np.diff(lv) <= 0):
                raise ValueError("area_table: level (m) must increase and have one value per storage")
        for key, kind in (("storage_units", "volume"), ("area_units", "area")):
            try:
                to_si(1.0, v[key], kind)
            except QuantityError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> "ReservoirSpec":
        cap, dead, init = (parse_quantity(x, "volume") for x in (self.capacity, self.dead_storage, self.initial_storage))
        if cap <= 0:
            raise ValueError(f"capacity must be positive, got {self.capacity!r}")
        if dead < 0 or dead > cap:
            raise ValueError(f"dead_storage must be within [0, capacity], got {self.dead_storage!r}")
        if init < 0 or init > cap:
            raise ValueError(f"initial_storage must be within [0, capacity], got {self.initial_storage!r}")
        if self.evaporation is not None and self.area is None and self.area_table is None:
            raise ValueError("evaporation needs 'area' or 'area_table'")
        if (self.area is not None and parse_quantity(self.area, "area") < 0) or (
                self.area_table is not None and min(self.area_table["area"]) < 0):
            raise ValueError("surface areas must not be negative (evaporation would add water)")
        return self


class IntakeSpec(_NodeBase):
    type: Literal["intake", "inflow"]
    inflow: Any
    overflow_to: str | None = None
    _v_in = field_validator("inflow", mode="before")(_series("flow"))
    _v_in_sign = field_validator("inflow", mode="after")(_not_negative("inflow"))


class GroundwaterSpec(_NodeBase):
    type: Literal["groundwater"]
    sustainable_yield: Any
    _v_in = field_validator("sustainable_yield", mode="before")(_series("flow"))
    _v_in_sign = field_validator("sustainable_yield", mode="after")(_not_negative("sustainable_yield"))


class DemandSpec(_NodeBase):
    type: Literal["demand"]
    region: str
    sector: str = "municipal"
    demand: Any
    priority: int = Field(1, ge=1)
    cap: str | None = None
    _v_d = field_validator("demand", mode="before")(_series("flow"))
    _v_d_sign = field_validator("demand", mode="after")(_not_negative("demand"))
    _v_c = field_validator("cap")(_quantity_validator("flow"))

    @field_validator("cap")
    @classmethod
    def _cap_nonneg(cls, v: Any) -> Any:
        if v is not None and parse_quantity(v, "flow") < 0:
            raise ValueError(f"cap must not be negative, got {v!r}")
        return v


class PlainNodeSpec(_NodeBase):
    type: Literal["junction", "outlet"]


NodeSpec = Annotated[Union[ReservoirSpec, IntakeSpec, GroundwaterSpec, DemandSpec, PlainNodeSpec],
                     Field(discriminator="type")]


class OutageSpec(_Base):
    start: _dt.date | _dt.datetime
    end: _dt.date | _dt.datetime
    capacity: str = "0 m3/s"
    _v_when = field_validator("start", "end", mode="before")(_when)
    _v = field_validator("capacity")(_quantity_validator("flow"))


class LinkSpec(_Base):
    """A pipe, canal or river reach.

    ``capacity`` limits the inlet (gross) flow when ``capacity_basis = "inlet"`` (default, as WEAP)
    or the delivered (net) flow when ``"outlet"`` (as pywr's LossLink ``max_flow``). The loss is
    ``loss_fraction`` of the inlet flow and leaves the system.
    """

    id: str
    from_: str = Field(alias="from")
    to: str
    name: str | None = None
    capacity: Any = None
    outages: list[OutageSpec] = Field(default_factory=list)
    loss_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    capacity_basis: Literal["inlet", "outlet"] = "inlet"
    return_fraction: float | None = Field(None, ge=0.0, le=1.0)
    lag: int = Field(0, ge=0)
    lat: float | None = None
    lon: float | None = None
    _v_c = field_validator("capacity", mode="before")(_series("flow"))
    _v_pos = model_validator(mode="after")(_lat_lon_pair)

    @field_validator("capacity", mode="after")
    @classmethod
    def _nonneg(cls, v: Any) -> Any:
        if v is not None:
            vals = [v.value] if v.value is not None else (v.values or v.monthly or [])
            if any(x < 0 for x in vals):
                raise ValueError("negative capacity")
        return v

    @model_validator(mode="after")
    def _check(self) -> "LinkSpec":
        for o in self.outages:
            if parse_quantity(o.capacity, "flow") < 0:
                raise ValueError(f"negative outage capacity {o.capacity!r}")
        if self.lag and self.return_fraction is None:
            raise ValueError("lag is only allowed on return-flow links (give return_fraction)")
        return self


class MetaSpec(_Base):
    name: str = "network"
    description: str = ""
    start: _dt.date | _dt.datetime | None = None
    steps: int | None = Field(None, ge=1)
    timestep: str = "1D"
    lat: float = -1.2379
    lon: float = 116.8529
    _v_when = field_validator("start", mode="before")(_when)

    @field_validator("timestep")
    @classmethod
    def _ts(cls, v: str) -> str:
        try:
            td = pd.Timedelta(v)
        except (ValueError, TypeError):
            raise ValueError(f"timestep {v!r} is not a fixed duration such as '1D' or '6h'") from None
        if td.total_seconds() <= 0:
            raise ValueError("timestep must be positive")
        return v


class NetworkSpec(_Base):
    network: MetaSpec = MetaSpec()
    regions: list[RegionSpec]
    nodes: list[NodeSpec]
    links: list[LinkSpec] = Field(default_factory=list)
    agreements: list[dict[str, Any]] = Field(default_factory=list)


# ------------------------------------------------------------------ the Network object
class Network:
    """A validated allocation network.

    Attributes
    ----------
    spec : NetworkSpec
        The validated declaration.
    source : str
        File the network was read from (or ``"<dict>"``).
    base_dir : pathlib.Path
        Directory against which relative series paths are resolved.
    agreements : list
        Validated agreement objects (see :mod:`hydro.allocation.agreements`).
    """

    def __init__(self, spec: NetworkSpec, source: str, base_dir: Path, text: str | None = None):
        from hydro.allocation.agreements import parse_agreement

        self.spec = spec
        self.source = source
        self.base_dir = base_dir
        self._text = text
        self.regions = {r.id: r for r in spec.regions}
        self.nodes = {n.id: n for n in spec.nodes}
        self.links = {lk.id: lk for lk in spec.links}
        self._check_ids()
        self._check_refs()
        self.agreements = [parse_agreement(a, i, self) for i, a in enumerate(spec.agreements)]
        names = [a.name for a in self.agreements]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise self.error("agreements", f"duplicate agreement names {dup}")
        self._check_sinks()

    # -- errors
    def error(self, key: str, msg: str) -> ConfigError:
        """A :class:`ConfigError` naming this network's file, the line (when the file has ``[[nodes]]``-style
        tables), ``key`` and the id of the node, link or region it belongs to."""
        loc: list[Any] = []
        for part in key.split("."):
            m = re.fullmatch(r"(\w+)((?:\[\d+\])*)", part)
            if m is None:
                loc = []
                break
            loc.append(m.group(1))
            loc.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
        ids = {k: [{"id": it.id} for it in getattr(self.spec, k)] for k in ("nodes", "links", "regions")}
        ident = _item_ident(ids, loc) if loc else ""
        line = _toml_line(self._text, loc) if loc else None
        where = f"{self.source}:{line}" if line is not None else self.source
        return ConfigError(f"{where}: {key}{ident}: {msg}")

    def _check_ids(self) -> None:
        for what, items in (("regions", self.spec.regions), ("nodes", self.spec.nodes), ("links", self.spec.links)):
            seen: set[str] = set()
            for i, it in enumerate(items):
                if it.id in seen:
                    raise self.error(f"{what}[{i}].id", f"duplicate id {it.id!r}")
                seen.add(it.id)
        # the metric attributes of the output files are named after the region ids with every character but ASCII
        # letters, digits and "_" replaced by "_": "a-b" and "a_b" wrote the same names (one region's metrics lost)
        from hydro.allocation.outputs import region_attr_name

        by_name: dict[str, str] = {}
        for i, r in enumerate(self.spec.regions):
            name = region_attr_name(r.id)
            if name in by_name:
                raise self.error(f"regions[{i}].id", f"region ids {by_name[name]!r} and {r.id!r} both give the output "
                                 f"attribute names metric_{name}_* (characters other than ASCII letters, digits and "
                                 "'_' become '_'): rename one")
            by_name[name] = r.id

    def _check_refs(self) -> None:
        for i, n in enumerate(self.spec.nodes):
            if n.region is not None and n.region not in self.regions:
                raise self.error(f"nodes[{i}].region", f"unknown region {n.region!r} (known: {sorted(self.regions)})")
            target = getattr(n, "overflow_to", None)
            if target is not None and target not in self.nodes:
                raise self.error(f"nodes[{i}].overflow_to", f"unknown node {target!r}")
            if target is not None and (target == n.id or self.nodes[target].type == "demand"):
                # the overflow would have nowhere to go (a demand takes only its claims): the LP was infeasible
                raise self.error(f"nodes[{i}].overflow_to", f"node {n.id!r} cannot overflow into "
                                 f"{'itself' if target == n.id else 'demand ' + repr(target)}: give a junction, "
                                 f"reservoir, intake or outlet")
        for i, lk in enumerate(self.spec.links):
            for end, nid in (("from", lk.from_), ("to", lk.to)):
                if nid not in self.nodes:
                    raise self.error(f"links[{i}].{end}", f"unknown node {nid!r} in link {lk.id!r} "
                                     f"(known nodes: {sorted(self.nodes)})")
            src = self.nodes[lk.from_]
            if lk.from_ == lk.to:
                raise self.error(f"links[{i}]", f"link {lk.id!r} connects node {lk.from_!r} to itself")
            if src.type == "demand" and lk.return_fraction is None:
                raise self.error(f"links[{i}].return_fraction", f"link {lk.id!r} leaves demand {lk.from_!r}: "
                                 "links out of a demand are return-flow links and need return_fraction")
            if src.type != "demand" and lk.return_fraction is not None:
                raise self.error(f"links[{i}].return_fraction", "return_fraction is only allowed on links out of a demand")
            if src.type == "outlet":
                raise self.error(f"links[{i}].from", f"outlet {lk.from_!r} cannot have outgoing links")
        n_out: dict[str, int] = {}
        for lk in self.spec.links:
            n_out[lk.from_] = n_out.get(lk.from_, 0) + 1
        for i, n in enumerate(self.spec.nodes):
            if n.type == "demand":
                rets = n_out.get(n.id, 0)
                if rets > 1:
                    raise self.error(f"nodes[{i}]", f"demand {n.id!r} has {rets} return links (at most one)")

    def _check_sinks(self) -> None:
        """Every node that can receive water must reach a node able to dispose of it."""
        disposal = {nid for nid, n in self.nodes.items() if n.type in ("outlet", "reservoir", "intake", "inflow", "groundwater")}
        out: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        into: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        first_out: dict[str, LinkSpec] = {}
        for lk in self.spec.links:
            out[lk.from_].append(lk.to)
            into[lk.to].append(lk.from_)
            first_out.setdefault(lk.from_, lk)
        for nid, n in self.nodes.items():
            if n.type == "demand":
                ret = first_out.get(nid)
                if ret is None or (ret.return_fraction or 0.0) < 1.0:
                    disposal.add(nid)
        ok = _reaching(disposal, into, lambda nid: True)
        receives = {lk.to for lk in self.spec.links}
        for i, n in enumerate(self.spec.nodes):
            if n.id in receives and n.id not in ok:
                cyc = self._on_cycle(n.id, out)
                what = "a cycle without a sink" if cyc else "a dead end"
                raise self.error(f"nodes[{i}]", f"node {n.id!r} is on {what}: water reaching it can never leave "
                                 "(add a link to an outlet, a reservoir or a demand)")
        # water the LP cannot refuse (return flows, overflow_to) must reach a node that can take any amount: a demand
        # takes only its claims, so through junctions only to an outlet, a reservoir or a source (lag 0: the upstream
        # demand's delivery was cut silently to what the downstream demand claims; lagged/overflow: infeasible LP)
        drain = _reaching({nid for nid, n in self.nodes.items() if n.type in ("outlet", "reservoir", "intake", "inflow",
                                                                             "groundwater")},
                          into, lambda nid: self.nodes[nid].type == "junction")
        for i, lk in enumerate(self.spec.links):
            if lk.return_fraction and lk.to not in drain:
                raise self.error(f"links[{i}].to", f"return flow of link {lk.id!r} into {lk.to!r} cannot leave "
                                 "except to demands, which take only their claims: the return water needs a path "
                                 "through junctions to an outlet, a reservoir or a source node")
        for i, n in enumerate(self.spec.nodes):
            target = getattr(n, "overflow_to", None)
            if target is not None and target not in drain:
                raise self.error(f"nodes[{i}].overflow_to", f"overflow of node {n.id!r} into {target!r} cannot leave "
                                 "except to demands, which take only their claims: it needs a path through junctions "
                                 "to an outlet, a reservoir or a source node")

    @staticmethod
    def _on_cycle(start: str, out: dict[str, list[str]]) -> bool:
        stack, seen = list(out[start]), set()
        while stack:
            m = stack.pop()
            if m == start:
                return True
            if m not in seen:
                seen.add(m)
                stack.extend(out[m])
        return False

    # -- convenience
    @property
    def name(self) -> str:
        return self.spec.network.name

    def nodes_of(self, *types: str) -> list[Any]:
        """Nodes of the given types in declaration order."""
        return [n for n in self.spec.nodes if n.type in types]

    def resolve_path(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else (self.base_dir / path)

    def __repr__(self) -> str:
        return (f"<Network {self.name!r}: {len(self.nodes)} nodes, {len(self.links)} links, "
                f"{len(self.regions)} regions, {len(self.agreements)} agreements>")


def _reaching(targets: set[str], into: dict[str, list[str]], passes: Callable[[str], bool]) -> set[str]:
    """``targets`` and every node (for which ``passes`` holds) with a path of such nodes into one of them: a walk up
    the links (``into[n]``: the nodes with a link into ``n``), linear in the network size."""
    found = set(targets)
    stack = list(targets)
    while stack:
        for up in into[stack.pop()]:
            if up not in found and passes(up):
                found.add(up)
                stack.append(up)
    return found


def _item_ident(data: Any, loc: list[Any]) -> str:
    """`` (node 'x')`` for a key inside ``nodes[i]`` / ``links[i]`` / ``regions[i]``, else ``""``."""
    if len(loc) > 1 and loc[0] in ("nodes", "links", "regions") and isinstance(loc[1], int):
        try:
            ident = data[loc[0]][loc[1]].get("id")
        except (KeyError, IndexError, AttributeError, TypeError):
            return ""
        return f" ({loc[0][:-1]} {ident!r})" if ident is not None else ""
    return ""


def _toml_line(text: str | None, loc: list[Any]) -> int | None:
    """Line of ``loc`` in the network's TOML text; a key not written in its item (a check on the whole item, a
    default) falls back to the item's ``[[...]]`` header."""
    line = toml_line(text, loc)
    if line is None and len(loc) > 2 and isinstance(loc[1], int):
        line = toml_line(text, loc[:2])
    return line


def _format_validation(err: ValidationError, source: str, data: dict[str, Any],
                       text: str | None = None) -> ConfigError:
    lines = []
    for e in err.errors()[:10]:
        loc = list(e["loc"])
        if len(loc) > 2 and loc[0] == "nodes" and isinstance(loc[1], int) and loc[2] in NODE_TYPES:
            del loc[2]  # the discriminator tag of the node type
        key = ""
        for item in loc:
            if isinstance(item, int):
                key += f"[{item}]"
            elif str(item).startswith("function-"):
                continue
            else:
                key += ("." if key else "") + str(item)
        ident = _item_ident(data, loc)
        line = _toml_line(text, [x for x in loc if not str(x).startswith("function-")])
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{source}:{line}: {key}{ident}: {msg}" if line is not None else f"{source}: {key}{ident}: {msg}")
    return ConfigError("invalid allocation network:\n  " + "\n  ".join(lines))


def load_network(path_or_dict: str | Path | dict[str, Any] | Network, *, base_dir: str | Path | None = None) -> Network:
    """Load and validate an allocation network.

    Parameters
    ----------
    path_or_dict : path, dict or Network
        A TOML file (see ``models/balikpapan_water.toml``) or the same structure as a dict.
    base_dir : path, optional
        Directory for relative series paths (default: the TOML file's directory, or the
        current directory for dicts).

    Returns
    -------
    Network

    Raises
    ------
    ConfigError
        Any invalid key, naming the file and the key.
    InputMissingError
        The TOML file does not exist.
    """
    if isinstance(path_or_dict, Network):
        return path_or_dict
    if isinstance(path_or_dict, dict):
        data, source, text = path_or_dict, "<dict>", None
        bdir = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(path_or_dict)
        if not path.exists():
            raise InputMissingError(f"{path}: allocation network file not found")
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (TOML files are UTF-8): byte {exc.start}: {exc.reason}") from None
        except OSError as exc:  # no read permission: 66 (sysexits EX_NOINPUT), not a PermissionError traceback
            raise InputMissingError(f"{path}: cannot read the allocation network file: {exc.strerror or exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        source = str(path)
        bdir = Path(base_dir) if base_dir is not None else path.parent
    try:
        spec = NetworkSpec.model_validate(data)
    except ValidationError as err:
        raise _format_validation(err, source, data, text) from None
    return Network(spec, source, bdir, text)


# ------------------------------------------------------------------ series resolution
def _sample_intervals(t: np.ndarray, bounds: np.ndarray | None, step_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Period ``[lo, hi)`` (int64 ns) that each sample of a series stands for.

    With CF time ``bounds`` these are the bounds. Otherwise the time label is the **start** of the
    period (the convention of the allocation module: a daily value labelled ``2024-01-01`` is the
    mean flow of 1 January) and a sample lasts until the next sample. The last sample lasts one
    period of the series' frequency (``pd.infer_freq``: a calendar month for month-start labels) or,
    for an irregular series, as long as the previous one. Irregular series have **gaps** where two
    labels are more than 1.5 × the median spacing apart: a sample then lasts one median spacing and
    the rest of the interval is not covered (a run step there is an error, never a silent fill).
    Month-start labels (at one time of day) whose frequency cannot be inferred (a gap, two labels) count in
    calendar months.
    A single sample without bounds lasts one model step.
    """
    if bounds is not None:
        b = np.asarray(bounds).astype("datetime64[ns]").astype(np.int64)
        return b[:, 0].copy(), b[:, 1].copy()
    lo = t.copy()
    hi = np.empty_like(t)
    if t.size == 0:
        return lo, hi
    if t.size == 1:
        hi[0] = t[0] + step_ns
        return lo, hi
    d = np.diff(t)
    hi[:-1] = t[1:]
    freq = None
    if t.size >= 3:
        try:
            freq = pd.infer_freq(pd.DatetimeIndex(t.astype("datetime64[ns]")))
        except (ValueError, TypeError):
            freq = None
    if freq is not None and freq.lstrip("0123456789").upper().startswith("B"):
        freq = None  # business days/hours skip weekends and nights: those are gaps, not periods of the value before
    ts = pd.DatetimeIndex(t.astype("datetime64[ns]"))
    dm = np.diff(np.asarray(ts.year * 12 + ts.month, dtype=np.int64))
    tod = ts - ts.normalize()  # one time of day: month starts at 06:00 UTC (local midnights at -06:00) too
    if freq is not None:
        hi[-1] = (pd.Timestamp(t[-1]) + pd.tseries.frequencies.to_offset(freq)).value
    elif (dm > 0).any() and bool((ts.day == 1).all()) and bool((tod == tod[0]).all()):
        # month-start labels whose frequency cannot be inferred (a gap, or only two labels): a sample lasts k
        # calendar months (k = the median number of months between labels), not the median spacing in seconds
        # (31 days from 1 February or 1 April held its value into the first days of the missing next month)
        k = max(1, int(round(float(np.median(dm[dm > 0])))))
        ends = (ts + pd.DateOffset(months=k)).asi8
        gap = dm > 1.5 * k
        hi[:-1][gap] = ends[:-1][gap]
        hi[-1] = ends[-1]
    else:
        pos = d[d > 0]
        med = int(np.median(pos)) if pos.size else step_ns
        gap = d > 1.5 * med
        hi[:-1][gap] = t[:-1][gap] + med
        hi[-1] = t[-1] + (int(d[-1]) if d[-1] > 0 else med)
    return lo, hi


def _period_bounds(times: np.ndarray, attrs: Any) -> np.ndarray | None:
    """``(t - period, t)`` bounds of a series of period means labelled at their end (``cell_methods = "time: mean"``
    and ``period_s``, as :func:`hydro.exchange.read_exchange` and routed gauge series state them), else None
    (labels are period starts)."""
    attrs = attrs or {}
    period_s = attrs.get("period_s")
    if period_s is None or not str(attrs.get("cell_methods", "")).replace(" ", "").startswith("time:mean"):
        return None
    t = np.asarray(times).astype("datetime64[ns]")
    return np.stack([t - np.timedelta64(int(round(float(period_s) * 1e9)), "ns"), t], axis=1)


def _is_point(attrs: Any) -> bool:
    """True for instantaneous values (``cell_methods`` with ``time: point``, allowed by the exchange profile)."""
    return "time:point" in str((attrs or {}).get("cell_methods", "")).replace(" ", "")


def _point_average(times: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean over each model step ``[edges[k], edges[k+1])`` of instantaneous samples joined linearly (the exact
    integral of the piecewise-linear series, trapezoids cut at the step edges); NaN where the step is not inside
    the samples' span, or touches a NaN sample or a gap (two samples more than 1.5 × the median spacing apart).
    """
    t = np.asarray(times).astype("datetime64[ns]").astype(np.int64)
    v = np.asarray(values, float).ravel()
    e = np.asarray(edges).astype("datetime64[ns]").astype(np.int64)
    n = e.size - 1
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    if t.size < 2 or n < 1:
        return np.full(max(n, 0), np.nan)
    ref = e[0]
    x = (t - ref) / 1e9
    xe = (e - ref) / 1e9
    dx = np.diff(x)
    pos = dx[dx > 0]
    med = float(np.median(pos)) if pos.size else 0.0
    seg_ok = np.isfinite(v[:-1]) & np.isfinite(v[1:]) & (dx > 0) & (dx <= 1.5 * med)
    v0 = np.where(np.isfinite(v), v, 0.0)
    slope = np.where(seg_ok, (v0[1:] - v0[:-1]) / np.where(dx > 0, dx, 1.0), 0.0)
    area = np.where(seg_ok, 0.5 * (v0[1:] + v0[:-1]) * dx, 0.0)
    cum = np.concatenate([[0.0], np.cumsum(area)])
    bad = np.concatenate([[0], np.cumsum(~seg_ok)])
    i = np.clip(np.searchsorted(x, xe, side="right") - 1, 0, x.size - 2)
    u = xe - x[i]
    F = cum[i] + v0[i] * u + 0.5 * slope[i] * u * u
    # bad segments met by each step: those between the step's start and end segments (inclusive)
    j0 = np.clip(np.searchsorted(x, xe[:-1], side="right") - 1, 0, x.size - 2)
    j1 = np.clip(np.searchsorted(x, xe[1:], side="left") - 1, 0, x.size - 2)
    nbad = bad[j1 + 1] - bad[j0]
    inside = (xe[:-1] >= x[0]) & (xe[1:] <= x[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(inside & (nbad == 0), np.diff(F) / np.diff(xe), np.nan)


def _step_average(times: np.ndarray, values: np.ndarray, edges: np.ndarray,
                  bounds: np.ndarray | None = None) -> np.ndarray:
    """Time-weighted mean of a series over each model step ``[edges[k], edges[k+1])``; NaN where the
    series does not cover the whole step.

    Each sample holds its value over the period it stands for (:func:`_sample_intervals`: CF time
    bounds, else period-start labels), so the step value is ``∫ q dt / Δt`` over the step: finer
    series are averaged, coarser ones (a monthly or daily flow driving a daily or hourly run) give
    every step inside a period that period's mean, and the volume of every period is conserved.
    Missing values (NaN) and gaps between samples are not covered.
    """
    t = np.asarray(times).astype("datetime64[ns]").astype(np.int64)
    v = np.asarray(values, float).ravel()
    e = np.asarray(edges).astype("datetime64[ns]").astype(np.int64)
    n = e.size - 1
    if t.size == 0 or n < 1:
        return np.full(max(n, 0), np.nan)
    step_ns = int(e[1] - e[0])
    if bounds is None:
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        lo, hi = _sample_intervals(t, None, step_ns)
    else:
        lo, hi = _sample_intervals(t, bounds, step_ns)
        order = np.argsort(lo, kind="stable")
        lo, hi, v = lo[order], hi[order], v[order]
    # disjoint, non-empty periods (overlapping bounds are cut at the next period's start)
    hi[:-1] = np.minimum(hi[:-1], lo[1:])
    hi = np.maximum(hi, lo)
    ok = np.isfinite(v)
    ref = e[0]
    x = np.empty(2 * lo.size)
    x[0::2] = (lo - ref) / 1e9
    x[1::2] = (hi - ref) / 1e9
    dur = np.where(ok, (hi - lo) / 1e9, 0.0)
    vol = np.where(ok, v, 0.0) * dur
    cum_v, cum_c = np.cumsum(vol), np.cumsum(dur)
    fv = np.empty_like(x)
    fc = np.empty_like(x)
    fv[1::2], fc[1::2] = cum_v, cum_c
    fv[0::2], fc[0::2] = cum_v - vol, cum_c - dur
    xe = (e - ref) / 1e9
    V = np.diff(np.interp(xe, x, fv))
    C = np.diff(np.interp(xe, x, fc))
    length = np.diff(xe)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(C >= length * (1.0 - 1e-9), V / np.where(C > 0, C, 1.0), np.nan)


def axis_time(value: Any, tz: Any) -> pd.Timestamp:
    """A date or datetime of the network file on the model's time axis (time zone ``tz``, None = naive).

    Naive values (TOML dates ``2024-01-03``, local date-times) are read as times of the axis, i.e. UTC on a
    naive or UTC axis; tz-aware values (``2024-01-03T00:00:00Z``) are converted to the axis' zone, and to
    naive UTC on a naive axis. So agreement dates, outages and the time axis always compare.
    """
    ts = pd.Timestamp(value)
    if tz is None:
        return naive_utc(ts)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def resolve_series(spec: SeriesSpec, times: pd.DatetimeIndex, dt: float, where: str, network: Network,
                   external: dict[str, Any] | None = None, *, allow_inf: bool = False) -> np.ndarray:
    """Values of a series at every step, in SI (m3 s-1 or m s-1).

    Parameters
    ----------
    spec : SeriesSpec
    times : DatetimeIndex
        Start of each step.
    dt : float
        Step length [s].
    where : str
        Key of the series in the network file (for error messages).
    network : Network
    external : dict, optional
        Run-time inputs by name (``external = "name"`` series): arrays in SI per step, pandas
        Series indexed by time, or xarray DataArrays with a ``time`` dimension.
    allow_inf : bool
        Accept ``+inf`` (a link capacity: no limit); otherwise infinite values are refused like NaNs.

    Raises
    ------
    ConfigError, InputDataError, InputMissingError
        Series shorter than the run, missing file/column/station, missing units, NaN or infinite values.
    """
    n = len(times)
    kind = spec.kind
    factor = spec.factor
    edges = np.append(times.values, times.values[-1] + np.timedelta64(int(round(dt * 1e9)), "ns"))
    inline = None
    if spec.value is not None:
        inline = np.full(n, spec.value * (1.0 if spec.units in ("m3/s", "m/s") else to_si(1.0, spec.units or "", kind)) * factor)
    elif spec.monthly is not None:
        # calendar months (in the axis' zone; UTC on a naive axis) as period-start labelled means: a step that
        # straddles a month boundary takes the time-weighted mean, as every dated series (the volume is kept)
        conv = to_si(1.0, spec.units or "", kind)
        first = (times[0] - pd.DateOffset(months=1)).normalize().replace(day=1)
        last = times[-1] + pd.Timedelta(seconds=dt)
        months = pd.date_range(first, last + pd.DateOffset(months=1), freq="MS")
        mvals = np.asarray(spec.monthly, float)[months.month.values[:-1] - 1]
        bounds = np.stack([months.values[:-1], months.values[1:]], axis=1)
        inline = _step_average(months.values[:-1], mvals, edges, bounds) * conv * factor
    elif spec.values is not None:
        if len(spec.values) < n:
            raise network.error(where, f"series has {len(spec.values)} values but the run has {n} steps")
        inline = np.asarray(spec.values[:n], float) * to_si(1.0, spec.units or "", kind) * factor
    if inline is not None:
        _check_finite(inline, allow_inf, where, network, "the series", times, inline=True)
        return inline
    if spec.csv is not None:
        path = network.resolve_path(spec.csv)
        if not path.exists():
            raise InputMissingError(f"{network.source}: {where}: CSV file {path} not found")
        from hydro.io.tables import numeric_column, read_csv

        df = read_csv(path, f"{network.source}: {where}: {path}")
        for col in (spec.time_column, spec.column):
            if col not in df.columns:
                raise InputDataError(f"{network.source}: {where}: column {col!r} not in {path} "
                                     f"(columns: {list(df.columns)})")
        # UTC offsets (several in a file with daylight saving time) are converted to UTC; naive stamps are times of
        # the axis, like the dates of the network file (axis_time): UTC on a naive or UTC axis, else the axis' zone
        # (on a +08:00 axis they were read as UTC: 8 h off the agreement dates and monthly profiles of the same file)
        try:
            t = pd.to_datetime(df[spec.time_column], utc=True).dt.tz_localize(None).values.astype("datetime64[ns]")
            if times.tz is not None and str(times.tz) != "UTC":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # mixed offsets: not naive, read above
                    try:
                        loc = pd.to_datetime(df[spec.time_column])
                    except (ValueError, TypeError, OverflowError):
                        loc = None
                if loc is not None and pd.api.types.is_datetime64_dtype(loc.dtype) and getattr(loc.dt, "tz", None) is None:
                    try:
                        t = naive_utc(pd.DatetimeIndex(loc).tz_localize(times.tz)).values.astype("datetime64[ns]")
                    except Exception as exc:  # pytz's Ambiguous/NonExistentTimeError are no ValueErrors
                        raise InputDataError(f"{network.source}: {where}: {path}: column {spec.time_column!r}: a time "
                                             f"without UTC offset is not a single time in the axis' zone {times.tz} "
                                             f"({str(exc).splitlines()[0]}): give the offsets") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputDataError(f"{network.source}: {where}: {path}: column {spec.time_column!r} is not a date-time: "
                                 f"{str(exc).splitlines()[0]}") from None
        src = f"{path}:{spec.column}"
        blank = np.flatnonzero(np.isnat(t))
        if blank.size:  # a blank date stood for no time (NaT) and the steps around it were reported as not covered
            raise InputDataError(f"{network.source}: {where}: {path}: column {spec.time_column!r}: no date in data row "
                                 f"{int(blank[0]) + 1} ({blank.size} such row(s))")
        _unique_times(t, f"{network.source}: {where}: {src}")
        vals = _step_average(t, numeric_column(df, spec.column, f"{network.source}: {where}: {path}"), edges)
        units = spec.units
    elif spec.netcdf is not None:
        path = network.resolve_path(spec.netcdf)
        if not path.exists():
            raise InputMissingError(f"{network.source}: {where}: NetCDF file {path} not found")
        with open_netcdf(path) as ds:
            da = _pick_station(ds, spec, path, network, where)
            units = _stated_units(spec.units, da.attrs.get("units"), kind, f"{network.source}: {where}: {path}:"
                                  f"{spec.variable}")
            t = da["time"].values.astype("datetime64[ns]")
            _unique_times(t, f"{network.source}: {where}: {path}:{spec.variable}")
            bname = ds["time"].attrs.get("bounds") or ds["time"].encoding.get("bounds")
            bnds = None
            if bname:
                if bname not in ds.variables:
                    raise InputDataError(f"{network.source}: {where}: {path}: time has bounds {bname!r} but the "
                                         "file has no such variable")
                bnds = np.asarray(ds[bname].values)
                if bnds.shape != (t.size, 2) or not np.issubdtype(bnds.dtype, np.datetime64):
                    raise InputDataError(f"{network.source}: {where}: {path}: time bounds {bname!r} have shape "
                                         f"{bnds.shape} ({bnds.dtype}), expected ({t.size}, 2) date-times")
            elif ds.attrs.get("hydro_exchange_profile") and not _is_point(da.attrs) and t.size > 1:
                # a hydro-exchange file labels the END of each period (time_bnds are optional in the profile):
                # one regular step before each label, as hydro.exchange.read_exchange reads it
                step_s = float(np.median(np.diff(t.astype(np.int64)))) / 1e9
                bnds = _period_bounds(t, {"cell_methods": "time: mean", "period_s": step_s})
            if _is_point(da.attrs):
                vals = _point_average(t, da.values.astype(float), edges)  # instantaneous values, joined linearly
            else:
                vals = _step_average(t, da.values.astype(float), edges, bnds)
        src = f"{path}:{spec.variable}"
    else:
        ext = (external or {})
        if spec.external not in ext:
            raise InputMissingError(f"{network.source}: {where}: external series {spec.external!r} was not supplied "
                                    f"(pass inflows={{'{spec.external}': ...}}; supplied: {sorted(ext)})")
        obj = ext[spec.external]
        src = f"external {spec.external!r}"
        units = spec.units
        if hasattr(obj, "dims") and "time" in getattr(obj, "dims", ()):
            units = _stated_units(units, obj.attrs.get("units"), kind, f"{network.source}: {where}: {src}")
            # one series: the values of several stations or members flattened into one time axis were read as
            # consecutive steps (the routing module's discharge at named points has a station dimension)
            extra = [d for d in obj.dims if d != "time" and obj.sizes[d] != 1]
            if extra:
                raise InputDataError(f"{network.source}: {where}: {src} has dims {tuple(obj.dims)}: one series is "
                                     f"needed (select one, e.g. .sel({extra[0]}=...))")
            tt = obj["time"].values.astype("datetime64[ns]")
            _unique_times(tt, f"{network.source}: {where}: {src}")
            ov = np.asarray(obj.transpose("time", ...).values, float).reshape(tt.size)
            if _is_point(obj.attrs):
                vals = _point_average(tt, ov, edges)
            else:
                vals = _step_average(tt, ov, edges, _period_bounds(tt, obj.attrs))
        elif isinstance(obj, pd.Series) and isinstance(obj.index, pd.DatetimeIndex):
            # SI per step like arrays unless the Series states its units (``attrs["units"]``)
            units = (_stated_units(units, obj.attrs.get("units"), kind, f"{network.source}: {where}: {src}")
                     or ("m3/s" if kind == "flow" else "m/s"))
            tt = obj.index.values.astype("datetime64[ns]")
            _unique_times(tt, f"{network.source}: {where}: {src}")
            if _is_point(obj.attrs):
                vals = _point_average(tt, obj.to_numpy(float), edges)  # instantaneous values, joined linearly
            else:
                vals = _step_average(tt, obj.to_numpy(float), edges, _period_bounds(tt, obj.attrs))
        else:
            if isinstance(obj, pd.Series) and not pd.api.types.is_integer_dtype(obj.index.dtype):
                # dates read as text (read_csv without parse_dates), periods...: the labels were ignored and the
                # values taken as one per step from the first step on
                raise InputDataError(f"{network.source}: {where}: {src} is a pandas Series indexed by "
                                     f"{type(obj.index).__name__} ({obj.index.dtype}) labels, not by time: give it a "
                                     "DatetimeIndex (pd.to_datetime) to be read by date, or pass its values (one per "
                                     "step) as an array")
            # values per step that state their units (a pandas Series or an xarray DataArray without a time
            # dimension): "500 L/s" was read as 500 m3/s
            own = getattr(obj, "attrs", None)
            if isinstance(own, dict):
                units = _stated_units(units, own.get("units"), kind, f"{network.source}: {where}: {src}")
            try:
                arr = np.atleast_1d(np.asarray(obj, float))
            except (TypeError, ValueError) as exc:
                raise InputDataError(f"{network.source}: {where}: {src} is not a numeric series: {exc}") from None
            if arr.ndim != 1:
                raise InputDataError(f"{network.source}: {where}: {src} has shape {arr.shape}: one value per step "
                                     "(a 1-D array) is needed")
            if arr.size == 1:
                arr = np.full(n, float(arr[0]))
            if arr.size < n:
                raise InputDataError(f"{network.source}: {where}: {src} has {arr.size} values, the run needs {n}")
            vals = arr[:n]
            units = units or ("m3/s" if kind == "flow" else "m/s")
    if units is None:
        raise InputDataError(f"{network.source}: {where}: units missing for {src}")
    units = {"m3 s-1": "m3/s", "m3.s-1": "m3/s"}.get(units, units)
    try:
        conv = to_si(1.0, units, kind)
    except QuantityError as exc:
        raise InputDataError(f"{network.source}: {where}: {src}: {exc}") from None
    if np.isnan(vals).any():
        k = int(np.flatnonzero(np.isnan(vals))[0])
        raise InputDataError(f"{network.source}: {where}: {src} does not cover the run: no value for step {k} "
                             f"({pd.Timestamp(times[k]).isoformat()}; the series is missing, NaN or has a gap "
                             f"somewhere in that step — labels are period starts unless the file has CF time "
                             f"bounds); the run has {n} steps from {pd.Timestamp(times[0]).isoformat()}")
    out = vals * conv * factor
    _check_finite(out, allow_inf, where, network, src, times)
    return out


def _unique_times(t: np.ndarray, src: str) -> None:
    """A dated series with a repeated time is an error: one of the values would be dropped silently (each sample
    stands for the period up to the next label, so the first of two equal labels stood for nothing)."""
    idx = pd.DatetimeIndex(t)
    dup = idx.duplicated() & ~idx.isna()
    if dup.any():
        raise InputDataError(f"{src}: duplicate time {pd.Timestamp(t[dup][0]).isoformat()} "
                             f"({int(dup.sum())} repeated time(s)): give one value per time")


def _stated_units(given: str | None, found: Any, kind: str, src: str) -> str | None:
    """The units of a series that carries its own (a NetCDF variable's or an xarray/pandas ``units`` attribute):
    those of the file, or the network file's ``units`` when it states the same quantity; a different scale (``L/s``
    for a file in ``m3 s-1``) is an error, not a silent rescaling."""
    if found is None or str(found).strip() == "":
        return given
    found = {"m3 s-1": "m3/s", "m3.s-1": "m3/s"}.get(str(found), str(found))
    if given is None:
        return found
    given_n = {"m3 s-1": "m3/s", "m3.s-1": "m3/s"}.get(given, given)
    try:
        file_si = to_si(1.0, found, kind)
    except QuantityError:
        return given  # units hydro cannot read: the network file's units name them
    if not np.isclose(to_si(1.0, given_n, kind), file_si, rtol=1e-12, atol=0.0):
        raise InputDataError(f"{src}: units {given!r} given in the network file, but the series states {found!r}")
    return given


def _check_finite(vals: np.ndarray, allow_inf: bool, where: str, network: Network, src: str,
                  times: pd.DatetimeIndex, inline: bool = False) -> None:
    """NaN, and infinite values unless ``allow_inf`` (``+inf`` only), are an error naming the key and the step
    (a :class:`ConfigError` for values written in the network file, else an :class:`InputDataError`)."""
    bad = ~np.isfinite(vals)
    if allow_inf:
        bad &= ~np.isposinf(vals)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        msg = (f"{src} has {'a NaN' if np.isnan(vals[k]) else 'an infinite'} value at step {k} "
               f"({pd.Timestamp(times[k]).isoformat()})")
        if inline:
            raise network.error(where, msg)
        raise InputDataError(f"{network.source}: {where}: {msg}")


def _pick_station(ds: Any, spec: SeriesSpec, path: Path, network: Network, where: str) -> Any:
    if spec.variable not in ds:
        raise InputDataError(f"{network.source}: {where}: variable {spec.variable!r} not in {path}")
    da = ds[spec.variable]
    extra = [d for d in da.dims if d != "time"]
    if not extra:
        return da
    if spec.station is None:
        raise InputDataError(f"{network.source}: {where}: {path}:{spec.variable} has dims {da.dims}; give 'station'")
    # the station dimension is the one of the timeSeries ids (cf_role); an exchange ensemble has a realization too
    dim, ids = None, None
    for name, var in ds.variables.items():
        if var.attrs.get("cf_role") == "timeseries_id" and len(var.dims) == 1 and var.dims[0] in extra:
            dim = var.dims[0]
            ids = [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(var.values).ravel()]
            break
    if dim is None:
        dim = extra[0] if len(extra) == 1 else None
        if dim is not None and dim in ds.coords:
            ids = [str(x) for x in ds[dim].values]
    others = [d for d in extra if d != dim]
    if others:
        raise InputDataError(f"{network.source}: {where}: {path}:{spec.variable} has dims {da.dims}: one series per "
                             f"input is needed; an ensemble ({', '.join(others)}) is run member by member as "
                             "scenarios (hydro.allocation.run_scenarios, each member an external series)")
    if ids is None or spec.station not in ids:
        raise InputDataError(f"{network.source}: {where}: station {spec.station!r} not in {path} (ids: {ids})")
    return da.isel({dim: ids.index(spec.station)})
