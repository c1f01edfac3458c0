"""The load tester against a local aiohttp V2 stub server on loopback (no Ray)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maas.cli.loadtest import app
from maas.loadtest import run_selftest
from maas.loadtest.result import load_result
from maas.loadtest.stubserver import StubServer, StubSettings, free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
# Timing on a shared 2-core machine is not under test here: generous validity bounds.
LOOSE = ["--min-duration", "1", "--min-requests", "50", "--max-lateness-ms", "500"]


@pytest.fixture(scope="module")
def platform_stub():
    with StubServer(StubSettings(delay_ms=1.0, platform_like=True)) as server:
        yield server


@pytest.fixture(scope="module")
def plain_stub():
    with StubServer(StubSettings(delay_ms=1.0, models=("digits-mlp",))) as server:
        yield server


def test_run_json_with_per_tier_breakdown_and_report(platform_stub, tmp_path):
    res = runner.invoke(
        app,
        [
            "run",
            "--url",
            platform_stub.url,
            "--mix",
            "default",
            "--rate",
            "80",
            "--duration",
            "3",
            "-o",
            "json",
            "--report",
            str(tmp_path),
            "-t",
            "error_rate<1%",
            *LOOSE,
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    for key in (
        "verdict",
        "target_rps",
        "achieved_rps",
        "requests",
        "errors",
        "latency_ms",
        "service_ms",
        "lateness_ms",
        "slo_attainment",
        "per_tier",
    ):
        assert key in doc
    for key in ("latency_ms", "service_ms", "lateness_ms"):
        assert set(doc[key]) >= {"p50", "p90", "p99", "p999", "max"}
    assert doc["verdict"] == "VALID" and doc["mode"] == "open-loop" and doc["errors"] == 0
    assert set(doc["per_tier"]) == {"bs-edge", "olt-edge", "leo-sat"}
    assert set(doc["per_model"]) == {"digits-mlp", "maintenance-clf", "minilm-embed"}
    assert doc["energy_j_per_request"] > 0 and doc["slo_attainment"] is not None
    assert doc["latency_ms"]["p50"] >= doc["service_ms"]["p50"] * 0.9
    result = load_result(tmp_path / "result.json")
    assert result["summary"]["requests"] == doc["requests"] and not result["partial"]
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()


def test_plain_v2_server_has_no_tiers(plain_stub):
    res = runner.invoke(
        app,
        [
            "run",
            "--url",
            plain_stub.url,
            "--model",
            "digits-mlp",
            "--rate",
            "60",
            "--duration",
            "2",
            "--arrival",
            "constant",
            "-o",
            "json",
            *LOOSE,
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["per_tier"] == {} and doc["slo_attainment"] is None and doc["energy_j_per_request"] is None
    assert doc["requests"] == pytest.approx(60 * 2 * 0.9, abs=2)  # constant arrivals; 10% warm-up excluded


def test_closed_loop_is_labelled():
    with StubServer(StubSettings(trivial=True)) as trivial_stub:
        res = runner.invoke(
            app,
            [
                "run",
                "--url",
                trivial_stub.url,
                "--model",
                "digits-mlp",
                "--concurrency",
                "2",
                "--duration",
                "2",
                "-o",
                "json",
                *LOOSE,
            ],
        )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["mode"] == "closed-loop" and doc["requests"] > 50
    assert "achieved_rate" not in [c["name"] for c in doc["checks"]]


def test_exit_codes(plain_stub):
    base = ["run", "--url", plain_stub.url, "--rate", "50", "--duration", "2", "-o", "json"]
    res = runner.invoke(app, [*base, "--model", "nope"])
    assert res.exit_code == 2 and "nope" in res.output
    res = runner.invoke(app, [*base, "--model", "digits-mlp", "-t", "p50<1us", *LOOSE])
    assert res.exit_code == 3, res.output
    assert json.loads(res.stdout)["thresholds"][0]["ok"] is False
    res = runner.invoke(app, [*base, "--model", "digits-mlp", "--min-requests", "100000"])
    assert res.exit_code == 4, res.output
    assert json.loads(res.stdout)["verdict"] == "INVALID"
    res = runner.invoke(app, ["run", "--url", f"http://127.0.0.1:{free_port()}", "--model", "digits-mlp"])
    assert res.exit_code == 1 and "cannot reach" in res.output


def test_errors_are_counted(platform_stub):
    res = runner.invoke(
        app,
        [
            "run",
            "--url",
            platform_stub.url,
            "--model",
            "digits-mlp",
            "--rate",
            "50",
            "--duration",
            "2",
            "--rows",
            "1",
            "-H",
            "Content-Type: text/plain",
            "-o",
            "json",
            *LOOSE,
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["requests"] > 0  # the stub ignores the content type: no errors, but the header was accepted


def test_ctrl_c_saves_partial_results(plain_stub, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "maas.cli.loadtest",
        "run",
        "--url",
        plain_stub.url,
        "--model",
        "digits-mlp",
        "--rate",
        "50",
        "--duration",
        "120",
        "--warmup",
        "0",
        "--report",
        str(tmp_path),
        "--progress-every",
        "0.2",
    ]
    # Ctrl-C as a terminal delivers it: SIGINT with its default disposition (a shell starts background jobs with
    # SIGINT ignored, and the child would inherit that if this suite itself runs in the background)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = []
        for line in proc.stderr:  # progress lines arrive every 0.2 s; wait until requests have completed
            seen.append(line)
            if "done=" in line and int(line.split("done=")[1].split()[0]) >= 20:
                break
        else:
            pytest.fail("no progress: " + "".join(seen))
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 4, rest
    finally:
        if proc.poll() is None:
            proc.kill()
    doc = load_result(tmp_path / "result.json")
    assert doc["partial"] is True and doc["summary"]["verdict"] == "INVALID"
    assert doc["summary"]["requests"] >= 1
    assert "(partial)" in rest and "Traceback" not in rest


def test_selftest_shows_the_stall_only_in_the_corrected_tail():
    res = run_selftest(stall_s=0.5, rate_rps=100.0, duration_s=2.5)
    assert res["passed"], res
    assert res["corrected_ms"]["p99"] >= 250 > res["uncorrected_ms"]["p99"]
    assert res["uncorrected_ms"]["max"] >= 450  # the closed loop saw the stall exactly once
    assert res["post_corrected_ms"]["p99"] >= 200
