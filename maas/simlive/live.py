"""Sim-to-real: replay a scenario's trace against a live platform and simulate the same trace in virtual time.

The check (issue 4: attainment within 3 points, every tier's share within 5 points):
1. ``prepare`` the scenario once: its trace (arrival offsets, site, tenant, model) is what both sides run.
2. Prime the live router (``priming_rows``: a few requests pinned to every (model, tier)), then calibrate the
   overhead on a short warm-up replay of a *different* trace (another seed; at least ``warmup_s`` and
   ``WARMUP_MIN_REQUESTS`` requests; its first ``WARMUP_SETTLE_S`` not used): ``overhead_samples`` gives, per
   request, the gateway's own overhead (``platform_ms``, which its router estimates and observes) and the ingress
   overhead only the client sees (``ingress_ms``, which no router estimates or observes). Nothing is fitted on
   the measured run.
3. Replay the measured trace live (``replay``: the load-test harness's open-loop engine, one ``PreparedEntry`` per
   request so every outcome is kept with its request: tier, client latency from the intended send, deadline_met,
   and with ``explain`` the gateway's decision).
4. Simulate the same trace (``simulate_for_live``) in the live experiment (``LiveInputs``, issue 16): the live
   run's start as epoch (satellite windows follow wall time), the live gateway's world seed (grid outages), the
   request and response sizes the gateway routes by, the host time each (model, tier) took live (priming and
   warm-up; the manifest profile of its variant where none was measured), and the
   policy the live gateway reports. The router estimates the median gateway overhead; each request draws its true
   (gateway, ingress) overhead pair from the calibration (``OVERHEAD_MODEL``), so the host's tail is simulated,
   not only its median; the ingress is added to the latency the client sees and never reaches the router, as
   live. The queues are the
   live platform's (``EngineInput.live_queues``: slots per (model, tier) deployment for every site, seen as
   requests in flight); a pair that batched live is simulated with the same batcher, its limits from the scenario's
   topology and its batch profile measured live (``maas.simlive.batching``: priming sends bursts to every pair the
   topology batches). That router first
   serves the warm-up trace, as the live one did (priming is not simulated: the engine has no pinned requests).
5. ``compare(sim_figures, live_figures)``: differences in points and pass/fail; with ``explain``, the requests the
   two routed differently with both decisions (``maas.simlive.explain``).

No Ray here: the live side (``maas.simlive.replay``) is plain HTTP through ``maas.loadtest``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from maas.errors import ConfigError, InvalidInput
from maas.loadtest.transport import probe_server, server_metadata
from maas.routing import MAIN_POLICY, build_policy, policy_names
from maas.sim.engine import RunRecord, run_policy
from maas.sim.metrics import summarise
from maas.sim.runner import Prepared, prepare
from maas.sim.scenario import ScenarioSpec
from maas.simlive.batching import (
    batch_models,
    batch_priming_rows,
    batching_limits,
    batching_report,
    measured_batch_profile,
)
from maas.simlive.compare import ATTAINMENT_TARGET_POINTS, SHARE_TARGET_POINTS, compare
from maas.simlive.explain import divergence_summary, divergences
from maas.simlive.replay import (
    LiveRun,
    RequestOutcome,
    replay,
    replay_schedule,
    trace_rows,
    trace_sha256,
    write_trace_jsonl,
)
from maas.tiers import load_topology

__all__ = [
    "ATTAINMENT_TARGET_POINTS", "SHARE_TARGET_POINTS", "RequestOutcome", "LiveRun", "trace_rows", "trace_sha256",
    "write_trace_jsonl", "replay_schedule", "replay", "live_figures", "overhead_samples", "measured_host_ms",
    "calibrate_overhead_ms",
    "priming_rows", "manifest_host_ms", "LiveInputs", "simulate_for_live", "compare", "check", "OVERHEAD_MODELS",
]

WARMUP_MIN_REQUESTS = 250  # the warm-up lasts at least long enough for this many (at most WARMUP_MAX_S)
WARMUP_MAX_S = 30.0
WARMUP_SETTLE_S = 1.0  # the warm-up's first second (right after priming) is not used for the overhead
# How the simulated side draws each request's overhead from the calibration (issue 16, item 4). "full-tail": the
# (gateway, ingress) pair from their joint calibrated distribution (the router estimates the median gateway
# overhead and observes the drawn one, as live; the ingress only reaches the client's latency); "gateway-tail":
# the gateway's from its distribution, the ingress at its median; "median": both at their medians (the check
# before issue 16). The check reports the other two alongside, on the same live run.
OVERHEAD_MODELS = ("full-tail", "gateway-tail", "median")
OVERHEAD_MODEL = "full-tail"


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def live_figures(live: LiveRun, tiers: list[str]) -> dict[str, Any]:
    """The live run in the simulator's terms: attainment over every request (client latency from the intended
    send <= deadline; errors miss), the platform's own ``deadline_met`` attainment, tier shares over answered
    requests, latency percentiles, errors."""
    outs = live.outcomes
    n = len(outs)
    ok = [o for o in outs if o.ok]
    met = sum(o.deadline_ms is None or o.latency_ms <= o.deadline_ms for o in ok)
    platform_met = sum(o.deadline_ms is None or o.deadline_met is True for o in ok)
    counts = Counter(o.tier for o in ok)
    served = sum(counts[t] for t in tiers)
    lat = [o.latency_ms for o in ok]
    policies = Counter(o.policy for o in ok if o.policy)
    return {
        "requests": n, "answered": len(ok), "errors": n - len(ok),
        "error_samples": [o.error for o in outs if not o.ok and o.error][:3],
        "slo_attainment": round(met / n, 5) if n else 1.0,
        "platform_slo_attainment": round(platform_met / n, 5) if n else 1.0,
        "tier_share": {t: round(counts[t] / served, 4) if served else 0.0 for t in tiers},
        "tier_counts": {t: counts[t] for t in tiers},
        "unknown_tiers": {str(t): c for t, c in counts.items() if t not in tiers},
        "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "p99_ms": _pct(lat, 99),
        "lateness_p99_ms": _pct([o.lateness_ms for o in outs if o.ok], 99),
        "policy": policies.most_common(1)[0][0] if policies else None,
    }


def overhead_samples(live: LiveRun) -> np.ndarray:
    """``(k, 2)`` array of ``(platform_ms, ingress_ms)``, one row per answered request that reported its parts:
    the overhead the gateway measures and reports (its ``platform_ms`` part: decoding, routing, the hop to the
    tier), which its router also estimates; and the rest the client sees beyond every reported part (HTTP
    ingress, proxy, client), which no router estimate contains and no router observes."""
    rows = [(o.parts_ms["platform_ms"], o.latency_ms - sum(o.parts_ms.values()))
            for o in live.outcomes if o.ok and o.parts_ms is not None]
    if not rows:
        raise InvalidInput("calibration: no answered request reported its latency parts (is this the maas gateway?)")
    return np.maximum(np.asarray(rows, dtype=float), 0.0)


def measured_host_ms(*runs: tuple[list[dict[str, Any]], LiveRun]) -> dict[str, dict[str, float]]:
    """``{model: {tier: median host ms}}`` over the answered requests of ``(rows, run)`` replays: the real
    onnxruntime time each (model, tier) took on this host, the figure the live router learns its host times from
    (a tiny model's profile, timed in a tight loop at build, can be several times less than a request's run)."""
    seen: dict[str, dict[str, list[float]]] = {}
    for rows, run in runs:
        for row, o in zip(rows, run.outcomes, strict=True):
            if o.ok and o.tier is not None and o.host_ms is not None and (o.batch_size or 1) == 1:  # alone
                seen.setdefault(row["model"], {}).setdefault(o.tier, []).append(o.host_ms)
    return {m: {t: round(float(np.median(v)), 4) for t, v in by.items()} for m, by in seen.items()}


def calibrate_overhead_ms(live: LiveRun) -> tuple[float, float]:
    """``(platform_ms, ingress_ms)``: the medians of ``overhead_samples``."""
    med = np.median(overhead_samples(live), axis=0)
    return round(float(med[0]), 3), round(float(med[1]), 3)


# -- the simulated side ------------------------------------------------------------------------------------------
def manifest_host_ms(models_dir: str | Path, models: list[str]) -> dict[str, dict[str, float]]:
    """``{model: {variant: host_ms_p50}}`` from each model's validated manifest (its measured profile)."""
    from maas.models.catalog import read_manifest

    out = {}
    for m in models:
        path = Path(models_dir) / m / "manifest.json"
        out[m] = read_manifest(path).host_ms_by_variant()
        if not out[m]:
            raise ConfigError(str(path), "profile", "no host_ms_p50 measured", "build the models (make models)")
    return out


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.timezone.utc).isoformat()


