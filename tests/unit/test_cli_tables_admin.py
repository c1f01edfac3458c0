"""The admin tables (tenants, keys, usage, models list, rollout status/history) through ``maas.tables``: at 80 and
200 columns no line wider than asked, no cell cut, every name whole; ``maas models push``'s block wraps at 80."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from maas.cli.models import catalog_view
from maas.cli.models_registry import format_version, registry_view
from maas.cli.rollout import history_view, status_view
from maas.cli.tenants_common import keys_view, tenants_view
from maas.cli.usage import usage_view
from maas.metering.keys import KeyInfo
from maas.metering.tenants import Limits, TenantInfo
from maas.registry.rollout_state import RolloutState, Track
from maas.tables import View, fit, to_text

NOW = 1_796_000_000.0


def tenants() -> list[TenantInfo]:
    acme = TenantInfo(1, "acme", "ops@acme.example", "riyadh-sme-1", "energy", 80.0, None,
                      ("base-station", "optical-access", "ground"), 5,
                      Limits(rpm=120, burst=20, requests_per_day=10000, requests_per_month=250000, max_concurrent=8,
                             energy_j_per_day=50.0, carbon_g_per_month=12.5), NOW, NOW)
    long = TenantInfo(2, "a-rather-long-tenant-name.example", None, None, None, None, ("digits-mlp", "minilm-embed"),
                      None, 8, Limits(), NOW, NOW, deleted_at_s=NOW + 60)
    return [acme, long]


def keys() -> list[KeyInfo]:
    return [KeyInfo("fzo6d5nolzgw", "admin", None, "bootstrap admin", NOW, None, None, None, None),
            KeyInfo("fg57fzvsiwnp", "tenant", "a-rather-long-tenant-name.example", "ci", NOW, NOW + 86400 * 30,
                    NOW, None, NOW + 3600),
            KeyInfo("2oreftj5zy4i", "tenant", "acme", None, NOW, None, None, NOW + 5, None)]


def usage_report() -> dict:
    fig = {"requests": 123456, "ok": 120000, "refused": 3000, "failed": 456, "energy_j": 987.654,
           "carbon_g": 0.1234567, "latency_mean_ms": 12.3456, "deadline_met": 119000, "bytes_in": 12345678,
           "bytes_out": 1234567, "latency_p99_ms": 48.91}
    rows = [{"day": "2026-11-21", "model": m, "tier": t, **fig}
            for m in ("maintenance-clf", "minilm-embed") for t in ("optical-access", "satellite")]
    return {"rows": rows, "total": fig}


def _manifest(name: str, text: bool):
    spec = NS(name="features", datatype="FP32", shape=[-1, 6])
    out = [NS(name="failure_probability", datatype="FP32", shape=[-1]), NS(name="label", datatype="INT64", shape=[-1])]
    variants = {"fp32": NS(size_bytes=90_300_000, agreement={}),
                "int8": NS(size_bytes=23_400_000, agreement={"cosine_min": 0.9527, "cosine_mean": 0.9905,
                                                           "nearest_neighbour_agreement": 0.88})}
    return NS(name=name, version=1, task="sentence-embedding", inputs=[spec], outputs=out, preprocessing=text,
              variants=variants, profile={"fp32": {"host_ms_p50": 6.306}, "int8": {"host_ms_p50": 3.639}},
              quality={"cosine_vs_sentence_transformers_min": 1.0, "max_abs_diff": 2.299e-07, "third": 1.0})


def version_infos() -> list:
    out = []
    for name, text, tiers in (("minilm-embed", True, ["optical-access", "ground"]), ("churn-clf", False, [])):
        m = _manifest(name, text)
        variants = {v: NS(variant=v, sha256="ab" * 32, size_bytes=s.size_bytes, agreement=s.agreement,
                          host_ms_p50={1: 6.306, 4: 20.1, 16: None}) for v, s in m.variants.items()}
        out.append(NS(name=name, version=12, description="sentence embeddings (all-MiniLM-L6-v2, ONNX, int8 dynamic)",
                      state="serving" if tiers else "ready", serving_tiers=tiers, manifest=m, variants=variants,
                      agreement_inputs="generated", quantisation="dynamic"))
    return out


def rollout_state() -> RolloutState:
    return RolloutState("minilm-embed", stable=Track(3, ("optical-access", "ground"), ("optical-access", "ground")),
                        canary=Track(4, ("optical-access", "satellite"), ("optical-access",)), percent=10,
                        auto_rollback=True)


def status_rows() -> list[dict]:
    up = {"bytes_sent": 12_345_678, "bytes_total": 23_400_000, "windows_used": 3, "next_window_start_s": NOW + 600,
          "next_window_end_s": NOW + 1200, "eta_s": NOW + 3600}
    return [{"role": "stable", "version": 3, "tier": "optical-access", "state": "ready"},
            {"role": "stable", "version": 3, "tier": "ground", "state": "ready"},
            {"role": "canary", "version": 4, "tier": "optical-access", "state": "ready", "percent": 10},
            {"role": "canary", "version": 4, "tier": "satellite", "state": "uplinking", "percent": 10, **up}]


def history_entries() -> list:
    state = rollout_state()
    return [NS(seq=1, at_s=NOW, action="deploy", state=RolloutState("minilm-embed", stable=state.stable), reason=None),
            NS(seq=2, at_s=NOW + 60, action="canary", state=state, reason=None),
            NS(seq=3, at_s=NOW + 120, action="rollback", state=RolloutState("minilm-embed", stable=state.stable),
               reason="canary error rate 4.1% > stable 0.2% + 1% over 200 requests (auto-rollback)")]


def admin_views() -> dict[str, View]:
    return {
        "tenants list": tenants_view(tenants()),
        "keys list": keys_view(keys(), NOW + 60),
        "usage": usage_view(["day", "model", "tier"], usage_report()),
        "usage (no groups)": usage_view([], {"rows": [usage_report()["total"]], "total": usage_report()["total"]}),
        "models list (registry)": registry_view(version_infos()),
        "models list (built)": catalog_view([_manifest("minilm-embed", True), _manifest("maintenance-clf", False)]),
        "rollout status": status_view("minilm-embed", rollout_state(), status_rows()),
        "rollout history": history_view(history_entries()),
    }


def _names(view: View) -> list[str]:
    return [c.fmt(c.value(r)) for c in view.columns if c.left and c.priority == 0 and not c.wrap for r in view.rows]


@pytest.mark.parametrize("wide", [False, True], ids=["table", "wide"])
@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "rich"])
@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("name", list(admin_views()))
def test_admin_table_fits_and_cuts_nothing(name: str, width: int, terminal: bool, wide: bool) -> None:
    view = admin_views()[name]
    out = to_text(view, width, terminal=terminal, wide=wide)
    lines = out.splitlines()
    if not wide:  # -o wide shows every column, whatever the width
        assert max(len(line) for line in lines) <= width, out
    assert "…" not in out and "..." not in out.replace("maas_", "").replace("_...", "")  # a key's display form
    shown = list(view.columns) if wide else fit(view, width)
    for c in shown:
        for r in view.rows:
            cell = c.fmt(c.value(r))
            if c.wrap:  # prose: every word present, none cut
                assert all(w in out for w in cell.split()), (c.header, cell)
            else:  # every shown cell whole on some line
                assert any(cell in line for line in lines), (c.header, cell)
    for n in _names(view):
        assert n in out


def test_at_80_the_columns_that_matter_stay() -> None:
    views = admin_views()
    heads = {name: " ".join(to_text(v, 80).splitlines()[:2]) for name, v in views.items()}
    assert all(h in heads["tenants list"].split() for h in ("name", "prio", "state"))
    assert all(h in heads["keys list"].split() for h in ("key", "id", "tenant", "status"))
    assert all(h in heads["usage"].split() for h in ("day", "model", "tier", "requests", "energy"))
    assert all(h in heads["models list (registry)"].split() for h in ("model", "variant", "state"))
    assert all(h in heads["rollout status"].split() for h in ("role", "version", "tier", "state"))
    usage = to_text(views["usage"], 80)
    assert usage.splitlines()[-1].split()[:2] == ["total", "123456"]
    assert "deleted" in to_text(views["tenants list"], 80)


def test_models_push_block_wraps_at_80_without_cutting_a_word() -> None:
    for info in version_infos():
        lines: list[str] = []
        format_version(info, lines.append, width=80)
        assert lines and max(len(line) for line in lines) <= 80, "\n".join(lines)
        text = " ".join(" ".join(lines).split())
        assert "vs fp32 (generated inputs, dynamic int8): cosine_min=0.9527" in text
        assert "nearest_neighbour_agreement=0.88" in text and "b16 -" in text
