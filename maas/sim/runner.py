"""Run a scenario: build the world and the trace once, simulate each policy on the same trace, solve the oracle.

``prepare(spec, file, ...)`` checks every name against the world (tiers, sites, policies) and raises
``ConfigError``; ``run(prepared)`` returns ``{policy: figures, ..., "oracle": figures or {"skipped": why}}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maas.clock import VirtualClock
from maas.errors import ConfigError, InvalidInput
from maas.placement import Fault, Placer, TierModels
from maas.routing import MAIN_POLICY, build_policy, policy_names
from maas.routing.oracle import OracleInstance, objective_costs, solve_oracle
from maas.routing.policy import RouteRequest, RoutingPolicy, TierView
from maas.sim.engine import EngineInput, prefetch_sites, run_policy
from maas.sim.metrics import objective_figures, summarise, summarise_assignment
from maas.sim.scenario import ScenarioSpec
from maas.sim.updates import uplink_switches
from maas.sim.workload import arrival_times, build_trace, read_trace_times
from maas.sim.world import TableTier, TableWorld

__all__ = ["Prepared", "prepare", "run", "AssignmentPolicy", "oracle_instance", "tenant_figures"]


@dataclass
class Prepared:
    """A scenario ready to run: engine input shared by every policy, the policies, the oracle settings."""

    spec: ScenarioSpec
    file: str
    inp: EngineInput
    policies: list[str]
    duration_s: float
    model_updates: list[dict] = field(default_factory=list)  # maas.sim.updates: when each uplink completes


class AssignmentPolicy(RoutingPolicy):
    """Replays a fixed assignment (``request_id`` -> tier index, -1 = do not serve), e.g. the oracle's."""

    name = "assignment"

    def __init__(self, assignment: np.ndarray, tiers: list[str]) -> None:
        self._a = assignment
        self._tiers = tiers

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        k = int(self._a[request.request_id])
        return [] if k < 0 else [self._tiers[k]]


