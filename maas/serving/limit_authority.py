"""The one limit authority of a cluster: ``maas.metering.LimitAuthority`` in a named, detached Ray actor, so a
tenant's limits hold across every gateway replica (600 rpm means 600 in a minute with 2 replicas, not 1,200).

Each gateway replica's ``LocalLimiter`` takes leases (batches of admissions) from it through ``ActorLeaseSource``:
one actor call per tenant per lease period (``limit_lease_s``), not one per request. The actor loads this day's
and this month's usage from the platform database when it starts, so a restart does not reset quotas.
"""

from __future__ import annotations

from typing import Any

import ray

from maas.clock import WallClock
from maas.errors import NotReady
from maas.metering.limits_types import Lease, TenantLimits
from maas.settings import Settings

__all__ = ["ACTOR_NAME", "LimitAuthorityActor", "ActorLeaseSource", "limit_authority", "stop_limit_authority"]

ACTOR_NAME = "maas-limit-authority"
NAMESPACE = "maas"
_CALL_TIMEOUT_S = 10.0


class LimitAuthorityActor:
    """Hosts the authority; ``lease`` is the only call gateway replicas make."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from maas.api.service import open_lease_authority

        self._authority = open_lease_authority(Settings(**settings), WallClock())

    def lease(self, tenant: str, limits: TenantLimits, holder: str, want: int, **kwargs: Any) -> Lease:
        return self._authority.lease(tenant, limits, holder, want, **kwargs)

    def ping(self) -> bool:
        return True


def limit_authority(settings: Settings) -> Any:
    """The cluster's authority actor, created on first use (named and detached: it outlives any one replica)."""
    actor = ray.remote(num_cpus=0)(LimitAuthorityActor).options(
        name=ACTOR_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, max_restarts=-1,
        max_task_retries=3,
    )
    return actor.remote(settings.model_dump(mode="json"))


def stop_limit_authority() -> bool:
    """Kill the authority actor if it runs (``maas down``); its state is rebuilt from the database next time."""
    try:
        actor = ray.get_actor(ACTOR_NAME, namespace=NAMESPACE)
    except ValueError:
        return False
    ray.kill(actor)
    return True


class ActorLeaseSource:
    """``LeaseSource`` over the actor: a blocking call, made once per tenant per lease period by a replica."""

    def __init__(self, actor: Any, timeout_s: float = _CALL_TIMEOUT_S) -> None:
        self._actor = actor
        self._timeout_s = timeout_s

    def lease(self, tenant: str, limits: TenantLimits, holder: str, want: int, **kwargs: Any) -> Lease:
        try:
            return ray.get(self._actor.lease.remote(tenant, limits, holder, want, **kwargs), timeout=self._timeout_s)
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError) as exc:
            raise NotReady(f"the limit authority did not answer within {self._timeout_s:g} s: {exc}") from None
