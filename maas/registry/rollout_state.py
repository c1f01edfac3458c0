"""Rollout state and its transitions, pure (no database, no clock of its own): what ``maas deploy`` and
``maas rollout promote|undo|abort`` do to one model, and the routing entries a state gives the gateway.

A state has a ``stable`` track (version, tiers, tiers whose replicas are ready) and at most one ``canary`` track.
A canary with ``percent`` None is a *takeover*: a plain ``deploy`` (or ``undo``) of another version is staged as a
canary that gets no traffic and replaces the stable track once it is ready on every tier (make before break).
A canary with a percent gets that share only once it is ready on every named tier.

Lifecycle of a version through a rollout:
    1. ``deploy(state, v, tiers, canary_percent)``: staged as a canary (takeover or percent).
    2. ``mark_ready(state, v, tier)`` for each tier the control path saw RUNNING: a takeover completes, a canary
       starts taking its share (``canary_since_s``).
    3. ``promote`` (canary -> stable), ``abort`` / ``rollback`` (canary dropped), ``undo`` (back to the stable
       version and tiers that served before the current one, staged as a takeover).
Each raises ``InvalidInput`` (400) or ``Conflict`` (409) naming what is missing and leaves its input unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from maas.errors import Conflict, InvalidInput

__all__ = [
    "Track",
    "RolloutState",
    "Route",
    "deploy",
    "mark_ready",
    "replace_ready",
    "promote",
    "abort",
    "undo_target",
    "undo",
    "routes",
    "retained_versions",
    "check_percent",
]


@dataclass(frozen=True)
class Track:
    """One version on a set of tiers; ``ready``: the tiers where its replicas are running."""

    version: int
    tiers: tuple[str, ...]
    ready: tuple[str, ...] = ()

    @property
    def all_ready(self) -> bool:
        return set(self.tiers) <= set(self.ready)

    def pending(self) -> list[str]:
        return [t for t in self.tiers if t not in self.ready]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "tiers": list(self.tiers), "ready": list(self.ready)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Track | None:
        if not raw:
            return None
        return cls(int(raw["version"]), tuple(raw["tiers"]), tuple(raw.get("ready", ())))


@dataclass(frozen=True)
class RolloutState:
    """One model's rollout. ``percent`` None with a canary: a takeover (no traffic until it replaces stable)."""

    model: str
    stable: Track | None = None
    canary: Track | None = None
    percent: int | None = None
    auto_rollback: bool = False
    canary_since_s: float | None = None

    @property
    def canary_active(self) -> bool:
        """The canary takes its share now (it has a percent and is ready on every tier)."""
        return self.canary is not None and self.percent is not None and self.canary.all_ready

    def versions(self) -> set[int]:
        return {t.version for t in (self.stable, self.canary) if t is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "stable": None if self.stable is None else self.stable.to_dict(),
            "canary": None if self.canary is None else self.canary.to_dict(),
            "percent": self.percent,
            "auto_rollback": self.auto_rollback,
            "canary_since_s": self.canary_since_s,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RolloutState:
        return cls(
            model=raw["model"],
            stable=Track.from_dict(raw.get("stable")),
            canary=Track.from_dict(raw.get("canary")),
            percent=raw.get("percent"),
            auto_rollback=bool(raw.get("auto_rollback", False)),
            canary_since_s=raw.get("canary_since_s"),
        )


@dataclass(frozen=True)
class Route:
    """A version the gateway may route to: its share of unpinned traffic (``weight``, percent) and tiers."""

    version: int
    weight: int
    tiers: tuple[str, ...] = field(default_factory=tuple)


def check_percent(percent: int | None) -> int | None:
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 99):
        raise InvalidInput(f"canary: {percent!r} percent (allowed: an integer from 1 to 99)")
    return percent


def _describe(state: RolloutState | None) -> str:
    if state is None or state.stable is None:
        return "nothing is deployed"
    return f"stable: version {state.stable.version} on {', '.join(state.stable.tiers)}"


def deploy(
    state: RolloutState | None,
    model: str,
    version: int,
    tiers: list[str],
    percent: int | None = None,
    auto_rollback: bool = False,
) -> RolloutState:
    """Stage ``version`` on ``tiers``: a canary of ``percent`` (1-99) or, without a percent, a takeover."""
    check_percent(percent)
    if not tiers or len(set(tiers)) != len(tiers):
        raise InvalidInput(f"tiers: {tiers!r} (allowed: one or more distinct tier names)")
    if auto_rollback and percent is None:
        raise InvalidInput("auto-rollback: needs --canary PCT (it compares the canary with the stable version)")
    state = state or RolloutState(model)
    if percent is not None:
        if state.stable is None:
            raise Conflict(f"{model}: no stable version to canary against ({_describe(state)}); deploy without --canary first")
        if state.stable.version == version:
            raise Conflict(f"{model}: version {version} is the stable version; a canary needs another version")
    ready: tuple[str, ...] = ()
    if state.stable is not None and state.stable.version == version:
        ready = tuple(t for t in tiers if t in state.stable.ready)  # its replicas there are running already
    canary = Track(version, tuple(tiers), ready)
    staged = replace(state, canary=canary, percent=percent, auto_rollback=auto_rollback, canary_since_s=None)
    return _settle(staged, None)


