"""API keys: ``maas_<key_id>_<secret>``, shown once, stored as HMAC-SHA256(server secret, secret).

* ``key_id``: 12 lowercase base32 characters (60 random bits), public: it names the key in lists, logs and usage
  records and stays the same across rotations. ``secret``: 32 lowercase base32 characters = 160 bits from
  ``secrets``. Example: ``maas_k3v7q2m4x9ab_hq3...`` (50 characters).
* Why HMAC and not argon2/bcrypt: slow hashes protect low-entropy passwords from guessing after a leak. A 160-bit
  random secret cannot be guessed whatever the hash costs, so a slow hash buys nothing, while the gateway verifies
  a key on every request and must stay in microseconds (HMAC-SHA256: ~1 us; argon2: ~50 ms of CPU per miss). The
  HMAC key (``<data_dir>/server.secret``, 0600) is kept out of the database, so a leaked database alone does not
  even let anyone test candidate secrets offline.
* Lookup by ``key_id``, comparison with ``hmac.compare_digest``. Keys expire (``expires_at_s``), are revoked
  (kept, flagged) and rotated: during the overlap both the previous and the new secret verify.
* Scope ``tenant`` (belongs to one tenant) or ``admin`` (belongs to none). A tenant principal sees and changes
  only its own tenant's keys.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from maas.clock import Clock
from maas.errors import Forbidden, InvalidInput
from maas.metering.tables import ApiKey, Tenant
from maas.metering.tenants import TenantInfo, find_tenant
from maas.store import session_scope

__all__ = [
    "KEY_PREFIX",
    "KEY_RE",
    "SCOPES",
    "Principal",
    "IssuedKey",
    "KeyInfo",
    "Keys",
    "parse_key",
    "secret_hmac",
    "issue_key",
]

KEY_PREFIX = "maas_"
KEY_ID_CHARS, SECRET_CHARS = 12, 32
KEY_ID_RE = re.compile(r"[a-z2-7]{12}")
KEY_RE = re.compile(r"maas_([a-z2-7]{12})_([a-z2-7]{32})")
SCOPES = ("tenant", "admin")
MAX_EXPIRY_S = 10 * 365 * 86400.0
MAX_OVERLAP_S = 30 * 86400.0
DEFAULT_OVERLAP_S = 3600.0
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 \-_.:]{0,63}")


def _b32(nbytes: int, chars: int) -> str:
    return base64.b32encode(secrets.token_bytes(nbytes)).decode("ascii").lower()[:chars]


def parse_key(text: str) -> tuple[str, str]:
    """``(key_id, secret)`` of a whole key; ``InvalidInput`` if it is not ``maas_<12>_<32>`` base32."""
    match = KEY_RE.fullmatch(text)
    if match is None:
        raise InvalidInput("key: not a maas API key (expected maas_<12 base32 chars>_<32 base32 chars>)")
    return match.group(1), match.group(2)


def key_id_of(key_or_id: str) -> str:
    """The key id from a whole key or a bare key id."""
    if KEY_ID_RE.fullmatch(key_or_id):
        return key_or_id
    return parse_key(key_or_id)[0]


def secret_hmac(server_secret: bytes, secret: str) -> str:
    return hmac.digest(server_secret, secret.encode("ascii"), "sha256").hex()  # one-shot C path, same digest


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin key (no tenant) or a tenant key with the tenant's settings."""

    scope: str
    key_id: str
    tenant: TenantInfo | None = None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    @property
    def tenant_name(self) -> str | None:
        return self.tenant.name if self.tenant is not None else None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just created or rotated: ``key`` is the only copy of the secret there will ever be."""

    key_id: str
    key: str
    scope: str
    tenant: str | None
    expires_at_s: float | None
    previous_valid_until_s: float | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key without its secret."""

    key_id: str
    scope: str
    tenant: str | None
    label: str | None
    created_at_s: float
    expires_at_s: float | None
    rotated_at_s: float | None
    revoked_at_s: float | None
    previous_valid_until_s: float | None

    @property
    def display(self) -> str:
        return f"{KEY_PREFIX}{self.key_id}_..."

    def status(self, now_s: float) -> str:
        if self.revoked_at_s is not None:
            return "revoked"
        if self.expires_at_s is not None and self.expires_at_s <= now_s:
            return "expired"
        if self.previous_valid_until_s is not None and self.previous_valid_until_s > now_s:
            return "rotating"
        return "active"

    def to_dict(self, now_s: float) -> dict[str, Any]:
        fields = ("key_id", "scope", "tenant", "label", "created_at_s", "expires_at_s", "rotated_at_s", "revoked_at_s")
        doc = {name: getattr(self, name) for name in fields}
        doc |= {
            "previous_valid_until_s": self.previous_valid_until_s,
            "display": self.display,
            "status": self.status(now_s),
        }
        return doc


