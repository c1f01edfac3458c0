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
import socket

__all__ = ["RAY_ENV", "HAPROXY_ENV", "apply_ray_env", "haproxy_env"]

HAPROXY_ENV = ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT")

RAY_ENV: dict[str, str] = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "1",
    "RAY_AUTH_MODE": "disabled",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_env() -> dict[str, str]:
    """HAProxy's stats and metrics ports for one platform: Ray Serve fixes them at 8404 and 9101, so a second
    Serve on the host (another run, a test, a benchmark) collided with this one. Free ports instead. (Its admin
    sockets already live in a directory per Serve instance under /tmp/haproxy-serve, and HAProxy allows socket
    paths of at most 97 bytes: they are left as Ray makes them.)"""
    return {
        "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
    }


def apply_ray_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set the variables in ``environ`` (default ``os.environ``) unless already set; return the environment."""
    env = os.environ if environ is None else environ
    for key, value in RAY_ENV.items():
        env.setdefault(key, value)
    if not all(key in env for key in HAPROXY_ENV):  # one platform's HAProxy settings stay together
        env.update({k: v for k, v in haproxy_env().items() if k not in env})
    return env
