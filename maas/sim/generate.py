"""Scenario generator: seeded scenarios drawn from documented distributions (``maas sim generate``).

Scenario ``i`` of seed ``s`` draws everything from ``numpy.random.default_rng([s, i])``, so the same (seed, i)
is the same scenario whatever N is. The world is the topology file (default ``cluster/topology.yaml``). Every
range below is a field of ``GeneratorRanges`` (the CLI's ``--load 0.6,0.9`` etc. narrow them):

| what | distribution |
|---|---|
| region | uniform over the topology's regions (riyadh, cairo, karachi, urumqi) |
| hour | local hour uniform in [0, 24) on 2026-11-21 (epoch_start = local hour - the region's UTC offset) |
| site count | uniform integer in ``sites`` (default 10-60: one to three base-station cells) |
| load | uniform in ``load`` (default 0.40-0.95): offered base-station work / capacity of the busiest cell, as in default-city |
| requests | ``requests`` (default 2,500) sets the duration: duration_s = requests / rate, at least 0.5 s unless that is over 4,500 requests (the exact oracle stays small) |
| arrivals | uniform over poisson, gamma (CV uniform in ``cv``, default 1-4), diurnal (amplitude uniform 0.2-0.8, one compressed period per run), flash (Poisson, x``flash_factor`` 2-5 for 10-30% of the run from a uniform start) |
| tenants | count uniform in ``tenants`` (default 2-5); shares Dirichlet(1) (floor 0.02); deadline log-uniform in ``deadline_ms`` (default 20-500 ms); objective uniform over latency/energy/carbon/balanced; strict with probability ``strict_share`` (default 0.2); one or two of the three models, weights uniform 0.2-1; when the mix's mean base-station work is under 0.8 ms (tiny models only) the biggest tenant also sends minilm-embed (weight 1) |
| faults | count Poisson(``fault_rate``, default 1.0) capped at 3; kind uniform over outage (base-station, optical-access or ground), link_degradation (any tier, factor 1.5-4), satellite_loss, battery_low; start uniform in [0, duration), length 10-50% of the run |

``battery_low`` has no engine fault: it is a topology variant (written next to the scenario) whose satellites
start ``reserve + U(20, 200) J``, so onboard compute runs dry after a few hundred requests.
Models are the three reference models with default-city's host profiles; the main policy runs with epsilon 0.05.
An unsatisfiable range (low > high, a load outside (0, 1.5], N = 0 ...) raises ``ConfigError`` naming the field and
the allowed values before anything is generated.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maas.clock import VirtualClock
from maas.errors import ConfigError
from maas.sim.scenario import ScenarioSpec

__all__ = ["GeneratorRanges", "GeneratedScenario", "generate", "generate_many", "write_scenarios",
           "ARRIVAL_KINDS", "FAULT_KINDS", "DEFAULT_TOPOLOGY"]

DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[2] / "cluster" / "topology.yaml"
ARRIVAL_KINDS = ("poisson", "gamma", "diurnal", "flash")
FAULT_KINDS = ("outage", "link_degradation", "satellite_loss", "battery_low")
OBJECTIVES = ("latency", "energy", "carbon", "balanced")
MODELS = {
    "minilm-embed": {"host_compute_ms": 8.0, "input_bytes": 2048, "output_bytes": 1536},
    "digits-mlp": {"host_compute_ms": 0.05, "input_bytes": 256, "output_bytes": 40},
    "maintenance-clf": {"host_compute_ms": 0.1, "input_bytes": 128, "output_bytes": 16},
}
_DAY = "2026-11-21"
_MIN_WORK_MS = 0.8  # see the tenants row: below it the biggest tenant gets minilm-embed too


def _pair(lo_min: float, hi_max: float):
    """A (low, high) range inside [lo_min, hi_max] with low <= high."""
    return Field(min_length=2, max_length=2, description=f"low,high within [{lo_min}, {hi_max}]")


class GeneratorRanges(BaseModel):
    """The generator's ranges (see the module docstring); every pair is (low, high)."""

    model_config = ConfigDict(extra="forbid")

    load: tuple[float, float] = (0.40, 0.95)
    sites: tuple[int, int] = (10, 60)
    cv: tuple[float, float] = (1.0, 4.0)
    deadline_ms: tuple[float, float] = (20.0, 500.0)
    tenants: tuple[int, int] = (2, 5)
    strict_share: float = Field(default=0.2, ge=0, le=1)
    fault_rate: float = Field(default=1.0, ge=0, le=5)
    requests: int = Field(default=2500, ge=100, le=5000)
    arrivals: tuple[str, ...] = ARRIVAL_KINDS
    faults: tuple[str, ...] = FAULT_KINDS
    regions: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> GeneratorRanges:
        limits = {"load": (0.01, 1.5), "sites": (1, 500), "cv": (0.1, 10.0), "deadline_ms": (1.0, 10_000.0),
                  "tenants": (1, 10)}
        for name, (lo, hi) in limits.items():
            a, b = getattr(self, name)
            if not (lo <= a <= b <= hi):
                raise ValueError(f"{name}|{a},{b} is not a range low <= high within [{lo}, {hi}]|{lo} <= low <= "
                                 f"high <= {hi}")
        for name, allowed in (("arrivals", ARRIVAL_KINDS), ("faults", FAULT_KINDS)):
            bad = [k for k in getattr(self, name) if k not in allowed]
            if bad or (name == "arrivals" and not self.arrivals):
                raise ValueError(f"{name}|unknown or empty: {','.join(bad)}|{', '.join(allowed)}")
        return self