def _prepared(spec: ScenarioSpec, file: str, epoch_s: float, live_in: LiveInputs, host_ms: dict[str, dict[str, float]],
              policy: str, seed: int | None, duration_s: float | None) -> Prepared:
    update: dict[str, Any] = {"epoch_start": _iso(epoch_s), "platform_ms": live_in.platform_ms}
    if live_in.world_seed is not None:  # the world (grid outages) of the live gateway; the trace keeps ``seed``
        update["seed"] = live_in.world_seed
    sim_spec = spec.model_copy(update=update)
    prep = prepare(sim_spec, file, policies=[policy], seed=spec.seed if seed is None else seed, duration_s=duration_s)
    inp = prep.inp
    # each tier runs the variant of its precision, as the live gateway does (profile of that variant, else fp32)
    topology = load_topology((Path(file).parent / spec.topology).resolve())
    precision = {t: tier.precision for t, tier in topology.tiers.items()}
    inp.tier_host_ms = [
        {t: host_ms[m].get(precision[t]) or host_ms[m].get("fp32") or spec.models[m].host_compute_ms
         for t in inp.tiers}
        for m in inp.models
    ]
    for j, m in enumerate(inp.models):  # host times as measured live, where they were
        inp.tier_host_ms[j].update(_all_tiers(live_in.host_ms.get(m, {}), inp.tiers, precision))
    for j, m in enumerate(inp.models):  # the sizes the gateway routes by, not the scenario's guesses
        sizes = live_in.io_bytes.get(m)
        if sizes is not None:
            inp.in_bytes[j], inp.out_bytes[j] = int(round(sizes[0])), int(sizes[1])
    n = len(inp.trace)
    if live_in.samples is not None and len(live_in.samples):  # the calibrated distribution, tail included
        draw = np.random.default_rng([prep.inp.seed, 3]).integers(0, len(live_in.samples), n)
        inp.overhead_ms = live_in.samples[draw, 0].copy()
        inp.client_ms = live_in.samples[draw, 1].copy()
    elif live_in.ingress_ms:
        inp.client_ms = np.full(n, float(live_in.ingress_ms))
    inp.explain = live_in.explain
    inp.live_queues = True  # one worker per (model, tier) deployment, its router seeing requests in flight
    inp.batching = batch_models(batching_limits(topology, inp.models), live_in.batch_profile_ms, inp.models, file)
    return prep