def _epoch_s(text: str, file: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ConfigError(file, "epoch_start", f"not an ISO-8601 time: {text!r}", "e.g. 2026-01-01T00:00:00Z") from None


def _world(spec: ScenarioSpec, file: str) -> tuple[Callable[[VirtualClock], TierModels], list[str], list[str]]:
    if spec.table_tiers is not None:
        tiers = [TableTier(**t.model_dump()) for t in spec.table_tiers]
        sites = spec.sites or ["site-0"]
        return (lambda clock: TableWorld(tiers)), [t.name for t in tiers], sites
    from maas.placement import topology_tier_models_factory  # loads maas.tiers' topology

    path = (Path(file).parent / spec.topology).resolve()
    if not path.exists():
        raise ConfigError(file, "topology", f"file not found: {path}", "a topology YAML relative to the scenario")
    factory, topology = topology_tier_models_factory(path, seed=spec.seed)
    tiers, all_sites = list(topology.tier_names), list(topology.site_names)
    if spec.region is not None:
        if spec.region not in topology.regions:
            raise ConfigError(file, "region", f"unknown region {spec.region!r}", ", ".join(topology.regions))
        all_sites = [s for s in all_sites if topology.site(s).region == spec.region]
    if spec.sites:
        unknown = [s for s in spec.sites if s not in set(all_sites)]
        if unknown:
            raise ConfigError(file, "sites", f"unknown site {unknown[0]!r}", ", ".join(all_sites[:10]) + " ...")
        sites = spec.sites
    else:
        sites = all_sites
    return factory, tiers, sites


def prepare(spec: ScenarioSpec, file: str, *, policies: list[str] | None = None, seed: int | None = None,
            bias: float | None = None, duration_s: float | None = None) -> Prepared:
    """Validate names against the world and draw the trace and the true link/compute samples."""
    seed = spec.seed if seed is None else seed
    bias = spec.estimate_bias if bias is None else bias
    if bias <= -1:
        raise ConfigError(file, "estimate_bias", f"{bias} is not > -1", "> -1")
    duration = spec.duration_s if duration_s is None else duration_s
    factory, tiers, sites = _world(spec, file)
    if spec.tiers is not None:
        for t in spec.tiers:
            if t not in tiers:
                raise ConfigError(file, "tiers", f"unknown tier {t!r}", ", ".join(tiers))
        tiers = [t for t in tiers if t in spec.tiers]
    if spec.site_count is not None:
        sites = sites[: spec.site_count]
    allowed = policy_names(tiers)
    chosen = allowed if (policies is None and spec.policies == "all") else (policies or spec.policies)
    if chosen == ["all"]:
        chosen = allowed
    for name in chosen:
        if name not in allowed:
            raise ConfigError(file, "policies", f"unknown policy {name!r}", ", ".join(allowed))
    for name in spec.policy_options:
        if name not in allowed:
            raise ConfigError(file, f"policy_options.{name}", "unknown policy", ", ".join(allowed))
    for t in spec.replicas:
        if t not in tiers:
            raise ConfigError(file, f"replicas.{t}", "unknown tier", ", ".join(tiers))
    faults: list[Fault] = []
    site_set = set(sites)
    for i, f in enumerate(spec.faults):
        tier = f.tier
        if f.kind == "satellite_loss":
            tier = tier or "satellite"
        if tier not in tiers:
            raise ConfigError(file, f"faults.{i}.tier", f"unknown tier {tier!r}", ", ".join(tiers))
        for s in f.sites or []:
            if s not in site_set:
                raise ConfigError(file, f"faults.{i}.sites", f"unknown site {s!r}", "sites of the scenario")
        kind = "link_degradation" if f.kind == "link_degradation" else "outage"
        faults.append(Fault(kind, tier, f.start_s, f.end_s, None if f.sites is None else frozenset(f.sites),
                            f.factor))
    rng = np.random.default_rng(seed)
    w = spec.workload
    if w.kind == "trace":
        try:
            t = read_trace_times((Path(file).parent / w.trace_file).resolve())
        except (OSError, ValueError) as exc:
            raise ConfigError(file, "workload.trace_file", str(exc), "a CSV file with a t_s column") from None
        t = t[t < duration]
    else:
        t = arrival_times(w.kind, w.rate_rps, duration, rng, cv=w.cv, amplitude=w.amplitude, period_s=w.period_s,
                          phase_s=w.phase_s, flash_start_s=w.flash_start_s, flash_s=w.flash_s,
                          flash_factor=w.flash_factor)
    models = list(spec.models)
    tenants = spec.tenants
    trace = build_trace(
        t, np.ones(len(sites)), np.array([x.share for x in tenants]),
        [np.array([x.models.get(m, 0.0) for m in models]) for x in tenants], rng,
    )
    epoch = _epoch_s(spec.epoch_start, file)
    inp = EngineInput(
        tiers=tiers, sites=list(sites), models=models,
        host_ms=[spec.models[m].host_compute_ms for m in models],
        in_bytes=[spec.models[m].input_bytes for m in models],
        out_bytes=[spec.models[m].output_bytes for m in models],
        tenant_deadline_ms=[x.deadline_ms for x in tenants], tenant_objective=[x.objective for x in tenants],
        tenant_strict=[x.strict for x in tenants], tenant_names=[x.name for x in tenants],
        trace=trace, link_ms=np.zeros((len(trace), len(tiers), 2)),
        compute_mult=np.exp(spec.compute_cv * rng.standard_normal(len(trace))) if spec.compute_cv else
        np.ones(len(trace)),
        world_factory=factory, epoch_s=epoch, platform_ms=spec.platform_ms, bias=bias, replicas=dict(spec.replicas),
        faults=faults, seed=seed, tenant_epsilon=[x.epsilon for x in tenants],
        # a table world's figures (its battery) change with every request: it is asked every time
        estimate_refresh_s=0.0 if spec.table_tiers is not None else spec.estimate_refresh_s,
        tenant_energy_budget_j=[x.energy_j_per_day for x in tenants],
        energy_shift_pressure=spec.energy_shift_pressure,
        shed_factor=spec.shed_factor,
        tenant_priority=[x.priority for x in tenants],
    )
    inp.host_switches, updates = uplink_switches(spec, file, tiers, models)
    _sample_links(inp, np.random.default_rng(seed + 1))
    return Prepared(spec, file, inp, list(chosen), duration, updates)


def _sample_links(inp: EngineInput, rng: np.random.Generator) -> None:
    world = inp.world_factory(VirtualClock(inp.epoch_s))
    prefetch_sites(world, inp)
    tr = inp.trace
    for i in range(len(tr)):
        site = inp.sites[tr.site[i]]
        m = tr.model[i]
        t_s = inp.epoch_s + tr.t_s[i]
        for k, tier in enumerate(inp.tiers):
            try:
                inp.link_ms[i, k] = world.sample_link_ms(site, tier, input_bytes=inp.in_bytes[m],
                                                         output_bytes=inp.out_bytes[m], rng=rng, t_s=t_s)
            except InvalidInput:  # the site has no access to this tier: its estimates say unavailable
                inp.link_ms[i, k] = np.inf


def oracle_instance(inp: EngineInput, bucket_s: float) -> tuple[OracleInstance, np.ndarray]:
    """The oracle's view of the trace; also carbon per (r, k).

    It asks what the engine asks, the way the engine asks it: the same placement core's estimates (one
    ``Placer`` over fresh tier models, with the engine's cache rule and faults, in trace order), the true link
    samples and compute spread, and the one fault test (``Fault.blocks``) over the service the request would get
    on an idle tier. A tier is feasible for request r when its estimate says available, the response is back
    before the contact window ends, and no outage blocks it."""
    world = inp.world_factory(VirtualClock(inp.epoch_s))
    prefetch_sites(world, inp)
    placer = Placer(world, _NoRanking(), refresh_s=inp.estimate_refresh_s, faults=inp.faults,
                    fault_epoch_s=inp.epoch_s, seed=inp.seed, explain_refusals=False, exact_host=True)
    tr = inp.trace
    n, kk = len(tr), len(inp.tiers)
    tiers = tuple(inp.tiers)
    host_before, switch_at, host_after = inp.host_tables()
    outages = [f for f in inp.faults if f.kind == "outage"]
    lat = np.full((n, kk), np.inf)
    service = np.zeros((n, kk))
    energy = np.zeros((n, kk))
    carbon = np.zeros((n, kk))
    location = np.zeros((n, kk), dtype=np.int64)
    groups: dict[tuple[str, str], int] = {}
    slots: list[int] = []
    caps: dict[str, float] = {}
    for i in range(n):
        si, m, now = int(tr.site[i]), int(tr.model[i]), float(tr.t_s[i])
        site = inp.sites[si]
        new = now >= switch_at[m]  # the engine's rule: the new version from its uplink's completion
        _, true, _ = placer.estimates((si, m, 1) if new else (si, m), site, tiers,
                                      host_after[m] if new else host_before[m], inp.in_bytes[m], inp.out_bytes[m],
                                      inp.epoch_s + now)
        for k, tier in enumerate(tiers):
            key = (tier, world.location(site, tier))
            g = groups.get(key)
            if g is None:
                g = groups[key] = len(slots)
                slots.append(world.slots(tier) * inp.replicas.get(tier, 1))
            location[i, k] = g
            e = true[k][1]
            if e.battery_j is not None and tier not in caps:
                caps[tier] = e.battery_j - (e.battery_reserve_j or 0.0)
            up, down = inp.link_ms[i, k]
            for f in inp.faults:
                if f.kind == "link_degradation" and f.hits(tier, site, now):
                    up, down = up * f.factor, down * f.factor
            c = e.compute_ms * inp.compute_mult[i]
            total = inp.platform_ms + up + c + down
            service[i, k], energy[i, k], carbon[i, k] = c, e.energy_j, e.carbon_g
            if not e.available:
                continue
            if e.window_end_s is not None and inp.epoch_s + now + total / 1000.0 > e.window_end_s:
                continue
            start_s = now + (inp.platform_ms + up) / 1000.0
            if any(f.blocks(tier, site, now, start_s, start_s + c / 1000.0) for f in outages):
                continue
            lat[i, k] = total
    deadline = np.array([inp.tenant_deadline_ms[j] if inp.tenant_deadline_ms[j] is not None else np.inf
                         for j in tr.tenant])
    inst = OracleInstance(list(inp.tiers), tr.t_s.copy(), deadline, lat, service, energy, np.array(slots),
                          bucket_s=bucket_s, energy_cap_j=caps or None, location=location)
    return inst, carbon


class _NoRanking(RoutingPolicy):
    """The oracle asks the placement core for estimates only; nothing is ranked."""

    name = "none"

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:  # pragma: no cover
        return []


def run(prep: Prepared, *, oracle: bool = True, progress: Callable[[str], None] | None = None,
        speeds: dict[str, float] | None = None, records: dict | None = None,
        objective_oracle: bool = False) -> dict:
    """Simulate every policy on the same trace, then the oracle (bound and replayed); figures per policy.
    ``objective_oracle`` adds ``"oracle-objective"``: the oracle whose second stage honours each tenant's objective.

    ``progress`` hears "<policy> done" after each policy (and "oracle done"); ``speeds``, when given, receives simulated requests per wall-clock second for each policy; ``records`` each
    policy's per-request ``RunRecord`` (``maas sim --report`` draws from them)."""
    inp, spec = prep.inp, prep.spec
    out: dict = {}
    for name in prep.policies:
        policy = build_policy(name, **spec.policy_options.get(name, {}))
        rec = run_policy(inp, policy)
        if records is not None:
            records[name] = rec
        out[name] = summarise(rec, inp.tiers, prep.duration_s)
        out[name]["by_objective"] = objective_figures(rec, inp.trace.tenant, inp.tenant_objective)
        if any(t.energy_j_per_day is not None for t in spec.tenants):
            out[name]["tenants"] = tenant_figures(rec, inp, spec)
        if prep.model_updates:
            out[name]["model_updates"] = prep.model_updates
        if speeds is not None and rec.wall_s > 0:
            speeds[name] = round(len(inp.trace) / rec.wall_s, 1)
        if progress:
            progress(f"{name} done")
    if oracle and spec.oracle.enabled:
        out["oracle"] = _oracle(prep, spec.oracle.stage2)
        if progress:
            progress("oracle done")
    if objective_oracle and spec.oracle.enabled:
        out["oracle-objective"] = out["oracle"] if "oracle" in out and spec.oracle.stage2 == "objective" else _oracle(prep, "objective")
        if progress:
            progress("oracle-objective done")
    return out


def _oracle(prep: Prepared, stage2: str) -> dict:
    inp, o = prep.inp, prep.spec.oracle
    n = len(inp.trace)
    if n > o.max_requests:
        return {"skipped": f"oracle instance too large: {n} requests > limit {o.max_requests} "
                           "(shorten duration_s or raise oracle.max_requests)"}
    inst, carbon = oracle_instance(inp, o.bucket_s)
    # the long-run energy budgets the main policy must hold bind the oracle too (budget x duration per tier)
    budgets = prep.spec.policy_options.get(MAIN_POLICY, {}).get("energy_budget_w") or {}
    if budgets:
        caps = dict(inst.energy_cap_j or {})
        for tier, watts in budgets.items():
            cap = float(watts) * prep.duration_s
            caps[tier] = min(caps.get(tier, cap), cap)
        inst.energy_cap_j = caps
    if stage2 == "objective":
        weight = prep.spec.policy_options.get(MAIN_POLICY, {}).get("balanced_weight", 0.5)
        inst.cost = objective_costs(inst, carbon, [inp.tenant_objective[j] for j in inp.trace.tenant],
                                    balanced_weight=float(weight))
    try:
        res = solve_oracle(inst, max_requests=o.max_requests, time_limit_s=o.time_limit_s)
    except InvalidInput as exc:
        return {"skipped": exc.message}
    fig = summarise_assignment(res.assignment, inst.latency_ms, inst.energy_j, carbon, inst.deadline_ms,
                               inp.tiers, prep.duration_s)
    fig["status"] = res.status
    fig["stage2"] = stage2
    rec = run_policy(inp, AssignmentPolicy(res.assignment, inp.tiers))
    fig["replayed"] = summarise(rec, inp.tiers, prep.duration_s)
    return fig


def tenant_figures(rec, inp: EngineInput, spec: ScenarioSpec) -> dict:
    """Per tenant: requests, SLO attainment, refusals for its energy budget, energy used against its budget
    (per day of the run)."""
    tenant = inp.trace.tenant
    days = max(1.0, prep_days(inp))
    out = {}
    for j, t in enumerate(spec.tenants):
        mine = tenant == j
        n = int(mine.sum())
        out[t.name] = {
            "requests": n,
            "slo_attainment": round(float(rec.met[mine].sum()) / n, 4) if n else None,
            "deadline_ms": t.deadline_ms,
            "refused_energy_budget": int(rec.refused[mine].sum()) if rec.refused is not None else 0,
            "energy_j": round(float(rec.tenant_energy_j[j]), 3) if rec.tenant_energy_j else None,
            "energy_budget_j": None if t.energy_j_per_day is None else round(t.energy_j_per_day * days, 3),
        }
    return out


def prep_days(inp: EngineInput) -> float:
    """How many UTC days the trace touches (a budget is per day)."""
    if not len(inp.trace):
        return 1.0
    first = int((inp.epoch_s + float(inp.trace.t_s[0])) // 86400)
    last = int((inp.epoch_s + float(inp.trace.t_s[-1])) // 86400)
    return float(last - first + 1)
