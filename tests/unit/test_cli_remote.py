"""``maas tenants|keys|usage --url``: the CLI through the admin API of a real data plane (the TestClient stands in
for the HTTP connection, no socket), the same output as on the local database, exit 1 with the server's error,
exit 2 for local bad input before any request."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from maas.cli import remote
from maas.cli.main import app
from maas.metering.keys import KEY_RE
from tests.unit.admin_support import Platform, platform, world  # noqa: F401

URL = "http://gateway.test:8000"
runner = CliRunner()


@pytest.fixture
def maas(platform: Platform, monkeypatch, tmp_path: Path):  # noqa: F811
    """``maas(*args)`` runs the CLI with --url against the platform; ``maas.local(*args)`` on its database."""
    calls: list[str] = []

    def open_client(url: str, timeout_s: float):
        calls.append(url)
        assert url == URL and timeout_s == remote.TIMEOUT_S
        return contextlib.nullcontext(platform.client)  # borrowed: the CLI must not close the app's client

    monkeypatch.setattr(remote, "open_client", open_client)
    client_dir = tmp_path / "client"  # no admin.key here unless a test writes one

    def run(*args: str, admin_key: str | None = platform.admin_key, env: dict[str, str] | None = None):
        key = ["--admin-key", admin_key] if admin_key else []
        return runner.invoke(app, [*args, "--url", URL, *key, "--data-dir", str(client_dir)], env=env)

    def local(*args: str):
        return runner.invoke(app, [*args, "--data-dir", str(platform.data_dir)])

    run.local, run.calls, run.platform, run.client_dir = local, calls, platform, client_dir
    return run


def _ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_tenant_commands_remotely_print_what_they_print_locally(maas) -> None:
    created = json.loads(
        _ok(
            maas(
                "tenants",
                "create",
                "acme",
                "--rpm",
                "600",
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
    )
    assert created[0]["allowed_tiers"] == ["ground", "satellite"] and created[0]["limits"]["rpm"] == 600
    assert maas.platform.tenants.get("acme").priority == 8  # in the platform's database
    updated = json.loads(
        _ok(
            maas(
                "tenants",
                "update",
                "acme",
                "--tiers",
                "all",
                "--requests-per-day",
                "100",
                "--clear",
                "rpm",
                "-o",
                "json",
            )
        )
    )[0]
    assert updated["allowed_tiers"] is None and updated["limits"]["rpm"] is None
    assert updated["limits"]["requests_per_day"] == 100
    _ok(maas("tenants", "create", "beta", "--models", "digits-mlp"))
    for args in (
        ["tenants", "list"],
        ["tenants", "list", "-o", "json"],
        ["tenants", "show", "acme"],
        ["tenants", "show", "beta", "-o", "table"],
    ):
        assert _ok(maas(*args)) == _ok(maas.local(*args)), args
    deleted = [ln for ln in _ok(maas("tenants", "delete", "beta")).splitlines() if ln.startswith("beta")]
    assert deleted[0].split()[-3] == "deleted"
    assert json.loads(_ok(maas("tenants", "list", "-o", "json")))[0]["name"] == "acme"
    assert _ok(maas("tenants", "list", "--deleted")) == _ok(maas.local("tenants", "list", "--deleted"))
    assert len(maas.calls) >= 9


def test_key_commands_remotely(maas) -> None:
    p = maas.platform
    p.tenants.create("acme")
    created = maas("keys", "create", "acme", "--label", "ci", "--expires-days", "30")
    key = _ok(created).strip()
    assert KEY_RE.fullmatch(key) and "not shown again" in created.stderr and "tenant acme" in created.stderr
    assert p.infer(key) == 200
    listed = _ok(maas("keys", "list", "--tenant", "acme"))
    assert key.split("_")[1] in listed and key not in listed
    assert listed == _ok(maas.local("keys", "list", "--tenant", "acme"))
    assert _ok(maas("keys", "list", "-o", "json")) == _ok(maas.local("keys", "list", "-o", "json"))
    rotated = json.loads(_ok(maas("keys", "rotate", key, "--overlap-s", "60", "-o", "json")))
    assert rotated["key_id"] == key.split("_")[1] and rotated["key"] != key
    assert p.infer(rotated["key"]) == 200 and p.infer(key) == 200  # the overlap
    revoked = _ok(maas("keys", "revoke", key))  # the whole key: only its id goes over the wire
    assert "revoked" in revoked and p.infer(rotated["key"]) == 401  # at once on the serving replica
    admin = json.loads(_ok(maas("keys", "create", "--admin", "-o", "json")))
    assert admin["scope"] == "admin" and admin["tenant"] is None
    assert _ok(maas("tenants", "list", admin_key=admin["key"])).startswith("name")


def test_usage_remotely_matches_the_local_report(maas) -> None:
    p = maas.platform
    for name, n in (("acme", 2), ("beta", 1)):
        p.tenants.create(name)
        key = p.keys.create(name).key
        for _ in range(n):
            assert p.infer(key) == 200
    p.ingest()
    for args in (
        ["usage", "--group-by", "tenant"],
        ["usage", "--group-by", "tenant,model", "-o", "csv"],
        ["usage", "--tenant", "acme", "--group-by", "none", "-o", "json"],
        ["usage", "--since", "2026-11-21", "--until", "2026-11-22T00:00", "--group-by", "day,tier"],
    ):
        assert _ok(maas(*args)) == _ok(maas.local(*args)), args
    assert json.loads(_ok(maas("usage", "-o", "json", "--group-by", "tenant")))["total"]["requests"] == 3


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["tenants", "update", "ghost", "--rpm", "5"], "tenant: no tenant named 'ghost'", 404),
        (["tenants", "create", "acme", "--rpm", "-1"], "rpm: -1 is out of range (allowed: an integer in", 400),
        (["tenants", "create", "acme", "--tiers", "mars"], "allowed: base-station, optical-access, ground", 400),
        (["keys", "create", "ghost"], "tenant: no tenant named 'ghost'", 400),
        (["keys", "rotate", "abcdefghijkl"], "key: no key with id abcdefghijkl", 404),
        (["usage", "--tenant", "Bad!"], "name: 'Bad!' is not a valid tenant name", 400),
    ],
)
def test_what_the_server_refuses_exits_1_with_its_error(maas, args, message, status) -> None:
    before = maas.platform.state()
    result = maas(*args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and f"(HTTP {status} from {URL})" in result.stderr
    assert maas.platform.state() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenants", "create", "acme;drop"], "name: 'acme;drop' is not a valid tenant name"),
        (["tenants", "create", "acme", "-o", "yaml"], "-o/--output: unknown format 'yaml'"),
        (["keys", "revoke", "sk-123"], "not a maas API key"),
        (["keys", "create"], "give a tenant name or --admin"),
        (["usage", "--group-by", "colour"], "--group-by: unknown group 'colour'"),
        (["tenants", "list", "--database-url", "sqlite:///x.db"], "--database-url: not with --url"),
    ],
)
def test_local_bad_input_exits_2_before_any_request(maas, args, message) -> None:
    result = maas(*args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert maas.calls == []


def test_the_admin_key_from_env_or_the_data_dir_file(maas) -> None:
    result = maas("tenants", "list", admin_key=None)
    assert result.exit_code == 2 and "--admin-key: none given (allowed: --admin-key, MAAS_ADMIN_KEY" in result.stderr
    maas.client_dir.mkdir()
    (maas.client_dir / "admin.key").write_text(maas.platform.admin_key + "\n")
    assert _ok(maas("tenants", "list", admin_key=None)).startswith("name")
    env = {"MAAS_URL": URL, "MAAS_ADMIN_KEY": maas.platform.admin_key}
    result = runner.invoke(app, ["tenants", "list", "-o", "json"], env=env)
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert maas("tenants", "list", admin_key="maas_nope").exit_code == 2
    result = runner.invoke(app, ["tenants", "list", "--url", "ftp://x", "--admin-key", maas.platform.admin_key])
    assert result.exit_code == 2 and "--url: 'ftp://x' is not an HTTP URL" in result.stderr


def test_a_tenant_key_is_refused_by_the_admin_api(maas) -> None:
    maas.platform.tenants.create("acme")
    tenant_key = maas.platform.keys.create("acme").key
    result = maas("keys", "list", admin_key=tenant_key)
    assert result.exit_code == 1 and "the admin API needs an admin key (HTTP 403" in result.stderr
    assert tenant_key.split("_")[2] not in result.output


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ConnectError("connection refused"), f"cannot reach {URL}: ConnectError: connection refused"),
        (httpx.ReadTimeout("slow"), f"{URL}: no answer within 10 s (GET /admin/tenants)"),
    ],
)
def test_an_unreachable_or_silent_server_exits_1(maas, monkeypatch, error, message) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise error

    monkeypatch.setattr(
        remote, "open_client", lambda url, t: httpx.Client(base_url=url, transport=httpx.MockTransport(broken))
    )
    result = maas("tenants", "list")
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_an_answer_that_is_not_the_admin_api_exits_1(maas, monkeypatch) -> None:
    page = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>Bad Gateway</html>"))
    monkeypatch.setattr(remote, "open_client", lambda url, t: httpx.Client(base_url=url, transport=page))
    result = maas("tenants", "list")
    assert result.exit_code == 1 and "<html>Bad Gateway</html> (HTTP 502" in result.stderr