def ranges_from(values: dict) -> GeneratorRanges:
    """``GeneratorRanges`` from plain values; ``ConfigError("generator", field, problem, allowed)`` when not."""
    try:
        return GeneratorRanges.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if "|" in msg:
            f, problem, allowed = (msg.split("|") + ["", ""])[:3]
            raise ConfigError("generator", f, problem, allowed or None) from None
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(ranges)"
        raise ConfigError("generator", loc, msg, None) from None


@dataclass
class GeneratedScenario:
    """One generated scenario: the spec (topology path absolute until written), extra files it needs."""

    name: str
    spec: ScenarioSpec
    traits: dict  # what was drawn, for reports (region, hour, load, arrivals, cv, faults ...)
    files: dict[str, str] = field(default_factory=dict)  # file name -> text (a battery-low topology variant)

    def materialise(self, directory: Path) -> Path:
        """Write the extra files into ``directory``; return the path the scenario file has (or would have) there,
        which is what ``maas.sim.runner.prepare`` resolves the topology against."""
        directory.mkdir(parents=True, exist_ok=True)
        for fname, text in self.files.items():
            target = directory / fname
            if not target.exists() or target.read_text() != text:
                target.write_text(text)
        return directory / f"{self.name}.yaml"


def _uniform(rng: np.random.Generator, pair) -> float:
    return float(rng.uniform(pair[0], pair[1])) if pair[1] > pair[0] else float(pair[0])


@functools.lru_cache(maxsize=4)
def _loaded(topology: Path, mtime_ns: int):
    """The topology and a tier-models factory over it, loaded once per file version."""
    from maas.placement import topology_tier_models_factory

    factory, topo = topology_tier_models_factory(topology)
    return factory, topo


def _world_figures(topology: Path, region: str, n_sites: int, epoch_s: float) -> tuple[list[str], dict, dict]:
    """Sites of the region (first ``n_sites``), base-station sites per cell, and each model's base-station ms."""
    factory, topo = _loaded(topology, topology.stat().st_mtime_ns)
    world = factory(VirtualClock(epoch_s))
    sites = [s for s in topo.site_names if topo.site(s).region == region][:n_sites]
    cells: dict[str, int] = {}
    work: dict[str, float] = {}
    for s in sites:
        e = world.estimate(s, "base-station", host_compute_ms=1.0, input_bytes=0, output_bytes=0, t_s=epoch_s)
        if e.available:
            c = world.location(s, "base-station")
            cells[c] = cells.get(c, 0) + 1
    for m, prof in MODELS.items():
        e = world.estimate(sites[0], "base-station", host_compute_ms=prof["host_compute_ms"],
                           input_bytes=prof["input_bytes"], output_bytes=prof["output_bytes"], t_s=epoch_s)
        work[m] = e.compute_ms
    cells["_slots"] = world.slots("base-station")
    return sites, cells, work


def _work_per_request(tenants: list[dict], work: dict[str, float]) -> float:
    """Mean base-station compute (ms) per request over the tenants' shares and model mixes."""
    total = sum(t["share"] for t in tenants)
    return sum(t["share"] / total * sum(w * work[m] for m, w in t["models"].items()) / sum(t["models"].values())
               for t in tenants)


