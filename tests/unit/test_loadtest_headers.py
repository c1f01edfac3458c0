"""``maas loadtest run --api-key KEY`` (or ``MAAS_API_KEY``): ``Authorization: Bearer KEY`` reaches the probe, the
worker configuration and the HTTP session of every worker; ``-H Authorization`` wins; no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from typer.testing import CliRunner

from maas.cli.loadtest import app
from maas.errors import MaasError
from maas.loadtest import harness, transport
from maas.loadtest.harness import LoadTestSpec, run_loadtest
from maas.loadtest.mix import MixEntry, RequestMix
from maas.loadtest.schedule import ArrivalSpec

KEY = "maas_abcdefghijkl_" + "a" * 32
runner = CliRunner()


class _Stop(MaasError):
    """Ends the run once what was asked for has been seen (exit 1, no traffic)."""


@pytest.fixture
def spec_of(monkeypatch):
    """Runs ``maas loadtest run ...`` and returns the ``LoadTestSpec`` it built, without sending anything."""
    seen: list[LoadTestSpec] = []

    def fake_run(spec: LoadTestSpec, view: Any = None) -> Any:
        seen.append(spec)
        raise _Stop("stop")

    monkeypatch.setattr(harness, "run_loadtest", fake_run)

    def run(*args: str, env: dict[str, str] | None = None):
        result = runner.invoke(app, ["run", "--url", "http://gw.test", "-m", "digits-mlp", *args], env=env)
        return result, (seen.pop() if seen else None)

    return run


def test_api_key_adds_the_bearer_header(spec_of) -> None:
    result, spec = spec_of("--api-key", KEY, "-H", "X-Trace: 1")
    assert result.exit_code == 1 and spec is not None
    assert spec.headers == {"X-Trace": "1", "Authorization": f"Bearer {KEY}"}


def test_the_key_from_the_environment(spec_of) -> None:
    _, spec = spec_of(env={"MAAS_API_KEY": KEY})
    assert spec.headers == {"Authorization": f"Bearer {KEY}"}
    _, spec = spec_of()
    assert spec.headers == {}


def test_an_explicit_authorization_header_wins(spec_of) -> None:
    _, spec = spec_of("--api-key", KEY, "-H", "authorization: Basic eDp5")
    assert spec.headers == {"authorization": "Basic eDp5"}


def test_a_key_with_spaces_exits_2(spec_of) -> None:
    result, spec = spec_of("--api-key", "maas_x y")
    assert result.exit_code == 2 and "--api-key: empty or contains spaces" in result.stderr and spec is None


def test_the_harness_passes_headers_to_the_probe_and_the_workers(monkeypatch) -> None:
    probed: dict[str, Any] = {}

    def probe(url: str, models: list[str], headers: dict[str, str] | None = None) -> dict[str, Any]:
        probed["headers"] = headers
        return {}

    def execute(cfg: Any, schedule: Any, entries: Any, on_progress: Any) -> Any:
        probed["cfg"] = cfg
        raise _Stop("stop")

    monkeypatch.setattr(harness, "probe_server", probe)
    monkeypatch.setattr(harness, "execute", execute)
    spec = LoadTestSpec(
        url="http://gw.test",
        mix=RequestMix(entries=[MixEntry(model="digits-mlp")]),
        arrival=ArrivalSpec(rate_rps=10, duration_s=1),
        headers={"Authorization": f"Bearer {KEY}"},
    )
    with pytest.raises(_Stop):
        run_loadtest(spec)
    assert probed["headers"] == {"Authorization": f"Bearer {KEY}"}
    cfg = probed["cfg"]
    assert cfg.headers == {"Authorization": f"Bearer {KEY}"}
    assert type(cfg).model_validate_json(cfg.model_dump_json()).headers == cfg.headers  # survives the trip


def test_every_worker_session_sends_the_headers(monkeypatch) -> None:
    sessions: list[dict[str, Any]] = []

    class FakeSession:
        def __init__(self, **kwargs: Any) -> None:
            sessions.append(kwargs)

        async def close(self) -> None:
            pass

    monkeypatch.setattr(transport.aiohttp, "ClientSession", FakeSession)

    async def open_and_close() -> None:
        t = transport.AiohttpTransport("http://gw.test", headers={"Authorization": f"Bearer {KEY}"})
        await t.open()
        await t.close()

    asyncio.run(open_and_close())
    assert sessions[0]["headers"] == {"Authorization": f"Bearer {KEY}"}
