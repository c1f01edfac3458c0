"""A request whose tier fails (its replica died, its deployment is gone) runs on another tier when it may: not
pinned, deadline not spent, at most two retries; otherwise it gets the failure's 503, never a 500 (in-process data
plane, a backend that fails on demand; no Ray)."""

from __future__ import annotations

import pytest

from maas.errors import NotReady
from tests.unit.conftest import make_client

DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}


class FlakyBackend:
    """Fails the first ``failures`` calls (any tier), or every call on ``dead`` tiers, as a dead replica does."""

    def __init__(self, inner, failures: int = 0, dead: tuple[str, ...] = ()) -> None:
        self.inner, self.failures, self.dead, self.calls = inner, failures, dead, []

    def deployed(self):
        return self.inner.deployed()

    def in_process(self):
        return self.inner.in_process()

    async def infer(self, model, tier, inputs, compute_factor):
        self.calls.append(tier)
        if tier in self.dead or len(self.calls) <= self.failures:
            raise NotReady(f"model {model!r} on tier {tier!r} failed: its replica died (ActorDiedError)")
        return await self.inner.infer(model, tier, inputs, compute_factor)


@pytest.fixture(scope="module")
def app(models_dir, catalog):
    client, clock, _ = make_client(models_dir, catalog)
    with client:
        yield client, client.app.state.dataplane


@pytest.fixture()
def flaky(app):
    _, dp = app
    inner = dp._backend
    perf = dp._perf

    def install(**kw):
        dp._backend = FlakyBackend(inner, **kw)
        return dp._backend

    yield install
    dp._backend, dp._perf = inner, perf


def test_a_failed_tier_is_retried_on_another(app, flaky):
    client, _ = app
    backend = flaky(failures=1)
    r = client.post("/v2/models/digits-mlp/infer", json={**DIGITS, "parameters": {"deadline_ms": 200}})
    assert r.status_code == 200, r.text
    params = r.json()["parameters"]
    assert params["retried_from"] == [backend.calls[0]] and params["tier"] == backend.calls[1] != backend.calls[0]


def test_a_pinned_request_is_not_moved(app, flaky):
    client, _ = app
    backend = flaky(dead=("ground",))
    r = client.post("/v2/models/digits-mlp/infer", json={**DIGITS, "parameters": {"tier": "ground"}})
    assert r.status_code == 503 and "replica died" in r.json()["error"] and backend.calls == ["ground"]


def test_at_most_two_retries_then_a_503(app, flaky):
    client, _ = app
    backend = flaky(failures=100)
    r = client.post("/v2/models/digits-mlp/infer", json=DIGITS)
    assert r.status_code == 503 and len(backend.calls) == 3 and len(set(backend.calls)) == 3


def test_no_retry_once_the_deadline_is_spent(app, flaky):
    client, dp = app
    backend = flaky(failures=1)
    ticks = iter(range(0, 10_000))
    dp._perf = lambda: float(next(ticks))  # every reading one second later: the 200 ms deadline is spent
    r = client.post("/v2/models/digits-mlp/infer", json={**DIGITS, "parameters": {"deadline_ms": 200}})
    assert r.status_code == 503 and len(backend.calls) == 1


class HangingBackend(FlakyBackend):
    """The first call never answers (a caller of a replica killed mid-request), the rest are served."""

    async def infer(self, model, tier, inputs, compute_factor):
        import asyncio

        self.calls.append(tier)
        if len(self.calls) == 1:
            await asyncio.Event().wait()
        return await self.inner.infer(model, tier, inputs, compute_factor)


def test_an_attempt_that_never_answers_is_cut_and_moved(app, flaky):
    import time

    client, dp = app
    backend = HangingBackend(dp._backend)
    dp._backend = backend
    t0 = time.monotonic()
    r = client.post("/v2/models/digits-mlp/infer", json=DIGITS)  # no deadline: cut after 5 s, then moved
    assert r.status_code == 200 and r.json()["parameters"]["retried_from"] == [backend.calls[0]]
    assert 4.5 <= time.monotonic() - t0 < 9.0
