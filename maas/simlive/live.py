"""Sim-to-real: replay a scenario's trace against a live platform and simulate the same trace in virtual time.

The check (issue 4: attainment within 3 points, every tier's share within 5 points):
1. ``prepare`` the scenario once: its trace (arrival offsets, site, tenant, model) is what both sides run.
2. Prime the live router (``priming_rows``: a few requests pinned to every (model, tier)), then calibrate the
   overhead on a short warm-up replay of a *different* trace (another seed): ``calibrate_overhead_ms`` gives the
   gateway's own overhead (``platform_ms``, which its router estimates too) and the ingress overhead only the
   client sees (``ingress_ms``). Nothing is fitted on the measured run.
3. Replay the measured trace live (``replay``: the load-test harness's open-loop engine, one ``PreparedEntry`` per
   request so every outcome is kept with its request: tier, client latency from the intended send, deadline_met).
4. Simulate the same trace (``simulate_for_live``) with the live run's start as epoch (satellite windows follow
   wall time), the deployed models' manifest profiles per variant, the calibrated overheads, and the policy the
   live gateway reports; that router first serves the warm-up trace, as the live one did (priming is not
   simulated: the engine has no pinned requests).
5. ``compare(sim_figures, live_figures)``: differences in points and pass/fail.

No Ray here: the live side (``maas.simlive.replay``) is plain HTTP through ``maas.loadtest``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from maas.errors import ConfigError, InvalidInput
from maas.loadtest.transport import probe_server
from maas.routing import MAIN_POLICY, build_policy, policy_names
from maas.sim.engine import run_policy
from maas.sim.metrics import summarise
from maas.sim.runner import Prepared, prepare
from maas.sim.scenario import ScenarioSpec
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
    "write_trace_jsonl", "replay_schedule", "replay", "live_figures", "calibrate_overhead_ms", "priming_rows",
    "manifest_host_ms", "simulate_for_live", "compare", "check",
]

ATTAINMENT_TARGET_POINTS = 3.0
SHARE_TARGET_POINTS = 5.0


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


def calibrate_overhead_ms(live: LiveRun) -> tuple[float, float]:
    """``(platform_ms, ingress_ms)`` from a replay, medians over answered requests: the overhead the gateway
    measures and reports (its ``platform_ms`` part: decoding, routing, the Ray hop to the tier), which its router
    also estimates; and the rest the client sees beyond every reported part (HTTP ingress, proxy, client), which
    no router estimate contains."""
    gateway, ingress = [], []
    for o in live.outcomes:
        if o.ok and o.parts_ms is not None:
            gateway.append(o.parts_ms["platform_ms"])
            ingress.append(o.latency_ms - sum(o.parts_ms.values()))
    if not gateway:
        raise InvalidInput("calibration: no answered request reported its latency parts (is this the maas gateway?)")
    return round(max(0.0, float(np.median(gateway))), 3), round(max(0.0, float(np.median(ingress))), 3)


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


def _prepared(spec: ScenarioSpec, file: str, epoch_s: float, platform_ms: float, ingress_ms: float,
              host_ms: dict[str, dict[str, float]], policy: str, seed: int | None, duration_s: float | None
              ) -> Prepared:
    sim_spec = spec.model_copy(update={"epoch_start": _iso(epoch_s), "platform_ms": platform_ms})
    prep = prepare(sim_spec, file, policies=[policy], seed=seed, duration_s=duration_s)
    # each tier runs the variant of its precision, as the live gateway does (profile of that variant, else fp32)
    topology = load_topology((Path(file).parent / spec.topology).resolve())
    precision = {t: tier.precision for t, tier in topology.tiers.items()}
    prep.inp.tier_host_ms = [
        {t: host_ms[m].get(precision[t]) or host_ms[m].get("fp32") or spec.models[m].host_compute_ms
         for t in prep.inp.tiers}
        for m in prep.inp.models
    ]
    if ingress_ms:
        prep.inp.link_ms[:, :, 0] += ingress_ms
    return prep


def simulate_for_live(spec: ScenarioSpec, file: str, *, epoch_s: float, platform_ms: float,
                      host_ms: dict[str, dict[str, float]], policy: str = MAIN_POLICY, seed: int | None = None,
                      duration_s: float | None = None, ingress_ms: float = 0.0,
                      warmup: tuple[float, int, float] | None = None) -> tuple[Prepared, dict[str, Any]]:
    """Simulate ``policy`` on the scenario's trace starting at ``epoch_s`` with the variant host times ``host_ms``
    (``manifest_host_ms``); returns the prepared run and the policy's figures.

    ``platform_ms`` is the overhead the router estimates (as the live gateway's does); ``ingress_ms`` is overhead
    no router estimate holds: it is added to every request's true uplink, so latencies include it. ``warmup``
    ``(epoch_s, seed, duration_s)``: the same policy first serves that trace (the live warm-up), so its online
    correction starts the measured trace in the state the live router does."""
    if spec.topology is None:
        raise ConfigError(file, "topology", "the sim-to-real check needs a topology scenario", "topology: <file>")
    missing = [m for m in spec.models if m not in host_ms]
    if missing:
        raise ConfigError(file, f"models.{missing[0]}", "no host profile for this model", ", ".join(host_ms))
    router = build_policy(policy, **spec.policy_options.get(policy, {}))
    if warmup is not None:
        w_epoch, w_seed, w_duration = warmup
        run_policy(_prepared(spec, file, w_epoch, platform_ms, ingress_ms, host_ms, policy, w_seed, w_duration).inp,
                   router)
    prep = _prepared(spec, file, epoch_s, platform_ms, ingress_ms, host_ms, policy, seed, duration_s)
    return prep, summarise(run_policy(prep.inp, router), prep.inp.tiers, prep.duration_s)


# -- the comparison ------------------------------------------------------------------------------------------------
def _fraction(figures: Any, key: str, side: str) -> float:
    value = figures.get(key) if isinstance(figures, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{side} figures: {key!r} must be a fraction in [0, 1], got {value!r}")
    return float(value)


def compare(sim_figures: dict[str, Any], live_figures: dict[str, Any], *,
            attainment_points: float = ATTAINMENT_TARGET_POINTS, share_points: float = SHARE_TARGET_POINTS
            ) -> dict[str, Any]:
    """Differences in points (100 x fraction) between the simulated and the live run: SLO attainment and each
    tier's share (tiers missing on one side count 0), each against its target (``passed`` when both hold)."""
    if attainment_points <= 0 or share_points <= 0:
        raise InvalidInput("targets must be > 0 points")
    sim_att = _fraction(sim_figures, "slo_attainment", "sim")
    live_att = _fraction(live_figures, "slo_attainment", "live")
    shares = {}
    for side, figs in (("sim", sim_figures), ("live", live_figures)):
        share = figs.get("tier_share")
        if not isinstance(share, dict) or not share:
            raise InvalidInput(f"{side} figures: 'tier_share' must be a non-empty mapping of tier -> fraction")
        shares[side] = {str(t): _fraction(share, t, f"{side} tier_share") for t in share}
    tiers = list(dict.fromkeys([*shares["sim"], *shares["live"]]))
    per_tier = {t: {"sim": shares["sim"].get(t, 0.0), "live": shares["live"].get(t, 0.0)} for t in tiers}
    for d in per_tier.values():
        d["diff_points"] = round(100.0 * abs(d["sim"] - d["live"]), 2)
    att_diff = round(100.0 * abs(sim_att - live_att), 2)
    max_share = max(d["diff_points"] for d in per_tier.values())
    ok_att, ok_share = att_diff <= attainment_points, max_share <= share_points
    return {"slo_attainment": {"sim": sim_att, "live": live_att, "diff_points": att_diff,
                               "target_points": attainment_points, "within": ok_att},
            "tier_share": per_tier, "max_tier_share_diff_points": max_share, "tier_share_target_points": share_points,
            "tier_share_within": ok_share, "passed": ok_att and ok_share}


# -- the whole check -------------------------------------------------------------------------------------------
def priming_rows(prep: Prepared, per_pair: int = 25, rate_rps: float = 40.0) -> list[dict[str, Any]]:
    """``per_pair`` requests pinned to each (model, tier), sites in turn, at ``rate_rps``: warms the Ray handles
    and gives the live router's online correction fair first observations of every tier (the simulated router
    starts without cold-start outliers; the live one would keep a tier whose first completions were slow out)."""
    inp = prep.inp
    pairs = [(m, t) for _ in range(per_pair) for m in inp.models for t in inp.tiers]
    return [{"t_s": i / rate_rps, "model": m, "tenant": "priming", "tier": t, "site": inp.sites[i % len(inp.sites)]}
            for i, (m, t) in enumerate(pairs)]


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
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The sim-to-real check of a scenario against the platform at ``url`` (steps in the module docstring);
    ``headers`` go with every request (``Authorization: Bearer <tenant key>``).
    Returns a JSON-able report; ``report["comparison"]["passed"]`` says whether both targets hold."""
    say = progress or (lambda _m: None)
    seed = spec.seed if seed is None else seed
    if warmup_s <= 0 or prime_per_pair < 0:
        raise InvalidInput(f"warm-up must be > 0 s and priming >= 0, got {warmup_s} and {prime_per_pair}")
    sim_only = sim_only_fields(spec)
    if sim_only:
        field, why = sim_only[0]
        others = f"; all the fields only the simulator applies: {', '.join(f for f, _ in sim_only)}" if len(
            sim_only) > 1 else ""
        raise ConfigError(file, field, f"is applied by the simulator only, so sim and live would not run the same "
                          f"experiment: {why}{others}")
    measured = prepare(spec, file, policies=[MAIN_POLICY], seed=seed, duration_s=duration_s)
    tiers = measured.inp.tiers
    _check_deployed(probe_server(url, list(spec.models), headers=headers), list(spec.models), tiers, file)
    rows = trace_rows(measured)
    warm_rows = trace_rows(prepare(spec, file, policies=[MAIN_POLICY], seed=seed + 1000, duration_s=warmup_s))
    if not warm_rows:
        raise InvalidInput(f"the {warmup_s} s warm-up trace has no requests: raise the warm-up")
    if prime_per_pair:
        prime = priming_rows(measured, prime_per_pair)
        say(f"priming: {len(prime)} requests pinned to every (model, tier)")
        replay(url, prime, seed=seed + 2000, timeout_s=timeout_s, headers=headers)
    say(f"warm-up: {len(warm_rows)} requests over {warmup_s:g} s (calibrates the platform overhead)")
    warm = replay(url, warm_rows, seed=seed + 1000, timeout_s=timeout_s, headers=headers)
    platform_ms, ingress_ms = calibrate_overhead_ms(warm)
    say(f"platform_ms {platform_ms} + ingress_ms {ingress_ms}; measured replay: {len(rows)} requests over "
        f"{measured.duration_s:g} s")
    live = replay(url, rows, seed=seed, timeout_s=timeout_s, headers=headers)
    live_fig = live_figures(live, tiers)
    policy = live_fig["policy"] if live_fig["policy"] in policy_names(tiers) else MAIN_POLICY
    say(f"simulating {policy} from the live start {_iso(live.start_s)}")
    sim_prep, sim_fig = simulate_for_live(spec, file, epoch_s=live.start_s, platform_ms=platform_ms,
                                          ingress_ms=ingress_ms, host_ms=host_ms, policy=policy, seed=seed,
                                          duration_s=duration_s, warmup=(warm.start_s, seed + 1000, warmup_s))
    return {
        "scenario": spec.name, "url": url, "epoch": _iso(live.start_s), "policy": policy, "requests": len(rows),
        "duration_s": measured.duration_s, "trace_sha256": trace_sha256(rows),
        "same_trace": trace_sha256(trace_rows(sim_prep)) == trace_sha256(rows),
        "calibration": {"priming_requests": len(tiers) * len(spec.models) * prime_per_pair,
                        "warmup_requests": len(warm_rows), "warmup_errors": sum(not o.ok for o in warm.outcomes),
                        "platform_ms": platform_ms, "ingress_ms": ingress_ms},
        "host_ms": host_ms,
        "sim": sim_fig,
        "live": live_fig,
        "comparison": compare(sim_fig, live_fig),
    }
