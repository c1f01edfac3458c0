"""What the gateway's repository extension (load/unload, ``maas.api.admin_models``) does on Ray Serve.

``load(name, version, tiers)``: the version (default: the newest registered) is deployed like ``maas deploy``
(make before break: routed once its replicas run), on ``tiers`` (default: the tiers its model serves on now,
else every tier). ``unload(name)``: every deployment of the model is removed and it is no longer routed.
Blocking: the HTTP layer runs them in a worker thread.
"""

from __future__ import annotations

from ray import serve

from maas.serving.rollout_control import deploy_versions, open_rollouts
from maas.serving.tier_deployment import parse_app_name
from maas.settings import Settings
from maas.tiers import load_topology

__all__ = ["RayModelControl", "undeploy"]


def undeploy(settings: Settings, model: str) -> list[str]:
    """Stop routing ``model`` (history: ``undeploy``) and delete all its applications; returns their tiers."""
    store = open_rollouts(settings)
    store.undeploy(model)
    removed = []
    for name in list(serve.status().applications):
        parsed = parse_app_name(name)
        if parsed and parsed[0] == model:
            serve.delete(name)
            removed.append(parsed[1])
    return sorted(set(removed))


class RayModelControl:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def load(self, name: str, version: int | None = None, tiers: list[str] | None = None) -> dict:
        if tiers is None:
            state = open_rollouts(self.settings).state(name)
            if state is not None and state.stable is not None:
                tiers = list(state.stable.tiers)
            else:
                tiers = list(load_topology(self.settings.topology_path).tier_names)
        states = deploy_versions(self.settings, {name: (version, tiers)})
        state = states[name]
        return {} if state is None else state.to_dict()

    def unload(self, name: str) -> list[str]:
        return undeploy(self.settings, name)
