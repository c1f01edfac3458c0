"""The live router's view of a batching worker (``LivePlacer``): a ``BatchQueue`` where the topology asks for
batching, the batch wait in the queue estimate, and what it learns from completions (whether the worker batches,
its batch profile, the host time of a request alone)."""

from __future__ import annotations

import pytest

from maas.clock import ManualClock
from maas.placement import BatchModel, LivePlacer, LiveTuning, TopologyTierModels
from maas.routing import RouteRequest, build_policy
from tests.unit.test_tier_batcher import _topology_with

EPOCH_S = 1_790_000_000.0


def _live(tmp_path, batching) -> LivePlacer:
    topology = _topology_with(tmp_path, batching)
    clock = ManualClock(EPOCH_S)
    return LivePlacer(TopologyTierModels(topology, clock), build_policy("edge-aware"), clock,
                      LiveTuning(refresh_s=0.0, host_time_ewma=1.0, initial_platform_ms=1.0))


def test_a_batching_tier_is_estimated_with_its_batch_wait(tmp_path) -> None:
    live = _live(tmp_path, {"max_batch_size": 4, "max_queue_delay_ms": 7.0})
    assert live.placer.batching
    assert isinstance(live.batch_model("digits-mlp", "ground"), BatchModel)
    assert live.batch_model("digits-mlp", "satellite") is None  # not configured there
    route = RouteRequest(model="digits-mlp", site=live.default_site, pinned_tier="ground")
    live.place(route, ["ground", "base-station"], {"fp32": 1.0, "int8": 1.0})
    views = {v.tier: v for v in live.placer.last_views}
    assert views["ground"].queue_ms == pytest.approx(7.0)  # alone: up to the delay for a batch to form
    assert views["base-station"].queue_ms == 0.0  # an idle worker that does not batch


def test_completions_teach_the_profile_and_whether_the_worker_batches(tmp_path) -> None:
    live = _live(tmp_path, {"max_batch_size": 4, "max_queue_delay_ms": 2.0, "models": {
        "minilm-embed": {"max_batch_size": 8}}})
    route = RouteRequest(model="digits-mlp", site=live.default_site, pinned_tier="ground")
    placement = live.place(route, ["ground"], {"fp32": 1.0})
    live.complete(placement, 2.0, 0.5, 0.1, 10.0, batch_size=1, batch_host_ms=2.0)
    live.complete(placement, 0.75, 0.2, 0.1, 10.0, batch_size=4, batch_host_ms=3.0)
    model = live.batch_model("digits-mlp", "ground")
    assert model.ratios == pytest.approx((1.0, 1.1667, 1.3333, 1.5), abs=1e-4)  # 3 ms for 4 vs 2 ms alone
    assert live.host_ms("digits-mlp", "ground", {}) == pytest.approx(2.0)  # 3 ms / 1.5: a request alone
    # a worker that reports no batch (its variant refused batching) is estimated as an unbatched one again
    live.complete(placement, 2.0, 0.5, 0.1, 10.0)
    assert live.batch_model("digits-mlp", "ground") is None
    assert live.batch_model("minilm-embed", "ground").max_batch_size == 8  # the per-model override


def test_the_batching_topology_is_the_default_one_plus_batching() -> None:
    """cluster/topology-batching.yaml is a variant for sim-to-real with batching on: it must not drift from
    cluster/topology.yaml in anything but the tiers' batching."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2] / "cluster"
    base = yaml.safe_load((root / "topology.yaml").read_text())
    variant = yaml.safe_load((root / "topology-batching.yaml").read_text())
    batching = {name: tier.pop("batching") for name, tier in variant["tiers"].items()}
    assert variant == base
    assert set(batching) == set(base["tiers"]) and all(b["max_batch_size"] > 1 for b in batching.values())
