"""Online correction of latency estimates from observed completions.

``LatencyCorrector`` keeps an exponentially weighted mean of observed/estimated latency per (site, tier, model),
falling back to (tier, model) until a site has enough observations of its own. The router multiplies its
estimates by the mean ratio, so a world slower or faster than the tier models is fixed online.

It also keeps, per (tier, model) and pooled per tier, the last ``window`` normalised residuals
``u = (observed - estimated) / estimated network time`` and their empirical ``tail_q`` quantile (recomputed every
``window // 8`` observations). Once ``min_tail`` residuals are known the router fits
``estimate + u_q * network estimate`` in the deadline, so the chance constraint is calibrated on what really
happened rather than on the tier model's p99 (which may be too wide or too narrow). The residual is scaled by the
network part because that is where the spread is (compute is near-deterministic, the queue is estimated).

Evidence fades. A tier the router stopped choosing sends no completions, so what made it look slow would
otherwise hold forever: a few cold or unlucky early requests could shut a tier out for good (seen live). With
``fade_s``, a ratio not refreshed for longer than ``fade_s`` relaxes towards 1 (the tier model) as
``exp(-(age - fade_s) / fade_s)``, and a tail not refreshed for ``fade_s`` is no longer used (the tier model's
p99 is); the tier is then tried again, and its next completions start from the faded value. A tier observed
more often than every ``fade_s`` keeps its full correction. Time is that of the observations (``at_s``, the
newest seen), so the corrector reads no clock.
"""

from __future__ import annotations

import math

__all__ = ["LatencyCorrector"]

_NEVER = -math.inf