def _tenants(rng: np.random.Generator, r: GeneratorRanges) -> list[dict]:
    n = int(rng.integers(r.tenants[0], r.tenants[1] + 1))
    shares = rng.dirichlet(np.ones(n))
    lo, hi = math.log(r.deadline_ms[0]), math.log(r.deadline_ms[1])
    out = []
    names = list(MODELS)
    for j in range(n):
        k = int(rng.integers(1, 3))
        chosen = rng.choice(len(names), size=k, replace=False)
        out.append({
            "name": f"tenant-{j}", "share": round(float(max(shares[j], 0.02)), 4),
            "deadline_ms": round(math.exp(rng.uniform(lo, hi)), 1),
            "objective": OBJECTIVES[int(rng.integers(len(OBJECTIVES)))],
            "strict": bool(rng.random() < r.strict_share),
            "models": {names[c]: round(float(rng.uniform(0.2, 1.0)), 3) for c in sorted(chosen)},
        })
    return out


def _faults(rng: np.random.Generator, r: GeneratorRanges, duration_s: float) -> tuple[list[dict], float | None]:
    """Faults of the engine, and the battery-low initial margin above reserve (J) if one was drawn."""
    out: list[dict] = []
    margin = None
    if not r.faults:
        return out, None
    for _ in range(min(int(rng.poisson(r.fault_rate)), 3)):
        kind = r.faults[int(rng.integers(len(r.faults)))]
        start = round(float(rng.uniform(0.0, duration_s)), 3)
        end = round(min(duration_s, start + duration_s * float(rng.uniform(0.1, 0.5))), 3)
        if end <= start:
            end = round(start + 0.01, 3)
        if kind == "outage":
            tier = ("base-station", "optical-access", "ground")[int(rng.integers(3))]
            out.append({"kind": "outage", "tier": tier, "start_s": start, "end_s": end})
        elif kind == "link_degradation":
            tier = ("base-station", "optical-access", "ground", "satellite")[int(rng.integers(4))]
            out.append({"kind": "link_degradation", "tier": tier, "start_s": start, "end_s": end,
                        "factor": round(float(rng.uniform(1.5, 4.0)), 2)})
        elif kind == "satellite_loss":
            out.append({"kind": "satellite_loss", "start_s": start, "end_s": end})
        else:
            margin = round(float(rng.uniform(20.0, 200.0)), 1)
    return out, margin


def _battery_low_topology(topology: Path, margin_j: float) -> str:
    raw = yaml.safe_load(topology.read_text())
    battery = raw["tiers"]["satellite"]["battery"]
    battery["initial_j"] = float(battery["reserve_j"]) + margin_j
    return yaml.safe_dump(raw, sort_keys=False)


