"""The status page in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright, against
the platform ``maas run`` started (tests/e2e/conftest.py). Without Chromium or Playwright the test skips with
the reason; ``MAAS_REQUIRE_BROWSER=1`` (set by .ci/run) turns that skip into a failure.

Artifacts: ``results/ui.png`` (the screenshot this run took) and ``docs/img/ui.png`` (the README's copy)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import _auth
from tests.support.reference import v2_inputs

CHROMIUM = Path(os.environ.get("MAAS_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
TIERS = ["base-station", "optical-access", "ground", "satellite"]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The system Chromium and Playwright, or a skip (a failure with MAAS_REQUIRE_BROWSER=1) saying what is missing."""
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "Playwright for Python is not installed (pip install -e '.[dev]')"
    if missing is None and not CHROMIUM.exists():
        missing = f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set MAAS_CHROMIUM)"
    if missing is not None:
        if os.environ.get("MAAS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MAAS_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    return CHROMIUM


def _count(text: str) -> int:
    return int(text.replace(",", "").split()[0])


def test_status_page_shows_the_tiers_and_follows_100_requests(chromium, running):
    from playwright.sync_api import expect, sync_playwright

    base, _, _, data_dir = running
    admin_key = (data_dir / "admin.key").read_text().strip()
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(f"{base}/ui")
            expect(page.locator("#banner")).to_contain_text("enter an admin key", timeout=15_000)
            page.fill("#key", admin_key)
            page.click("#key-form button[type=submit]")
            cards = page.locator("[data-tier]")
            expect(cards).to_have_count(4, timeout=30_000)
            assert [cards.nth(i).get_attribute("data-tier") for i in range(4)] == TIERS
            for tier in TIERS:  # each tier says whether it is available (and why not)
                assert page.locator(f"[data-tier={tier}] .badge").inner_text() in ("available", "unavailable")
            before_total = _count(page.locator("#total-requests").inner_text())
            before = {t: _count(page.locator(f"[data-tier={t}] .tier-total").inner_text()) for t in TIERS}

            auth = _auth(data_dir)
            with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
                for i in range(100):
                    tier = TIERS[i % 4]
                    body = {"parameters": {"tier": tier}, "inputs": v2_inputs("digits-mlp")}
                    r = client.post("/v2/models/digits-mlp/infer", json=body)
                    assert r.status_code == 200, r.text

            page.wait_for_function(
                "n => Number(document.getElementById('total-requests').textContent.replace(/,/g, '')) >= n",
                arg=before_total + 100, timeout=30_000)
            for tier in TIERS:
                page.wait_for_function(
                    "([t, n]) => Number(document.querySelector(`[data-tier=${t}] .tier-total`).textContent"
                    ".replace(/,/g, '').split(' ')[0]) >= n", arg=[tier, before[tier] + 25], timeout=30_000)
            for tier in TIERS:  # maas up's embedded node: once asked for, every tier runs in the gateway's process
                expect(page.locator(f"[data-tier={tier}] .tier-hop")).to_have_text(
                    "runs beside the gateway (one hop)", timeout=30_000)
            expect(page.locator("#timeline rect").first).to_be_visible()
            expect(page.locator("#deployments tbody tr")).not_to_have_count(0)
            expect(page.locator("#rollouts tbody tr[data-model=digits-mlp]")).to_have_count(1)  # maas up's rollout
            assert page.locator("#rollouts tbody tr[data-model=digits-mlp] td").nth(1).inner_text().startswith("v1 on ")
            results = ROOT / "results"
            results.mkdir(exist_ok=True)
            page.screenshot(path=str(results / "ui.png"), full_page=True)
            (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results / "ui.png", ROOT / "docs" / "img" / "ui.png")
        finally:
            browser.close()
    assert errors == []
