"""Rehearsed faults (``maas tiers fail|restore``) over the in-process data plane: a failed tier is not chosen, a
request pinned to it gets 503 saying why, the fault ends at its time or on restore, and a second replica sharing
the database applies it within its refresh interval (ManualClock; no Ray, no sockets)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from maas.api.service import prepare_service
from maas.clock import ManualClock
from maas.settings import load_settings
from tests.unit.conftest import START_S, make_client

DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}
TIER = "base-station"


@pytest.fixture(scope="module")
def replicas(models_dir, catalog):
    """Two gateway replicas (each its data plane, placer and clock) over one database."""
    data_dir = Path(tempfile.mkdtemp(prefix="maas-faults-"))
    prepare_service(load_settings(None, models_dir=models_dir, data_dir=data_dir, auth=True), ManualClock(START_S))
    admin = {"Authorization": f"Bearer {(data_dir / 'admin.key').read_text().strip()}"}
    dev = {"Authorization": f"Bearer {(data_dir / 'dev.key').read_text().strip()}"}
    a = make_client(models_dir, catalog, data_dir=data_dir, auth=True)
    b = make_client(models_dir, catalog, data_dir=data_dir, auth=True)
    with a[0], b[0]:
        yield a, b, admin, dev


def _infer(client, dev, tier: str | None = None, site: str | None = None):
    params = {k: v for k, v in (("tier", tier), ("site", site)) if v is not None}
    return client.post("/v2/models/digits-mlp/infer", json={**DIGITS, "parameters": params}, headers=dev)


def _restore_all(client, admin):
    for tier in ("base-station", "optical-access", "ground", "satellite"):
        client.post(f"/admin/faults/{tier}/restore", headers=admin)


def test_a_failed_tier_is_not_chosen_and_pinned_requests_say_why(replicas):
    (a, clock, _), _, admin, dev = replicas
    chosen = [_infer(a, dev).json()["parameters"]["tier"] for _ in range(20)]
    tier = max(set(chosen), key=chosen.count)  # the tier the policy prefers before the fault
    r = a.post("/admin/faults", json={"tier": tier, "for_s": 60, "note": "drill"}, headers=admin)
    assert r.status_code == 201, r.text
    fault = r.json()
    assert (fault["tier"], fault["kind"], fault["sites"]) == (tier, "outage", None)
    assert fault["end_s"] - fault["start_s"] == pytest.approx(60.0)
    listed = a.get("/admin/faults", headers=admin).json()
    assert listed["applied"] == [tier] and listed["faults"][0]["id"] == fault["id"]
    tiers = {_infer(a, dev).json()["parameters"]["tier"] for _ in range(20)}
    assert tier not in tiers and tiers
    pinned = _infer(a, dev, tier=tier)
    assert pinned.status_code == 503 and f"{tier}: fault: outage" in pinned.json()["error"]
    clock.advance(61.0)  # the fault's window ends: the tier is back without a restore
    assert _infer(a, dev, tier=tier).status_code == 200
    assert a.get("/admin/faults", headers=admin).json()["faults"] == []


def test_restore_ends_a_fault_now(replicas):
    (a, _, _), _, admin, dev = replicas
    assert a.post("/admin/faults", json={"tier": TIER, "for_s": 3600}, headers=admin).status_code == 201
    assert _infer(a, dev, tier=TIER).status_code == 503
    cleared = a.post(f"/admin/faults/{TIER}/restore", headers=admin).json()["cleared"]
    assert len(cleared) == 1 and cleared[0]["cleared_at_s"] is not None
    assert _infer(a, dev, tier=TIER).status_code == 200
    assert a.post(f"/admin/faults/{TIER}/restore", headers=admin).json() == {"cleared": []}


def test_a_fault_at_one_site_leaves_the_others(replicas):
    (a, _, _), _, admin, dev = replicas
    r = a.post("/admin/faults", json={"tier": TIER, "for_s": 600, "sites": ["cairo-sme-1"]}, headers=admin)
    assert r.status_code == 201 and r.json()["sites"] == ["cairo-sme-1"]
    try:
        assert _infer(a, dev, tier=TIER, site="cairo-sme-1").status_code == 503
        assert _infer(a, dev, tier=TIER, site="riyadh-sme-1").status_code == 200
    finally:
        _restore_all(a, admin)


def test_every_replica_applies_it_within_its_refresh_interval(replicas):
    (a, clock_a, _), (b, clock_b, _), admin, dev = replicas
    clock_b.advance(clock_a.now_s() - clock_b.now_s())  # one wall clock for both replicas
    assert _infer(b, dev, tier=TIER).status_code == 200  # b has read the (empty) table just now
    assert a.post("/admin/faults", json={"tier": TIER, "for_s": 600}, headers=admin).status_code == 201
    try:
        assert _infer(b, dev, tier=TIER).status_code == 200  # not yet: b reads at most every second
        clock_a.advance(1.0)
        clock_b.advance(1.0)
        r = _infer(b, dev, tier=TIER)
        assert r.status_code == 503 and "fault: outage" in r.json()["error"]
        assert b.app.state.fault_watcher.active[0].tier == TIER
        assert a.post(f"/admin/faults/{TIER}/restore", headers=admin).status_code == 200
        clock_b.advance(1.0)
        assert _infer(b, dev, tier=TIER).status_code == 200
    finally:
        _restore_all(a, admin)


def test_refusals_name_the_field_and_need_an_admin_key(replicas):
    (a, _, _), _, admin, dev = replicas
    cases = [
        ({"tier": "mars", "for_s": 10}, "tier"),
        ({"tier": TIER}, "for_s"),
        ({"tier": TIER, "for_s": -1}, "for_s"),
        ({"tier": TIER, "for_s": 10, "kind": "flood"}, "kind"),
        ({"tier": TIER, "for_s": 10, "sites": ["atlantis"]}, "sites"),
        ({"tier": TIER, "for_s": 10, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        r = a.post("/admin/faults", json=body, headers=admin)
        assert r.status_code == 400 and r.json()["error"].startswith(field), (body, r.text)
    assert a.post("/admin/faults", json={"tier": TIER, "for_s": 10}, headers=dev).status_code == 403
    assert a.post("/admin/faults", json={"tier": TIER, "for_s": 10}).status_code == 401
    assert a.post("/admin/faults/mars/restore", headers=admin).status_code == 404
    assert a.get("/admin/faults", headers=admin).json()["faults"] == []
