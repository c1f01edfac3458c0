"""Metering: tenants, API keys (stored as HMACs), quotas and budgets, usage journal and records.

Imports only ``maas.store`` (and the standard library) of the platform: the gateway passes it what it knows.
"""

from __future__ import annotations

from maas.metering.auth import Authenticator
from maas.metering.bootstrap import BootstrapResult, bootstrap
from maas.metering.files import load_server_secret
from maas.metering.keys import IssuedKey, KeyInfo, Keys, Principal, parse_key
from maas.metering.tables import ApiKey, Tenant
from maas.metering.tenants import OBJECTIVES, TIER_NAMES, Limits, TenantInfo, Tenants

__all__ = [
    "Tenant",
    "ApiKey",
    "Tenants",
    "TenantInfo",
    "Limits",
    "OBJECTIVES",
    "TIER_NAMES",
    "Keys",
    "KeyInfo",
    "IssuedKey",
    "Principal",
    "parse_key",
    "Authenticator",
    "load_server_secret",
    "bootstrap",
    "BootstrapResult",
]
