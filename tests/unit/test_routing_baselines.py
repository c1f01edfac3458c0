"""Baselines on hand-built views."""

from __future__ import annotations

from maas.routing import RouteRequest, TierView, build_policy, policy_names

R = RouteRequest(model="m", site="s", deadline_ms=10.0)


def v(tier: str, kind: str = "", up: float = 1.0, compute: float = 1.0, energy: float = 1.0, in_flight: int = 0,
      slots: int = 1, available: bool = True) -> TierView:
    return TierView(tier=tier, available=available, uplink_ms=up, downlink_ms=up, compute_ms=compute,
                    energy_j=energy, in_flight=in_flight, slots=slots, kind=kind)


VIEWS = [
    v("bs", "base-station", up=3, compute=20, energy=0.2, in_flight=9, slots=10),
    v("olt", "optical-access", up=1, compute=30, energy=0.5, in_flight=1, slots=2),
    v("dc", "ground", up=8, compute=2, energy=3.0, in_flight=1, slots=8),
    v("sat", "satellite", available=False),
]


def test_every_baseline_is_registered() -> None:
    names = policy_names(["bs", "olt", "dc", "sat"])
    for n in ("random", "round-robin", "nearest", "least-loaded", "greedy-latency", "greedy-energy",
              "edgecloudsim-threshold", "single-tier-bs", "single-tier-sat"):
        assert n in names
        assert build_policy(n).name == n


def test_orders() -> None:
    assert build_policy("nearest").choose(R, VIEWS) == ["olt", "bs", "dc", "sat"]
    assert build_policy("least-loaded").choose(R, VIEWS) == ["dc", "olt", "bs", "sat"]
    assert build_policy("greedy-latency").choose(R, VIEWS) == ["dc", "bs", "olt", "sat"]
    assert build_policy("greedy-energy").choose(R, VIEWS) == ["bs", "olt", "dc", "sat"]  # deadline ignored
    assert build_policy("single-tier-sat").choose(R, VIEWS) == ["sat"]


def test_round_robin_and_random_cover_available_tiers() -> None:
    rr = build_policy("round-robin")
    firsts = [rr.choose(R, VIEWS)[0] for _ in range(6)]
    assert firsts == ["bs", "olt", "dc", "bs", "olt", "dc"]
    rnd = build_policy("random", seed=3)
    seen = {rnd.choose(R, VIEWS)[0] for _ in range(60)}
    assert seen == {"bs", "olt", "dc"}
    assert all(rnd.choose(R, VIEWS)[-1] == "sat" for _ in range(10))


def test_edgecloudsim_threshold() -> None:
    p = build_policy("edgecloudsim-threshold")
    # bs at 90% > 80%, olt at 50%: nearest cool edge first, then cloud, then hot edge
    assert p.choose(R, VIEWS) == ["olt", "dc", "bs", "sat"]
    hot = [v("bs", "base-station", in_flight=9, slots=10), v("dc", "ground", up=8)]
    assert p.choose(R, hot) == ["dc", "bs"]