def _info(row: ApiKey, tenant_name: str | None) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id,
        scope=row.scope,
        tenant=tenant_name,
        label=row.label,
        created_at_s=row.created_at_s,
        expires_at_s=row.expires_at_s,
        rotated_at_s=row.rotated_at_s,
        revoked_at_s=row.revoked_at_s,
        previous_valid_until_s=row.previous_valid_until_s,
    )


def _seconds(name: str, value: float | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(f"{name}: {value!r} is out of range (allowed: seconds in [{low:g}, {high:g}])")
    return float(value)


def issue_key(
    session: Session,
    server_secret: bytes,
    now_s: float,
    *,
    scope: str,
    tenant: Tenant | None,
    label: str | None = None,
    expires_in_s: float | None = None,
) -> IssuedKey:
    """Insert a new key in the caller's transaction and return it (the secret exists only in the result)."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope: {scope!r} is not known (allowed: {', '.join(SCOPES)})")
    if (scope == "admin") != (tenant is None):
        raise InvalidInput("scope: an admin key belongs to no tenant; a tenant key needs a tenant")
    if tenant is not None and tenant.deleted_at_s is not None:
        raise InvalidInput(f"tenant: {tenant.name!r} was deleted")
    if label is not None and not LABEL_RE.fullmatch(label):
        raise InvalidInput(
            "label: at most 64 characters of letters, digits, space - _ . : (starting with a letter/digit)"
        )
    expires = _seconds("expires_in_s", expires_in_s, 1.0, MAX_EXPIRY_S)
    key_id, secret = _b32(10, KEY_ID_CHARS), _b32(20, SECRET_CHARS)
    row = ApiKey(
        key_id=key_id,
        scope=scope,
        tenant_id=tenant.id if tenant is not None else None,
        label=label,
        secret_hmac=secret_hmac(server_secret, secret),
        created_at_s=now_s,
        expires_at_s=now_s + expires if expires is not None else None,
    )
    session.add(row)
    session.flush()
    return IssuedKey(key_id, f"{KEY_PREFIX}{key_id}_{secret}", scope, tenant.name if tenant else None, row.expires_at_s)


class Keys:
    """Key management. ``as_principal=None`` is the local operator (CLI on the database: full rights);
    an admin principal may do everything; a tenant principal only touches its own tenant's keys."""

    def __init__(self, engine: Engine, server_secret: bytes, clock: Clock) -> None:
        self._engine = engine
        self._server_secret = server_secret
        self._clock = clock

    def create(
        self,
        tenant: str | None,
        *,
        scope: str = "tenant",
        label: str | None = None,
        expires_in_s: float | None = None,
        as_principal: Principal | None = None,
    ) -> IssuedKey:
        if as_principal is not None and not as_principal.is_admin:
            if scope != "tenant" or tenant != as_principal.tenant_name:
                raise Forbidden("a tenant key may only create keys for its own tenant")
        with session_scope(self._engine) as session:
            row = None if tenant is None else find_tenant(session, tenant, include_deleted=False)
            return issue_key(
                session,
                self._server_secret,
                self._clock.now_s(),
                scope=scope,
                tenant=row,
                label=label,
                expires_in_s=expires_in_s,
            )

    def list(self, tenant: str | None = None, *, as_principal: Principal | None = None) -> list[KeyInfo]:
        """Keys (revoked ones too), of one tenant or all; a tenant principal gets only its own."""
        if as_principal is not None and not as_principal.is_admin:
            if tenant not in (None, as_principal.tenant_name):
                raise Forbidden("a tenant key may only list its own tenant's keys")
            tenant = as_principal.tenant_name
        query = select(ApiKey, Tenant.name).outerjoin(Tenant, ApiKey.tenant_id == Tenant.id).order_by(ApiKey.id)
        with session_scope(self._engine, write=False) as session:
            if tenant is not None:
                query = query.where(ApiKey.tenant_id == find_tenant(session, tenant, include_deleted=True).id)
            return [_info(row, name) for row, name in session.execute(query)]

    def get(self, key_or_id: str, *, as_principal: Principal | None = None) -> KeyInfo:
        with session_scope(self._engine, write=False) as session:
            row, name = self._find(session, key_or_id, as_principal)
            return _info(row, name)

    def revoke(self, key_or_id: str, *, as_principal: Principal | None = None) -> KeyInfo:
        """Revoke now (both secrets of a rotating key); revoking twice keeps the first time."""
        now = self._clock.now_s()
        with session_scope(self._engine) as session:
            row, name = self._find(session, key_or_id, as_principal, for_update=True)
            if row.revoked_at_s is None:
                row.revoked_at_s = now
            return _info(row, name)

    def rotate(
        self,
        key_or_id: str,
        *,
        overlap_s: float = DEFAULT_OVERLAP_S,
        force: bool = False,
        as_principal: Principal | None = None,
    ) -> IssuedKey:
        """A new secret for the same key id; the current one keeps working for ``overlap_s``.

        A second rotation while an overlap runs is refused (two operators rotating at once get one winner and
        one clear error) unless ``force``: then the oldest secret stops at once.
        """
        overlap = _seconds("overlap_s", overlap_s, 0.0, MAX_OVERLAP_S)
        assert overlap is not None
        now = self._clock.now_s()
        with session_scope(self._engine) as session:
            row, name = self._find(session, key_or_id, as_principal, for_update=True)
            if row.revoked_at_s is not None:
                raise InvalidInput(f"key: {row.key_id} is revoked (create a new key)")
            if row.expires_at_s is not None and row.expires_at_s <= now:
                raise InvalidInput(f"key: {row.key_id} has expired (create a new key)")
            if row.previous_valid_until_s is not None and row.previous_valid_until_s > now and not force:
                raise InvalidInput(
                    f"key: {row.key_id} is already being rotated (its previous secret works for another "
                    f"{row.previous_valid_until_s - now:.0f} s); use force to end that overlap now"
                )
            secret = _b32(20, SECRET_CHARS)
            row.previous_secret_hmac = row.secret_hmac if overlap > 0 else None
            row.previous_valid_until_s = now + overlap if overlap > 0 else None
            row.secret_hmac = secret_hmac(self._server_secret, secret)
            row.rotated_at_s = now
            return IssuedKey(
                row.key_id,
                f"{KEY_PREFIX}{row.key_id}_{secret}",
                row.scope,
                name,
                row.expires_at_s,
                row.previous_valid_until_s,
            )

    def _find(
        self, session: Session, key_or_id: str, principal: Principal | None, *, for_update: bool = False
    ) -> tuple[ApiKey, str | None]:
        key_id = key_id_of(key_or_id)
        query = select(ApiKey).where(ApiKey.key_id == key_id)
        if for_update:
            query = query.with_for_update()
        row = session.scalar(query)
        tenant_name = None
        if row is not None and row.tenant_id is not None:
            tenant_name = session.scalar(select(Tenant.name).where(Tenant.id == row.tenant_id))
        if principal is not None and not principal.is_admin:
            if row is None or tenant_name != principal.tenant_name:
                raise Forbidden(f"key {key_id} is not a key of tenant {principal.tenant_name!r}")
        if row is None:
            raise InvalidInput(f"key: no key with id {key_id}")
        return row, tenant_name
