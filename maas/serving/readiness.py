"""Wait until the platform serves what was deployed: the gateway is ready and lists every placement.

No ray import (plain HTTP), no fixed sleeps: it polls and gives up with ``NotReady`` naming the last thing seen;
the CLI maps that to exit code 1.
"""

from __future__ import annotations

import httpx

from maas.errors import NotReady
from maas.polling import PollTimeout, poll_until
from maas.settings import Settings

__all__ = ["wait_until_serving"]


def _admin_headers(settings: Settings) -> dict[str, str]:
    """The admin key ``maas up`` wrote (the catalog needs a key when auth is on)."""
    path = settings.data_dir / "admin.key"
    if not settings.auth or not path.exists():
        return {}
    return {"Authorization": f"Bearer {path.read_text().strip()}"}


def wait_until_serving(settings: Settings, placements: dict[str, list[str]], timeout_s: float = 300.0) -> None:
    """Poll ``/v2/health/ready`` and ``/v2/models`` until every ``model@tier`` of ``placements`` is served."""
    base = f"http://{settings.host}:{settings.port}"
    state = {"last": "no answer yet"}
    headers = _admin_headers(settings)

    def serving() -> bool:
        try:
            ready = client.get(f"{base}/v2/health/ready")
            if ready.status_code != 200:
                state["last"] = f"ready answered {ready.status_code}"
                return False
            seen = {m["name"]: set(m["tiers"]) for m in client.get(f"{base}/v2/models", headers=headers).json()["models"]}
        except httpx.HTTPError as exc:
            state["last"] = type(exc).__name__
            return False
        missing = [f"{m}@{t}" for m, ts in placements.items() for t in ts if t not in seen.get(m, set())]
        state["last"] = f"gateway does not see {', '.join(missing[:4])} yet"
        return not missing

    with httpx.Client(timeout=5.0) as client:
        try:
            poll_until(serving, timeout_s=timeout_s, what=f"the platform at {base}")
        except PollTimeout:
            raise NotReady(
                f"the platform did not become ready at {base} within {timeout_s:.0f} s ({state['last']})"
            ) from None
