"""``maas tenants`` and ``maas keys`` against SQLite and PostgreSQL: output, exit codes, nothing changed on error."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maas.cli.main import app
from maas.clock import ManualClock
from maas.metering import Authenticator, load_server_secret
from maas.metering.keys import KEY_RE
from maas.store import make_engine
from tests.support.databases import database_url  # noqa: F401

runner = CliRunner()


@pytest.fixture
def maas(database_url: str, tmp_path: Path):  # noqa: F811
    data_dir = tmp_path / "state"

    def run(*args: str):
        return runner.invoke(app, [*args, "--data-dir", str(data_dir), "--database-url", database_url])

    run.data_dir = data_dir
    run.url = database_url
    return run


def _json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_tenant_lifecycle(maas) -> None:
    created = _json(
        maas(
            "tenants",
            "create",
            "acme",
            "--rpm",
            "600",
            "--burst",
            "50",
            "--tiers",
            "ground,satellite",
            "--objective",
            "carbon",
            "--priority",
            "8",
            "-o",
            "json",
        )
    )
    assert created[0]["name"] == "acme" and created[0]["allowed_tiers"] == ["ground", "satellite"]
    table = maas("tenants", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()  # header, units, rule, rows (at 80 columns: name, prio, tiers...)
    assert lines[0].split()[:2] == ["name", "prio"] and lines[2].startswith("----")
    assert lines[3].split()[:2] == ["acme", "8"] and lines[3].split()[-1] == "active"
    assert "ground,satellite" in lines[3].split()
    wide = maas("tenants", "list", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:5] == ["name", "prio", "objective", "site", "tiers"]
    assert wide[3].split()[:5] == ["acme", "8", "carbon", "-", "ground,satellite"]
    updated = _json(
        maas(
            "tenants", "update", "acme", "--tiers", "all", "--clear", "burst", "--requests-per-day", "100", "-o", "json"
        )
    )[0]
    assert updated["allowed_tiers"] is None and updated["limits"]["burst"] is None
    assert updated["limits"]["requests_per_day"] == 100 and updated["limits"]["rpm"] == 600
    shown = _json(maas("tenants", "show", "acme"))
    assert shown["limits"]["requests_per_day"] == 100
    assert maas("tenants", "delete", "acme").exit_code == 0
    assert _json(maas("tenants", "list", "-o", "json")) == []
    assert [t["name"] for t in _json(maas("tenants", "list", "--deleted", "-o", "json"))] == ["acme"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenants", "create", "acme;drop"], "name: 'acme;drop' is not a valid tenant name (allowed: 1-64 characters"),
        (["tenants", "create", "acme", "--rpm", "-1"], "rpm: -1 is out of range (allowed: an integer in [0, 1000000]"),
        (["tenants", "create", "acme", "--objective", "fast"], "allowed: latency, balanced, energy, carbon"),
        (["tenants", "create", "acme", "--tiers", "mars"], "allowed: base-station, optical-access, ground, satellite"),
        (
            ["tenants", "create", "acme", "--priority", "12"],
            "priority: 12 is out of range (allowed: an integer in [0, 9])",
        ),
        (["tenants", "create", "acme", "-o", "yaml"], "-o/--output: unknown format 'yaml' (allowed: table, wide, json, csv)"),
        (["tenants", "update", "ghost", "--rpm", "5"], "no tenant named 'ghost'"),
        (["tenants", "update", "ghost"], "nothing to update"),
        (["tenants", "update", "ghost", "--clear", "name"], "--clear: 'name' cannot be cleared (allowed: contact"),
        (["keys", "create"], "give a tenant name or --admin"),
        (["keys", "create", "ghost"], "no tenant named 'ghost'"),
        (["keys", "revoke", "sk-123"], "not a maas API key"),
        (["keys", "rotate", "abcdefghijkl"], "no key with id abcdefghijkl"),
    ],
)
def test_bad_input_exits_2_naming_the_field(maas, args, message) -> None:
    result = maas(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert _json(maas("tenants", "list", "--deleted", "-o", "json")) == []


def test_failed_update_changes_nothing(maas) -> None:
    maas("tenants", "create", "acme", "--rpm", "100")
    result = maas("tenants", "update", "acme", "--rpm", "200", "--max-concurrent", "-4")
    assert result.exit_code == 2 and "max_concurrent" in result.stderr
    assert _json(maas("tenants", "show", "acme"))["limits"]["rpm"] == 100


def test_keys_create_list_rotate_revoke(maas) -> None:
    maas("tenants", "create", "acme")
    created = maas("keys", "create", "acme", "--label", "ci", "--expires-days", "30")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert KEY_RE.fullmatch(key) and "not shown again" in created.stderr
    key_id = key.split("_")[1]
    listed = maas("keys", "list")
    assert key_id in listed.stdout and key not in listed.stdout and "active" in listed.stdout
    rotated = _json(maas("keys", "rotate", key_id, "--overlap-s", "60", "-o", "json"))
    assert rotated["key_id"] == key_id and rotated["key"] != key
    assert _json(maas("keys", "list", "--tenant", "acme", "-o", "json"))[0]["status"] == "rotating"
    assert maas("keys", "revoke", key).exit_code == 0  # the whole key works as well as its id
    assert _json(maas("keys", "list", "-o", "json"))[0]["status"] == "revoked"
    admin = maas("keys", "create", "--admin", "-o", "json")
    engine = make_engine(maas.url)
    try:
        auth = Authenticator(engine, load_server_secret(maas.data_dir), ManualClock(0.0))
        assert auth.authenticate("Bearer " + json.loads(admin.stdout)["key"]).is_admin
    finally:
        engine.dispose()


def test_locked_sqlite_exits_1_and_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    args = ["--data-dir", str(data_dir)]
    assert runner.invoke(app, ["tenants", "list", *args]).exit_code == 0  # creates and migrates the database
    other = sqlite3.connect(data_dir / "maas.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = runner.invoke(app, ["tenants", "create", "acme", *args], env={"MAAS_STORE_BUSY_TIMEOUT_MS": "0"})
        assert result.exit_code == 1 and "unavailable" in result.stderr
    finally:
        other.execute("COMMIT")
        other.close()
    assert json.loads(runner.invoke(app, ["tenants", "list", "--deleted", "-o", "json", *args]).stdout) == []
