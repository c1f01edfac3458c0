"""Routing hints: request-level V2 ``parameters`` first, then ``X-Maas-*`` headers, then the defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maas.errors import InvalidInput
from maas.placement import OBJECTIVES

__all__ = ["RoutingHints", "parse_hints"]

_HEADERS = {
    "deadline_ms": "x-maas-deadline-ms",
    "objective": "x-maas-objective",
    "site": "x-maas-site",
    "tier": "x-maas-tier",
    "strict": "x-maas-strict",
    "explain": "x-maas-explain",
}


@dataclass(frozen=True, slots=True)
class RoutingHints:
    deadline_ms: float | None
    objective: str
    site: str
    tier: str | None
    strict: bool
    explain: bool = False  # answer with the routing decision (response parameter ``decision``, a JSON string)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number of milliseconds > 0, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number of milliseconds > 0, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise InvalidInput(f"{name} must be a number of milliseconds > 0, got {value!r}")
    return number


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    raise InvalidInput(f"{name} must be true or false, got {value!r}")


def parse_hints(
    parameters: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    tiers: list[str],
    site_exists,
    default_site: str,
    default_objective: str | None = None,
    default_deadline_ms: float | None = None,
) -> RoutingHints:
    """Validate hints; unknown tiers, sites and objectives are 400s naming the allowed values. What the request
    does not say comes from the defaults (the tenant's profile), then the platform's."""

    def get(key: str) -> Any:
        if key in parameters:
            return parameters[key]
        return headers.get(_HEADERS[key])

    deadline = get("deadline_ms")
    objective = get("objective") or default_objective or "latency"
    if objective not in OBJECTIVES:
        raise InvalidInput(f"objective {objective!r} is not known (allowed: {', '.join(OBJECTIVES)})")
    site = get("site") or default_site
    if not isinstance(site, str) or not site_exists(site):
        raise InvalidInput(f"site {site!r} is not in the topology (e.g. {default_site!r}; see `maas tiers show`)")
    tier = get("tier")
    if tier is not None and tier not in tiers:
        raise InvalidInput(f"tier {tier!r} is not known (allowed: {', '.join(tiers)})")
    strict = get("strict")
    explain = get("explain")
    return RoutingHints(
        deadline_ms=default_deadline_ms if deadline is None else _number(deadline, "deadline_ms"),
        objective=objective,
        site=site,
        tier=tier,
        strict=False if strict is None else _flag(strict, "strict"),
        explain=False if explain is None else _flag(explain, "explain"),
    )
