"""Environment the Ray processes must start with. Applied by whoever starts Ray, before ``ray`` is imported.

From ../shared/reference/serving.md, measured on this 2-core machine: the HAProxy ingress and Serve's
throughput-optimised mode cut latency ~4x and raise throughput ~3.5x. Usage stats are off (no network here).
``RAY_AUTH_MODE=disabled``: Ray 2.60 turns token auth on by itself once ``~/.ray/auth_token`` exists (any earlier
local ``ray.init`` writes it), and a cluster started by ``ray start`` then refused maas's own driver here
(InvalidAuthToken). The platform's embedded cluster listens on this host; an operator who runs Ray with token
auth sets ``RAY_AUTH_MODE=token`` (and the token) in the environment, which wins over this default.
This module does not import ray, so it can be used before ray's constants are read.
"""

from __future__ import annotations

import os

__all__ = ["RAY_ENV", "apply_ray_env"]

RAY_ENV: dict[str, str] = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "1",
    "RAY_AUTH_MODE": "disabled",
}


def apply_ray_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set the variables in ``environ`` (default ``os.environ``) unless already set; return the environment."""
    env = os.environ if environ is None else environ
    for key, value in RAY_ENV.items():
        env.setdefault(key, value)
    return env
