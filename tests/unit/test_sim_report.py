"""``maas sim --report DIR``: a self-contained HTML page (every figure embedded, nothing fetched) and the run's
results.json; the tier-share series it draws; a DIR holding other files is refused with exit 2, untouched."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from maas.cli.main import app
from maas.cli.sim_report import by_tier, tier_share_series
from maas.settings import ROOT
from maas.sim.engine import RunRecord

SCENARIO = ROOT / "cluster" / "scenarios" / "remote-satellite.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_report_embeds_every_figure_and_the_results(tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["sim", "--scenario", str(SCENARIO), "--policies", "edge-aware,nearest",
                                   "--duration-s", "60", "--no-oracle", "-o", "json", "--report", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "index.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 6  # Pareto, tier share, CDFs, battery, energy/carbon by tier, the site's timeline
    assert all(base64.b64decode(png).startswith(PNG_MAGIC) for png in images)
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched
    printed = json.loads(res.stdout[:res.stdout.rindex("}") + 1])
    assert json.loads((out / "results.json").read_text()) == printed
    for policy in ("edge-aware", "nearest"):
        assert f"<th>{policy}</th>" in page
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "results.json"]  # no temporary left


def test_a_directory_holding_other_files_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    res = CliRunner().invoke(app, ["sim", "--scenario", str(SCENARIO), "--duration-s", "10", "--no-oracle",
                                   "--report", str(tmp_path)])
    assert res.exit_code == 2 and "--report" in res.output and "notes.txt" in res.output
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    res = CliRunner().invoke(app, ["sim", "--scenario", str(SCENARIO), "--report", str(tmp_path / "a" / "b")])
    assert res.exit_code == 2 and "does not exist" in res.output


def _record(tier: list[int], energy: list[float]) -> RunRecord:
    n = len(tier)
    return RunRecord(np.array(tier), np.ones(n), np.ones(n, bool), np.zeros(n, bool), np.array(energy),
                     np.array(energy) / 10, np.zeros(n), None, 0.0)


def test_tier_share_series_and_sums_by_tier() -> None:
    rec = _record([0, 0, 1, -1, 1, 1], [1.0, 2.0, 3.0, 0.0, 4.0, 5.0])
    t_s = np.array([0.0, 1.0, 2.0, 6.0, 7.0, 8.0])
    starts, share = tier_share_series(rec, t_s, ["ground", "satellite"], bins=2)
    assert list(starts) == [0.0, 4.0]
    assert list(share["ground"]) == [2 / 3, 0.0] and list(share["satellite"]) == [1 / 3, 2 / 3]
    assert list(share["dropped"]) == [0.0, 1 / 3]
    assert np.allclose(sum(share.values()), 1.0)
    sums = by_tier({"p": rec}, ["ground", "satellite"])["p"]
    assert sums["ground"] == pytest.approx((3.0, 0.3)) and sums["satellite"] == pytest.approx((12.0, 1.2))
