"""Sweep replications as Ray tasks (``maas sim sweep``, ``maas plan``): the only part of a sweep that needs Ray.

``run_tasks(tasks, address=None, workers=None)``:
1. With ``address``: its GCS must accept a TCP connection within ``probe_timeout_s`` (default 10 s), else
   ``NotReady`` (exit 1) before Ray is touched: a dead address never hangs ``ray.init``.
2. Connects (an already connected driver is reused; no address: a local Ray with ``workers`` CPUs).
3. Submits ``maas.sim.sweep.run_replication`` once per task (1 CPU each), gathers the results in task order,
   each with the node it ran on (``node``); shuts down only a Ray it started itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from maas.errors import NotReady
from maas.serving.ray_address import gcs_answers
from maas.serving.ray_env import apply_ray_env

__all__ = ["run_tasks"]


def _replication(task: dict) -> dict:
    import ray

    from maas.sim.sweep import run_replication

    out = run_replication(task)
    out["node"] = ray.get_runtime_context().get_node_id()
    return out


def run_tasks(tasks: list[dict], *, address: str | None = None, workers: int | None = None,
              probe_timeout_s: float = 10.0, progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Run every task as a Ray task; results in task order (see the module docstring)."""
    if address and not gcs_answers(address, probe_timeout_s):
        raise NotReady(f"--ray-address {address}: no Ray GCS answers there within {probe_timeout_s:g} s "
                       "(is the head running? `ray start --head` prints its address)")
    apply_ray_env()
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict = {"logging_level": logging.WARNING, "log_to_driver": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **kwargs)
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_replication)
        refs = [remote.remote(t) for t in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        out: list[dict | None] = [None] * len(refs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                out[index[ref]] = ray.get(ref)
            if progress:
                progress(len(refs) - len(pending), len(refs))
        return [r for r in out if r is not None]
    finally:
        if started:
            ray.shutdown()
