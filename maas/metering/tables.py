"""Tables of tenancy (revision ``0001_tenancy`` in ``maas/store/migrations/versions``): tenants and API keys.

Times are UNIX seconds (UTC) from the injected clock (``*_at_s``). Nothing is ever deleted: a deleted tenant keeps
its row (``deleted_at_s``) so usage reports still name it, and a revoked key keeps its row (``revoked_at_s``).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maas.store import Base

__all__ = ["Tenant", "ApiKey"]


class Tenant(Base):
    """An SME account: routing defaults, data residency (allowed tiers), priority class and limits."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("priority BETWEEN 0 AND 9", name="priority_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    contact: Mapped[str | None] = mapped_column(String(256))
    default_site: Mapped[str | None] = mapped_column(String(64))
    default_objective: Mapped[str | None] = mapped_column(String(16))
    default_deadline_ms: Mapped[float | None] = mapped_column(Float)
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)  # None: every model
    allowed_tiers: Mapped[list[str] | None] = mapped_column(JSON)  # None: every tier (no residency rule)
    priority: Mapped[int] = mapped_column(Integer)
    rpm: Mapped[int | None] = mapped_column(Integer)
    burst: Mapped[int | None] = mapped_column(Integer)
    requests_per_day: Mapped[int | None] = mapped_column(BigInteger)
    requests_per_month: Mapped[int | None] = mapped_column(BigInteger)
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    energy_j_per_day: Mapped[float | None] = mapped_column(Float)
    carbon_g_per_month: Mapped[float | None] = mapped_column(Float)
    created_at_s: Mapped[float] = mapped_column(Float)
    updated_at_s: Mapped[float] = mapped_column(Float)
    deleted_at_s: Mapped[float | None] = mapped_column(Float)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="tenant", lazy="raise")

    def __repr__(self) -> str:
        return f"Tenant(id={self.id!r}, name={self.name!r}, deleted_at_s={self.deleted_at_s!r})"


class ApiKey(Base):
    """One API key ``maas_<key_id>_<secret>``: only HMAC-SHA256(server secret, secret) is stored (hex).

    During a rotation's overlap, ``previous_secret_hmac`` also verifies until ``previous_valid_until_s``.
    ``scope`` is ``tenant`` (``tenant_id`` set) or ``admin`` (no tenant).
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "(scope = 'admin' AND tenant_id IS NULL) OR (scope = 'tenant' AND tenant_id IS NOT NULL)",
            name="scope_owner",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    scope: Mapped[str] = mapped_column(String(8))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"), index=True)
    label: Mapped[str | None] = mapped_column(String(64))
    secret_hmac: Mapped[str] = mapped_column(String(64))
    previous_secret_hmac: Mapped[str | None] = mapped_column(String(64))
    previous_valid_until_s: Mapped[float | None] = mapped_column(Float)
    created_at_s: Mapped[float] = mapped_column(Float)
    expires_at_s: Mapped[float | None] = mapped_column(Float)
    rotated_at_s: Mapped[float | None] = mapped_column(Float)
    revoked_at_s: Mapped[float | None] = mapped_column(Float)

    tenant: Mapped[Tenant | None] = relationship(back_populates="keys", lazy="raise")

    def __repr__(self) -> str:
        return f"ApiKey(key_id={self.key_id!r}, scope={self.scope!r}, tenant_id={self.tenant_id!r})"
