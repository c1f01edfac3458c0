"""GET /metrics: exact counts after known requests through the real data plane, auth, the sum over two replicas
(two data planes publishing to one aggregator), and histogram buckets that reproduce a known p99."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from maas.api.metrics import LocalAggregator
from maas.api.metrics_core import BUCKETS_S, MetricSet, merge, quantile
from maas.metering.journal import UsageRecord
from tests.unit.admin_support import DIGITS, Platform, bearer, platform, world  # noqa: F401
from tests.unit.conftest import make_client


def scrape(client, headers=None) -> dict[str, list]:
    """Metric family name -> samples (name, labels, value) of one scrape."""
    r = client.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def total(families: dict[str, list], sample: str, **labels: str) -> float:
    family = sample.removesuffix("_total").removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
    return sum(s.value for s in families.get(family, ()) if s.name == sample
               and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_exactly_the_requests_sent(models_dir, catalog) -> None:
    client, _, topology = make_client(models_dir, catalog)
    bad = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 3], "data": [0.0] * 3}]}
    for i in range(12):
        tier = topology.tier_names[i % 4]
        body = {**DIGITS, "parameters": {"tier": tier, "deadline_ms": 10_000}}
        assert client.post("/v2/models/digits-mlp/infer", json=body).status_code == 200
    for _ in range(3):
        assert client.post("/v2/models/digits-mlp/infer", json=bad).status_code == 400
    m = scrape(client)
    assert total(m, "maas_requests_total") == 15
    assert total(m, "maas_requests_total", status="200") == 12
    for tier in topology.tier_names:
        assert total(m, "maas_requests_total", tier=tier, status="200") == 3
        assert total(m, "maas_request_duration_seconds_count", tier=tier) == 3
        assert total(m, "maas_request_part_duration_seconds_count", tier=tier, part="uplink") == 3
        assert total(m, "maas_energy_joules_total", tier=tier) > 0
    assert total(m, "maas_request_failures_total", reason="invalid_input") == 3
    assert total(m, "maas_deadline_requests_total", outcome="met") == 12
    assert total(m, "maas_tenant_requests_total", tenant="anonymous") == 15
    assert total(m, "maas_request_duration_seconds_bucket", le="+Inf") == 12
    assert {s.labels["tier"] for s in m["maas_tier_available"]} == set(topology.tier_names)
    assert total(m, "maas_gateway_replicas") == 1
    assert "maas_satellite_in_contact" in m
    assert all("key_id" not in s.labels for f in m.values() for s in f)
    dashboard = json.loads((Path(__file__).parents[2] / "cluster" / "grafana-dashboard.json").read_text())
    used = {re.sub(r"_(total|bucket|sum|count)$", "", name)
            for p in dashboard["panels"] for t in p["targets"] for name in re.findall(r"maas_[a-z_]+", t["expr"])}
    assert used and used <= set(m), f"the dashboard uses metrics /metrics does not have: {used - set(m)}"


def test_metrics_need_an_admin_key_when_auth_is_on(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme")
    key = platform.keys.create("acme").key
    assert platform.infer(key) == 200
    assert platform.client.get("/metrics").status_code == 401
    r = platform.client.get("/metrics", headers=bearer(key))
    assert r.status_code == 403 and "admin key" in r.json()["error"]
    m = scrape(platform.client, platform.admin)
    assert total(m, "maas_tenant_requests_total", tenant="acme", status="200") == 1
    assert total(m, "maas_requests_total", status="200") == 1


def test_refusals_are_counted_by_reason(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("tiny", rpm=60, burst=2)
    key = platform.keys.create("tiny").key
    codes = [platform.infer(key) for _ in range(5)]
    assert codes.count(200) == 2 and codes.count(429) == 3
    m = scrape(platform.client, platform.admin)
    assert total(m, "maas_refusals_total", reason="rate_limit") == 3
    assert total(m, "maas_requests_total", status="429") == 3


def test_one_scrape_sums_two_replicas(models_dir, catalog) -> None:
    shared = LocalAggregator()
    a, _, _ = make_client(models_dir, catalog)
    b, _, _ = make_client(models_dir, catalog)
    for client in (a, b):
        client.app.state.metrics.share(shared)  # not entered: no periodic push, each scrape publishes its own
    for _ in range(7):
        assert a.post("/v2/models/digits-mlp/infer", json=DIGITS).status_code == 200
    for _ in range(5):
        assert b.post("/v2/models/digits-mlp/infer", json=DIGITS).status_code == 200
    assert total(scrape(b), "maas_requests_total") == 5  # b publishes its 5; a has not published yet
    merged = scrape(a)  # a publishes its 7 and sums both
    assert total(merged, "maas_requests_total") == 12
    assert total(merged, "maas_request_duration_seconds_count") == 12
    assert total(merged, "maas_gateway_replicas") == 2
    assert total(scrape(b), "maas_requests_total") == 12


def _record(latency_ms: float, tier: str = "ground") -> UsageRecord:
    return UsageRecord(request_id="r", time_s=0.0, tenant="t", model="m", status=200, tier=tier,
                       latency_ms=latency_ms, uplink_ms=latency_ms / 2, queue_ms=0.0, compute_ms=latency_ms / 4,
                       downlink_ms=latency_ms / 8, platform_ms=latency_ms / 8, energy_j=0.5, carbon_g=0.01)


def test_merged_histogram_reproduces_the_p99_within_a_bucket_width() -> None:
    rng = np.random.default_rng(7)
    latencies_ms = rng.lognormal(mean=np.log(25.0), sigma=0.8, size=20_000)
    replicas = [MetricSet(), MetricSet()]
    for i, x in enumerate(latencies_ms):
        replicas[i % 2].observe(_record(float(x)))
    merged = merge([r.snapshot(f"r{i}", 0.0) for i, r in enumerate(replicas)])
    counts, sum_s, n = merged.histogram("maas_request_duration_seconds")
    assert n == 20_000 and sum_s == pytest.approx(latencies_ms.sum() / 1e3)
    for q in (0.5, 0.99):
        exact_s = float(np.quantile(latencies_ms, q)) / 1e3
        k = int(np.searchsorted(BUCKETS_S, exact_s))
        width_s = BUCKETS_S[k] - (BUCKETS_S[k - 1] if k else 0.0)
        assert abs(quantile(q, counts) - exact_s) <= width_s


def test_the_rendered_buckets_give_the_same_p99() -> None:
    """What Prometheus computes from the text (cumulative le buckets) equals quantile() on the merge."""
    from maas.api.metrics import render

    sets = [MetricSet(), MetricSet()]
    for i, x in enumerate(np.linspace(1.0, 400.0, 1000)):
        sets[i % 2].observe(_record(float(x), tier="satellite"))
    merged = merge([s.snapshot(f"r{i}", 0.0) for i, s in enumerate(sets)])
    families = {f.name: f.samples for f in text_string_to_metric_families(render(merged).decode())}
    buckets = [(float(s.labels["le"]), s.value) for s in families["maas_request_duration_seconds"]
               if s.name.endswith("_bucket")]
    cumulative = [v for _, v in sorted(buckets)]
    counts = [int(c - p) for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]
    assert quantile(0.99, counts) == quantile(0.99, merged.histogram("maas_request_duration_seconds")[0])
    assert 0.3 <= quantile(0.99, counts) <= 0.5  # exact p99 is 396 ms: inside the (0.3, 0.5] bucket


def test_a_gone_replica_keeps_its_counts_but_not_its_gauges() -> None:
    agg = LocalAggregator()
    s = MetricSet()
    s.observe(_record(10.0))
    asyncio.run(agg.publish(s.snapshot("old", 0.0, {("maas_in_flight_requests", ("m", "ground")): 3.0})))
    merged = merge(asyncio.run(agg.collect()), now_s=100.0)
    assert merged.counter("maas_requests_total") == 1
    assert merged.gauge("maas_in_flight_requests") == 0
    assert merge(asyncio.run(agg.collect()), now_s=5.0).gauge("maas_in_flight_requests") == 3
