"""Tenants: an SME account with routing defaults, data residency, a priority class and limits.

Names match ``[a-z0-9][a-z0-9-_.]{0,63}`` (ASCII only: anything else, SQL-looking text included, is refused
with ``InvalidInput`` before it reaches the database). Priority class: an integer 0 (background) .. 9 (most
urgent), default 5; the gateway may order queued work by it. Limits are all optional (None: no limit); each is
checked against its range below and refused naming the field. A deleted tenant keeps its row (soft delete) so
reports still name it; its keys are revoked and its name is never reused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from maas.clock import Clock
from maas.errors import InvalidInput
from maas.metering.tables import ApiKey, Tenant
from maas.store import session_scope

__all__ = [
    "OBJECTIVES",
    "TIER_NAMES",
    "PRIORITY_MIN",
    "PRIORITY_MAX",
    "PRIORITY_DEFAULT",
    "LIMIT_RANGES",
    "Limits",
    "TenantInfo",
    "Tenants",
    "validate_tenant_name",
]

NAME_RE = re.compile(r"[a-z0-9][a-z0-9\-_.]{0,63}")
SITE_RE = NAME_RE
MODEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_.]{0,127}")
OBJECTIVES = ("latency", "balanced", "energy", "carbon")
TIER_NAMES = ("base-station", "optical-access", "ground", "satellite")
PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = 0, 9, 5
DEADLINE_MS_MAX = 3_600_000.0
CONTACT_MAX_CHARS = 256
# field -> (minimum, maximum, is_integer); None on a limit means "no limit".
LIMIT_RANGES: dict[str, tuple[float, float, bool]] = {
    "rpm": (0, 1_000_000, True),
    "burst": (1, 1_000_000, True),
    "requests_per_day": (0, 10_000_000_000, True),
    "requests_per_month": (0, 100_000_000_000, True),
    "max_concurrent": (0, 100_000, True),
    "energy_j_per_day": (0.0, 1e12, False),
    "carbon_g_per_month": (0.0, 1e12, False),
}
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-tenant limits; None = unlimited. ``rpm`` + ``burst`` (token bucket), calendar day/month in UTC."""

    rpm: int | None = None
    burst: int | None = None
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    max_concurrent: int | None = None
    energy_j_per_day: float | None = None
    carbon_g_per_month: float | None = None

    def __post_init__(self) -> None:
        for name, (low, high, integer) in LIMIT_RANGES.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _check_number(name, value, low, high, integer))
        if self.burst is not None and self.rpm is None:
            raise InvalidInput("burst needs rpm (burst is the bucket size of the rpm limit)")


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """A tenant as the rest of the platform sees it (a value, detached from any session)."""

    id: int
    name: str
    contact: str | None
    default_site: str | None
    default_objective: str | None
    default_deadline_ms: float | None
    allowed_models: tuple[str, ...] | None
    allowed_tiers: tuple[str, ...] | None
    priority: int
    limits: Limits = field(default_factory=Limits)
    created_at_s: float = 0.0
    updated_at_s: float = 0.0
    deleted_at_s: float | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at_s is not None

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        for key in ("allowed_models", "allowed_tiers"):
            doc[key] = list(doc[key]) if doc[key] is not None else None
        return doc

    @classmethod
    def from_row(cls, row: Tenant) -> TenantInfo:
        return cls(
            id=row.id,
            name=row.name,
            contact=row.contact,
            default_site=row.default_site,
            default_objective=row.default_objective,
            default_deadline_ms=row.default_deadline_ms,
            allowed_models=tuple(row.allowed_models) if row.allowed_models is not None else None,
            allowed_tiers=tuple(row.allowed_tiers) if row.allowed_tiers is not None else None,
            priority=row.priority,
            limits=Limits(**{name: getattr(row, name) for name in LIMIT_RANGES}),
            created_at_s=row.created_at_s,
            updated_at_s=row.updated_at_s,
            deleted_at_s=row.deleted_at_s,
        )


def _check_number(name: str, value: Any, low: float, high: float, integer: bool, none: str = "no limit") -> Any:
    kind = "an integer" if integer else "a number"
    bounds = f"[{int(low)}, {int(high)}]" if integer else f"[{low:g}, {high:g}]"
    allowed = f"{kind} in {bounds}" + (f", or none for {none}" if none else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name}: {value!r} is not {kind} (allowed: {allowed})")
    if integer and isinstance(value, float):
        if not value.is_integer():
            raise InvalidInput(f"{name}: {value!r} is not {kind} (allowed: {allowed})")
        value = int(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(f"{name}: {value!r} is out of range (allowed: {allowed})")
    return value


def validate_tenant_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"name: {name!r} is not a valid tenant name (allowed: 1-64 characters of a-z 0-9 - _ . "
            "starting with a letter or digit, e.g. acme-logistics)"
        )
    return name


