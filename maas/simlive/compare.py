"""Sim-to-real's comparison (``maas.simlive.live``): the simulated against the live figures, in points."""

from __future__ import annotations

from typing import Any

from maas.errors import InvalidInput

__all__ = ["ATTAINMENT_TARGET_POINTS", "SHARE_TARGET_POINTS", "compare"]

ATTAINMENT_TARGET_POINTS = 3.0
SHARE_TARGET_POINTS = 5.0


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
