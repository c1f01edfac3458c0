"""``GET /metrics`` on real Ray Serve with two gateway replicas: after a known number of requests (sent by the
load-test harness, ``maas loadtest run``), one scrape, whichever replica answers it, counts exactly that many, both
replicas having served some; and the request-duration histogram's p99 (Prometheus' ``histogram_quantile``
arithmetic over the scrape's bucket deltas) lands within one bucket width of the harness's p99.

Uses the package's one Ray instance: the gateway is scaled to two replicas for this test and back to one after."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families
from ray import serve

from maas.polling import PollTimeout, poll_until
from maas.serving import platform as plat
from maas.serving.metrics_actor import ACTOR_NAME, NAMESPACE

MODEL = "maintenance-clf"
MAAS = str(Path(sys.executable).parent / "maas")


def _scrape(base_url: str, admin: dict) -> dict:
    """This model's 200s (all versions and tiers), its duration buckets summed over tiers, and replicas heard."""
    text = httpx.get(f"{base_url}/metrics", headers=admin, timeout=30).text
    ok, buckets, replicas = 0.0, {}, None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "maas_requests_total" and s.labels.get("model") == MODEL and s.labels["status"] == "200":
                ok += s.value
            elif s.name == "maas_request_duration_seconds_bucket" and s.labels.get("model") == MODEL:
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
            elif s.name == "maas_gateway_replicas":
                replicas = s.value
    return {"ok": ok, "buckets": buckets, "replicas": replicas}


def _replica_counts() -> dict[str, float]:
    """Per gateway replica, its cumulative 200s of MODEL, as published to the aggregator actor."""
    actor = ray.get_actor(ACTOR_NAME, namespace=NAMESPACE)
    out = {}
    for snap in ray.get(actor.collect.remote(), timeout=30):
        out[snap["replica"]] = sum(v for name, labels, v in snap["counters"]
                                   if name == "maas_requests_total" and labels[0] == MODEL and labels[3] == "200")
    return out


def histogram_quantile(q: float, cumulative: dict[float, float]) -> tuple[float, float, float]:
    """Prometheus' ``histogram_quantile`` (linear within the bucket); returns (value, bucket lower, bucket upper)."""
    bounds = sorted(cumulative)
    total = cumulative[float("inf")]
    rank = q * total
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = cumulative[upper]
        if count >= rank:
            if upper == float("inf"):
                return lower, lower, upper
            return lower + (upper - lower) * (rank - below) / (count - below), lower, upper
        lower, below = upper, count
    raise AssertionError("no bucket holds the quantile")


@pytest.fixture()
def two_gateways(platform):
    settings = platform[0]
    plat.deploy_gateway(settings.model_copy(update={"gateway_replicas": 2}))
    try:
        def two_running() -> bool:
            app = serve.status().applications[plat.GATEWAY_APP]
            return sum(d.replica_states.get("RUNNING", 0) for d in app.deployments.values()) == 2
        poll_until(two_running, timeout_s=180, what="two gateway replicas RUNNING")
        yield settings
    except PollTimeout as exc:
        pytest.fail(str(exc))
    finally:
        plat.deploy_gateway(settings)


def test_one_scrape_counts_every_request_of_two_gateway_replicas(two_gateways, base_url, dev_key, capsys):
    settings = two_gateways
    admin = {"Authorization": f"Bearer {(settings.data_dir / 'admin.key').read_text().strip()}"}
    poll_until(lambda: _scrape(base_url, admin)["replicas"] == 2, timeout_s=30, what="both replicas to publish")
    before, per_replica_before = _scrape(base_url, admin), _replica_counts()

    run = subprocess.run(
        [MAAS, "loadtest", "run", "--url", base_url, "--model", MODEL, "--rate", "40", "--duration", "12",
         "--warmup", "0", "--min-requests", "100", "--api-key", dev_key, "-o", "json"],
        capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1: a threshold or validity verdict, not a crash
    summary = json.loads(run.stdout)
    sent, harness_p99_ms = summary["requests"] + summary["warmup_requests"], summary["succeeded_ms"]["p99"]
    assert summary["errors"] == 0 and sent >= 300, summary

    def counted() -> bool:  # the replica not scraped publishes within its push interval (1 s)
        return _scrape(base_url, admin)["ok"] - before["ok"] >= sent
    poll_until(counted, timeout_s=30, what=f"the scrape to count {sent} requests")
    after = _scrape(base_url, admin)
    assert after["ok"] - before["ok"] == sent  # exactly: nothing lost, nothing counted twice
    per_replica = {r: n - per_replica_before.get(r, 0.0) for r, n in _replica_counts().items()}
    served = [n for n in per_replica.values() if n > 0]
    assert len(served) == 2 and sum(served) == sent, per_replica  # both replicas served, and the sum is the count

    delta = {le: after["buckets"][le] - before["buckets"].get(le, 0.0) for le in after["buckets"]}
    assert delta[float("inf")] == sent
    p99_s, lower_s, upper_s = histogram_quantile(0.99, delta)
    width_ms = (upper_s - lower_s) * 1e3
    assert abs(p99_s * 1e3 - harness_p99_ms) <= width_ms, (p99_s * 1e3, harness_p99_ms, (lower_s, upper_s))
    with capsys.disabled():
        print(f"\n/metrics over 2 gateway replicas: {sent} requests sent, {after['ok'] - before['ok']:.0f} counted "
              f"(per replica {sorted(served)}); histogram p99 {p99_s * 1e3:.1f} ms in bucket "
              f"({lower_s * 1e3:g}, {upper_s * 1e3:g}] ms, harness p99 {harness_p99_ms:.1f} ms")