def _names(field_name: str, values: Iterable[str] | None, pattern: re.Pattern[str], allowed: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidInput(f"{field_name}: {value!r} is not allowed (allowed: {allowed})")
        if value not in out:
            out.append(value)
    if not out:
        raise InvalidInput(f"{field_name}: empty list (allowed: {allowed}; none means all)")
    return sorted(out)


def _validated(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check every given profile field; returns column values (limits flattened)."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "contact":
            if value is not None and (
                not isinstance(value, str) or len(value) > CONTACT_MAX_CHARS or not value.isprintable()
            ):
                raise InvalidInput(f"contact: must be printable text of at most {CONTACT_MAX_CHARS} characters")
        elif key == "default_site":
            if value is not None and (not isinstance(value, str) or not SITE_RE.fullmatch(value)):
                raise InvalidInput(
                    f"default_site: {value!r} is not a site name (allowed: a-z 0-9 - _ ., e.g. riyadh-sme-1)"
                )
        elif key == "default_objective":
            if value is not None and value not in OBJECTIVES:
                raise InvalidInput(f"default_objective: {value!r} is not known (allowed: {', '.join(OBJECTIVES)})")
        elif key == "default_deadline_ms":
            if value is not None:
                value = float(_check_number(key, value, 0.0, DEADLINE_MS_MAX, False, "the platform default"))
                if value <= 0:
                    raise InvalidInput(f"default_deadline_ms: must be > 0 (allowed: (0, {DEADLINE_MS_MAX:g}] ms)")
        elif key == "allowed_models":
            value = _names(key, value, MODEL_RE, "model names such as digits-cnn, or none for every model")
        elif key == "allowed_tiers":
            value = _names(key, value, re.compile("|".join(map(re.escape, TIER_NAMES))), ", ".join(TIER_NAMES))
        elif key == "priority":
            value = _check_number(key, value, PRIORITY_MIN, PRIORITY_MAX, True, "")
        elif key == "limits":
            limits = value if isinstance(value, Limits) else Limits(**dict(value or {}))
            out.update({name: getattr(limits, name) for name in LIMIT_RANGES})
            continue
        elif key in LIMIT_RANGES:
            low, high, integer = LIMIT_RANGES[key]
            value = None if value is None else _check_number(key, value, low, high, integer)
        else:
            raise InvalidInput(f"{key}: not a tenant field")
        out[key] = value
    return out


class Tenants:
    """Create, read, update and (soft) delete tenants; every mutation is one transaction."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, name: str, **profile: Any) -> TenantInfo:
        """A new tenant; ``profile``: contact, default_site, default_objective, default_deadline_ms,
        allowed_models, allowed_tiers, priority, limits (``Limits`` or a mapping) or single limit fields."""
        with session_scope(self._engine) as session:
            return TenantInfo.from_row(create_tenant(session, name, self._clock.now_s(), **profile))

    def get(self, name: str, *, include_deleted: bool = True) -> TenantInfo:
        with session_scope(self._engine, write=False) as session:
            return TenantInfo.from_row(find_tenant(session, name, include_deleted=include_deleted))

    def list(self, *, include_deleted: bool = False) -> list[TenantInfo]:
        query = select(Tenant).order_by(Tenant.name)
        if not include_deleted:
            query = query.where(Tenant.deleted_at_s.is_(None))
        with session_scope(self._engine, write=False) as session:
            return [TenantInfo.from_row(row) for row in session.scalars(query)]

    def update(self, name: str, **changes: Any) -> TenantInfo:
        """Change the given fields (None clears an optional one); a deleted tenant cannot be changed."""
        values = _validated(changes)
        with session_scope(self._engine) as session:
            row = find_tenant(session, name, include_deleted=False, for_update=True)
            merged = {limit: getattr(row, limit) for limit in ("rpm", "burst")} | values
            if merged["burst"] is not None and merged["rpm"] is None:
                raise InvalidInput("burst needs rpm (burst is the bucket size of the rpm limit)")
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at_s = self._clock.now_s()
            return TenantInfo.from_row(row)

    def delete(self, name: str) -> TenantInfo:
        """Soft delete: the row stays for reports; every key of the tenant is revoked now."""
        now = self._clock.now_s()
        with session_scope(self._engine) as session:
            row = find_tenant(session, name, include_deleted=True, for_update=True)
            if row.deleted_at_s is None:
                row.deleted_at_s = now
                row.updated_at_s = now
                for key in session.scalars(select(ApiKey).where(ApiKey.tenant_id == row.id)):
                    if key.revoked_at_s is None:
                        key.revoked_at_s = now
            return TenantInfo.from_row(row)


def create_tenant(session: Session, name: str, now_s: float, **profile: Any) -> Tenant:
    """Insert a tenant in ``session`` (the caller's transaction); the name must never have been used."""
    name = validate_tenant_name(name)
    profile.setdefault("priority", PRIORITY_DEFAULT)
    values = _validated(profile)
    if session.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
        raise InvalidInput(f"name: tenant {name!r} exists or existed (names of deleted tenants are not reused)")
    row = Tenant(name=name, created_at_s=now_s, updated_at_s=now_s, **values)
    session.add(row)
    try:
        session.flush()
    except sa_exc.IntegrityError:
        raise InvalidInput(
            f"name: tenant {name!r} exists or existed (names of deleted tenants are not reused)"
        ) from None
    return row


def find_tenant(session: Session, name: str, *, include_deleted: bool, for_update: bool = False) -> Tenant:
    validate_tenant_name(name)
    query = select(Tenant).where(Tenant.name == name)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None or (row.deleted_at_s is not None and not include_deleted):
        raise InvalidInput(f"tenant: no tenant named {name!r}" + (" (it was deleted)" if row is not None else ""))
    return row
