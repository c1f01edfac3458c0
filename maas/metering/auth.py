"""The gateway's hot-path authentication: ``Authenticator.authenticate(header) -> Principal`` in microseconds.

Each key id's stored state (HMACs, expiry, revocation, the tenant's settings) is cached in memory for
``cache_ttl_s`` (default 0.5 s) of the injected clock and then read again, so a revocation or a tenant change
takes effect on every gateway replica within ``cache_ttl_s`` plus one request. The secret is verified on every
call (one HMAC-SHA256 and ``hmac.compare_digest``); expiry and the rotation overlap are checked against the clock
on every call, not cached. Unknown key ids are cached too (bounded), so random ids cannot hammer the database.

On the live gateway a background task calls ``refresh_cached()`` every half TTL in a worker thread (one query
for every cached key) and the request path finds its key fresh: it reads the database only for a key it has not
seen. The bound is the same: a change is read within the TTL.
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
        self._generation = 0  # bumped by ``invalidate``: a background reload that raced it is dropped

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

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def keys(self) -> Keys:
        """Key management over this authenticator's database, server secret and clock (the admin API uses it)."""
        return Keys(self._engine, self._server_secret, self._clock)

    def invalidate(self, key_id: str | None = None) -> None:
        """Forget one cached key (or all): this replica sees a change at once instead of within the TTL."""
        self._generation += 1
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

    def refresh_cached(self, batch: int = 500) -> int:
        """Read every cached known key again (``batch`` ids per query) and stamp it fresh; returns how many.
        Unknown ids are left to expire. Safe from a worker thread while requests read the cache."""
        known = [k for k, (_, snap) in list(self._cache.items()) if snap is not None]
        done = 0
        for i in range(0, len(known), batch):
            ids = known[i:i + batch]
            generation, now = self._generation, self._clock.now_s()
            loaded = self._load_many(ids)
            if generation != self._generation:  # invalidated meanwhile: what was read may predate the change
                continue
            for key_id in ids:
                if key_id in self._cache:
                    self._cache[key_id] = (now, loaded.get(key_id))
                    done += 1
        return done

    def _load(self, key_id: str) -> _Snapshot | None:
        return self._load_many([key_id]).get(key_id)

    def _load_many(self, key_ids: list[str]) -> dict[str, _Snapshot]:
        self.loads += 1
        query = select(ApiKey, Tenant).outerjoin(Tenant, ApiKey.tenant_id == Tenant.id).where(ApiKey.key_id.in_(key_ids))
        out = {}
        with session_scope(self._engine, write=False) as session:
            for row, tenant in session.execute(query):
                info = TenantInfo.from_row(tenant) if tenant is not None else None
                out[row.key_id] = _Snapshot(
                    secret_hmac=row.secret_hmac,
                    previous_secret_hmac=row.previous_secret_hmac,
                    previous_valid_until_s=row.previous_valid_until_s,
                    expires_at_s=row.expires_at_s,
                    revoked_at_s=row.revoked_at_s,
                    tenant_deleted=info is not None and info.deleted,
                    principal=Principal(scope=row.scope, key_id=row.key_id, tenant=info),
                )
        return out
