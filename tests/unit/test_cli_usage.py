"""``maas usage`` on a local database: table, json, csv, filters, and exit 2 naming the field on bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
import typer
from typer.testing import CliRunner

from maas.cli import usage
from maas.metering.usage_ingest import insert_records
from maas.store import make_engine, migrate
from tests.unit.test_metering_usage import sample


@pytest.fixture
def cli(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'maas.db'}")
    migrate(engine)
    insert_records(engine, sample())
    engine.dispose()
    app = typer.Typer()
    usage.register(app)
    app.command("noop")(lambda: None)  # a second command keeps "usage" a subcommand, as in the maas app
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["usage", "--data-dir", str(tmp_path), *args])

    return run


def test_table_has_rows_and_total(cli) -> None:
    result = cli("--group-by", "tenant", "--since", "2026-11-01")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()  # header, units, rule, rows, total
    assert lines[0].split()[:5] == ["tenant", "requests", "ok", "refused", "failed"]
    assert "J" in lines[1].split() and lines[2].startswith("------")
    assert lines[3].split()[:5] == ["acme", "5", "3", "1", "1"]
    assert lines[4].split()[:3] == ["gone", "1", "1"]
    assert lines[5].split()[:4] == ["total", "6", "4", "1"]


def test_json_and_csv(cli) -> None:
    doc = json.loads(cli("-o", "json", "--tenant", "acme", "--group-by", "day").output)
    assert doc["group_by"] == ["day"] and doc["total"]["requests"] == 6
    assert [r["day"] for r in doc["rows"]] == ["2026-10-31", "2026-11-20", "2026-11-21"]
    out = cli("-o", "csv", "--group-by", "model,tier", "--until", "2026-11-21T00:00").output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["model"], r["tier"], r["requests"]) for r in rows] == [("resnet", "ground", "2")]
    assert rows[0]["energy_j"] == "3.5"


@pytest.mark.parametrize(
    ("args", "field", "allowed"),
    [
        (["-o", "xml"], "-o/--output", "table, wide, json, csv"),
        (["--group-by", "day,colour"], "--group-by", "day, month, tenant"),
        (["--group-by", "day,day"], "--group-by", "allowed"),
        (["--since", "yesterday"], "--since", "YYYY-MM-DD"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "--until", "a later time"),
    ],
)
def test_bad_input_exits_2_naming_the_field(cli, args, field, allowed) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert f"error: {field}" in result.output and allowed in result.output
