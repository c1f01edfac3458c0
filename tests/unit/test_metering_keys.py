"""API keys and the Authenticator on SQLite and PostgreSQL: format, HMAC storage, expiry, revocation, rotation,
isolation, the TTL cache (injected clock), attacks on the Authorization header, bootstrap and the server secret."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from maas.clock import ManualClock
from maas.errors import ConfigError, Forbidden, InvalidInput, Unauthorized
from maas.metering import Authenticator, Keys, Tenants, bootstrap, load_server_secret, parse_key
from maas.metering.keys import KEY_RE, Principal, secret_hmac
from maas.metering.tables import ApiKey
from maas.store import session_scope
from tests.support.databases import database_url, db_engine  # noqa: F401

T0_S = 1_800_000_000.0
SERVER_SECRET = bytes(range(32))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0_S)


@pytest.fixture
def keys(db_engine, clock) -> Keys:  # noqa: F811
    tenants = Tenants(db_engine, clock)
    tenants.create("acme", allowed_tiers=["ground"], priority=8, rpm=60)
    tenants.create("globex")
    return Keys(db_engine, SERVER_SECRET, clock)


@pytest.fixture
def auth(db_engine, clock) -> Authenticator:  # noqa: F811
    return Authenticator(db_engine, SERVER_SECRET, clock, cache_ttl_s=0.5)


def bearer(key: str) -> str:
    return f"Bearer {key}"


def test_key_format_and_only_an_hmac_is_stored(keys: Keys, db_engine) -> None:  # noqa: F811
    issued = keys.create("acme", label="ci")
    key_id, secret = parse_key(issued.key)
    assert KEY_RE.fullmatch(issued.key) and key_id == issued.key_id and len(issued.key) == 50
    assert len(secret) == 32  # 32 base32 chars = 160 bits
    with session_scope(db_engine, write=False) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    assert row.secret_hmac == secret_hmac(SERVER_SECRET, secret)
    assert secret not in repr(vars(row))
    assert keys.create("acme").key_id != key_id


def test_tenant_key_authenticates_with_the_tenant_settings(keys: Keys, auth: Authenticator) -> None:
    issued = keys.create("acme")
    principal = auth.authenticate(bearer(issued.key))
    assert principal.scope == "tenant" and principal.key_id == issued.key_id and not principal.is_admin
    assert principal.tenant.name == "acme" and principal.tenant.allowed_tiers == ("ground",)
    assert principal.tenant.priority == 8 and principal.tenant.limits.rpm == 60
    assert auth.authenticate(f"bearer   {issued.key}").tenant_name == "acme"


def test_admin_key_belongs_to_no_tenant(keys: Keys, auth: Authenticator) -> None:
    issued = keys.create(None, scope="admin")
    principal = auth.authenticate(bearer(issued.key))
    assert principal.is_admin and principal.tenant is None
    with pytest.raises(InvalidInput, match="admin key belongs to no tenant"):
        keys.create("acme", scope="admin")
    with pytest.raises(InvalidInput, match="scope: 'root' is not known"):
        keys.create(None, scope="root")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing API key"),
        ("", "missing API key"),
        ("Basic dXNlcjpwYXNz", "malformed Authorization header"),
        ("Bearer", "malformed API key"),
        ("Bearer ", "malformed API key"),
        ("Bearer sk-1234567890abcdef1234567890abcdef", "not a maas key"),
        ("Bearer maas_ABCDEFGHIJKL_" + "a" * 32, "not a maas key"),  # upper case key id
        ("Bearer maas_abcdefghijk_" + "a" * 32, "not a maas key"),  # 11-char key id
        ("Bearer maas_abcdefghijkl_" + "a" * 31, "not a maas key"),  # short secret
        ("Bearer maas_abcdefghijkl_" + "a" * 31 + "1", "not a maas key"),  # 1 is not base32
        ("Bearer maas_abcdefghijkl_" + "a" * 32 + "\x00", "not a maas key"),
        ("Bearer maas_abcdefghijkl_" + "a" * 32 + " extra", "not a maas key"),
        ("Bearer maas_abcdefghijkl_" + "a" * 32 + "\nX-Admin: 1", "not a maas key"),
        ("Bearer maas_abcdefghijkl_" + "a" * 32 + "' OR 1=1 --", "not a maas key"),
        ("Bearer maaſ_abcdefghijkl_" + "a" * 32, "not a maas key"),  # unicode look-alike
        ("Bearer " + "a" * 250, "too long (257 > 256"),
        ("x" * 100_000, "too long (100000 > 256"),
    ],
)
def test_malformed_headers_are_refused_with_the_reason(auth: Authenticator, header, reason) -> None:
    with pytest.raises(Unauthorized, match=reason.replace("(", r"\(")):
        auth.authenticate(header)
    assert auth.loads == 0  # refused before any database read


def test_unknown_key_and_wrong_secret(keys: Keys, auth: Authenticator) -> None:
    issued = keys.create("acme")
    with pytest.raises(Unauthorized, match="unknown API key abcdefghijkl"):
        auth.authenticate(bearer("maas_abcdefghijkl_" + "a" * 32))
    forged = f"maas_{issued.key_id}_" + "a" * 32
    with pytest.raises(Unauthorized, match=f"invalid secret for API key {issued.key_id}"):
        auth.authenticate(bearer(forged))


def test_revocation_takes_effect_within_the_cache_ttl(keys: Keys, auth: Authenticator, clock: ManualClock) -> None:
    issued = keys.create("acme")
    auth.authenticate(bearer(issued.key))
    keys.revoke(issued.key)  # the whole key is accepted too
    clock.advance(0.49)
    auth.authenticate(bearer(issued.key))  # still cached on this replica
    clock.advance(0.01)
    with pytest.raises(Unauthorized, match=f"API key {issued.key_id} was revoked at 2027-01-15T08:00:00"):
        auth.authenticate(bearer(issued.key))


def test_cache_avoids_the_database(keys: Keys, auth: Authenticator) -> None:
    header = bearer(keys.create("acme").key)
    auth.authenticate(header)
    for _ in range(2000):
        auth.authenticate(header)
    assert auth.loads == 1  # its speed is measured by make bench, not here


def test_background_refresh_reads_every_cached_key_in_one_query(keys: Keys, auth: Authenticator,
                                                                  clock: ManualClock) -> None:
    a, b = keys.create("acme"), keys.create("globex")
    auth.authenticate(bearer(a.key))
    auth.authenticate(bearer(b.key))
    with pytest.raises(Unauthorized):
        auth.authenticate(bearer("maas_abcdefghijkl_" + "a" * 32))  # unknown ids are not refreshed
    keys.revoke(a.key)
    clock.advance(0.3)
    loads = auth.loads
    assert auth.refresh_cached() == 2 and auth.loads == loads + 1
    clock.advance(0.4)  # 0.7 s after the first read, 0.4 s after the refresh: fresh, no read on the request path
    with pytest.raises(Unauthorized, match=f"API key {a.key_id} was revoked"):
        auth.authenticate(bearer(a.key))
    assert auth.authenticate(bearer(b.key)).tenant_name == "globex"
    assert auth.loads == loads + 1


def test_a_background_refresh_that_races_an_invalidation_is_dropped(keys: Keys, auth: Authenticator) -> None:
    issued = keys.create("acme")
    auth.authenticate(bearer(issued.key))
    read = auth._load_many

    def read_then_invalidate(ids):
        found = read(ids)
        auth.invalidate()  # e.g. the admin API revoked a key on this replica while the read was in flight
        return found

    auth._load_many = read_then_invalidate
    assert auth.refresh_cached() == 0 and auth._cache == {}


def test_unknown_key_ids_are_cached_and_the_cache_is_bounded(db_engine, clock) -> None:  # noqa: F811
    auth = Authenticator(db_engine, SERVER_SECRET, clock, cache_ttl_s=0.5, max_cached_keys=4)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            auth.authenticate(bearer("maas_abcdefghijkl_" + "a" * 32))
    assert auth.loads == 1
    for letter in "bcdefghij":
        with pytest.raises(Unauthorized):
            auth.authenticate(bearer(f"maas_{letter * 12}_" + "a" * 32))
    assert len(auth._cache) <= 4


def test_expiry_uses_the_clock_on_every_call(keys: Keys, auth: Authenticator, clock: ManualClock) -> None:
    issued = keys.create("acme", expires_in_s=60)
    assert issued.expires_at_s == T0_S + 60
    auth.authenticate(bearer(issued.key))
    clock.advance(59.9)
    auth.authenticate(bearer(issued.key))
    clock.advance(0.1)  # within the cache TTL: expiry is not cached
    with pytest.raises(Unauthorized, match="expired at 2027-01-15T08:01:00"):
        auth.authenticate(bearer(issued.key))
    with pytest.raises(InvalidInput, match="has expired"):
        keys.rotate(issued.key_id)
    with pytest.raises(InvalidInput, match="expires_in_s: -1 is out of range"):
        keys.create("acme", expires_in_s=-1)


def test_rotation_overlap_keeps_the_key_id_and_both_secrets_work(keys, auth, clock) -> None:
    old = keys.create("acme")
    new = keys.rotate(old.key_id, overlap_s=300)
    assert new.key_id == old.key_id and new.key != old.key and new.previous_valid_until_s == T0_S + 300
    assert keys.get(old.key_id).status(clock.now_s()) == "rotating"
    auth.invalidate()
    assert auth.authenticate(bearer(old.key)).key_id == old.key_id
    assert auth.authenticate(bearer(new.key)).key_id == old.key_id
    clock.advance(300)
    with pytest.raises(Unauthorized, match="invalid secret"):
        auth.authenticate(bearer(old.key))
    assert auth.authenticate(bearer(new.key)).tenant_name == "acme"
    assert keys.get(old.key_id).status(clock.now_s()) == "active"


def test_rotation_without_overlap_ends_the_old_secret_at_once(keys, auth) -> None:
    old = keys.create("acme")
    new = keys.rotate(old.key, overlap_s=0)
    with pytest.raises(Unauthorized, match="invalid secret"):
        auth.authenticate(bearer(old.key))
    auth.authenticate(bearer(new.key))


def test_second_rotation_during_an_overlap_needs_force(keys, auth) -> None:
    first = keys.create("acme")
    second = keys.rotate(first.key_id, overlap_s=600)
    with pytest.raises(InvalidInput, match="already being rotated"):
        keys.rotate(first.key_id, overlap_s=600)
    third = keys.rotate(first.key_id, overlap_s=600, force=True)
    with pytest.raises(Unauthorized, match="invalid secret"):
        auth.authenticate(bearer(first.key))
    auth.authenticate(bearer(second.key))
    auth.authenticate(bearer(third.key))


def test_concurrent_rotation_has_one_winner(keys: Keys, auth: Authenticator, db_engine) -> None:  # noqa: F811
    original = keys.create("acme")
    barrier = threading.Barrier(2)
    results: list[object] = []

    def rotate() -> None:
        barrier.wait()
        try:
            results.append(keys.rotate(original.key_id, overlap_s=600))
        except InvalidInput as exc:
            results.append(exc)

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, InvalidInput)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "already being rotated" in losers[0].message
    auth.authenticate(bearer(original.key))
    auth.authenticate(bearer(winners[0].key))


def test_revoked_key_cannot_be_rotated_and_revoke_is_idempotent(keys, clock) -> None:
    issued = keys.create("acme")
    first = keys.revoke(issued.key_id)
    clock.advance(10)
    assert keys.revoke(issued.key_id).revoked_at_s == first.revoked_at_s == T0_S
    with pytest.raises(InvalidInput, match="is revoked"):
        keys.rotate(issued.key_id)
    with pytest.raises(InvalidInput, match="no key with id"):
        keys.revoke("zzzzzzzzzzzz")
    with pytest.raises(InvalidInput, match="not a maas API key"):
        keys.revoke("sk-live-123")


def test_revoking_during_an_overlap_stops_both_secrets(keys, auth) -> None:
    old = keys.create("acme")
    new = keys.rotate(old.key_id, overlap_s=600)
    keys.revoke(old.key_id)
    for key in (old.key, new.key):
        with pytest.raises(Unauthorized, match="was revoked"):
            auth.authenticate(bearer(key))


def test_deleted_tenant_keys_stop_working(keys, auth, db_engine, clock) -> None:  # noqa: F811
    issued = keys.create("acme")
    Tenants(db_engine, clock).delete("acme")
    with pytest.raises(Unauthorized, match="revoked"):
        auth.authenticate(bearer(issued.key))


def test_tenant_isolation(keys: Keys, auth: Authenticator) -> None:
    acme = auth.authenticate(bearer(keys.create("acme").key))
    globex_key = keys.create("globex")
    keys.create("acme")
    mine = keys.list(as_principal=acme)
    assert {k.tenant for k in mine} == {"acme"} and len(mine) == 2
    with pytest.raises(Forbidden, match="own tenant"):
        keys.list("globex", as_principal=acme)
    for action in (keys.get, keys.revoke, keys.rotate):
        with pytest.raises(Forbidden, match="not a key of tenant 'acme'"):
            action(globex_key.key_id, as_principal=acme)
    with pytest.raises(Forbidden, match="not a key of tenant 'acme'"):
        keys.get("zzzzzzzzzzzz", as_principal=acme)  # unknown looks the same as someone else's
    with pytest.raises(Forbidden):
        keys.create("globex", as_principal=acme)
    with pytest.raises(Forbidden):
        keys.create(None, scope="admin", as_principal=acme)
    auth.authenticate(bearer(globex_key.key))  # untouched
    admin = Principal(scope="admin", key_id="aaaaaaaaaaaa")
    assert len(keys.list(as_principal=admin)) == 3


def test_server_secret_is_created_once_0600_and_shared(tmp_path: Path) -> None:
    results: list[bytes] = []
    barrier = threading.Barrier(4)

    def load() -> None:
        barrier.wait()
        results.append(load_server_secret(tmp_path / "data"))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 4 and len(set(results)) == 1 and len(results[0]) == 32
    path = tmp_path / "data" / "server.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["server.secret"]  # no temp files left
    assert load_server_secret(tmp_path / "data") == results[0]


def test_server_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_server_secret(tmp_path)
    os.chmod(tmp_path / "server.secret", 0o644)
    with pytest.raises(ConfigError, match="mode.*0600"):
        load_server_secret(tmp_path)


def test_bootstrap_once_writes_working_keys(db_engine, tmp_path: Path, clock: ManualClock) -> None:  # noqa: F811
    data = tmp_path / "state"
    result = bootstrap(db_engine, data, clock)
    assert result.created and result.dev_tenant == "dev"
    admin_key = (data / "admin.key").read_text().strip()
    dev_key = (data / "dev.key").read_text().strip()
    for name in ("admin.key", "dev.key", "server.secret"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    auth = Authenticator(db_engine, load_server_secret(data), clock)
    assert auth.authenticate(bearer(admin_key)).is_admin
    assert auth.authenticate(bearer(dev_key)).tenant_name == "dev"
    assert parse_key(admin_key)[0] == result.admin_key_id
    again = bootstrap(db_engine, data, clock)
    assert not again.created and (data / "admin.key").read_text().strip() == admin_key
    assert sorted(p.name for p in data.iterdir()) == ["admin.key", "dev.key", "server.secret"]


def test_locked_sqlite_bootstrap_writes_nothing(tmp_path: Path, clock: ManualClock) -> None:
    import sqlite3

    from maas.errors import StoreUnavailable
    from maas.store import default_database_url, make_engine, migrate

    engine = make_engine(default_database_url(tmp_path / "db"), busy_timeout_ms=0)
    migrate(engine)
    other = sqlite3.connect(tmp_path / "db" / "maas.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            bootstrap(engine, tmp_path / "state", clock)
        with pytest.raises(StoreUnavailable):
            Tenants(engine, clock).create("acme")
    finally:
        other.execute("COMMIT")
        other.close()
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["server.secret"]  # no key files
    assert Tenants(engine, clock).list(include_deleted=True) == []
    assert bootstrap(engine, tmp_path / "state", clock).created  # works once the lock is gone
    engine.dispose()
