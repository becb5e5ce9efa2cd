"""Registry of agreement types and their exact per-step meaning.

Each agreement is a pydantic model registered under its ``type`` name (as pywr registers node
types). Its hooks follow the pywr lifecycle:

``setup(model)``           add claims / rows to the LP (once)
``before(model, ctx, st)`` evaluate the rule from start-of-step state: bounds, claim amounts
``after(model, ctx, st, res)`` update its state (licence use, account balances, tier, debit)
``record(model, st)``      values written to the outputs (account balances, tier, ...)

Volumes are m3 per step inside the model; see ``docs/allocation.md`` for the equations.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator


from hydro.allocation.network import _quantity_validator, _series, _when, axis_time
from hydro.allocation.units import parse_quantity

__all__ = ["REGISTRY", "register", "parse_agreement", "Agreement"]

REGISTRY: dict[str, type["Agreement"]] = {}
INF = float("inf")


class KeyedValueError(ValueError):
    """A validation error about one key of an agreement: ``parse_agreement`` appends ``key`` to the
    reported location (``agreements[3].rate: ...``) for errors raised by model validators."""

    def __init__(self, key: str, msg: str):
        super().__init__(msg)
        self.key = key


def register(cls: type["Agreement"]) -> type["Agreement"]:
    """Class decorator adding an agreement type to :data:`REGISTRY`."""
    REGISTRY[cls.model_fields["type"].annotation.__args__[0]] = cls  # Literal["name"]
    return cls


class Agreement(BaseModel):
    """Base of every agreement: a name, the parties, an optional validity period."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    start: _dt.date | _dt.datetime | None = None
    end: _dt.date | _dt.datetime | None = None
    _v_when = field_validator("start", "end", mode="before")(_when)
    phase: ClassVar[int] = 50
    #: recorded quantities (key after ``"<name>:"``, or its first ``:``-part) that are volumes within one step
    #: (``time: sum``); every other recorded quantity is a balance at the end of the step (``time: point``)
    step_amounts: ClassVar[tuple[str, ...]] = ()
    _index: int = PrivateAttr(0)
    _where: str = PrivateAttr("")
    _validity: dict = PrivateAttr(default_factory=dict)

    @property
    def index(self) -> int:
        return self._index

    def parties(self) -> list[str]:
        return []

    def check(self, net: Any, where: str) -> None:
        """Check references to nodes, links and parties (raise ``net.error``)."""

    def validity(self, tz: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """``start`` and ``end`` on the model's time axis (zone ``tz``; see ``network.axis_time``)."""
        cache = self._validity
        key = str(tz)
        if key not in cache:
            cache[key] = (None if self.start is None else axis_time(self.start, tz),
                          None if self.end is None else axis_time(self.end, tz))
        return cache[key]

    def active(self, ctx: Any) -> bool:
        t = ctx.time
        start, end = self.validity(t.tz)
        if start is not None and t < start:
            return False
        if end is not None and t >= end:
            return False
        return True

    def setup(self, m: Any) -> None:
        pass

    def initial_state(self, m: Any) -> Any:
        return {}

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        pass

    def after(self, m: Any, ctx: Any, st: Any, res: dict[str, Any]) -> None:
        pass

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {}

    def is_step_amount(self, key: str) -> bool:
        """True when the recorded quantity ``key`` (a column of ``agreement_state``) is a volume within the step."""
        part = key.removeprefix(f"{self.name}:").split(":")[0]
        return part in self.step_amounts

    # helpers
    def _link(self, net: Any, lid: str, key: str) -> None:
        if lid not in net.links:
            raise net.error(f"{self._where}.{key}", f"agreement {self.name!r} names unknown link {lid!r}")

    def _flow_link(self, net: Any, lid: str, key: str) -> None:
        """A link whose flow the agreement requires, caps or closes: not a lagged return-flow link. Its water
        left the demand ``lag`` steps earlier (``ρ ×`` that delivery) and is not a column of the step's LP: a
        required flow on it was never met and was explained as 'link ... at capacity' while the return flowed, a
        cut or closure did nothing, a reciprocal bound on it as ``take_link`` closed the return link."""
        self._link(net, lid, key)
        lk = net.links[lid]
        if lk.return_fraction is not None and lk.lag > 0:
            raise net.error(f"{self._where}.{key}", f"agreement {self.name!r}: link {lid!r} is the lagged return "
                            f"flow of demand {lk.from_!r} (lag {lk.lag}: its flow is set by that demand's delivery "
                            f"{lk.lag} step(s) earlier, not in this step's allocation); name a link that carries the "
                            f"water on from {lk.to!r} instead")

    def _node(self, net: Any, nid: str, key: str, types: tuple[str, ...] | None = None) -> None:
        if nid not in net.nodes:
            raise net.error(f"{self._where}.{key}", f"agreement {self.name!r} names unknown node {nid!r}")
        if types and net.nodes[nid].type not in types:
            raise net.error(f"{self._where}.{key}", f"agreement {self.name!r}: node {nid!r} is a "
                            f"{net.nodes[nid].type}, expected {' or '.join(types)}")

    def _party(self, net: Any, party: str, key: str) -> None:
        if party not in net.regions:
            raise net.error(f"{self._where}.{key}", f"agreement {self.name!r} names party {party!r} that does not "
                            f"exist (regions: {sorted(net.regions)})")

    def _demand(self, net: Any, did: str, party: str | None, key: str) -> None:
        self._node(net, did, key, ("demand",))
        if party is not None and net.nodes[did].region != party:
            raise net.error(f"{self._where}.{key}", f"demand {did!r} belongs to {net.nodes[did].region!r}, "
                            f"not to party {party!r}")


def parse_agreement(data: dict[str, Any], i: int, net: Any) -> Agreement:
    """Validate one ``[[agreements]]`` table into its registered type."""
    where = f"agreements[{i}]"
    if not isinstance(data, dict) or "type" not in data:
        raise net.error(where, f"agreement needs a 'type' (one of {sorted(REGISTRY)})")
    cls = REGISTRY.get(data["type"])
    if cls is None:
        raise net.error(f"{where}.type", f"unknown agreement type {data['type']!r} (known: {sorted(REGISTRY)})")
    data = {"name": f"{data['type']}_{i}", **data}
    try:
        ag = cls.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        loc = list(e["loc"])
        exc = (e.get("ctx") or {}).get("error")
        if isinstance(exc, KeyedValueError):
            loc.append(exc.key)
        key = ".".join(str(x) if not isinstance(x, int) else f"[{x}]" for x in loc).replace(".[", "[")
        raise net.error(f"{where}.{key}" if key else where,
                        f"{e['msg'].removeprefix('Value error, ')} (agreement {data.get('name')!r})") from None
    ag._index = i
    ag._where = where
    for k, p in enumerate(ag.parties()):
        ag._party(net, p, "party")
    ag.check(net, where)
    return ag


def _valid_overlap(ag: Agreement, other: dict[str, Any]) -> bool:
    """True when ``ag`` and an earlier agreement table ``other`` are valid at a common time (their ``[start, end)``
    intervals overlap; dates read as on a naive axis, see ``network.axis_time``)."""
    def t(v: Any) -> pd.Timestamp | None:
        return None if v is None else axis_time(_when(v), None)

    s1, e1, s2, e2 = t(ag.start), t(ag.end), t(other.get("start")), t(other.get("end"))
    return (s1 is None or e2 is None or s1 < e2) and (s2 is None or e1 is None or s2 < e1)


def _q(m: Any, ag: Agreement, value: Any, kind: str, key: str) -> float:
    return m.quantity(value, kind, f"{ag._where}.{key}")


# =============================================================================== 1-4 claims
class Tranche(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: str
    priority: int = Field(ge=1)
    _v = field_validator("rate")(_quantity_validator("flow"))


@register
class Entitlement(Agreement):
    """Fixed entitlement with the surplus as a junior claim (allocation.md §2.3).

    Tranche k claims ``min(D − Σ_{j<k} E_j, E_k)`` at its priority; the remainder ``max(0, D − ΣE)``
    is claimed at ``surplus_priority`` (none: the party gets at most ΣE). Outside ``start``/``end``
    the whole demand is a claim at ``surplus_priority`` (or nothing).
    """

    type: Literal["entitlement"]
    party: str
    demand: str
    rate: str | None = None
    priority: int | None = Field(None, ge=1)
    tranches: list[Tranche] = []
    surplus_priority: int | None = Field(None, ge=1)
    weight: Literal["claim", "entitlement"] = "claim"
    phase: ClassVar[int] = 20
    _v = field_validator("rate")(_quantity_validator("flow"))

    @model_validator(mode="after")
    def _t(self) -> "Entitlement":
        if self.rate is not None:
            if self.priority is None:
                raise ValueError("'rate' needs 'priority'")
            self.tranches = [Tranche(rate=self.rate, priority=self.priority)] + list(self.tranches)
        if not self.tranches:
            raise ValueError("give 'rate' and 'priority' or a list of 'tranches'")
        return self

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        self._demand(net, self.demand, self.party, "demand")
        _check_one_replacer(self, net, where, [(self.demand, "demand")])

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        d = m.dem_ix[self.demand]
        m.drop_default_claim(d)
        self._rates = [_q(m, self, t.rate, "flow", f"tranches[{j}].rate") * m.dt for j, t in enumerate(self.tranches)]
        self._claims = [m.add_claim(Claim(f"{self.demand}:{self.name}:{j + 1}", "tranche", d, t.priority, self.party,
                                          self.name, self.demand)) for j, t in enumerate(self.tranches)]
        self._surplus = -1
        if self.surplus_priority is not None:
            self._surplus = m.add_claim(Claim(f"{self.demand}:{self.name}:surplus", "tranche", d, self.surplus_priority,
                                              self.party, self.name, self.demand))
        self._d = d

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        D = ctx.demand[self._d]
        left = D
        on = self.active(ctx)
        for k, rate in zip(self._claims, self._rates):
            a = min(left, rate) if on else 0.0
            ctx.claim_amount[k] = a
            if self.weight == "entitlement":
                ctx.claim_weight[k] = rate
            left -= a
        if self._surplus >= 0:
            ctx.claim_amount[self._surplus] = max(0.0, left)
        elif left > 1e-12:
            for k in self._claims:
                ctx.notes.setdefault(k, []).append(("agreement_cap", f"entitlement {self.name} (demand above the entitlement is not claimed)"))


#: agreements that replace a demand's default tranche by their own claims (key naming the demand(s))
_REPLACES_DEFAULT = {"entitlement": "demand", "banking": "demand", "period_entitlement": "demand",
                     "pro_rata": "parties"}


def _covered_demands(typ: str | None, data: Any) -> list[Any]:
    """Demands whose default tranche an agreement (raw dict of the network file) replaces."""
    key = _REPLACES_DEFAULT.get(typ) if isinstance(data, dict) else None
    if key is None:
        return []
    if key == "parties":
        return [p.get("demand") for p in data.get(key) or [] if isinstance(p, dict)]
    return [data.get(key)]


def _check_one_replacer(ag: "Agreement", net: Any, where: str, demands: list[tuple[str, str]]) -> None:
    """A demand's default tranche is replaced by at most one agreement (``entitlement``, ``banking``,
    ``period_entitlement``, ``pro_rata``), and a ``pro_rata`` lists a demand once: each of them claims the whole
    request ``D`` over its tranches, so two of them claimed ``2 D`` and delivered twice the request."""
    seen: set[str] = set()
    for did, key in demands:
        if did in seen:
            raise net.error(f"{where}.{key}", f"demand {did!r} is listed twice in agreement {ag.name!r}: each entry "
                                              f"claims the whole request (it would be delivered twice)")
        seen.add(did)
        for j, other in enumerate(net.spec.agreements):
            if j >= ag._index or not isinstance(other, dict):
                continue
            typ = other.get("type")
            if did in _covered_demands(typ, other):
                name = other.get("name", f"{typ}_{j}")
                raise net.error(f"{where}.{key}", f"demand {did!r} is also covered by {typ} {name!r} (agreements[{j}]);"
                                                  f" both replace the demand's default tranche and each claims the "
                                                  f"whole request (it would be delivered twice): give one agreement "
                                                  f"per demand (e.g. several 'tranches' of one entitlement)")


@register
class MinimumDelivery(Agreement):
    """Contractual minimum / take-or-pay delivery, a soft lower bound (allocation.md §2.4).

    ``x_{d,t} ≥ m_t`` is written as a claim of ``min(m_t, D_t)`` on the demand at ``priority``
    (tranche ``<demand>:<name>``, default priority 1), with ``m_t`` = ``minimum`` (a flow quantity or
    series, m3 s-1 → m3 per step) and ``D_t`` the demand's request after drought cuts. The rest of
    the request, ``D_t − min(m_t, D_t)``, stays on the demand's own default tranche at the demand's
    ``priority``. The minimum is soft: what the claim does not get is reported as its shortfall
    (claims table, explanations, and the recorded ``minimum_shortfall`` in m3 per step). Within its
    priority level the minimum shares a shortage with the other claims by equal coverage (weights
    = claim amounts). Outside ``start``/``end`` the whole request is on the default tranche.

    A demand whose default tranche is replaced by another agreement (``entitlement``, ``banking``,
    ``period_entitlement``, ``pro_rata``), or that has a second ``minimum_delivery``, cannot take
    one (configuration error): write the minimum as a tranche of that agreement instead.
    """

    step_amounts: ClassVar[tuple[str, ...]] = ("minimum_shortfall",)

    type: Literal["minimum_delivery"]
    party: str
    demand: str
    minimum: Any
    priority: int = Field(1, ge=1)
    phase: ClassVar[int] = 20
    _v = field_validator("minimum", mode="before")(_series("flow"))

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        self._demand(net, self.demand, self.party, "demand")
        for j, other in enumerate(net.spec.agreements):
            if j == self._index or not isinstance(other, dict):
                continue
            typ = other.get("type")
            name = other.get("name", f"{typ}_{j}")
            if typ == "minimum_delivery" and other.get("demand") == self.demand and j < self._index:
                raise net.error(f"{where}.demand", f"demand {self.demand!r} already has minimum_delivery {name!r} "
                                                   f"(agreements[{j}]): give one minimum per demand")
            key = _REPLACES_DEFAULT.get(typ)
            if key is None:
                continue
            covered = ([p.get("demand") for p in other.get(key) or [] if isinstance(p, dict)] if key == "parties"
                       else [other.get(key)])
            if self.demand in covered:
                raise net.error(f"{where}.demand", f"demand {self.demand!r} is also covered by {typ} {name!r} "
                                                   f"(agreements[{j}]), which replaces the demand's default tranche "
                                                   f"that minimum_delivery {self.name!r} splits: use one of the two "
                                                   f"(e.g. the minimum as a senior tranche of the {typ})")

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        d = m.dem_ix[self.demand]
        self._d = d
        self._default = m.default_claim(d)
        if self._default < 0:  # (check() rejects the agreements that drop it; kept for agreements added later)
            raise m.net.error(f"{self._where}.demand", f"demand {self.demand!r} has no default tranche left to split "
                                                       f"(another agreement replaces it)")
        self._m = m._series(self.minimum, f"{self._where}.minimum") * m.dt
        if (self._m < 0).any():
            raise m.net.error(f"{self._where}.minimum", f"minimum_delivery {self.name!r}: negative minimum at step "
                                                        f"{int(np.argmax(self._m < 0))}")
        self._k = m.add_claim(Claim(f"{self.demand}:{self.name}", "tranche", d, self.priority, self.party, self.name,
                                    self.demand))

    def initial_state(self, m: Any) -> Any:
        return {"claimed": 0.0, "shortfall": 0.0}

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        D = ctx.demand[self._d]
        a = min(float(self._m[ctx.t]), D) if self.active(ctx) else 0.0
        ctx.claim_amount[self._k] = a
        # the rest of the request stays on the demand's default tranche (set just before this phase)
        ctx.claim_amount[self._default] = max(0.0, D - a)
        st["claimed"] = a

    def after(self, m: Any, ctx: Any, st: Any, res: dict[str, Any]) -> None:
        # against the claim as solved (a delivery cap of the demand may have lowered it after ``before``)
        st["claimed"] = float(ctx.claim_amount[self._k])
        st["shortfall"] = max(0.0, st["claimed"] - float(res["claims"][self._k]))

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {f"{self.name}:minimum_shortfall": st["shortfall"]}


class ProRataParty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str
    demand: str
    entitlement: str
    _v = field_validator("entitlement")(_quantity_validator("flow"))


@register
class ProRata(Agreement):
    """Pro-rata curtailment of entitlements in shortage (allocation.md §2.7).

    Each party claims ``min(D_i, E_i)`` at ``priority`` with water-filling weight ``E_i``:
    ``x_i = min(D_i, u_i, c·E_i)`` with the largest feasible common ``c`` (SWP "% of Table A";
    caps ``u_i`` from pipes, licences or delivery caps are water-filled). The remainder
    ``D_i − E_i`` is claimed at ``surplus_priority`` if given.
    """

    type: Literal["pro_rata"]
    priority: int = Field(ge=1)
    parties_: list[ProRataParty] = Field(alias="parties")
    surplus_priority: int | None = Field(None, ge=1)
    phase: ClassVar[int] = 20

    def parties(self) -> list[str]:
        return [p.party for p in self.parties_]

    def check(self, net: Any, where: str) -> None:
        for j, p in enumerate(self.parties_):
            self._demand(net, p.demand, p.party, f"parties[{j}].demand")
        _check_one_replacer(self, net, where, [(p.demand, f"parties[{j}].demand") for j, p in enumerate(self.parties_)])

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        self._items = []
        for j, p in enumerate(self.parties_):
            d = m.dem_ix[p.demand]
            m.drop_default_claim(d)
            E = _q(m, self, p.entitlement, "flow", f"parties[{j}].entitlement") * m.dt
            k = m.add_claim(Claim(f"{p.demand}:{self.name}", "tranche", d, self.priority, p.party, self.name, p.demand))
            s = -1
            if self.surplus_priority is not None:
                s = m.add_claim(Claim(f"{p.demand}:{self.name}:surplus", "tranche", d, self.surplus_priority, p.party,
                                      self.name, p.demand))
            self._items.append((d, E, k, s))

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        on = self.active(ctx)
        for d, E, k, s in self._items:
            D = ctx.demand[d]
            ctx.claim_amount[k] = min(D, E) if on else 0.0
            ctx.claim_weight[k] = E
            if s >= 0:
                ctx.claim_amount[s] = D - ctx.claim_amount[k]
            elif on and D - E > 1e-12:  # as for an entitlement: the demand above E is not claimed, by the agreement
                ctx.notes.setdefault(k, []).append(
                    ("agreement_cap", f"pro-rata entitlement {self.name} (demand above the entitlement is not claimed)"))


@register
class SupplyPreference(Agreement):
    """A party's order of sources: links in ``order`` are drawn first to last (allocation.md §2.2).

    After all priorities are fixed, ``Σ π_e (1 − λ_e) f_e`` — π times the water each link delivers
    (its outlet flow) — is minimised with ``π`` = position in ``order`` (1, 2, ...) and the optimum is
    pinned before the final tie-break; a preference therefore never changes how much any claim
    receives, only from where, and a lossy preferred link is still drawn first (its losses are not
    counted against it).
    """

    type: Literal["supply_preference"]
    party: str
    order: list[str]
    phase: ClassVar[int] = 5

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        for j, lid in enumerate(self.order):
            self._link(net, lid, f"order[{j}]")
        for j, lid in enumerate(self.order):
            # a link outside every order costs nothing in Σ π (1 − λ) f: an unlisted link into the same node
            # would be drawn before all listed ones (order = ["wells"] drew the river first)
            to = net.links[lid].to
            for other in net.links.values():
                if other.to == to and other.id not in self.order and other.return_fraction is None:
                    raise net.error(f"{where}.order[{j}]", f"supply_preference {self.name!r}: link {other.id!r} also "
                                    f"brings water into {to!r} but is not in 'order' (a link outside the order would "
                                    f"be drawn before the listed ones): list it too, last if it is the last resort")
        for i, other in enumerate(net.spec.agreements):
            # one rank per link: two orders on one link were combined by their larger rank, so two parties'
            # opposite orders on shared links cancelled each other silently
            if (i < self._index and isinstance(other, dict) and other.get("type") == "supply_preference"
                    and _valid_overlap(self, other)):
                common = [lid for lid in self.order if lid in (other.get("order") or [])]
                if common:
                    raise net.error(f"{where}.order[{self.order.index(common[0])}]",
                                    f"link {common[0]!r} is also in supply_preference "
                                    f"{other.get('name', f'supply_preference_{i}')!r} (agreements[{i}]) valid at the "
                                    f"same time: a link can have one rank only (give each party its own offtake links)")

    def setup(self, m: Any) -> None:
        self._pref = []
        for j, lid in enumerate(self.order):
            e = m.link_ix[lid]
            m.preference[e] = max(m.preference[e], float(j + 1))
            self._pref.append((e, float(j + 1)))

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        # the order applies only while the agreement is valid (start/end)
        if self.active(ctx) and ctx.preference is not None:
            for e, pi in self._pref:
                ctx.preference[e] = max(ctx.preference[e], pi)


@register
class LevelSharing(Agreement):
    """How the claims of one priority level share a shortage: ``equal`` (default) or ``max_total``.

    ``equal``: lexicographic max-min of coverage (water-filling). ``max_total``: maximise the sum of
    the level's deliveries only (the split is then decided by the tie-break rule).
    """

    type: Literal["level_sharing"]
    priority: int = Field(ge=0)
    sharing: Literal["equal", "max_total"]
    phase: ClassVar[int] = 1

    def setup(self, m: Any) -> None:
        m.level_sharing[self.priority] = self.sharing

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        # outside start/end the level shares by the default rule (equal coverage)
        if not self.active(ctx) and ctx.level_sharing is not None:
            ctx.level_sharing.pop(self.priority, None)


# =============================================================================== 5 licences
@register
class Licence(Agreement):
    """Period volume entitlement (allocation.md §2.5).

    Row ``Σ_{d ∈ demands} x_{d,t} ≤ V + carry − U_{t−1}`` (m3 per step). ``period``:

    * ``annual`` / ``seasonal``: ``U`` resets to 0 at each ``reset`` date (``MM-DD``); at reset
      ``carry = min(carry_over_max, carry_over_fraction × unused)``; ``months`` restricts use to
      the listed months (seasonal licence);
    * ``rolling``: ``Σ_{τ=t−W+1}^{t} x_τ ≤ V`` over ``window`` steps (pywr RollingVirtualStorage);
    * ``even``: ``x_t ≤ (V + carry − U_{t−1}) / steps_left`` (pywr AnnualLicense); ``steps_left``
      counts every step starting in the period from the current one on, also beyond the end of
      the run;
    * ``running_average`` (Delaware decree: 800 mgd as a running average since June 1):
      ``Σ_{τ=t0}^{t} x_τ ≤ r̄ Δt (t − t0 + 1)``, i.e. the row ``x_t ≤ r̄ Δt n_t − U_{t−1}`` with
      ``r̄`` = ``rate`` (a flow, e.g. ``"800 mgd"``; converted to m3 s-1), ``t0`` the last ``reset``
      date (``U`` resets to 0 there, as ``annual``) and ``n_t = ⌊(t − t0)/Δt⌋ + 1`` the steps of the
      time axis since ``t0`` including this one (counted on the calendar, also before the run
      start and before ``start``). Allowance not used earlier in the period stays usable later in
      the period. No ``volume`` and no carry-over (both rejected).

    Only deliveries while the licence is valid (``start``/``end``) count as use; use before the
    start of the run is taken as 0.
    """

    type: Literal["licence"]
    party: str
    demands: list[str]
    volume: str | None = None
    rate: str | None = None
    period: Literal["annual", "seasonal", "rolling", "even", "running_average"] = "annual"
    reset: str = "01-01"
    months: list[int] | None = None
    window: int | None = Field(None, ge=1)
    carry_over_max: str = "0 m3"
    carry_over_fraction: float = Field(0.0, ge=0.0, le=1.0)
    phase: ClassVar[int] = 40
    _v = field_validator("volume", "carry_over_max")(_quantity_validator("volume"))
    _vr = field_validator("rate")(_quantity_validator("flow"))

    @field_validator("reset")
    @classmethod
    def _reset(cls, v: str) -> str:
        if v == "02-29":
            raise ValueError("reset '02-29' exists only in leap years: give '03-01' (or '02-28')")
        try:
            _dt.date(2001, int(v[:2]), int(v[3:5]))
            assert len(v) == 5 and v[2] == "-"
        except (ValueError, AssertionError):
            raise ValueError(f"reset must be 'MM-DD' (a day of every year), got {v!r}") from None
        return v

    @field_validator("months")
    @classmethod
    def _months(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(not 1 <= k <= 12 for k in v) or len(set(v)) != len(v)):
            raise ValueError(f"months must list distinct months 1..12 (January = 1), got {v!r}")
        return v

    @model_validator(mode="after")
    def _w(self) -> "Licence":
        if self.period == "rolling" and self.window is None:
            raise KeyedValueError("window", "rolling licences need 'window' (steps)")
        if self.period == "running_average":
            if self.rate is None:
                raise KeyedValueError("rate", "period = 'running_average' needs 'rate', the average flow r̄ allowed "
                                              "since the reset date (e.g. '800 mgd'); it takes no 'volume'")
            if self.volume is not None:
                raise KeyedValueError("volume", "period = 'running_average' limits the average rate since the reset "
                                                "date: give 'rate' only ('volume' is not used by this period)")
            for key in ("carry_over_max", "carry_over_fraction"):
                if key in self.model_fields_set:
                    raise KeyedValueError(key, "carry-over does not apply to period = 'running_average' (allowance "
                                               "unused earlier in the period stays usable until the next reset)")
        else:
            if self.rate is not None:
                raise KeyedValueError("rate", f"'rate' is only for period = 'running_average'; period = "
                                              f"{self.period!r} takes 'volume'")
            if self.volume is None:
                raise KeyedValueError("volume", f"period = {self.period!r} needs 'volume' (only period = "
                                                f"'running_average' takes a 'rate' instead)")
        return self

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        for j, d in enumerate(self.demands):
            self._demand(net, d, self.party, f"demands[{j}]")

    def setup(self, m: Any) -> None:
        self._V = _q(m, self, self.volume, "volume", "volume") if self.volume is not None else 0.0
        self._K = _q(m, self, self.carry_over_max, "volume", "carry_over_max")
        # running average: allowance r̄ Δt per step since the reset date [m3 per step]
        self._R = _q(m, self, self.rate, "flow", "rate") * m.dt if self.rate is not None else 0.0
        ds = [m.dem_ix[d] for d in self.demands]
        self._ds = ds
        claims = {k: 1.0 for d in ds for k in m.demand_claims(d)}
        self._row = m.add_row({"claim": claims}, name=self.name, kind="agreement_cap",
                              label=f"licence {self.name} exhausted", demands=ds)
        mo, dd = int(self.reset[:2]), int(self.reset[3:])
        starts = []
        for t in m.times:
            ps = pd.Timestamp(year=t.year, month=mo, day=dd, tz=t.tz)
            if ps > t:
                ps = pd.Timestamp(year=t.year - 1, month=mo, day=dd, tz=t.tz)
            starts.append(ps)
        self._pstart = starts
        # steps of the time axis since the period start, including the current one: ⌊(t − t0)/Δt⌋ + 1
        step = pd.Timedelta(seconds=m.dt)
        self._since = np.array([(t - ps) // step + 1 for t, ps in zip(m.times, starts)], dtype=np.int64)
        if self.months is not None and self.period == "running_average":
            # a seasonal running average accrues its allowance only on the steps that start in ``months``
            # (the allowance of the months the licence cannot be used in is not saved up for the season)
            self._since = self._steps_in_months(m.times, starts, self._since, step)
        # steps left in the period (incl. the current one) on which the licence may be used: with
        # ``months`` only the steps starting in those months (a seasonal licence spread evenly over its
        # season, not over the whole year of which it could use only the season's fraction)
        months = set(self.months) if self.months is not None else None
        usable = np.array([months is None or t.month in months for t in m.times], dtype=np.int64)
        n = len(starts)
        left = usable.copy()
        for t in range(n - 2, -1, -1):
            if starts[t + 1] == starts[t]:
                left[t] = left[t + 1] + usable[t]
        # the last period may run past the end of the run: count its full length
        if n:
            last_start = starts[-1]
            nxt = pd.Timestamp(year=last_start.year + 1, month=mo, day=dd, tz=last_start.tz)
            # steps that start after the last step of the run and before the next reset: ⌈gap / Δt⌉ − 1
            extra = max(int(np.ceil((nxt - m.times[-1]) / step)) - 1, 0)
            if months is not None and extra:
                later = pd.date_range(m.times[-1] + step, periods=extra, freq=step)
                extra = int(np.isin(later.month, sorted(months)).sum())
            for t in range(n - 1, -1, -1):
                if starts[t] != last_start:
                    break
                left[t] += extra
        self._left = left

    def _steps_in_months(self, times: Any, starts: list[Any], since: np.ndarray, step: pd.Timedelta) -> np.ndarray:
        """Steps of the time axis from each step's period start to it (inclusive) that start in ``months``."""
        assert self.months is not None
        out = np.zeros(len(times), dtype=np.int64)
        i, n = 0, len(times)
        while i < n:
            j = i
            while j + 1 < n and starts[j + 1] == starts[i]:
                j += 1
            first = times[i] - (int(since[i]) - 1) * step  # first step of the axis on or after the period start
            grid = pd.date_range(first, times[j], freq=step)
            cum = np.cumsum(np.isin(grid.month, sorted(self.months)))
            for t in range(i, j + 1):
                out[t] = int(cum[(times[t] - first) // step])
            i = j + 1
        return out

    def initial_state(self, m: Any) -> Any:
        return {"used": 0.0, "carry": 0.0, "history": [], "remaining": self._V, "valid": False}

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        t = ctx.t
        if t > 0 and self._pstart[t] != self._pstart[t - 1] and self.period != "rolling":
            # carry-over only from a period in which the licence was valid (at least one step): a period before
            # ``start`` (or after ``end``) had no volume to leave unused
            unused = max(0.0, self._V + st["carry"] - st["used"]) if st.get("valid", True) else 0.0
            st["carry"] = min(self._K, self.carry_over_fraction * unused)
            st["used"] = 0.0
            st["valid"] = False
        if not self.active(ctx):
            ctx.row_ub[self._row] = INF
            return
        st["valid"] = True
        if self.period == "rolling":
            W = int(self.window or 1)
            rem = self._V - sum(st["history"][-(W - 1):]) if W > 1 else self._V
        elif self.period == "running_average":
            rem = self._R * int(self._since[t]) - st["used"]
        else:
            rem = self._V + st["carry"] - st["used"]
            if self.period == "even":
                rem = rem / max(int(self._left[t]), 1)
        if self.months is not None and ctx.time.month not in self.months:
            rem = 0.0
        ctx.row_ub[self._row] = max(rem, 0.0)
        st["remaining"] = max(rem, 0.0)

    def after(self, m: Any, ctx: Any, st: Any, res: dict[str, Any]) -> None:
        # use outside the validity period (before ``start``, from ``end`` on) is not licensed use
        used = float(sum(res["delivered"][d] for d in self._ds)) if self.active(ctx) else 0.0
        st["used"] += used
        st["history"].append(used)
        if self.window:
            st["history"] = st["history"][-int(self.window):]

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {f"{self.name}:licence_used": st["used"], f"{self.name}:carry_over": st["carry"]}


# =============================================================================== 6, 15 shares & reserve
class ShareItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str
    link: str
    fraction: float = Field(ge=0.0, le=1.0)


@register
class Share(Agreement):
    """Percentage share of the water available at a source (allocation.md §2.6, §2.15).

    ``A_t`` = the source's inflow of the step (``available = "inflow"``) or, for a reservoir, its
    usable water ``max(0, S_{t−1} + I_t − Evap_t − dead)`` (``"storage"``), minus any ``reserve``
    agreement on the same source. Each party draws through its offtake link ``e_i``; ``α_i A_t`` is
    water drawn from the source, i.e. a cap on the link's inlet flow whatever its capacity basis.

    * ``unused = "lapse"``: ``f_{e_i} ≤ α_i A_t``; an unused share stays in the source;
    * ``unused = "redistribute"``: ``Σ_i f_{e_i} ≤ A_t`` and the parties' claims at ``priority`` are
      water-filled with weights ``α_i A_t``, i.e. ``f_i = min(u_i, c·α_i A_t)`` — a share not
      needed by one party goes to the others in proportion to their shares.

    For ``unused = "account"`` use a ``storage_accounts`` agreement.
    """

    step_amounts: ClassVar[tuple[str, ...]] = ("available",)

    type: Literal["share"]
    source: str
    available: Literal["inflow", "storage"] = "inflow"
    shares: list[ShareItem]
    unused: Literal["lapse", "redistribute"] = "lapse"
    priority: int | None = Field(None, ge=1)
    phase: ClassVar[int] = 50

    @field_validator("unused", mode="before")
    @classmethod
    def _acc(cls, v: Any) -> Any:
        if v == "account":
            raise ValueError("unused = 'account' is declared as a storage_accounts agreement on the reservoir")
        return v

    @model_validator(mode="after")
    def _sum(self) -> "Share":
        s = sum(x.fraction for x in self.shares)
        if abs(s - 1.0) > 1e-6:
            raise ValueError(f"share fractions must sum to 1, got {s:g}")
        if self.unused == "redistribute" and self.priority is None:
            raise ValueError("unused = 'redistribute' needs 'priority' for the parties' claims")
        return self

    def parties(self) -> list[str]:
        return [x.party for x in self.shares]

    def check(self, net: Any, where: str) -> None:
        self._node(net, self.source, "source", ("reservoir", "intake", "inflow", "groundwater"))
        if self.available == "storage" and net.nodes[self.source].type != "reservoir":
            raise net.error(f"{where}.available", "available = 'storage' needs a reservoir source")
        seen: dict[str, int] = {}
        for j, x in enumerate(self.shares):
            self._link(net, x.link, f"shares[{j}].link")
            if net.links[x.link].from_ != self.source:
                raise net.error(f"{where}.shares[{j}].link", f"link {x.link!r} does not leave source {self.source!r}")
            if x.link in seen:
                # each entry caps the same link at its own fraction (lapse) or claims the same flow again
                # (redistribute): the fractions would not add up, the rest of the party's share would be lost
                raise net.error(f"{where}.shares[{j}].link",
                                f"link {x.link!r} is already in shares[{seen[x.link]}]: give each offtake link one "
                                f"entry (add the fractions)")
            seen[x.link] = j
        for i, other in enumerate(net.spec.agreements):
            # the fractions of one source sum to 1 only within one agreement: a second share on the source valid at
            # the same time gave it Σα = 2 (each capping or water-filling against the whole A_t)
            if (i < self._index and isinstance(other, dict) and other.get("type") == "share"
                    and other.get("source") == self.source and _valid_overlap(self, other)):
                raise net.error(f"{where}.source", f"source {self.source!r} already has share agreement "
                                f"{other.get('name', f'share_{i}')!r} (agreements[{i}]) valid at the same time: give "
                                f"all parties of a source in one share agreement (fractions summing to 1)")

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        self._links = [m.link_ix[x.link] for x in self.shares]
        self._n = m.node_ix[self.source]
        self._row = m.add_row({"link": {e: 1.0 for e in self._links}}, name=self.name, kind="agreement_cap",
                              label=f"share agreement {self.name}: available water used up", links=self._links)
        self._claims = []
        if self.unused == "redistribute":
            for x, e in zip(self.shares, self._links):
                # the share's own claims are not reported as shortfalls: the parties' demands are
                self._claims.append(m.add_claim(Claim(f"{self.name}:{x.link}", "flow", e, int(self.priority), x.party,
                                                      self.name, x.link, report=False)))
        self._reserves = [a for a in m.net.agreements if isinstance(a, Reserve) and a.source == self.source]
        self._need = [self._downstream_need(m, e) for e in self._links] if self.unused == "redistribute" else []

    @staticmethod
    def _downstream_need(m: Any, e: int) -> list[tuple[int, float]] | None:
        """The demands an offtake ``e`` into a junction can serve, as (demand index, inlet volume per m3 delivered
        along the first junction path found), when its water can otherwise only leave through an outlet; None when the
        offtake ends in a demand (capped directly) or can reach a reservoir or source node (storing is a use).

        A ``redistribute`` claim on such an offtake is capped at what those demands request: water-filling would
        otherwise push the party's whole share through it and let its unused part run to the sea instead of going
        to the other parties (allocation.md §3, ``share``)."""
        spec = m.net.spec
        to0 = int(m.link_to[e])
        if spec.nodes[to0].type != "junction":
            return None
        factor = {to0: 1.0 / max(1.0 - float(m.link_loss[e]), 1e-12)}  # inlet m3 at e per m3 arriving at the node
        stack, need, outlet = [to0], {}, False
        while stack:
            n = stack.pop()
            for f in np.flatnonzero(m.link_from == n):
                t = int(m.link_to[f])
                g = factor[n] / max(1.0 - float(m.link_loss[f]), 1e-12)
                typ = spec.nodes[t].type
                if typ == "demand":
                    d = m.dem_nodes.index(t)
                    need[d] = max(need.get(d, 0.0), g)
                elif typ == "outlet":
                    outlet = True
                elif typ == "junction":
                    if t not in factor:  # each junction once (junction loops may exist)
                        factor[t] = g
                        stack.append(t)
                else:
                    return None  # a reservoir or source node downstream: the water can be stored or used on
        return sorted(need.items()) if outlet else None

    def available_water(self, m: Any, ctx: Any) -> float:
        n = self._n
        A = ctx.inflow[n]
        if self.available == "storage":
            r = m.res_ix[self.source]
            # water above dead storage after the step's inflow and evaporation (a start below dead
            # storage first refills the dead volume: the reservoir cannot release it)
            A = max(0.0, ctx.storage[r] + ctx.inflow[n] - ctx.evap[r] - m.res_dead[r])
        for res in self._reserves:
            if res.active(ctx):
                A -= res.volume_per_step(m)
        return max(A, 0.0)

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        if not self.active(ctx):
            for k in self._claims:
                ctx.claim_amount[k] = 0.0
            st["available"] = 0.0  # a volume within the step: none outside start/end (not the last valid step's)
            return
        A = self.available_water(m, ctx)
        st["available"] = A
        ctx.row_ub[self._row] = A
        for j, (x, e) in enumerate(zip(self.shares, self._links)):
            if self.unused == "lapse":
                lim = x.fraction * A
                if lim < ctx.link_ub[e]:
                    ctx.link_ub[e] = lim
                    ctx.link_reason[e] = f"agreement_cap: share {x.fraction:.3g} of {self.source} under {self.name}"
            else:
                k = self._claims[j]
                to = int(m.link_to[e])
                cap = min(ctx.link_ub[e], A)
                if to in m.dem_nodes:
                    cap = min(cap, ctx.demand[m.dem_nodes.index(to)] / (1.0 - m.link_loss[e]))
                elif self._need[j] is not None:  # a junction draining to an outlet: no more than its demands take
                    cap = min(cap, sum(ctx.demand[d] * g for d, g in self._need[j]))
                ctx.claim_amount[k] = cap
                ctx.claim_weight[k] = max(x.fraction * A, 1e-12) if x.fraction > 0 else 1e-12

    def initial_state(self, m: Any) -> Any:
        return {"available": 0.0}

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {f"{self.name}:available": st["available"]}


@register
class Reserve(Agreement):
    """Reserve before sharing (allocation.md §2.15): ``A_share = max(0, A − R)`` for every ``share``
    agreement on ``source``; ``R`` is a volume per step (``rate``) or a volume (``volume``)."""

    type: Literal["reserve"]
    source: str
    rate: str | None = None
    volume: str | None = None
    phase: ClassVar[int] = 45
    _vr = field_validator("rate")(_quantity_validator("flow"))
    _vv = field_validator("volume")(_quantity_validator("volume"))

    @model_validator(mode="after")
    def _one(self) -> "Reserve":
        if (self.rate is None) == (self.volume is None):
            raise ValueError("give exactly one of 'rate' and 'volume'")
        return self

    def check(self, net: Any, where: str) -> None:
        self._node(net, self.source, "source")
        if not any(a.get("type") in ("share", "shortage_share") and a.get("source") == self.source
                   for a in net.spec.agreements):
            raise net.error(f"{where}.source", f"reserve {self.name!r}: no share or shortage_share agreement on "
                            f"{self.source!r}")

    def volume_per_step(self, m: Any) -> float:
        if self.rate is not None:
            return m.quantity(self.rate, "flow", f"{self._where}.rate") * m.dt
        return m.quantity(self.volume, "volume", f"{self._where}.volume")


# =============================================================================== 9 storage accounts
class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str
    links: list[str]
    inflow_share: float = Field(ge=0.0, le=1.0)
    evaporation_share: float | None = Field(None, ge=0.0, le=1.0)
    capacity_share: float | None = Field(None, ge=0.0, le=1.0)
    initial_share: float | None = Field(None, ge=0.0, le=1.0)


@register
class StorageAccounts(Agreement):
    """Per-party accounts in a shared reservoir (allocation.md §2.9).

    ``S_i,t = S_i,t−1 + α_i I_t − β_i Evap_t − x_i,t − α_i·O_t`` with ``x_i`` the flow on the party's
    links, ``I_t`` all water entering the reservoir in the step (its inflow series with lagged returns,
    plus the outlet flow of links into it — a pipeline filling an off-stream storage, same-step returns
    — and overflow of upstream reservoirs and sources; the link and overflow terms are LP columns,
    so the water can serve the step it arrives in) and ``O_t`` all other outflows (spill, other
    links) charged in proportion to ``α``; a
    charge an account cannot bear (it would fall below zero) is borne by the other accounts in
    proportion to their ``α`` (see :meth:`charge`);
    each step ``Σ_{e ∈ links_i} f_e ≤ S_i,t−1 + α_i I_t − β_i Evap_t``. Accounts hold the usable
    storage (above dead storage); an account above ``κ_i (S_max − S_dead)`` spills internally into
    the other accounts in proportion to their free space (``internal_spill = "pro_rata"``) or loses
    the excess to the common pool, shared by ``α`` (``"none"``). Balances are reconciled so that
    ``Σ_i S_i = S_r − S_dead`` every step.
    """

    type: Literal["storage_accounts"]
    reservoir: str
    accounts: list[Account]
    internal_spill: Literal["pro_rata", "none"] = "pro_rata"
    phase: ClassVar[int] = 50

    @model_validator(mode="after")
    def _sum(self) -> "StorageAccounts":
        s = sum(a.inflow_share for a in self.accounts)
        if abs(s - 1.0) > 1e-6:
            raise ValueError(f"inflow shares must sum to 1, got {s:g}")
        # β and the initial split default to α per account; given ones must still split the whole evaporation and
        # the whole usable storage (otherwise the reconciliation re-splits them by α, by neither stated rule)
        for key in ("evaporation_share", "initial_share"):
            s = sum(getattr(a, key) if getattr(a, key) is not None else a.inflow_share for a in self.accounts)
            if abs(s - 1.0) > 1e-6:
                raise ValueError(f"{key}s must sum to 1 (an account without one takes its inflow_share), got {s:g}")
        return self

    def parties(self) -> list[str]:
        return [a.party for a in self.accounts]

    def check(self, net: Any, where: str) -> None:
        """Reservoir and links exist, each link leaves the reservoir; a party has one account, a link belongs to
        one account (listed twice, its flow was charged twice to the balances but once in the LP row), and a
        reservoir has one ``storage_accounts`` agreement (two split its storage twice over)."""
        self._node(net, self.reservoir, "reservoir", ("reservoir",))
        owner: dict[str, str] = {}
        parties: set[str] = set()
        for j, a in enumerate(self.accounts):
            if a.party in parties:
                raise net.error(f"{where}.accounts[{j}].party", f"party {a.party!r} has two accounts in "
                                                                 f"{self.reservoir!r}: give it one account")
            parties.add(a.party)
            for q, lid in enumerate(a.links):
                self._link(net, lid, f"accounts[{j}].links[{q}]")
                if net.links[lid].from_ != self.reservoir:
                    raise net.error(f"{where}.accounts[{j}].links[{q}]", f"link {lid!r} does not leave {self.reservoir!r}")
                if lid in owner:
                    raise net.error(f"{where}.accounts[{j}].links[{q}]",
                                    f"link {lid!r} is already in the account of {owner[lid]!r}: a link's flow is "
                                    f"charged to one account (it would be charged twice)")
                owner[lid] = a.party
        for j, other in enumerate(net.spec.agreements):
            if (j < self._index and isinstance(other, dict) and other.get("type") == "storage_accounts"
                    and other.get("reservoir") == self.reservoir):
                raise net.error(f"{where}.reservoir", f"reservoir {self.reservoir!r} already has storage accounts "
                                                       f"({other.get('name', f'agreements[{j}]')!r}): one "
                                                       f"storage_accounts agreement per reservoir")

    def setup(self, m: Any) -> None:
        self._r = m.res_ix[self.reservoir]
        self._n = m.node_ix[self.reservoir]
        self._alpha = np.array([a.inflow_share for a in self.accounts])
        self._beta = np.array([a.evaporation_share if a.evaporation_share is not None else a.inflow_share for a in self.accounts])
        self._kappa = np.array([a.capacity_share if a.capacity_share is not None else 1.0 for a in self.accounts])
        self._init = np.array([a.initial_share if a.initial_share is not None else a.inflow_share for a in self.accounts])
        self._links = [[m.link_ix[lid] for lid in a.links] for a in self.accounts]
        # water entering the reservoir within the step besides its inflow series (a pipeline into an off-stream
        # storage, same-step return flows, overflow of upstream reservoirs and sources): shared by α like I_t and
        # usable in the same step (same-step mass balance), so the rows carry it as LP terms
        self._in = {e: 1.0 - float(m.link_loss[e]) for e in range(m.nL)
                    if int(m.link_to[e]) == self._n and not (m.is_return[e] and m.ret_lag[e] > 0)}
        self._in_spill = [q for q, nq in enumerate(m.res_nodes) if m.net.spec.nodes[nq].overflow_to == self.reservoir]
        self._in_unused = [q for q, nq in enumerate(m.src_nodes)
                           if getattr(m.net.spec.nodes[nq], "overflow_to", None) == self.reservoir]
        self._rows = []
        for a, ls in zip(self.accounts, self._links):
            coeffs: dict[str, dict[int, float]] = {"link": {e: 1.0 for e in ls}}
            for e, g in self._in.items():
                coeffs["link"][e] = coeffs["link"].get(e, 0.0) - a.inflow_share * g
            coeffs["spill"] = {q: -a.inflow_share for q in self._in_spill}
            coeffs["unused"] = {q: -a.inflow_share for q in self._in_unused}
            self._rows.append(m.add_row(coeffs, name=f"{self.name}:{a.party}", kind="agreement_cap",
                                        label=f"storage account of {a.party} in {self.reservoir} empty ({self.name})",
                                        links=ls))
        out = [e for e in range(m.nL) if int(m.link_from[e]) == self._n]
        mine = {e for ls in self._links for e in ls}
        self._other = [e for e in out if e not in mine]

    def initial_state(self, m: Any) -> Any:
        usable = max(0.0, m.res_init[self._r] - m.res_dead[self._r])
        s = self._init.sum()
        return {"balance": usable * self._init / (s if s > 0 else 1.0)}

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        if not self.active(ctx):
            return  # outside start/end the accounts do not limit the party's links (rows stay unbounded)
        I = ctx.inflow[self._n]
        E = ctx.evap[self._r]
        avail = st["balance"] + self._alpha * I - self._beta * E
        for row, a in zip(self._rows, avail):
            ctx.row_ub[row] = max(a, 0.0)

    def charge(self, bal: np.ndarray, amount: float) -> np.ndarray:
        """Take ``amount`` (≥ 0) from the balances in proportion to the inflow shares ``α``; an account
        this would take below zero is emptied and the rest is borne by the others in proportion to
        their ``α`` (balances if all their ``α`` are 0). ``Σ bal`` falls by exactly ``min(amount, Σ bal)``."""
        bal = np.maximum(bal, 0.0)
        left = float(amount)
        on = bal > 0
        while left > 0 and on.any():
            idx = np.flatnonzero(on)
            w = self._alpha[idx]
            w = w / w.sum() if w.sum() > 0 else bal[idx] / bal[idx].sum()
            cut = left * w
            over = cut >= bal[idx]
            if not over.any():
                bal[idx] -= cut
                break
            left -= float(bal[idx[over]].sum())
            bal[idx[over]] = 0.0
            on[idx[over]] = False
        return bal

    def after(self, m: Any, ctx: Any, st: Any, res: dict[str, Any]) -> None:
        if not self.active(ctx):
            # no accounts outside start/end: they open (at the next valid step) with ``initial_share`` of the
            # usable storage at that time, as at the start of the run
            usable = max(0.0, res["storage"][self._r] - m.res_dead[self._r])
            s = self._init.sum()
            st["balance"] = usable * self._init / (s if s > 0 else 1.0)
            return
        f = res["flow"]
        # the step's inflow series plus what entered through links and overflow (see ``setup``)
        I = (ctx.inflow[self._n] + sum(g * f[e] for e, g in self._in.items())
             + sum(res["spill"][q] for q in self._in_spill) + sum(res["unused"][q] for q in self._in_unused))
        E = ctx.evap[self._r]
        x = np.array([sum(f[e] for e in ls) for ls in self._links])
        other = sum(f[e] for e in self._other) + res["spill"][self._r]
        bal = st["balance"] + self._alpha * I - self._beta * E - x
        # water that left the reservoir through no account's links (spill, other links) and whatever an
        # account could not bear itself (evaporation of an empty account): charged by α, never below zero
        bal = self.charge(bal, other + float(np.maximum(-bal, 0.0).sum()))
        cap = self._kappa * (m.res_cap[self._r] - m.res_dead[self._r])
        excess = np.maximum(bal - cap, 0.0)
        bal = bal - excess
        spill = excess.sum()
        if spill > 0:
            if self.internal_spill == "pro_rata":
                free = np.maximum(cap - bal, 0.0)
                if free.sum() > 0:
                    give = np.minimum(free, spill * free / free.sum())
                    bal = bal + give
            else:
                bal = bal + spill * self._alpha
        usable = max(0.0, res["storage"][self._r] - m.res_dead[self._r])
        diff = usable - bal.sum()
        if diff >= 0:
            bal = bal + diff * self._alpha
        else:
            bal = self.charge(bal, -diff)
        st["balance"] = np.maximum(bal, 0.0)

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {f"{self.name}:{a.party}": float(b) for a, b in zip(self.accounts, st["balance"])}


# =============================================================================== 8 drought tiers
class TierTarget(BaseModel):
    """One target of a drought-tier rule: a ``demand`` or a ``link``, with one value per level 0..K.

    ``multipliers`` (dimensionless ``m_L``), ``limits`` (flows, e.g. ``"580 L/s"``: ``min(value, lim_L)``)
    or ``cuts`` (flows ``ΔE_L``, e.g. ``"400 L/s"``: ``max(0, value − ΔE_L)``, fixed cuts as the Lake Mead
    tiers); exactly one of the three.
    """

    model_config = ConfigDict(extra="forbid")
    demand: str | None = None
    link: str | None = None
    multipliers: list[float] | None = None
    limits: list[str] | None = None
    cuts: list[str] | None = None

    @field_validator("limits")
    @classmethod
    def _lim(cls, v: Any) -> Any:
        for x in v or []:
            _quantity_validator("flow")(x)
        return v

    @field_validator("cuts")
    @classmethod
    def _cut(cls, v: Any) -> Any:
        for j, x in enumerate(v or []):
            _quantity_validator("flow")(x)
            if parse_quantity(x, "flow") < 0:
                raise ValueError(f"cuts[{j}] = {x!r}: a cut must not be negative")
        return v

    @model_validator(mode="after")
    def _one(self) -> "TierTarget":
        if (self.demand is None) == (self.link is None):
            raise ValueError("give exactly one of 'demand' and 'link'")
        given = [k for k in ("multipliers", "limits", "cuts") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'multipliers', 'limits' and 'cuts' (got {given or 'none'})")
        return self

    def level_values(self) -> list[Any]:
        """The per-level values of whichever of multipliers, limits, cuts is given."""
        return next(v for v in (self.multipliers, self.limits, self.cuts) if v is not None)


@register
class DroughtTiers(Agreement):
    """Tiered drought cuts by storage control curves (allocation.md §2.8).

    Level ``L_t = Σ_k 1[S_{t−1}/S_max < κ_k(month_t)]`` from start-of-step storage. With
    ``hysteresis_steps = h`` the level rises at once but falls only after ``h`` consecutive steps
    below the current level. Targets: a demand's request D (m3 per step) or a link's capacity C
    becomes, with one value per level 0..K (the level-L value applies while the agreement is valid,
    level 0 included),

    * ``m_L × value`` (``multipliers``, dimensionless);
    * ``min(value, limit_L)`` (``limits``, flows such as ``"580 L/s"``);
    * ``max(0, value − ΔE_L)`` (``cuts``, flows such as ``"400 L/s"``; fixed cuts ``E − ΔE_L`` of
      allocation.md §2.8, Lake Mead tiers, DRBC phases; level 0 normally ``"0 m3/s"``).

    Limits and cuts of a link are on the link's capacity basis: on an outlet-basis link they act on
    the delivered flow ``(1 − λ) f`` (``f ≤ (C_out − ΔE_L)/(1 − λ)``). A link without capacity is
    closed by ``m_L = 0``; ``0 < m_L < 1`` caps it at ``m_L × D / (1 − λ)`` with ``D`` the (cut)
    request of the demand it feeds (a link without capacity that feeds no demand cannot take such a
    multiplier: configuration error); it cannot take ``cuts`` at all (configuration error: there is
    no capacity to cut — cut the demand it feeds instead).
    """

    type: Literal["drought_tiers"]
    reservoir: str
    curves: list[float | list[float]]
    targets: list[TierTarget]
    hysteresis_steps: int = Field(0, ge=0)
    phase: ClassVar[int] = 10

    @model_validator(mode="after")
    def _c(self) -> "DroughtTiers":
        for j, c in enumerate(self.curves):
            if isinstance(c, list) and len(c) != 12:
                raise ValueError("a monthly control curve needs 12 fractions")
            vals = c if isinstance(c, list) else [c]
            if not all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in vals):
                # S/S_max is at most 1: a curve of 62 (meant as 62 %) put every step in the deepest tier
                raise KeyedValueError(f"curves[{j}]", f"control curves are fractions of the reservoir capacity "
                                                      f"(0..1, e.g. 0.62 for 62 %), got {c!r}")
        K = len(self.curves)
        for j, t in enumerate(self.targets):
            vals = t.level_values()
            if len(vals) != K + 1:
                key = next(k for k in ("multipliers", "limits", "cuts") if getattr(t, k) is not None)
                raise KeyedValueError(f"targets[{j}].{key}", f"each target needs {K + 1} values (levels 0..{K}), "
                                                             f"got {len(vals)}")
        return self

    def check(self, net: Any, where: str) -> None:
        self._node(net, self.reservoir, "reservoir", ("reservoir",))
        for j, t in enumerate(self.targets):
            if t.demand is not None:
                self._node(net, t.demand, f"targets[{j}].demand", ("demand",))
            else:
                self._flow_link(net, t.link, f"targets[{j}].link")
                lk = net.links[t.link]
                if (t.multipliers is not None and lk.capacity is None and net.nodes[lk.to].type != "demand"
                        and any(0.0 < x < 1.0 for x in t.multipliers)):
                    raise net.error(f"{where}.targets[{j}].multipliers",
                                    f"link {t.link!r} has no capacity to scale and does not feed a demand: give it "
                                    f"a capacity or use 'limits'")
                if t.cuts is not None and lk.capacity is None:
                    raise net.error(f"{where}.targets[{j}].cuts",
                                    f"link {t.link!r} has no capacity to cut: give the link a capacity, or put the "
                                    f"cuts on the demand it feeds (targets = [{{demand = ..., cuts = [...]}}])")

    def setup(self, m: Any) -> None:
        self._r = m.res_ix[self.reservoir]
        self._outlet = {m.link_ix[lk.id]: lk.capacity_basis == "outlet" for lk in m.net.spec.links}
        self._curves = np.array([[c] * 12 if not isinstance(c, list) else c for c in self.curves], float)
        # limits and cuts as volumes per step [m3] (None for multipliers)
        self._limits = []
        for j, t in enumerate(self.targets):
            key = "limits" if t.limits is not None else "cuts" if t.cuts is not None else None
            if key is not None:
                self._limits.append([m.quantity(v, "flow", f"{self._where}.targets[{j}].{key}") * m.dt
                                     for v in getattr(t, key)])
            else:
                self._limits.append(None)

    def initial_state(self, m: Any) -> Any:
        return {"level": 0, "below": 0}

    def level(self, m: Any, ctx: Any, st: Any) -> int:
        frac = ctx.storage[self._r] / m.res_cap[self._r]
        raw = int(np.sum(frac < self._curves[:, ctx.time.month - 1]))
        cur = st["level"]
        if raw >= cur or self.hysteresis_steps == 0:
            st["below"] = 0
            return raw
        st["below"] += 1
        if st["below"] >= self.hysteresis_steps:
            st["below"] = 0
            return raw
        return cur

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        on = self.active(ctx)
        L = self.level(m, ctx, st) if on else 0
        st["level"] = L
        if not on:
            return
        for t, lim in zip(self.targets, self._limits):
            if t.demand is not None:
                d = m.dem_ix[t.demand]
                if t.multipliers is not None:
                    new = ctx.demand[d] * t.multipliers[L]
                elif t.limits is not None:
                    new = min(ctx.demand[d], lim[L])
                else:
                    new = max(0.0, ctx.demand[d] - lim[L])  # fixed cut E − ΔE_L (§2.8)
                if new < ctx.demand[d]:
                    ctx.demand[d] = new
                    for k in m.demand_claims(d):
                        ctx.notes.setdefault(k, []).append(("drought_tier", f"drought tier {L} at {self.reservoir} ({self.name})"))
            else:
                e = m.link_ix[t.link]
                cur = ctx.link_ub[e]  # inlet (gross) basis
                if t.limits is not None:
                    # a limit is a capacity: on the link's capacity basis (outlet basis: delivered flow)
                    new = min(cur, lim[L] / (1.0 - m.link_loss[e]) if self._outlet[e] else lim[L])
                elif t.cuts is not None:
                    # a cut lowers the capacity on its basis: outlet basis C_out − ΔE = (1 − λ) f, i.e. the
                    # inlet bound falls by ΔE / (1 − λ); never below 0
                    new = max(0.0, cur - (lim[L] / (1.0 - m.link_loss[e]) if self._outlet[e] else lim[L]))
                else:
                    mult = t.multipliers[L]
                    if mult >= 1.0 or np.isfinite(cur):
                        new = cur * mult
                    elif mult <= 0.0:
                        new = 0.0  # closed
                    else:
                        # no capacity to scale: the multiplier cuts the flow the link needs to meet
                        # its demand in full, m_L × D / (1 − λ) (the entitlement it carries, §2.8)
                        new = mult * ctx.demand[m.dem_nodes.index(int(m.link_to[e]))] / (1.0 - m.link_loss[e])
                if new < cur:
                    ctx.link_ub[e] = new
                    ctx.link_reason[e] = f"drought_tier: link {t.link} cut at drought tier {L} of {self.reservoir} ({self.name})"

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {f"{self.name}:level": float(st["level"])}


# =============================================================================== 10, 11 required flows
@register
class MinFlow(Agreement):
    """Minimum environmental flow on a link: a soft claim at priority 0 (allocation.md §2.10).

    ``f_e ≥ Q_min − u``, ``u ≥ 0`` is decided before every supply priority; the deficit ``u`` is
    reported, never an infeasible model. ``Q_min`` = ``flow`` (constant or series) or
    ``fraction × inflow(natural_node)``.
    """

    type: Literal["min_flow"]
    link: str
    flow: Any = None
    fraction: float | None = Field(None, ge=0.0, le=1.0)
    natural_node: str | None = None
    priority: int = Field(0, ge=0)
    phase: ClassVar[int] = 60
    _v = field_validator("flow", mode="before")(_series("flow"))

    @model_validator(mode="after")
    def _one(self) -> "MinFlow":
        if (self.flow is None) == (self.fraction is None):
            raise ValueError("give exactly one of 'flow' and 'fraction' (with natural_node)")
        if self.fraction is not None and self.natural_node is None:
            raise ValueError("'fraction' needs 'natural_node'")
        return self

    def check(self, net: Any, where: str) -> None:
        self._flow_link(net, self.link, "link")
        if self.natural_node is not None:
            # the natural flow is the exogenous inflow of a source node (a junction or demand has none: the
            # requirement would silently be 0)
            self._node(net, self.natural_node, "natural_node", ("reservoir", "intake", "inflow"))

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        e = m.link_ix[self.link]
        self._k = m.add_claim(Claim(f"{self.name}:{self.link}", "flow", e, self.priority, "", self.name, self.link))
        if self.flow is not None:
            self._q = m.nonnegative_series(self.flow, f"{self._where}.flow")

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        if not self.active(ctx):
            ctx.claim_amount[self._k] = 0.0
            return
        if self.flow is not None:
            ctx.claim_amount[self._k] = self._q[ctx.t]
        else:
            ctx.claim_amount[self._k] = self.fraction * ctx.inflow[m.node_ix[self.natural_node]]


@register
class BorderObligation(Agreement):
    """Delivery obligation at a border link (allocation.md §2.11).

    Claim ``f_border ≥ O_t`` at ``priority``; with ``cumulative = true`` the claim is
    ``max(0, Σ_{τ≤t} O_τ − Σ_{τ<t} f_τ − allowed_debit)`` (past shortfalls are owed). Both sums run
    over the validity period only: flow before ``start`` earns no credit.

    ``O_t`` is either ``flow`` (a flow quantity or series: a monthly schedule) or index-driven,
    ``O_t = g(Q_t)``: ``Q_t`` = the exogenous inflow of the step at ``index_node`` (m3 s-1; a
    reservoir, intake or inflow node; lagged return flows arriving there included) and ``g`` the
    piecewise-linear interpolation of ``table`` (rows ``[index_flow, obligation]``, both in
    ``table_units``, a flow unit such as ``"m3/s"``; index flows strictly increasing; ``g`` is
    clamped to the first/last obligation outside the table). Exactly one of ``flow`` and
    ``index_node`` + ``table`` + ``table_units``. Recorded: ``balance`` (m3; delivered − required
    since ``start``) and, for an index-driven obligation, ``obligation`` (``O_t``, m3 per step).
    """

    step_amounts: ClassVar[tuple[str, ...]] = ("obligation",)

    type: Literal["border_obligation"]
    party: str
    link: str
    flow: Any = None
    index_node: str | None = None
    table: list[list[float]] | None = None
    table_units: str | None = None
    priority: int = Field(1, ge=0)
    cumulative: bool = False
    allowed_debit: str = "0 m3"
    phase: ClassVar[int] = 60
    _v = field_validator("flow", mode="before")(_series("flow"))
    _vd = field_validator("allowed_debit")(_quantity_validator("volume"))

    @field_validator("table_units", mode="before")
    @classmethod
    def _units(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, str):
            raise ValueError(f"table_units must be a flow unit such as 'm3/s', got {v!r}")
        try:
            parse_quantity(f"1 {v}", "flow")
        except ValueError as exc:
            raise ValueError(f"table_units: {exc}") from None
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: Any) -> Any:
        if v is None:
            return v
        if not v:
            raise ValueError("table needs at least one row [index_flow, obligation]")
        for j, row in enumerate(v):
            if len(row) != 2:
                raise ValueError(f"table[{j}] must be a pair [index_flow, obligation], got {row!r}")
            if not all(np.isfinite(row)) or row[1] < 0:
                raise ValueError(f"table[{j}] = {row!r}: values must be finite and obligations not negative")
        q = np.array([r[0] for r in v], float)
        if np.any(np.diff(q) <= 0):
            raise ValueError(f"table index flows must be strictly increasing, got {q.tolist()}")
        return v

    @model_validator(mode="after")
    def _one(self) -> "BorderObligation":
        indexed = self.index_node is not None or self.table is not None or self.table_units is not None
        if (self.flow is None) == (not indexed):
            raise ValueError("give exactly one of 'flow' and 'index_node' + 'table' + 'table_units' "
                             "(an index-driven obligation O_t = g(inflow at index_node))")
        if indexed:
            for key in ("index_node", "table", "table_units"):
                if getattr(self, key) is None:
                    raise KeyedValueError(key, f"an index-driven obligation needs 'index_node', 'table' and "
                                               f"'table_units' ({key!r} missing)")
        return self

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        self._flow_link(net, self.link, "link")
        if self.index_node is not None:
            self._node(net, self.index_node, "index_node", ("reservoir", "intake", "inflow"))

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        self._e = m.link_ix[self.link]
        self._k = m.add_claim(Claim(f"{self.name}:{self.link}", "flow", self._e, self.priority, self.party, self.name, self.link))
        if self.flow is not None:
            self._o = m.nonnegative_series(self.flow, f"{self._where}.flow")
        else:
            u = m.quantity(f"1 {self.table_units}", "flow", f"{self._where}.table_units")  # m3 s-1 per table unit
            self._n = m.node_ix[self.index_node]
            self._tq = np.array([r[0] for r in self.table], float) * u   # index flows [m3 s-1]
            self._to = np.array([r[1] for r in self.table], float) * u   # obligations [m3 s-1]
        self._debit = m.quantity(self.allowed_debit, "volume", f"{self._where}.allowed_debit")

    def obligation(self, m: Any, ctx: Any) -> float:
        """``O_t`` of the step [m3 per step]: the ``flow`` series or ``g(index inflow)`` (clamped)."""
        if self.flow is not None:
            return float(self._o[ctx.t])
        q = ctx.inflow[self._n] / m.dt
        return float(np.interp(q, self._tq, self._to)) * m.dt

    def initial_state(self, m: Any) -> Any:
        return {"required": 0.0, "delivered": 0.0, "obligation": 0.0}

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        if not self.active(ctx):
            st["obligation"] = 0.0
            ctx.claim_amount[self._k] = 0.0
            return
        o = self.obligation(m, ctx)
        st["obligation"] = o
        st["required"] += o
        if self.cumulative:
            ctx.claim_amount[self._k] = max(0.0, st["required"] - st["delivered"] - self._debit)
        else:
            ctx.claim_amount[self._k] = o

    def after(self, m: Any, ctx: Any, st: Any, res: dict[str, Any]) -> None:
        if self.active(ctx):  # flow outside the validity period earns no credit against the obligation
            st["delivered"] += float(res["flow"][self._e])

    def record(self, m: Any, st: Any) -> dict[str, float]:
        out = {f"{self.name}:balance": st["delivered"] - st["required"]}
        if self.index_node is not None:
            out[f"{self.name}:obligation"] = st["obligation"]
        return out


@register
class HandsOffFlow(Agreement):
    """Hands-off flow: abstraction links close (capacity 0) when the exogenous inflow at ``node``
    is below ``threshold`` (decided before the LP from the step's inflow)."""

    type: Literal["hands_off_flow"]
    node: str
    threshold: str
    links: list[str]
    phase: ClassVar[int] = 15
    _v = field_validator("threshold")(_quantity_validator("flow"))

    def check(self, net: Any, where: str) -> None:
        # decided from the exogenous inflow at ``node``: a junction or demand has none (the links would be
        # closed every step)
        self._node(net, self.node, "node", ("reservoir", "intake", "inflow"))
        for j, lid in enumerate(self.links):
            self._flow_link(net, lid, f"links[{j}]")

    def setup(self, m: Any) -> None:
        self._thr = m.quantity(self.threshold, "flow", f"{self._where}.threshold") * m.dt
        self._es = [m.link_ix[lid] for lid in self.links]
        self._n = m.node_ix[self.node]

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        if self.active(ctx) and ctx.inflow[self._n] < self._thr:
            for e in self._es:
                ctx.link_ub[e] = 0.0
                ctx.link_reason[e] = f"agreement_cap: hands-off flow {self.name} at {self.node}"


# =============================================================================== 14 reciprocal
@register
class Reciprocal(Agreement):
    """Reciprocal obligation (allocation.md §2.14): ``f_return ≤ ζ · f_take`` (Johor: ζ = 2 %).

    The returned water is delivered at the priority of the receiving demand; the row only bounds
    it by the share of what was taken in the same step.
    """

    type: Literal["reciprocal"]
    party: str
    take_link: str
    return_link: str
    fraction: float = Field(gt=0.0, le=1.0)
    phase: ClassVar[int] = 60

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        self._flow_link(net, self.take_link, "take_link")
        self._flow_link(net, self.return_link, "return_link")

    def setup(self, m: Any) -> None:
        t, r = m.link_ix[self.take_link], m.link_ix[self.return_link]
        self._row = m.add_row({"link": {r: 1.0, t: -self.fraction}}, name=self.name, kind="agreement_cap",
                              label=f"reciprocal {self.name}: {self.fraction:g} of the water taken", links=[r])

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        ctx.row_ub[self._row] = 0.0 if self.active(ctx) else INF


# =============================================================================== 7b shortage shares
class ShortageParty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str
    link: str
    entitlement: str
    shortage_fraction: float = Field(ge=0.0, le=1.0)
    _v = field_validator("entitlement")(_quantity_validator("flow"))


@register
class ShortageShare(Agreement):
    """Shortage-share variant of curtailment (allocation.md §2.7; Colorado: Mexico bears 17 %).

    With ``A_t`` the water available at ``source`` (as for ``share``: the step's inflow, or a
    reservoir's usable water; minus any ``reserve``) and the declared shortage
    ``Shortage_t = max(0, Σ_i E_i − A_t)``, party i may draw ``a_i = E_i − σ_i·Shortage_t``
    through its offtake link (``Σ σ_i = 1``). A party whose share of the shortage exceeds its
    entitlement gets 0 and the rest of its share is borne by the others in proportion to their
    σ (so ``Σ a_i = min(A_t, Σ E_i)`` always). ``a_i`` is a cap on the link: water a party does
    not take lapses (stays at the source).
    """

    step_amounts: ClassVar[tuple[str, ...]] = ("available", "shortage", "allotment")

    type: Literal["shortage_share"]
    source: str
    available: Literal["inflow", "storage"] = "inflow"
    parties_: list[ShortageParty] = Field(alias="parties")
    phase: ClassVar[int] = 50

    @model_validator(mode="after")
    def _sum(self) -> ShortageShare:
        if not self.parties_:
            raise ValueError("a shortage_share needs at least one party")
        s = sum(p.shortage_fraction for p in self.parties_)
        if abs(s - 1.0) > 1e-6:
            raise ValueError(f"shortage fractions must sum to 1, got {s:g}")
        return self

    def parties(self) -> list[str]:
        return [p.party for p in self.parties_]

    def check(self, net: Any, where: str) -> None:
        self._node(net, self.source, "source", ("reservoir", "intake", "inflow", "groundwater"))
        if self.available == "storage" and net.nodes[self.source].type != "reservoir":
            raise net.error(f"{where}.available", "available = 'storage' needs a reservoir source")
        seen: dict[str, int] = {}
        for j, p in enumerate(self.parties_):
            self._link(net, p.link, f"parties[{j}].link")
            if net.links[p.link].from_ != self.source:
                raise net.error(f"{where}.parties[{j}].link", f"link {p.link!r} does not leave source {self.source!r}")
            if p.link in seen:
                # each entry caps the same link at its own allotment: the allotments would not add up
                raise net.error(f"{where}.parties[{j}].link",
                                f"link {p.link!r} is already in parties[{seen[p.link]}]: give each offtake link one "
                                f"entry (add the entitlements)")
            seen[p.link] = j

    def setup(self, m: Any) -> None:
        self._links = [m.link_ix[p.link] for p in self.parties_]
        self._E = np.array([_q(m, self, p.entitlement, "flow", f"parties[{j}].entitlement") * m.dt
                            for j, p in enumerate(self.parties_)])
        self._sigma = np.array([p.shortage_fraction for p in self.parties_])
        self._n = m.node_ix[self.source]
        self._reserves = [a for a in m.net.agreements if isinstance(a, Reserve) and a.source == self.source]

    def allotments(self, A: float) -> tuple[np.ndarray, float]:
        """Allotments ``a_i`` [m3/step] and the declared shortage for available water ``A``."""
        E, sig = self._E, self._sigma
        shortage = max(0.0, float(E.sum()) - A)
        a = E.copy()
        left = shortage
        on = np.ones(E.size, bool)
        while left > 0 and on.any():
            s = sig[on].sum()
            w = sig[on] / s if s > 0 else np.full(on.sum(), 1.0 / on.sum())
            cut = left * w
            idx = np.flatnonzero(on)
            over = cut >= a[idx]
            if not over.any():
                a[idx] -= cut
                left = 0.0
                break
            left -= float(a[idx[over]].sum())  # these parties lose everything; the rest is shared again
            a[idx[over]] = 0.0
            on[idx[over]] = False
        return np.maximum(a, 0.0), shortage

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        if not self.active(ctx):
            # volumes within the step: none outside start/end (not the values of the last valid step)
            st["available"] = st["shortage"] = 0.0
            for p in self.parties_:
                st[p.party] = 0.0
            return
        A = Share.available_water(self, m, ctx)  # same definition of A_t as ``share``
        a, shortage = self.allotments(A)
        st["available"], st["shortage"] = A, shortage
        for p, e, lim in zip(self.parties_, self._links, a):
            st[p.party] = lim
            if lim < ctx.link_ub[e]:
                ctx.link_ub[e] = lim
                ctx.link_reason[e] = (f"agreement_cap: shortage share {p.shortage_fraction:.3g} of a declared "
                                      f"shortage of {shortage / m.dt:.4g} m3/s at {self.source} under {self.name}")

    def initial_state(self, m: Any) -> Any:
        return {"available": 0.0, "shortage": 0.0, **{p.party: 0.0 for p in self.parties_}}

    def record(self, m: Any, st: Any) -> dict[str, float]:
        out = {f"{self.name}:available": st["available"], f"{self.name}:shortage": st["shortage"]}
        out.update({f"{self.name}:allotment:{p.party}": st[p.party] for p in self.parties_})
        return out


# =============================================================================== 3b + 14 banking
@register
class Banking(Agreement):
    """Entitlement with a bank of credits for unused entitlement (allocation.md §2.5, §2.14).

    Per step the party claims ``min(D, E + W_t)`` at ``priority`` with the withdrawal allowance
    ``W_t = min(B_{t−1}, max_withdrawal·Δt)``; the rest of the demand is claimed at
    ``surplus_priority`` (none: not claimed, reason ``agreement_cap``). After the step, with ``x``
    the delivery under the entitlement claim,

    ``B_t = min(K, B_{t−1} − max(0, x − E) + γ·u)``,

    ``u = max(0, E − x)`` (``credit = "unused"``: every unused unit of entitlement, the literal
    definition) or ``u = max(0, E − max(x, min(D, E)))`` (``credit = "unrequested"``: only
    entitlement the party chose not to request — conservation, not shortage — earns credits).
    ``γ`` = ``deposit_fraction`` (losses on banking), ``K`` = ``max_balance``.
    Credits are paper water: using them still needs physical water and pipe capacity in the LP.
    """

    step_amounts: ClassVar[tuple[str, ...]] = ("bank_deposit", "bank_withdrawal")

    type: Literal["banking"]
    party: str
    demand: str
    rate: str
    priority: int = Field(ge=1)
    surplus_priority: int | None = Field(None, ge=1)
    deposit_fraction: float = Field(1.0, ge=0.0, le=1.0)
    max_balance: str
    max_withdrawal: str | None = None
    initial_balance: str = "0 m3"
    credit: Literal["unused", "unrequested"] = "unused"
    phase: ClassVar[int] = 20
    _vr = field_validator("rate")(_quantity_validator("flow"))
    _vw = field_validator("max_withdrawal")(_quantity_validator("flow"))
    _vv = field_validator("max_balance", "initial_balance")(_quantity_validator("volume"))

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        self._demand(net, self.demand, self.party, "demand")
        _check_one_replacer(self, net, where, [(self.demand, "demand")])

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        d = m.dem_ix[self.demand]
        m.drop_default_claim(d)
        self._d = d
        self._E = _q(m, self, self.rate, "flow", "rate") * m.dt
        self._K = _q(m, self, self.max_balance, "volume", "max_balance")
        self._W = _q(m, self, self.max_withdrawal, "flow", "max_withdrawal") * m.dt if self.max_withdrawal else INF
        self._B0 = _q(m, self, self.initial_balance, "volume", "initial_balance")
        if self._B0 > self._K:
            raise m.net.error(f"{self._where}.initial_balance", f"banking {self.name!r}: initial_balance above max_balance")
        self._k = m.add_claim(Claim(f"{self.demand}:{self.name}", "tranche", d, self.priority, self.party, self.name,
                                    self.demand))
        self._s = -1
        if self.surplus_priority is not None:
            self._s = m.add_claim(Claim(f"{self.demand}:{self.name}:surplus", "tranche", d, self.surplus_priority,
                                        self.party, self.name, self.demand))

    def initial_state(self, m: Any) -> Any:
        return {"balance": self._B0, "deposit": 0.0, "withdrawal": 0.0}

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        D = ctx.demand[self._d]
        on = self.active(ctx)
        W = min(st["balance"], self._W) if on else 0.0
        a = min(D, self._E + W) if on else 0.0
        ctx.claim_amount[self._k] = a
        st["_request"] = D
        if self._s >= 0:
            ctx.claim_amount[self._s] = max(0.0, D - a)
        elif D - a > 1e-12:
            ctx.notes.setdefault(self._k, []).append(
                ("agreement_cap", f"entitlement and bank credits of {self.name} used up (demand above them is not claimed)"))

    def after(self, m: Any, ctx: Any, st: Any, res: dict[str, Any]) -> None:
        if not self.active(ctx):
            st["deposit"] = st["withdrawal"] = 0.0
            return
        x = float(res["claims"][self._k])
        E = self._E
        wd = max(0.0, x - E)
        if self.credit == "unused":
            u = max(0.0, E - x)
        else:
            u = max(0.0, E - max(x, min(st["_request"], E)))
        dep = self.deposit_fraction * u
        st["balance"] = min(self._K, max(0.0, st["balance"] - wd) + dep)
        st["deposit"], st["withdrawal"] = dep, wd

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {f"{self.name}:bank_balance": st["balance"], f"{self.name}:bank_deposit": st["deposit"],
                f"{self.name}:bank_withdrawal": st["withdrawal"]}


# =============================================================================== 5b review periods
_PERIOD_MONTHS = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}


@register
class PeriodEntitlement(Agreement):
    """Entitlement evaluated over a review period, not per step (allocation.md §2.3 + §2.5).

    The party is entitled to ``volume`` per review period (``period`` = ``month``, ``quarter``,
    ``half_year`` or ``year``; periods start on the 1st of a month, the year in ``start_month``).
    In step t of a period, with ``U_{t−1}`` the volume delivered under the entitlement so far and
    ``C`` the carry-over into the period, the party claims at ``priority``

    * ``spread = "front"``: ``min(D_t, V + C − U_{t−1})`` (draw as needed until exhausted);
    * ``spread = "even"``: ``min(D_t, (V + C − U_{t−1}) / n_left)`` with ``n_left`` the steps left
      in the period (pywr ``AnnualLicense``);

    and the rest of its demand at ``surplus_priority`` (none: not claimed, reason
    ``agreement_cap``). At each review (start of a new period) ``C = min(K, γ·(V + C − U))``
    (``carry_over_fraction`` γ, ``carry_over_max`` K) and ``U = 0``; the period's delivered volume
    and its balance ``U − V − C`` are recorded (``period_delivered``, ``period_balance``).
    """

    type: Literal["period_entitlement"]
    party: str
    demand: str
    volume: str
    period: Literal["month", "quarter", "half_year", "year"] = "month"
    start_month: int = Field(1, ge=1, le=12)
    priority: int = Field(ge=1)
    surplus_priority: int | None = Field(None, ge=1)
    spread: Literal["front", "even"] = "front"
    carry_over_fraction: float = Field(0.0, ge=0.0, le=1.0)
    carry_over_max: str = "0 m3"
    phase: ClassVar[int] = 20
    _v = field_validator("volume", "carry_over_max")(_quantity_validator("volume"))

    def parties(self) -> list[str]:
        return [self.party]

    def check(self, net: Any, where: str) -> None:
        self._demand(net, self.demand, self.party, "demand")
        _check_one_replacer(self, net, where, [(self.demand, "demand")])

    def period_start(self, t: pd.Timestamp) -> pd.Timestamp:
        """First day of the review period that contains ``t``."""
        L = _PERIOD_MONTHS[self.period]
        k = (t.year * 12 + t.month - self.start_month) // L * L + self.start_month
        y, mo = divmod(k - 1, 12)
        return pd.Timestamp(year=y, month=mo + 1, day=1, tz=t.tz)

    def setup(self, m: Any) -> None:
        from hydro.allocation.solver import Claim

        d = m.dem_ix[self.demand]
        m.drop_default_claim(d)
        self._d = d
        self._V = _q(m, self, self.volume, "volume", "volume")
        self._K = _q(m, self, self.carry_over_max, "volume", "carry_over_max")
        self._k = m.add_claim(Claim(f"{self.demand}:{self.name}", "tranche", d, self.priority, self.party, self.name,
                                    self.demand))
        self._s = -1
        if self.surplus_priority is not None:
            self._s = m.add_claim(Claim(f"{self.demand}:{self.name}:surplus", "tranche", d, self.surplus_priority,
                                        self.party, self.name, self.demand))
        starts = [self.period_start(t) for t in m.times]
        self._pstart = starts
        step = pd.Timedelta(seconds=m.dt)
        L = _PERIOD_MONTHS[self.period]
        # steps left in the period incl. the current one (the period may run past the end of the run)
        self._left = np.array([max(1, int(np.ceil((p + pd.DateOffset(months=L) - t) / step)))
                               for p, t in zip(starts, m.times)], dtype=np.int64)

    def initial_state(self, m: Any) -> Any:
        return {"used": 0.0, "carry": 0.0, "period_delivered": 0.0, "period_balance": 0.0, "valid": False}

    def before(self, m: Any, ctx: Any, st: Any) -> None:
        t = ctx.t
        if t > 0 and self._pstart[t] != self._pstart[t - 1]:  # review
            # a period in which the entitlement was never valid (before ``start``, after ``end``) entitled nothing:
            # no carry-over from it (and a balance of 0)
            valid = st.get("valid", True)
            unused = max(0.0, self._V + st["carry"] - st["used"]) if valid else 0.0
            st["period_delivered"] = st["used"]
            st["period_balance"] = st["used"] - self._V - st["carry"] if valid else 0.0
            st["carry"] = min(self._K, self.carry_over_fraction * unused)
            st["used"] = 0.0
            st["valid"] = False
        D = ctx.demand[self._d]
        if not self.active(ctx):
            ctx.claim_amount[self._k] = 0.0
            if self._s >= 0:
                ctx.claim_amount[self._s] = D
            return
        st["valid"] = True
        rem = max(0.0, self._V + st["carry"] - st["used"])
        if self.spread == "even":
            rem = rem / int(self._left[t])
        a = min(D, rem)
        ctx.claim_amount[self._k] = a
        if self._s >= 0:
            ctx.claim_amount[self._s] = max(0.0, D - a)
        elif D - a > 1e-12:
            ctx.notes.setdefault(self._k, []).append(
                ("agreement_cap", f"period entitlement {self.name} ({self.period}) used up for this review period"))

    def after(self, m: Any, ctx: Any, st: Any, res: dict[str, Any]) -> None:
        if self.active(ctx):
            st["used"] += float(res["claims"][self._k])

    def record(self, m: Any, st: Any) -> dict[str, float]:
        return {f"{self.name}:period_used": st["used"], f"{self.name}:carry_over": st["carry"],
                f"{self.name}:period_delivered": st["period_delivered"],
                f"{self.name}:period_balance": st["period_balance"]}
