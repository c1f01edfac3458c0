"""Periodic reads of the control path's tables, off the request path.

A gateway replica must notice what the control path wrote (routing revisions, rehearsed faults, keys and tenants),
but a database read on the event loop stalls every request behind it (py-spy on the live gateway: ~30% of the
data plane's CPU was these reads). ``Refresher`` runs each registered job in a worker thread every ``period_s``
on the replica's event loop; the job's owner sets ``in_background`` so its request-path check does nothing.

    refresher = Refresher()
    refresher.add("routing", versions.refresh, period_s=settings.routing_check_s)
    await refresher.start()       # from the app's startup; ``stop()`` cancels the tasks

A failing job is logged and tried again next period (the database may be busy); the request path keeps serving
from the last state it read. Without a running ``Refresher`` (unit tests, ``LocalBackend``) every owner checks on
the request path as before, against its injected clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Refresher", "refresh_in_background"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    name: str
    run: Callable[[], object]
    period_s: float
    owner: object | None  # its ``in_background`` is True while the job runs
    apply: Callable[[object], object] | None  # given ``run``'s result on the event loop


class Refresher:
    """Background refresh jobs for one event loop (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: list[_Job] = []
        self._tasks: list[asyncio.Task] = []
        self.runs: dict[str, int] = {}  # completed runs per job (tests, logs)
        self.failures: dict[str, int] = {}

    def add(self, name: str, run: Callable[[], object], *, period_s: float, owner: object | None = None,
            apply: Callable[[object], object] | None = None) -> None:
        """Run ``run`` in a worker thread every ``period_s`` once started, then ``apply(result)`` on the event
        loop (so the request path never sees a half-made swap); ``owner.in_background`` is set while it runs."""
        if period_s <= 0:
            raise ValueError(f"{name}: period_s must be > 0, got {period_s}")
        self._jobs.append(_Job(name, run, period_s, owner, apply))
        self.runs[name] = self.failures[name] = 0

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop(job), name=f"refresh:{job.name}") for job in self._jobs]
        self._hand_over(True)

    async def stop(self) -> None:
        self._hand_over(False)  # the owners check on the request path again
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _hand_over(self, background: bool) -> None:
        for job in self._jobs:
            if job.owner is not None:
                job.owner.in_background = background

    async def _loop(self, job: _Job) -> None:
        while True:
            try:
                result = await asyncio.to_thread(job.run)
                if job.apply is not None:
                    job.apply(result)
                self.runs[job.name] += 1
            except Exception:  # the database may be busy or away: the last state stays, try again next period
                self.failures[job.name] += 1
                log.warning("background refresh %r failed", job.name, exc_info=True)
            await asyncio.sleep(job.period_s)


def refresh_in_background(app) -> Refresher:
    """A ``Refresher`` for a ``create_app`` app's routing table, fault watcher and key cache, each switched to
    background mode; started with the app (startup event) and stopped with it."""
    dataplane = app.state.dataplane
    refresher = Refresher()
    versions = dataplane.versions
    if versions is not None:
        refresher.add("routing", versions.read, apply=versions.apply, period_s=versions.check_s, owner=versions)
    watcher = getattr(app.state, "fault_watcher", None)
    if watcher is not None:
        refresher.add("faults", watcher.read, apply=watcher.apply, period_s=watcher.interval_s, owner=watcher)
    authenticator = dataplane.service.authenticator
    if authenticator is not None and authenticator.ttl_s > 0:
        refresher.add("keys", authenticator.refresh_cached, period_s=authenticator.ttl_s / 2)
    app.router.add_event_handler("startup", refresher.start)
    app.router.add_event_handler("shutdown", refresher.stop)
    return refresher