def _overhead_draws(samples: np.ndarray, ingress_ms: float, model: str) -> np.ndarray | None:
    """The (gateway, ingress) pairs each simulated request draws from, by overhead model (``OVERHEAD_MODELS``)."""
    if model == "median":
        return None  # every request: the median gateway overhead and the median ingress
    if model == "gateway-tail":
        draws = samples.copy()
        draws[:, 1] = ingress_ms
        return draws
    return samples


def _all_tiers(measured: dict[str, float], tiers: list[str], precision: dict[str, str]) -> dict[str, float]:
    """A model's measured host time on every tier: a tier no request reached takes the median of the tiers
    measured with the same variant, else of all measured tiers (the host is one CPU; none measured: nothing)."""
    out = dict(measured)
    for t in tiers:
        if t not in out and measured:
            same = [v for u, v in measured.items() if precision.get(u) == precision.get(t)]
            out[t] = float(np.median(same or list(measured.values())))
    return out


@dataclass(frozen=True)
class LiveInputs:
    """What the simulated side takes from the live platform so that both run the same experiment.

    ``platform_ms``: the overhead the router estimates (the calibrated median, as the live router learns it);
    ``ingress_ms``: overhead only the client sees, every request (used without ``samples``); ``samples``: the
    calibrated ``(platform_ms, ingress_ms)`` pairs (``overhead_samples``), one drawn per request so the simulator
    has the host's tail, not only its median; ``world_seed``: the live gateway's world seed (grid outages);
    ``io_bytes``: ``{model: (request bytes, response bytes)}`` as the gateway routes them; ``explain``: keep
    every simulated decision (``RunRecord.decisions``); ``host_ms``: ``{model: {tier: ms}}`` measured live
    (``measured_host_ms``), over the manifest profiles where known; ``batch_profile_ms``: ``{model: {tier: {batch
    size: host ms}}}`` of every pair that batched live (``maas.simlive.batching.measured_batch_profile``)."""

    platform_ms: float
    ingress_ms: float = 0.0
    samples: np.ndarray | None = None
    world_seed: int | None = None
    io_bytes: dict[str, tuple[float, int]] = field(default_factory=dict)
    explain: bool = False
    host_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    batch_profile_ms: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)


