"""Metering: tenants, API keys (stored as HMACs), quotas and budgets, usage journal and records.

Imports only ``maas.store`` (and the standard library) of the platform: the gateway passes it what it knows.
"""

from __future__ import annotations

from maas.metering.tables import ApiKey, Tenant

__all__ = ["Tenant", "ApiKey"]
