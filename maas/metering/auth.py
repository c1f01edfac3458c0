"""The gateway's hot-path authentication: ``Authenticator.authenticate(header) -> Principal`` in microseconds.

Each key id's stored state (HMACs, expiry, revocation, the tenant's settings) is cached in memory for
``cache_ttl_s`` (default 0.5 s) of the injected clock and then read again, so a revocation or a tenant change
takes effect on every gateway replica within ``cache_ttl_s`` plus one request. The secret is verified on every
call (one HMAC-SHA256 and ``hmac.compare_digest``); expiry and the rotation overlap are checked against the clock
on every call, not cached. Unknown key ids are cached too (bounded), so random ids cannot hammer the database.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import Engine, select

from maas.clock import Clock
from maas.errors import Unauthorized
from maas.metering.keys import KEY_RE, Keys, Principal, secret_hmac
from maas.metering.tables import ApiKey, Tenant
from maas.metering.tenants import TenantInfo
from maas.store import session_scope

__all__ = ["Authenticator", "MAX_HEADER_CHARS", "DEFAULT_CACHE_TTL_S"]

MAX_HEADER_CHARS = 256
DEFAULT_CACHE_TTL_S = 0.5
_EXPECTED = "expected 'Authorization: Bearer maas_<key id>_<secret>'"


@dataclass(frozen=True, slots=True)
class _Snapshot:
    secret_hmac: str
    previous_secret_hmac: str | None
    previous_valid_until_s: float | None
    expires_at_s: float | None
    revoked_at_s: float | None
    tenant_deleted: bool
    principal: Principal


def _iso(t_s: float) -> str:
    return dt.datetime.fromtimestamp(t_s, dt.timezone.utc).isoformat(timespec="seconds")


class Authenticator:
    """Verifies ``Authorization`` header values against the key store (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        server_secret: bytes,
        clock: Clock,
        *,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        max_cached_keys: int = 100_000,
    ) -> None:
        if cache_ttl_s < 0:
            raise ValueError("cache_ttl_s must be >= 0")
        self._engine = engine
        self._server_secret = server_secret
        self._clock = clock
        self._ttl_s = cache_ttl_s
        self._max = max_cached_keys
        self._cache: dict[str, tuple[float, _Snapshot | None]] = {}
        self.loads = 0  # database reads so far (tests and metrics)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an ``Authorization`` header value; ``Unauthorized`` (401) with the reason."""
        if not authorization:
            raise Unauthorized(f"missing API key: {_EXPECTED}")
        if len(authorization) > MAX_HEADER_CHARS:
            raise Unauthorized(f"Authorization header too long ({len(authorization)} > {MAX_HEADER_CHARS} characters)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized(f"malformed Authorization header: {_EXPECTED}")
        match = KEY_RE.fullmatch(token.strip())
        if match is None:
            raise Unauthorized("malformed API key: not a maas key (maas_<12 base32 chars>_<32 base32 chars>)")
        key_id, secret = match.group(1), match.group(2)
        now = self._clock.now_s()
        snap = self._snapshot(key_id, now)
        if snap is None:
            raise Unauthorized(f"unknown API key {key_id}")
        digest = secret_hmac(self._server_secret, secret)
        if not hmac.compare_digest(digest, snap.secret_hmac):
            previous_ok = (
                snap.previous_secret_hmac is not None
                and snap.previous_valid_until_s is not None
                and now < snap.previous_valid_until_s
                and hmac.compare_digest(digest, snap.previous_secret_hmac)
            )
            if not previous_ok:
                raise Unauthorized(f"invalid secret for API key {key_id} (rotated or mistyped)")
        if snap.revoked_at_s is not None:
            raise Unauthorized(f"API key {key_id} was revoked at {_iso(snap.revoked_at_s)}")
        if snap.tenant_deleted:
            raise Unauthorized(f"API key {key_id}: tenant {snap.principal.tenant_name!r} was deleted")
        if snap.expires_at_s is not None and now >= snap.expires_at_s:
            raise Unauthorized(f"API key {key_id} expired at {_iso(snap.expires_at_s)}")
        return snap.principal

    def keys(self) -> Keys:
        """Key management over this authenticator's database, server secret and clock (the admin API uses it)."""
        return Keys(self._engine, self._server_secret, self._clock)

    def invalidate(self, key_id: str | None = None) -> None:
        """Forget one cached key (or all): this replica sees a change at once instead of within the TTL."""
        if key_id is None:
            self._cache.clear()
        else:
            self._cache.pop(key_id, None)

    def _snapshot(self, key_id: str, now: float) -> _Snapshot | None:
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        snap = self._load(key_id)
        if len(self._cache) >= self._max:
            self._evict(now)
        self._cache[key_id] = (now, snap)
        return snap

    def _evict(self, now: float) -> None:
        for key in [k for k, (t, _) in self._cache.items() if now - t >= self._ttl_s]:
            self._cache.pop(key, None)
        if len(self._cache) >= self._max:
            self._cache.clear()

    def _load(self, key_id: str) -> _Snapshot | None:
        self.loads += 1
        query = select(ApiKey, Tenant).outerjoin(Tenant, ApiKey.tenant_id == Tenant.id).where(ApiKey.key_id == key_id)
        with session_scope(self._engine, write=False) as session:
            found = session.execute(query).first()
            if found is None:
                return None
            row, tenant = found
            info = TenantInfo.from_row(tenant) if tenant is not None else None
            return _Snapshot(
                secret_hmac=row.secret_hmac,
                previous_secret_hmac=row.previous_secret_hmac,
                previous_valid_until_s=row.previous_valid_until_s,
                expires_at_s=row.expires_at_s,
                revoked_at_s=row.revoked_at_s,
                tenant_deleted=info is not None and info.deleted,
                principal=Principal(scope=row.scope, key_id=row.key_id, tenant=info),
            )
