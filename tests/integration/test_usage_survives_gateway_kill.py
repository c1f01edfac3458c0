"""A kill -9 of the gateway replica under load loses no usage record of a request that got a 200, and bills none
twice: records are journalled (one write into the OS) before the response is sent, and the replica Serve starts
in its place ingests the dead one's journal segment. Runs last in the package (it kills the gateway)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import httpx

from bench.chaos import replica_pids
from maas.clock import WallClock
from maas.metering import Keys, Tenants, load_server_secret
from maas.metering.usage import usage_report
from maas.polling import poll_until
from maas.store import make_engine
from tests.support.reference import v2_inputs

RATE_RPS = 50.0
DURATION_S = 8.0
KILL_AT_S = 3.0


def _gateway_pids() -> list[int]:
    return replica_pids("gateway")


async def _open_loop(url: str, headers: dict[str, str], kill) -> list[int]:
    """Send at RATE_RPS for DURATION_S (open loop, no retries); -1 for a request that got no HTTP answer."""
    statuses: list[int] = []
    timeout = aiohttp.ClientTimeout(total=15)
    body = {"inputs": v2_inputs("digits-mlp")}

    async def one(session: aiohttp.ClientSession) -> None:
        try:
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.read()
                statuses.append(resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            statuses.append(-1)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.monotonic()
        tasks, n, killed = [], 0, False
        while (now := time.monotonic() - start) < DURATION_S:
            if not killed and now >= KILL_AT_S:
                kill()
                killed = True
            while n < now * RATE_RPS:
                tasks.append(asyncio.create_task(one(session)))
                n += 1
            await asyncio.sleep(0.005)  # the pacing tick of the open loop, not a wait for a condition
        await asyncio.gather(*tasks)
    return statuses


def test_a_killed_gateway_loses_no_billed_request(platform, base_url):
    settings = platform[0]
    engine = make_engine(settings.effective_database_url())
    clock = WallClock()
    Tenants(engine, clock).create("kill-test")
    key = Keys(engine, load_server_secret(settings.data_dir), clock).create("kill-test").key
    headers = {"Authorization": f"Bearer {key}"}
    pids = _gateway_pids()
    assert pids, "no gateway replica found"

    statuses = asyncio.run(_open_loop(f"{base_url}/v2/models/digits-mlp/infer", headers,
                                      lambda: os.kill(pids[0], signal.SIGKILL)))
    ok = statuses.count(200)
    assert ok > RATE_RPS * KILL_AT_S * 0.5  # it served before the kill ...

    probes: list[int] = []

    def back() -> bool:
        probes.append(1)
        try:
            return httpx.post(f"{base_url}/v2/models/digits-mlp/infer", json={"inputs": v2_inputs("digits-mlp")},
                              headers=headers, timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    poll_until(back, timeout_s=120, what="a new gateway replica to serve")
    ok += 1  # the probe that found it back

    def billed() -> dict:
        return usage_report(engine, tenant="kill-test", group_by=())["total"]

    poll_until(lambda: billed()["ok"] >= ok, timeout_s=60, what="every 200 to reach the database")
    total = billed()
    answered_other = len([s for s in statuses if s not in (200, -1)])
    lost_in_flight = statuses.count(-1)
    # none lost: every 200 is billed; none twice: at most the requests sent (a request the dead replica had
    # journalled but whose response never left is billed without a 200: at most the in-flight ones)
    assert ok <= total["ok"] <= ok + lost_in_flight
    assert total["requests"] <= len(statuses) + len(probes)
    print(f"\nkill -9 of the gateway at {KILL_AT_S:g} s of {DURATION_S:g} s at {RATE_RPS:g} req/s: "
          f"{len(statuses)} sent, {ok - 1} answered 200, {answered_other} other statuses, {lost_in_flight} without an "
          f"answer; billed ok {total['ok']} (>= every 200), requests {total['requests']}")