def simulate_for_live(spec: ScenarioSpec, file: str, *, epoch_s: float, platform_ms: float,
                      host_ms: dict[str, dict[str, float]], policy: str = MAIN_POLICY, seed: int | None = None,
                      duration_s: float | None = None, ingress_ms: float = 0.0,
                      warmup: tuple[float, int, float] | None = None, live_inputs: LiveInputs | None = None
                      ) -> tuple[Prepared, dict[str, Any], RunRecord]:
    """Simulate ``policy`` on the scenario's trace starting at ``epoch_s`` with the variant host times ``host_ms``
    (``manifest_host_ms``); returns the prepared run, the policy's figures and the per-request record.

    ``platform_ms`` is the overhead the router estimates (as the live gateway's does); ``ingress_ms`` is overhead
    no router estimate holds or observes: it is added to every request's latency as the client sees it.
    ``live_inputs`` (``LiveInputs``) replaces both and adds the rest taken from the live platform. ``warmup``
    ``(epoch_s, seed, duration_s)``: the same policy first serves that trace (the live warm-up), so its online
    correction starts the measured trace in the state the live router does."""
    if spec.topology is None:
        raise ConfigError(file, "topology", "the sim-to-real check needs a topology scenario", "topology: <file>")
    missing = [m for m in spec.models if m not in host_ms]
    if missing:
        raise ConfigError(file, f"models.{missing[0]}", "no host profile for this model", ", ".join(host_ms))
    live_in = live_inputs or LiveInputs(platform_ms, ingress_ms)
    router = build_policy(policy, **spec.policy_options.get(policy, {}))
    if warmup is not None:
        w_epoch, w_seed, w_duration = warmup
        quiet = dataclasses.replace(live_in, explain=False)
        run_policy(_prepared(spec, file, w_epoch, quiet, host_ms, policy, w_seed, w_duration).inp, router)
    prep = _prepared(spec, file, epoch_s, live_in, host_ms, policy, seed, duration_s)
    record = run_policy(prep.inp, router)
    return prep, summarise(record, prep.inp.tiers, prep.duration_s), record


