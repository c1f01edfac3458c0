"""result.json, report.html and the loadtest CLI's usage errors (no sockets)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from typer.testing import CliRunner

from maas.cli.loadtest import app
from maas.errors import ConfigError
from maas.loadtest.recorder import Outcome, Recorder, merge_payloads
from maas.loadtest.report import write_report
from maas.loadtest.result import SCHEMA, SCHEMA_VERSION, build_result, load_result, summarize


def _result(partial: bool = False, tiers: bool = True):
    rec = Recorder()
    for i in range(600):
        t = i * 0.01
        params = {"tier": ["edge", "sat"][i % 2], "energy_j": 0.5 + i % 2} if tiers else {}
        rec.record(t, t + 0.0002, t + 0.005 + (i % 7) * 0.001, "digits-mlp", 10.0, Outcome(200, params))
    merged = merge_payloads([rec.to_payload()])
    s = summarize(
        merged,
        mode="open-loop",
        partial=partial,
        target_rps=100.0,
        schedule_rate=lambda a, b: 100.0,
        duration_s=6.0,
        warmup_s=0.0,
    )
    s.update(
        verdict="VALID", checks=[{"name": "complete", "ok": True, "value": "complete", "bound": "x"}], thresholds=[]
    )
    return build_result(
        config={"url": "http://127.0.0.1:1"},
        seeds={"schedule": 1, "payloads": 2},
        summary=s,
        merged=merged,
        window_s=1.0,
        started_at="2026-11-21T00:00:00+00:00",
        notes=["n"],
    )


def test_report_files(tmp_path):
    paths = write_report(_result(), tmp_path / "r")
    doc = load_result(paths["json"])
    assert doc["schema"] == SCHEMA and doc["schema_version"] == SCHEMA_VERSION
    assert set(doc["per_tier"]) == {"edge", "sat"} and doc["hdr"]["unit"] == "us"
    for key in ("config", "seeds", "environment", "summary", "per_model", "timeseries"):
        assert key in doc
    page = paths["html"].read_text()
    assert "VALID" in page and "edge" in page
    pngs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(pngs) == 4  # latency over time, spectrum, tier share, energy
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert not re.search(r"(src|href)=['\"]https?:", page)  # self-contained
    assert "Percentile" in paths["hgrm"].read_text()
    assert not list((tmp_path / "r").glob(".*"))  # no temp files left behind
    assert (paths["json"].stat().st_mode & 0o777) == 0o644


def test_report_without_tiers_and_partial(tmp_path):
    paths = write_report(_result(partial=True, tiers=False), tmp_path)
    page = paths["html"].read_text()
    assert "PARTIAL" in page and len(re.findall("data:image/png", page)) == 2
    assert load_result(paths["json"])["partial"] is True


def test_load_result_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ConfigError):
        load_result(p)
    with pytest.raises(ConfigError):
        load_result(tmp_path / "missing.json")


runner = CliRunner()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "--url", "http://127.0.0.1:9", "--model", "m", "--rate", "0"], "--rate"),
        (["run", "--url", "http://127.0.0.1:9", "--model", "m", "--rate", "-5"], "--rate"),
        (["run", "--url", "http://127.0.0.1:9", "--model", "m", "-t", "p99<<5"], "does not parse"),
        (["run", "--url", "http://127.0.0.1:9", "--model", "m", "--arrival", "zipf"], "allowed"),
        (["run", "--url", "http://127.0.0.1:9"], "exactly one of --model"),
        (["run", "--url", "http://127.0.0.1:9", "--model", "m", "--objective", "fast"], "objective"),
        (["run", "--url", "http://127.0.0.1:9", "--trace", "/nonexistent.jsonl"], "trace file not found"),
        (["run", "--url", "http://127.0.0.1:9", "--mix", "/nonexistent.yaml"], "file not found"),
        (["run", "--url", "http://127.0.0.1:9", "--model", "m", "--arrival", "steps", "--steps", "x"], "--steps"),
    ],
)
def test_usage_errors_exit_2(args, needle):
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output


def test_malformed_trace_exits_2(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"t_s": 0, "model": "m"}\nnot json\n')
    res = runner.invoke(app, ["run", "--url", "http://127.0.0.1:9", "--trace", str(p)])
    assert res.exit_code == 2 and "line 2" in res.output


def test_compare_cli(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_report(_result(), a)
    write_report(_result(), b)
    res = runner.invoke(
        app, ["compare", str(a / "result.json"), str(b / "result.json"), "-o", "json", "--iterations", "200"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert {r["metric"] for r in doc["rows"]} >= {"latency_p99_ms", "error_rate"}
    assert all(r["diff"] == 0 for r in doc["rows"] if r["metric"].startswith("latency"))
    res = runner.invoke(app, ["compare", str(a / "result.json"), str(a / "report.html")])
    assert res.exit_code == 2 and "not JSON" in res.output