class LatencyCorrector:
    """EWMA of observed/estimated latency ratios, hierarchical: (site, tier, model) then (tier, model) then 1."""

    __slots__ = ("alpha", "min_count", "clip", "tail_q", "window", "min_tail", "fade_s", "_every", "_now_s",
                 "_site", "_tier", "_tail")

    def __init__(self, alpha: float = 0.05, min_count: int = 20, clip: tuple[float, float] = (0.2, 5.0),
                 tail_q: float = 0.99, window: int = 500, min_tail: int = 100, fade_s: float | None = 10.0) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        if not 0.5 <= tail_q < 1.0:
            raise ValueError("tail_q must be in [0.5, 1)")
        if fade_s is not None and fade_s <= 0:
            raise ValueError("fade_s must be > 0 (or None: evidence never fades)")
        self.alpha = alpha
        self.min_count = min_count
        self.clip = clip
        self.tail_q = tail_q
        self.window = max(int(window), 8)
        self.min_tail = min(max(int(min_tail), 1), self.window)
        self.fade_s = fade_s
        self._every = max(self.window // 8, 1)
        self._now_s = _NEVER  # the newest observation time seen
        # key -> [count, mean ratio, time of the last observation]
        self._site: dict[tuple[str, str, str], list[float]] = {}
        self._tier: dict[tuple[str, str], list[float]] = {}
        # (tier, model) -> [residual ring, next index, seen, cached tail_q quantile or None, sorted snapshot,
        #                   time of the last observation]
        self._tail: dict[tuple[str, str], list] = {}

    def _fresh_tail(self, key: tuple[str, str]) -> list | None:
        t = self._tail.get(key)
        if t is None or t[3] is None:
            return None
        if self.fade_s is not None and self._now_s - t[5] > self.fade_s:
            return None
        return t

    def quantile(self, tier: str, model: str, q: float | None = None) -> float | None:
        """The empirical ``q`` (default ``tail_q``) quantile of the normalised residual on ``tier`` for ``model``,
        else pooled over the tier's models (None: too few observations, or none for ``fade_s``, either way)."""
        t = self._fresh_tail((tier, model)) or self._fresh_tail((tier, "*"))
        if t is None:
            return None
        if q is None or q == self.tail_q:
            return t[3]
        ordered = t[4]
        return ordered[min(max(int(q * len(ordered)), 0), len(ordered) - 1)]

    def _faded(self, cell: list[float], now_s: float | None = None) -> float:
        r = cell[1]
        fade = self.fade_s
        if fade is None:
            return r
        # the age beyond the grace period; nan when no observation had a time: nothing fades then
        over = (self._now_s if now_s is None else now_s) - cell[2] - fade
        return 1.0 + (r - 1.0) * math.exp(-over / fade) if over > 0.0 else r

    def ratio(self, site: str, tier: str, model: str) -> float:
        """The current correction factor for estimates of ``tier`` seen from ``site`` for ``model``."""
        s = self._site.get((site, tier, model))
        if s is not None and s[0] >= self.min_count:
            return self._faded(s)
        t = self._tier.get((tier, model))
        if t is not None:
            return self._faded(t)
        return 1.0

    def factors(self, site: str, tier: str, model: str, q: float | None = None) -> tuple[float, float | None]:
        """``(ratio(site, tier, model), quantile(tier, model, q))`` in one call (the router's hot path)."""
        return self.ratio(site, tier, model), self.quantile(tier, model, q)

    def update(self, site: str, tier: str, model: str, estimated_ms: float, observed_ms: float,
               network_ms: float | None = None, at_s: float | None = None) -> None:
        """Fold one completion (routed at ``at_s``; None: no time, nothing fades) into the site-level and
        tier-level ratios and the tail residuals."""
        if estimated_ms <= 0.0 or observed_ms <= 0.0:
            return
        if at_s is None:
            at_s = self._now_s
        elif at_s > self._now_s:
            self._now_s = at_s
        lo, hi = self.clip
        r = observed_ms / estimated_ms
        r = lo if r < lo else hi if r > hi else r
        alpha = self.alpha
        for table, key in ((self._site, (site, tier, model)), (self._tier, (tier, model))):
            cell = table.get(key)
            if cell is None:
                table[key] = [1.0, r, at_s]
            else:
                if at_s > cell[2]:  # what faded while the tier went unobserved is gone for good
                    cell[1] = self._faded(cell, at_s)
                    cell[2] = at_s
                n = cell[0] = cell[0] + 1.0
                # average exactly while young, then exponentially weighted
                cell[1] += (alpha if alpha * n > 1.0 else 1.0 / n) * (r - cell[1])
        scale = network_ms if network_ms is not None and network_ms > 0.0 else estimated_ms
        u = (observed_ms - estimated_ms) / scale
        window = self.window
        for key in ((tier, model), (tier, "*")):
            tail = self._tail.get(key)
            if tail is None:
                tail = self._tail[key] = [[], 0, 0, None, [], at_s]
            elif self.fade_s is not None and at_s - tail[5] > self.fade_s:  # stale residuals: start afresh
                tail[0], tail[1], tail[2], tail[3], tail[4] = [], 0, 0, None, []
            if at_s > tail[5]:
                tail[5] = at_s
            ring = tail[0]
            pos = tail[1]
            if len(ring) < window:
                ring.append(u)
            else:
                ring[pos] = u
            tail[1] = pos + 1 if pos + 1 < window else 0
            seen = tail[2] = tail[2] + 1
            if tail[3] is None:
                if len(ring) >= self.min_tail:
                    self._refresh_tail(tail)
            elif seen % self._every == 0:
                self._refresh_tail(tail)

    def _refresh_tail(self, tail: list) -> None:
        ordered = sorted(tail[0])
        tail[3] = ordered[min(int(self.tail_q * len(ordered)), len(ordered) - 1)]
        tail[4] = ordered

    def snapshot(self) -> dict[str, float]:
        """Tier-level ratios as ``{"tier/model": ratio}`` (for reports and ``route explain``), faded to now."""
        return {f"{t}/{m}": round(self._faded(c), 4) for (t, m), c in self._tier.items()}