# -- the whole check -------------------------------------------------------------------------------------------
def priming_rows(prep: Prepared, per_pair: int = 25, rate_rps: float = 40.0) -> list[dict[str, Any]]:
    """``per_pair`` requests pinned to each (model, tier) at ``rate_rps``, each pair's requests from every site in
    turn (so a pair is reached from the sites that have its access): warms the Ray handles, measures the host time
    of every pair (``measured_host_ms``) and gives the live router's online correction fair first observations of
    every tier (the simulated router starts without cold-start outliers; the live one would keep a tier whose first
    completions were slow out)."""
    inp = prep.inp
    n = len(inp.sites)
    pairs = [(r, j, m, t) for r in range(per_pair) for j, (m, t) in enumerate(
        (m, t) for m in inp.models for t in inp.tiers)]
    return [{"t_s": i / rate_rps, "model": m, "tenant": "priming", "tier": t, "site": inp.sites[(r + j) % n]}
            for i, (r, j, m, t) in enumerate(pairs)]


# scenario fields the live side does not apply, so a scenario setting them compares two different experiments
_LIVE_DEFAULTS = ("estimate_bias", "estimate_refresh_s", "shed_factor")  # the gateway uses its own settings


def sim_only_fields(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """(field, why) for every field of ``spec`` that only the simulator would apply (issue 16): the live replay
    sends each request's model, site, objective, deadline and strictness, and nothing else of the tenants."""
    found = []
    for name in _LIVE_DEFAULTS:
        default = ScenarioSpec.model_fields[name].default
        if getattr(spec, name) != default:
            found.append((name, f"the live gateway uses its own setting, not this scenario's (leave it at {default})"))
    for name, why in (("faults", "live faults come from `maas tiers fail`, not the scenario"),
                      ("policy_options", "the live gateway runs its policy with the options it was started with"),
                      ("replicas", "the live platform has one replica per (model, tier)"),
                      ("model_updates", "the live check does not push new versions"),
                      ("table_tiers", "the live platform runs on its topology file")):
        if getattr(spec, name):
            found.append((name, why))
    for i, tenant in enumerate(spec.tenants):
        for name, unset in (("epsilon", None), ("energy_j_per_day", None), ("priority", 5)):
            if getattr(tenant, name) != unset:
                found.append((f"tenants.{i}.{name}", "the live replay sends every request as one tenant, whose "
                              "epsilon, budget and priority are the platform's, not the scenario's"))
    return found


def _check_deployed(metadata: dict[str, dict[str, Any]], models: list[str], tiers: list[str], file: str) -> None:
    for m in models:
        deployed = ((metadata.get(m) or {}).get("maas") or {}).get("tiers")
        if isinstance(deployed, list):
            missing = [t for t in tiers if t not in deployed]
            if missing:
                raise ConfigError(file, f"models.{m}", f"not deployed on tier {missing[0]!r} of the live platform",
                                  ", ".join(deployed) or "(none)")


def check(url: str, spec: ScenarioSpec, file: str, *, host_ms: dict[str, dict[str, float]], warmup_s: float = 10.0,
          prime_per_pair: int = 25, seed: int | None = None, duration_s: float | None = None,
          timeout_s: float = 10.0, progress: Callable[[str], None] | None = None,
          headers: dict[str, str] | None = None, explain: int = 0) -> dict[str, Any]:
    """The sim-to-real check of a scenario against the platform at ``url`` (steps in the module docstring);
    ``headers`` go with every request (``Authorization: Bearer <tenant key>``); ``explain`` > 0 asks both sides
    for every decision and reports the first ``explain`` requests routed differently (``maas.simlive.explain``).
    Returns a JSON-able report; ``report["comparison"]["passed"]`` says whether both targets hold."""
    say = progress or (lambda _m: None)
    seed = spec.seed if seed is None else seed
    if warmup_s <= 0 or prime_per_pair < 0 or explain < 0:
        raise InvalidInput(f"warm-up must be > 0 s, priming and explain >= 0, got {warmup_s}, {prime_per_pair} and "
                           f"{explain}")
    sim_only = sim_only_fields(spec)
    if sim_only:
        name, why = sim_only[0]
        others = f"; all the fields only the simulator applies: {', '.join(f for f, _ in sim_only)}" if len(
            sim_only) > 1 else ""
        raise ConfigError(file, name, f"is applied by the simulator only, so sim and live would not run the same "
                          f"experiment: {why}{others}")
    measured = prepare(spec, file, policies=[MAIN_POLICY], seed=seed, duration_s=duration_s)
    tiers = measured.inp.tiers
    metadata = probe_server(url, list(spec.models), headers=headers)
    _check_deployed(metadata, list(spec.models), tiers, file)
    world_seed = (server_metadata(url, headers=headers).get("maas") or {}).get("world_seed")
    rows = trace_rows(measured)
    rate_rps = len(rows) / max(measured.duration_s, 1e-9)
    # at least WARMUP_MIN_REQUESTS to calibrate the overhead's distribution on (a slow scenario warms up longer)
    warmup_s = min(max(warmup_s, WARMUP_MIN_REQUESTS / rate_rps if rate_rps > 0 else warmup_s), WARMUP_MAX_S)
    warm_rows = trace_rows(prepare(spec, file, policies=[MAIN_POLICY], seed=seed + 1000, duration_s=warmup_s))
    if not warm_rows:
        raise InvalidInput(f"the {warmup_s} s warm-up trace has no requests: raise the warm-up")
    limits = batching_limits(load_topology((Path(file).parent / spec.topology).resolve()), list(spec.models))
    if prime_per_pair:
        prime = priming_rows(measured, prime_per_pair)
        alone = len(prime)  # the bursts after these measure batches; host times are of requests alone (below)
        prime += batch_priming_rows(limits, measured.inp.sites, start_s=prime[-1]["t_s"] + 0.5 if prime else 0.0)
        say(f"priming: {len(prime)} requests pinned to every (model, tier)")
        primed = replay(url, prime, seed=seed + 2000, timeout_s=timeout_s, headers=headers)
    say(f"warm-up: {len(warm_rows)} requests over {warmup_s:g} s (calibrates the platform overhead)")
    warm = replay(url, warm_rows, seed=seed + 1000, timeout_s=timeout_s, headers=headers)
    settled = LiveRun(warm.start_s, [o for o, r in zip(warm.outcomes, warm_rows, strict=True)
                                     if r["t_s"] >= WARMUP_SETTLE_S] or warm.outcomes)
    samples = overhead_samples(settled)  # the host settled after priming: its first second is not the run's tail
    # host times of requests alone: not the bursts, whose batches run side by side on the worker's slots
    host_live = measured_host_ms(*([(prime[:alone], LiveRun(primed.start_s, primed.outcomes[:alone]))]
                                   if prime_per_pair else []), (warm_rows, warm))
    batch_profile = measured_batch_profile(*([(prime, primed)] if prime_per_pair else []), (warm_rows, warm))
    if limits:  # a pair the platform does not batch (its topology, or a variant that refused) runs unbatched in both
        say(f"batching: {sum(map(len, batch_profile.values()))} of the {sum(map(len, limits.values()))} (model, tier) "
            f"pairs the scenario's topology batches reported batches live")
    platform_ms, ingress_ms = calibrate_overhead_ms(settled)
    say(f"platform_ms {platform_ms} + ingress_ms {ingress_ms} (medians; p99 {np.percentile(samples[:, 0], 99):.2f} "
        f"+ {np.percentile(samples[:, 1], 99):.2f}); measured replay: {len(rows)} requests over "
        f"{measured.duration_s:g} s")
    sent = [dict(r, explain=True) for r in rows] if explain else rows
    live = replay(url, sent, seed=seed, timeout_s=timeout_s, headers=headers)
    live_fig = live_figures(live, tiers)
    policy = live_fig["policy"] if live_fig["policy"] in policy_names(tiers) else MAIN_POLICY
    say(f"simulating {policy} from the live start {_iso(live.start_s)}")
    io_bytes = {m: (live.body_bytes[m], _output_bytes(metadata.get(m) or {}))
                for m in spec.models if m in live.body_bytes and _output_bytes(metadata.get(m) or {})}
    live_in = LiveInputs(platform_ms, ingress_ms, _overhead_draws(samples, ingress_ms, OVERHEAD_MODEL),
                         world_seed if isinstance(world_seed, int) else None, io_bytes, explain > 0, host_live,
                         batch_profile)
    sim_prep, sim_fig, record = simulate_for_live(spec, file, epoch_s=live.start_s, platform_ms=platform_ms,
                                                  host_ms=host_ms, policy=policy, seed=seed, duration_s=duration_s,
                                                  warmup=(warm.start_s, seed + 1000, warmup_s), live_inputs=live_in)
    report = {
        "scenario": spec.name, "url": url, "epoch": _iso(live.start_s), "policy": policy, "requests": len(rows),
        "duration_s": measured.duration_s, "trace_sha256": trace_sha256(rows),
        "same_trace": trace_sha256(trace_rows(sim_prep)) == trace_sha256(rows),
        "calibration": {"priming_requests": len(tiers) * len(spec.models) * prime_per_pair,
                        "warmup_requests": len(warm_rows), "warmup_errors": sum(not o.ok for o in warm.outcomes),
                        "platform_ms": platform_ms, "ingress_ms": ingress_ms,
                        "platform_ms_p99": round(float(np.percentile(samples[:, 0], 99)), 3),
                        "ingress_ms_p99": round(float(np.percentile(samples[:, 1], 99)), 3),
                        "world_seed": live_in.world_seed,
                        "io_bytes": {m: [round(a, 1), b] for m, (a, b) in io_bytes.items()},
                        "host_ms_measured": host_live},
        # what the same (model, tier) took during the measured run: the host's own contention, which the live
        # router learns as it goes and the simulator (host times fixed at the calibration) does not
        "host_ms_during_run": measured_host_ms((rows, live)),
        "host_ms": host_ms,
        "sim": sim_fig,
        "live": live_fig,
        "comparison": compare(sim_fig, live_fig),
        "decisions": divergence_summary(live.outcomes, record, tiers),
        "batching": batching_report(limits, batch_profile, live, record),
    }
    # the same simulation with the other overhead models, for comparison (``OVERHEAD_MODELS``)
    report["overhead_models"] = {"used": OVERHEAD_MODEL}
    for name in OVERHEAD_MODELS:
        if name != OVERHEAD_MODEL:
            _, fig, _ = simulate_for_live(
                spec, file, epoch_s=live.start_s, platform_ms=platform_ms, host_ms=host_ms, policy=policy,
                seed=seed, duration_s=duration_s, warmup=(warm.start_s, seed + 1000, warmup_s),
                live_inputs=dataclasses.replace(live_in, samples=_overhead_draws(samples, ingress_ms, name),
                                                explain=False))
            vs = compare(fig, live_fig)
            report["overhead_models"][name] = {"slo_attainment": fig["slo_attainment"],
                                               "attainment_diff_points": vs["slo_attainment"]["diff_points"],
                                               "max_tier_share_diff_points": vs["max_tier_share_diff_points"]}
    if explain:
        report["divergences"] = divergences(rows, live.outcomes, record, tiers, explain)
    return report


def _output_bytes(metadata: dict[str, Any]) -> int:
    """Response bytes of a one-row request as the gateway accounts them, from the model's V2 metadata: 4 per
    element of every output, a dynamic dimension past the batch counting 1 (``ModelManifest.output_bytes``)."""
    total = 0
    for out in metadata.get("outputs") or []:
        per_row = 1
        for d in (out.get("shape") or [])[1:]:
            per_row *= max(int(d), 1)
        total += per_row * 4
    return total
