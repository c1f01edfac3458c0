"""The status page's rollouts: ``RolloutWatcher.summary`` over a real registry database, and the status builder's
cache of it (read in a worker thread at most every ``ROLLOUTS_REFRESH_S``; the last rollouts kept if a read fails)."""

from __future__ import annotations

import asyncio

from maas.api.rollout_runtime import RolloutWatcher
from maas.api.ui_status import ROLLOUTS_REFRESH_S, StatusBuilder
from maas.clock import ManualClock
from maas.registry import open_registry
from maas.registry.rollouts import RolloutStore
from maas.settings import load_settings
from tests.unit.registry_support import sklearn_onnx

T0 = 1_800_000_000.0
TIERS = ["base-station", "optical-access", "ground", "satellite"]


def test_summary_shows_stable_canary_share_and_readiness(tmp_path) -> None:
    settings = load_settings(None, data_dir=tmp_path / "data")
    registry = open_registry(settings)
    registry.push(sklearn_onnx(tmp_path / "a.onnx", "tree"), "churn")
    registry.push(sklearn_onnx(tmp_path / "b.onnx", "logistic"), "churn")
    clock = ManualClock(T0)
    store = RolloutStore(registry.engine, clock, tier_names=TIERS, registry=registry)
    store.deploy("churn", 1, ["ground", "base-station"])
    store.mark_ready("churn", 1, ["ground", "base-station"])
    store.deploy("churn", 2, ["ground", "base-station"], 20, True)
    store.mark_ready("churn", 2, ["ground"])

    (row,) = RolloutWatcher(settings, clock).summary()
    assert row["model"] == "churn" and row["percent"] == 20 and row["auto_rollback"] is True
    assert row["stable"] == {"version": 1, "tiers": ["ground", "base-station"], "ready": ["ground", "base-station"]}
    assert row["canary"]["version"] == 2 and row["canary"]["ready"] == ["ground"]  # 1 of 2 tiers ready
    assert row["uplinks"] == []  # no satellite tier named: nothing to uplink


class Source:
    def __init__(self) -> None:
        self.calls, self.fail = 0, False

    def __call__(self) -> list[dict]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("database is locked")
        return [{"model": "m", "n": self.calls}]


def test_the_builder_reads_rollouts_at_most_every_refresh_and_keeps_the_last_on_failure() -> None:
    source = Source()
    builder = StatusBuilder(metrics=None, dataplane=None, rollout_source=source)
    assert asyncio.run(builder.rollouts(T0)) == [{"model": "m", "n": 1}]
    assert asyncio.run(builder.rollouts(T0 + ROLLOUTS_REFRESH_S - 0.1))[0]["n"] == 1 and source.calls == 1
    assert asyncio.run(builder.rollouts(T0 + ROLLOUTS_REFRESH_S))[0]["n"] == 2
    source.fail = True
    assert asyncio.run(builder.rollouts(T0 + 2 * ROLLOUTS_REFRESH_S))[0]["n"] == 2  # the last ones, not an error
    assert source.calls == 3
    assert asyncio.run(StatusBuilder(None, None).rollouts(T0)) == []  # no source: no rollouts


def test_a_first_read_that_fails_shows_no_rollouts() -> None:
    source = Source()
    source.fail = True
    assert asyncio.run(StatusBuilder(None, None, source).rollouts(T0)) == []
