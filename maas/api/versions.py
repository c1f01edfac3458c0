"""Which version of a model a request goes to, and on which tiers: the gateway's view of the rollouts.

The control path writes each model's rollout to the database and bumps one routing revision
(``maas.registry.rollouts``). ``VersionRouter.refresh()`` compares that revision at most every ``check_s``
(one indexed read; the data plane calls it per request) and reloads the routing table and the registry's
catalog only when it changed: a version the control path marked ready is routable on the next request after
``check_s``. On the live gateway a background task (``maas.api.background.Refresher``) calls ``refresh`` in a
worker thread instead and sets ``in_background``: the request path then never reads the database.

``choose(name, version, pinned_tier)``:
1. a version in the URL: that version's route (404 for an unregistered version, 503 naming the serving versions
   when it is not deployed); pinned to a satellite tier it has not reached yet: ``UplinkTracker.require``'s 503;
2. no version: a version drawn by the split's weights (a seeded ``random.Random`` per router, no global state);
   pinned to a tier the drawn version is not ready on: a version that is (e.g. the satellite's previous one);
3. the placement is restricted to the chosen version's ready tiers; the backend target is ``model:version``.
Models without a rollout (a data plane over ``LocalBackend``) get None: the caller serves them as before.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from maas.errors import ModelNotFound, NotReady
from maas.models import Catalog, ModelManifest
from maas.registry.rollout_state import Route

__all__ = ["VersionRouter", "Choice", "target_name"]


def target_name(model: str, version: int | str) -> str:
    """The backend target of a model version (``maas.serving.tier_deployment.target_name``'s form)."""
    return f"{model}:{version}"


@dataclass(frozen=True)
class Choice:
    manifest: ModelManifest
    version: int
    target: str  # what the backend runs: "model:version"
    tiers: list[str]  # where that version is ready


class VersionRouter:
    """The routing table and catalog a gateway replica serves from (see the module docstring).

    ``load``: returns (revision, {model: [Route]}, Catalog), the expensive reload; ``revision``: the cheap read.
    ``require``: ``UplinkTracker.require``-like (name, version, tier) check for version-pinned satellite requests.
    """

    def __init__(
        self,
        *,
        revision: Callable[[], int],
        load: Callable[[], tuple[int, dict[str, list[Route]], Catalog]],
        require: Callable[[str, int, str], None] | None = None,
        seed: int = 0,
        check_s: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._revision_of = revision
        self._load = load
        self._require = require
        self._rng = random.Random(seed)
        self._check_s = check_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self.revision = -1
        self.loaded_at: float | None = None  # monotonic time of the last reload (for the propagation figures)
        self.in_background = False  # True: a background task refreshes; ``poll`` (the request path) does nothing
        self._routes: dict[str, list[Route]] = {}
        self._catalog = Catalog(Path("."), [])
        self.refresh(force=True)

    # -- keeping up with the control path ------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Reload when the revision changed (checked at most every ``check_s``); True when it reloaded."""
        table = self.read(force)
        if table is None:
            return False
        self.apply(table)
        return True

    def read(self, force: bool = False) -> tuple[int, dict[str, list[Route]], Catalog] | None:
        """The new (revision, routes, catalog) when the revision changed, else None; safe in a worker thread
        (``apply`` then swaps it in on the request path's loop, so a request never sees half of it)."""
        now = self._monotonic()
        if not force and now - self._checked_at < self._check_s:
            return None
        with self._lock:
            self._checked_at = now
            if not force and self._revision_of() == self.revision:
                return None
            return self._load()

    def apply(self, table: tuple[int, dict[str, list[Route]], Catalog] | None) -> None:
        if table is None:
            return
        revision, routes, catalog = table
        self._routes, self._catalog, self.revision = routes, catalog, revision
        self.loaded_at = self._monotonic()

    @property
    def check_s(self) -> float:
        return self._check_s

    def poll(self) -> None:
        """The request path's check: ``refresh`` when due, unless a background task keeps the table fresh."""
        if not self.in_background:
            self.refresh()

    # -- what the data plane asks ---------------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        return self._catalog

    def routes(self, name: str) -> list[Route]:
        return list(self._routes.get(name, []))

    def deployed(self) -> dict[str, list[str]]:
        """Model -> tiers where some version of it is ready (what the catalog lists)."""
        out = {}
        for model, routes in self._routes.items():
            tiers = sorted({t for r in routes for t in r.tiers})
            if tiers:
                out[model] = tiers
        return out

    def version_tiers(self, name: str) -> dict[int, list[str]]:
        return {r.version: list(r.tiers) for r in self._routes.get(name, [])}

    def choose(self, name: str, version: str | None, pinned_tier: str | None) -> Choice | None:
        self.poll()
        routes = self._routes.get(name)
        if not routes:
            return None
        if version is not None:
            manifest = self._catalog.get(name, version)  # 404 naming the registered versions
            route = next((r for r in routes if str(r.version) == str(manifest.version)), None)
            if route is None:
                serving = ", ".join(str(r.version) for r in routes if r.tiers) or "none"
                raise NotReady(f"model {name!r} version {version} is not deployed (serving versions: {serving})")
            if pinned_tier is not None and pinned_tier not in route.tiers and self._require is not None:
                self._require(name, route.version, pinned_tier)  # 503 saying how far its uplink got
            return self._choice(name, route)
        live = [r for r in routes if r.weight > 0 and r.tiers]
        if pinned_tier is not None:
            on_tier = [r for r in routes if pinned_tier in r.tiers]
            drawn = self._draw(live) if live else None
            if drawn is not None and pinned_tier in drawn.tiers:
                return self._choice(name, drawn)
            if on_tier:
                return self._choice(name, max(on_tier, key=lambda r: (r.weight, r.version)))
        if not live:
            raise NotReady(f"model {name!r} has no version ready to serve yet")
        return self._choice(name, self._draw(live))

    def _draw(self, live: list[Route]) -> Route:
        total = sum(r.weight for r in live)
        x = self._rng.random() * total
        for route in live:
            x -= route.weight
            if x < 0:
                return route
        return live[-1]

    def _choice(self, name: str, route: Route) -> Choice:
        try:
            manifest = self._catalog.get(name, str(route.version))
        except ModelNotFound:
            raise NotReady(f"model {name!r} version {route.version} is routed but not in the catalog yet") from None
        return Choice(manifest, route.version, target_name(name, route.version), list(route.tiers))
