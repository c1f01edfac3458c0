"""Bad topology files: a ConfigError naming file, field and allowed range; the CLI exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from maas.errors import ConfigError
from maas.tiers import load_topology

DEFAULT = Path(__file__).resolve().parents[2] / "cluster" / "topology.yaml"


def _write(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(DEFAULT.read_text())
    raw["sites"]["generator"]["count"] = 50
    edit(raw)
    path = tmp_path / "topo.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _del_uplink(raw: dict) -> None:
    del raw["tiers"]["ground"]["network"]["uplink_mbps"]


def _neg_bandwidth(raw: dict) -> None:
    raw["tiers"]["base-station"]["network"]["downlink_mbps"] = -5


def _unknown_tier(raw: dict) -> None:
    raw["tiers"]["cloudlet"] = raw["tiers"]["ground"]


def _mask(raw: dict) -> None:
    raw["tiers"]["satellite"]["constellation"]["elevation_mask_deg"] = 95


def _reserve(raw: dict) -> None:
    raw["tiers"]["satellite"]["battery"]["reserve_j"] = 30000


def _site_tier(raw: dict) -> None:
    raw["sites"]["explicit"][0]["access"] = ["base-station", "moon"]


CASES = [
    (_del_uplink, "tiers.ground.network.uplink_mbps", "missing", "x > 0"),
    (_neg_bandwidth, "tiers.base-station.network.downlink_mbps", "greater than 0", "x > 0"),
    (_unknown_tier, "tiers.cloudlet", "unknown tier", "base-station, optical-access, ground, satellite"),
    (_mask, "tiers.satellite.constellation.elevation_mask_deg", "less than or equal to 90", "0 <= x <= 90"),
    (_reserve, "tiers.satellite.battery.reserve_j", "above capacity_j", "0 to capacity_j (25308.0)"),
    (_site_tier, "sites.explicit[0].access", "unknown tier", "base-station"),
]


@pytest.mark.parametrize(("edit", "field", "problem", "allowed"), CASES)
def test_bad_topology_names_file_field_and_allowed(tmp_path, edit, field, problem, allowed) -> None:
    path = _write(tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    err = info.value
    assert err.file == str(path)
    assert err.field == field
    assert problem in err.message
    assert allowed in (err.allowed or "")


def test_default_topology_loads_with_generated_sites() -> None:
    topo = load_topology(DEFAULT)
    assert topo.tier_names == ["base-station", "optical-access", "ground", "satellite"]
    assert len(topo.site_names) >= 10_000
    assert topo.default_site in topo.site_names
    assert topo.tiers["ground"].ray_resource == "tier:ground"
    again = load_topology(DEFAULT)
    s = topo.site_names[-1]
    assert topo.site(s) == again.site(s)  # generated from the seed: reproducible
    region = topo.regions[topo.site(s).region]
    from maas.tiers.topology import haversine_km

    assert (
        float(haversine_km(topo.site(s).lat_deg, topo.site(s).lon_deg, region.lat_deg, region.lon_deg))
        <= region.radius_km * 1.01
    )


def test_cli_bad_topology_exits_2(tmp_path) -> None:
    from maas.cli.tiers import app

    path = _write(tmp_path, _mask)
    result = CliRunner().invoke(app, ["show", "--topology", str(path)])
    assert result.exit_code == 2
    text = result.stderr if hasattr(result, "stderr") else result.output
    assert str(path) in text and "elevation_mask_deg" in text and "0 <= x <= 90" in text


def test_cli_show_json_lists_tiers_with_sources_and_summarises_sites() -> None:
    from maas.cli.tiers import app

    result = CliRunner().invoke(app, ["show", "--topology", str(DEFAULT), "-o", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [t["name"] for t in doc["tiers"]] == ["base-station", "optical-access", "ground", "satellite"]
    sat = next(t for t in doc["tiers"] if t["name"] == "satellite")
    src = {p["name"]: p["source"] for p in sat["parameters"]}
    assert "Ookla" in src["network.uplink_mbps"] and "CosmicBeats" in src["battery.capacity_j"]
    assert doc["sites_summary"]["count"] >= 10_000
    assert 0 < len(doc["sites"]) <= 50
    assert {"name", "lat", "lon", "access"} <= set(doc["sites"][0])


def test_cli_timeline_json_and_plot(tmp_path) -> None:
    from maas.cli.tiers import app

    png = tmp_path / "out.png"
    args = [
        "timeline",
        "--topology",
        str(DEFAULT),
        "--site",
        "cairo-sme-1",
        "--hours",
        "2",
        "--start",
        "2026-11-21T11:00:00Z",
        "-o",
        "json",
        "--plot",
        str(png),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["windows"] and set(doc["windows"][0]) == {"satellite", "start", "end", "max_elevation_deg"}
    assert all(w["end"] > w["start"] for w in doc["windows"])
    assert all(25.0 <= w["max_elevation_deg"] <= 90.0 for w in doc["windows"])
    assert doc["eclipses"] and set(doc["eclipses"][0]) == {"satellite", "start", "end"}
    assert doc["battery"] and set(doc["battery"][0]) == {"satellite", "t", "soc_j"}
    # cairo load-sheds daily at 14:00 local (12:00Z) with 20 min ride-through: down 12:20Z-13:00Z
    assert {
        "site": "cairo-sme-1",
        "start": "2026-11-21T12:20:00Z",
        "end": "2026-11-21T13:00:00Z",
        "reason": "grid outage (scheduled)",
    } in doc["outages"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_timeline_unknown_site_exits_2() -> None:
    from maas.cli.tiers import app

    result = CliRunner().invoke(app, ["timeline", "--topology", str(DEFAULT), "--site", "atlantis"])
    assert result.exit_code == 2


def test_sites_from_a_csv_file(tmp_path) -> None:
    (tmp_path / "sites.csv").write_text(
        "name,lat_deg,lon_deg,region,access\nshop-1,24.7,46.7,riyadh,base-station;ground\nshop-2,30.0,31.2,cairo,\n"
    )

    def edit(raw: dict) -> None:
        raw["sites"]["file"] = "sites.csv"
        raw["sites"]["default_site"] = "shop-1"

    topo = load_topology(_write(tmp_path, edit))
    assert topo.default_site == "shop-1"
    assert topo.site("shop-1").access == ("base-station", "ground")
    assert topo.site("shop-2").access == ("base-station", "optical-access", "ground", "satellite")
    assert topo.site("shop-2").datacentre == "cairo-dc"


def test_bad_sites_csv_names_file_and_line(tmp_path) -> None:
    (tmp_path / "sites.csv").write_text("name,lat_deg,lon_deg,region\nshop-1,north,46.7,riyadh\n")

    def edit(raw: dict) -> None:
        raw["sites"]["file"] = "sites.csv"

    with pytest.raises(ConfigError) as info:
        load_topology(_write(tmp_path, edit))
    assert info.value.file.endswith("sites.csv") and info.value.field == "line 2"


def test_constellation_from_a_tle_file_matches_its_elements(tmp_path) -> None:
    from sgp4.exporter import export_tle

    from maas.tiers.orbits import Constellation

    topo = load_topology(DEFAULT)
    spec = topo.tiers["satellite"].constellation.model_copy(update={"planes": 2, "sats_per_plane": 3})
    walker = Constellation(spec, topo.epoch_s)
    lines = []
    for name, sat in zip(walker.names, walker.satrecs, strict=True):
        lines += [name, *export_tle(sat)]
    (tmp_path / "shell.tle").write_text("\n".join(lines) + "\n")
    from_file = Constellation(spec.model_copy(update={"tle_file": "shell.tle"}), topo.epoch_s, base_dir=tmp_path)
    assert from_file.names == walker.names
    import numpy as np

    t = topo.epoch_s + np.arange(0, 6 * 3600, 600.0)
    a, _ = walker.propagate_teme(t)
    b, _ = from_file.propagate_teme(t)
    assert np.max(np.linalg.norm(a - b, axis=-1)) < 20.0  # km: TLE text rounds the elements
