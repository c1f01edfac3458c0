"""First start of ``maas up``: an admin key and a ``dev`` tenant with a key, written to the data directory.

``bootstrap(engine, data_dir, clock)`` migrates nothing and prints nothing: it returns what it did, the CLI
prints. It acts once: when the database already has an admin key it changes nothing. The key files
(``admin.key``, ``dev.key``, mode 0600) are prepared first, published only after the database commit, so a
failure leaves neither keys in the database without files nor files with keys the database does not know.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from maas.clock import Clock
from maas.metering.files import load_server_secret, write_private_file
from maas.metering.keys import issue_key
from maas.metering.tables import ApiKey, Tenant
from maas.metering.tenants import create_tenant
from maas.store import session_scope

__all__ = ["BootstrapResult", "bootstrap", "ADMIN_KEY_FILE", "DEV_KEY_FILE", "DEV_TENANT"]

ADMIN_KEY_FILE, DEV_KEY_FILE, DEV_TENANT = "admin.key", "dev.key", "dev"


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    created: bool
    admin_key_id: str | None = None
    dev_key_id: str | None = None
    admin_key_path: Path | None = None
    dev_key_path: Path | None = None
    dev_tenant: str | None = None


def bootstrap(engine: Engine, data_dir: Path, clock: Clock) -> BootstrapResult:
    """Create the admin key, the ``dev`` tenant and its key if no admin key exists yet (one transaction)."""
    data_dir = Path(data_dir)
    server_secret = load_server_secret(data_dir)
    admin_path, dev_path = data_dir / ADMIN_KEY_FILE, data_dir / DEV_KEY_FILE
    staged: list[tuple[Path, Path]] = []
    try:
        with session_scope(engine) as session:
            if session.scalar(select(ApiKey.id).where(ApiKey.scope == "admin").limit(1)) is not None:
                return BootstrapResult(created=False)
            now = clock.now_s()
            admin = issue_key(session, server_secret, now, scope="admin", tenant=None, label="bootstrap admin")
            tenant = session.scalar(select(Tenant).where(Tenant.name == DEV_TENANT))
            if tenant is None:
                tenant = create_tenant(session, DEV_TENANT, now, contact="local development")
            files = [(admin_path, admin.key)]
            dev = None
            if tenant.deleted_at_s is None:  # a deleted dev tenant stays deleted
                dev = issue_key(session, server_secret, now, scope="tenant", tenant=tenant, label="bootstrap dev")
                files.append((dev_path, dev.key))
            for path, key in files:
                temp = path.with_name(f".{path.name}.bootstrap")
                write_private_file(temp, key + "\n")
                staged.append((temp, path))
        for temp, path in staged:
            os.replace(temp, path)
        staged.clear()
        if dev is None:
            return BootstrapResult(True, admin.key_id, None, admin_path, None, None)
        return BootstrapResult(True, admin.key_id, dev.key_id, admin_path, dev_path, DEV_TENANT)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