def generate(seed: int, index: int, ranges: GeneratorRanges | None = None, *,
             topology: Path = DEFAULT_TOPOLOGY) -> GeneratedScenario:
    """Scenario ``index`` of ``seed`` (see the module docstring for every distribution)."""
    r = ranges or GeneratorRanges()
    rng = np.random.default_rng([seed, index])
    _, topo = _loaded(topology, topology.stat().st_mtime_ns)
    regions = list(r.regions or topo.regions)
    for reg in regions:
        if reg not in topo.regions:
            raise ConfigError("generator", "regions", f"unknown region {reg!r}", ", ".join(topo.regions))
    region = regions[int(rng.integers(len(regions)))]
    hour = float(rng.uniform(0.0, 24.0))
    utc = (hour - topo.regions[region].utc_offset_h) % 24.0
    epoch = dt.datetime.fromisoformat(f"{_DAY}T00:00:00+00:00") + dt.timedelta(hours=utc)
    epoch_text = epoch.strftime("%Y-%m-%dT%H:%M:%SZ")
    n_sites = int(rng.integers(r.sites[0], r.sites[1] + 1))
    sites, cells, work = _world_figures(topology, region, n_sites, epoch.timestamp())
    tenants = _tenants(rng, r)
    # offered base-station work per request (ms), over the tenants' mix
    per_req = _work_per_request(tenants, work)
    if per_req < _MIN_WORK_MS:  # a mix of tiny models only: the biggest tenant also embeds (keeps rates sane)
        big = max(tenants, key=lambda t: t["share"])
        big["models"]["minilm-embed"] = 1.0
        per_req = _work_per_request(tenants, work)
    slots = cells.pop("_slots")
    busiest = max(cells.values()) if cells else len(sites)
    load = _uniform(rng, r.load)
    # busiest cell: rate * busiest / n_sites * per_req ms per second = load * slots * 1000
    rate = load * slots * 1000.0 * len(sites) / (busiest * max(per_req, 1e-6))
    kind = r.arrivals[int(rng.integers(len(r.arrivals)))]
    mean_factor = 1.0
    workload: dict = {"kind": kind}
    cv = 1.0
    if kind == "gamma":
        cv = round(_uniform(rng, r.cv), 2)
        workload["cv"] = cv
    elif kind == "diurnal":
        workload["amplitude"] = round(float(rng.uniform(0.2, 0.8)), 2)
        workload["phase_s"] = 0.0
    elif kind == "flash":
        factor, frac = float(rng.uniform(2.0, 5.0)), float(rng.uniform(0.1, 0.3))
        workload["flash_factor"] = round(factor, 2)
        workload["_frac"] = (float(rng.uniform(0.0, 1.0 - frac)), frac)
        mean_factor = 1.0 + (factor - 1.0) * frac  # the run's mean rate over the base rate
    rate /= mean_factor  # the run's mean load is the drawn load
    mean_rate = rate * mean_factor
    duration = round(min(max(0.5, r.requests / mean_rate), 4500.0 / mean_rate), 3)
    if kind == "diurnal":
        workload["period_s"] = duration
    if kind == "flash":
        start, frac = workload.pop("_frac")
        workload["flash_start_s"] = round(start * duration, 3)
        workload["flash_s"] = round(frac * duration, 3)
    workload["rate_rps"] = round(rate, 1)
    faults, margin = _faults(rng, r, duration)
    name = f"gen-s{seed}-{index:03d}"
    files: dict[str, str] = {}
    topo_ref = str(topology)
    if margin is not None:
        fname = f"topology-battery-low-{int(margin * 10)}.yaml"
        files[fname] = _battery_low_topology(topology, margin)
        topo_ref = fname
    raw = {
        "name": name,
        "description": f"generated: {region} {hour:04.1f}h local, {len(sites)} sites, load {load:.2f}, {kind}"
                       + (f" cv {cv}" if kind == "gamma" else "") + f", {len(tenants)} tenants, "
                       + (", ".join(f["kind"] + ":" + f.get("tier", "") for f in faults) or "no faults")
                       + (f", battery-low +{margin} J" if margin is not None else ""),
        "topology": topo_ref, "epoch_start": epoch_text, "duration_s": duration, "seed": int(seed * 1000 + index),
        "region": region, "site_count": len(sites), "platform_ms": 1.0, "compute_cv": 0.03,
        "estimate_refresh_s": 1.0, "models": MODELS, "workload": workload, "tenants": tenants, "faults": faults,
        "policies": "all", "policy_options": {"edge-aware": {"epsilon": 0.05}},
        "oracle": {"max_requests": 5000, "bucket_s": 0.05, "time_limit_s": 60},
    }
    spec = ScenarioSpec.model_validate(raw)
    traits = {"region": region, "hour_local": round(hour, 2), "sites": len(sites), "load": round(load, 3),
              "arrivals": kind, "cv": cv, "tenants": len(tenants), "strict_tenants": sum(t["strict"] for t in tenants),
              "faults": [f["kind"] + (":" + f["tier"] if "tier" in f else "") for f in faults]
              + (["battery_low"] if margin is not None else []), "rate_rps": workload["rate_rps"],
              "duration_s": duration}
    return GeneratedScenario(name, spec, traits, files)


def generate_many(n: int, seed: int, ranges: GeneratorRanges | None = None, *,
                  topology: Path = DEFAULT_TOPOLOGY) -> list[GeneratedScenario]:
    """Scenarios 0..n-1 of ``seed``; ``n`` must be >= 1."""
    if n < 1:
        raise ConfigError("generator", "n", f"{n} is not >= 1", ">= 1")
    return [generate(seed, i, ranges, topology=topology) for i in range(n)]


def write_scenarios(scenarios: list[GeneratedScenario], directory: Path) -> list[Path]:
    """Write each scenario (YAML, topology path relative to it) and its extra files; returns the scenario paths.
    Files are written to temporaries first and renamed, so nothing partial is left on error."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for g in scenarios:
        path = g.materialise(directory)
        raw = g.spec.model_dump(mode="json", exclude_defaults=True)
        raw["name"], raw["duration_s"] = g.spec.name, g.spec.duration_s
        topo = Path(g.spec.topology or "")
        if topo.is_absolute():
            raw["topology"] = os.path.relpath(topo, directory)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(f"# {g.spec.description}\n" + yaml.safe_dump(raw, sort_keys=False))
        os.replace(tmp, path)
        paths.append(path)
    return paths