def _settle(state: RolloutState, now_s: float | None) -> RolloutState:
    """A takeover ready everywhere replaces stable; a percent canary ready everywhere starts its window."""
    canary = state.canary
    if canary is None or not canary.all_ready:
        return state
    if state.percent is None:
        return replace(state, stable=canary, canary=None, auto_rollback=False, canary_since_s=None)
    if state.canary_since_s is None and now_s is not None:
        return replace(state, canary_since_s=now_s)
    return state


def mark_ready(state: RolloutState, version: int, tiers: list[str], now_s: float) -> RolloutState:
    """The control path saw ``version``'s replicas running on ``tiers``."""
    new = state
    for name in ("stable", "canary"):
        track: Track | None = getattr(new, name)
        if track is not None and track.version == version:
            ready = tuple(t for t in track.tiers if t in track.ready or t in tiers)
            new = replace(new, **{name: replace(track, ready=ready)})
    return _settle(new, now_s)


def replace_ready(state: RolloutState) -> RolloutState:
    """``state`` with no tier ready (after a restart nothing runs; the same versions are deployed again)."""
    stable = None if state.stable is None else replace(state.stable, ready=())
    canary = None if state.canary is None else replace(state.canary, ready=())
    return replace(state, stable=stable, canary=canary)


def promote(state: RolloutState | None, model: str) -> RolloutState:
    """The canary becomes the stable version (it must be ready on every tier)."""
    if state is None or state.canary is None or state.percent is None:
        raise Conflict(f"{model}: no canary to promote ({_describe(state)})")
    if not state.canary.all_ready:
        raise Conflict(
            f"{model}: canary version {state.canary.version} is not ready on {', '.join(state.canary.pending())} yet"
        )
    return replace(state, stable=state.canary, canary=None, percent=None, auto_rollback=False, canary_since_s=None)


def abort(state: RolloutState | None, model: str) -> RolloutState:
    """Drop the canary (or a takeover in progress); the stable version keeps all traffic."""
    if state is None or state.canary is None:
        raise Conflict(f"{model}: no canary or deployment in progress to abort ({_describe(state)})")
    return replace(state, canary=None, percent=None, auto_rollback=False, canary_since_s=None)


def undo_target(history: list[RolloutState]) -> Track | None:
    """The stable track that served before the current one: walk the history's distinct stable tracks (by version
    and tiers) and take the one before the last. None: there is none."""
    seen: list[tuple[int, tuple[str, ...]]] = []
    tracks: list[Track] = []
    for state in history:
        if state.stable is None:
            continue
        key = (state.stable.version, tuple(sorted(state.stable.tiers)))
        if not seen or seen[-1] != key:
            seen.append(key)
            tracks.append(state.stable)
    return tracks[-2] if len(tracks) >= 2 else None


def undo(state: RolloutState | None, model: str, history: list[RolloutState]) -> RolloutState:
    """Back to the version and tiers that served before the current stable one (staged as a takeover; any canary
    is dropped)."""
    target = undo_target(history)
    if state is None or state.stable is None or target is None:
        raise Conflict(f"{model}: nothing to undo: the history has no earlier stable version ({_describe(state)})")
    staged = replace(state, canary=None, percent=None, auto_rollback=False, canary_since_s=None)
    return deploy(staged, model, target.version, list(target.tiers))


def retained_versions(state: RolloutState | None, history: list[RolloutState]) -> set[int]:
    """Versions whose deployments are kept: the current ones and the undo target (kept deployable)."""
    kept = set() if state is None else state.versions()
    target = undo_target(history)
    if target is not None:
        kept.add(target.version)
    return kept


def routes(state: RolloutState, uplinked, fallback: Track | None = None) -> list[Route]:
    """Where the gateway may send ``state.model``'s requests. ``uplinked(version, tier)``: False while that
    version's bytes are still travelling to a satellite tier (it is not ready there). ``fallback``: the track
    that served before (retained): it keeps serving the satellite tiers the new stable version has not reached.
    Weights are percents of unpinned traffic; 0: reachable only by a version or tier pin."""
    out: list[Route] = []
    stable = state.stable
    share = state.percent if state.canary_active else 0
    if stable is not None:
        tiers = tuple(t for t in stable.ready if uplinked(stable.version, t))
        out.append(Route(stable.version, 100 - share, tiers))
        missing = [t for t in stable.ready if t not in tiers]
        if fallback is not None and fallback.version != stable.version and missing:
            kept = tuple(t for t in missing if t in fallback.tiers and uplinked(fallback.version, t))
            if kept:
                out.append(Route(fallback.version, 0, kept))
    canary = state.canary
    if canary is not None:
        tiers = tuple(t for t in canary.ready if uplinked(canary.version, t))
        if stable is not None and canary.version == stable.version:
            return out
        out.append(Route(canary.version, share, tiers))
    return out
