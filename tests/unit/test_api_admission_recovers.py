"""Admission must not latch shut: under overload the learned hop time (which includes the serving layer's own
queueing) grows, and while every request is shed nothing completes to bring it down. Each refusal lets it relax
toward its initial value, so once the load is gone requests are admitted again (found by bench/bench_overload.py:
at 2x capacity every request was refused for the rest of the run)."""

from __future__ import annotations

from tests.unit.conftest import make_client

DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}],
          "parameters": {"deadline_ms": 50}}


def test_admission_reopens_after_overload(models_dir, catalog):
    client, _, _ = make_client(models_dir, catalog)
    with client:
        placer = client.app.state.dataplane._placer
        placer._platform_ms = 5000.0  # what overload left behind: a 5 s learned hop
        statuses = [client.post("/v2/models/digits-mlp/infer", json=DIGITS).status_code for _ in range(40)]
        assert statuses[0] == 503  # still refused at first: the estimate is past the deadline
        first_ok = statuses.index(200)
        assert first_ok <= 30 and all(s == 200 for s in statuses[first_ok:]), statuses
