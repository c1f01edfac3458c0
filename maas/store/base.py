"""The one declarative base: every table of the platform is in ``Base.metadata``."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "NAMING_CONVENTION"]

# Deterministic constraint names, so hand-written migrations and the table classes agree on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Subclass this for every table (``maas.metering.tables``, ``maas.registry``...)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
