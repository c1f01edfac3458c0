"""The status page's server side: the page and assets (open, packaged), /ui/api/status by role (admin: all;
tenant: only its name, the page then reads /v1/usage; no key: asks for one; bad key: 401), and the figures
after known requests (per tier counts, share, p50/p99, energy per request, satellite outlook)."""

from __future__ import annotations

from tests.unit.admin_support import DIGITS, Platform, bearer, platform, world  # noqa: F401
from tests.unit.conftest import make_client


def test_page_and_assets_are_served_without_a_key(platform: Platform) -> None:  # noqa: F811
    page = platform.client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/ui/static/ui.js" in page.text and "http://" not in page.text and "https://" not in page.text
    for name, kind in (("ui.js", "text/javascript"), ("ui.css", "text/css")):
        r = platform.client.get(f"/ui/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert "https://" not in r.text  # nothing fetched from the internet
    assert platform.client.get("/ui/static/../app.py").status_code == 404


def test_status_by_role(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme")
    key = platform.keys.create("acme").key
    assert platform.infer(key) == 200
    assert platform.client.get("/ui/api/status").json()["need_key"] is True
    assert platform.client.get("/ui/api/status", headers=bearer("maas_nope")).status_code == 401
    tenant = platform.client.get("/ui/api/status", headers=bearer(key)).json()
    assert tenant == {"role": "tenant", "tenant": "acme", "poll_s": 2.0}
    admin = platform.client.get("/ui/api/status", headers=platform.admin).json()
    assert admin["role"] == "admin" and admin["totals"]["served"] == 1
    assert platform.client.get("/ui/api/status?site=nowhere", headers=platform.admin).status_code == 400


def test_status_figures_after_known_requests(models_dir, catalog) -> None:
    client, clock, topology = make_client(models_dir, catalog)
    sent = {"base-station": 6, "ground": 3, "satellite": 1}
    for tier, n in sent.items():
        for _ in range(n):
            body = {**DIGITS, "parameters": {"tier": tier}}
            assert client.post("/v2/models/digits-mlp/infer", json=body).status_code == 200
    doc = client.get("/ui/api/status").json()
    assert doc["role"] == "open" and doc["totals"]["requests"] == 10
    tiers = {t["tier"]: t for t in doc["tiers"]}
    assert list(tiers) == list(topology.tier_names)
    for tier, t in tiers.items():
        assert t["requests"] == sent.get(tier, 0)
        assert t["share"] == round(sent.get(tier, 0) / 10, 4)
        if tier in sent:
            assert 0 < t["p50_ms"] <= t["p99_ms"] and t["energy_j_per_request"] > 0
        assert isinstance(t["available"], bool) and t["queue_depth"] == 0
    outlook = doc["satellite"]["outlook"]
    assert outlook["windows"] and outlook["battery"] and doc["site"] == topology.default_site
    assert {d["name"] for d in doc["deployments"]} >= {"digits-mlp"}
    clock.advance(200.0)  # the sums are remembered (every 5 s on the cluster: the push loop), here by this call
    assert client.get("/ui/api/status").json()["tiers"][0]["requests"] == 6  # 200 s ago: still in the window
    clock.advance(301.0)  # the remembered sum is now over 5 minutes old: the window starts after the requests
    later = client.get("/ui/api/status").json()
    assert later["tiers"][0]["requests"] == 0 and later["window_s"] == 301.0
    assert later["totals"]["requests"] == 10
