"""Values the limit authority and its replica fronts exchange: a tenant's limits, an admission answer, a lease,
the usage of the current UTC day and month, and the UTC calendar arithmetic they share.

All plain, picklable dataclasses (the serving layer passes them to and from one Ray actor).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

from maas.errors import InvalidInput, QuotaExceeded

__all__ = [
    "REASONS",
    "TenantLimits",
    "Admission",
    "Lease",
    "PeriodUsage",
    "day_key",
    "month_key",
    "next_day_start_s",
    "next_month_start_s",
    "format_duration",
]

REASONS = ("rate_limit", "quota", "energy_budget", "carbon_budget", "concurrency")

# Upper bounds beyond which a limit is a typo, not a business decision (the refusal names field and range); the
# same as maas.metering.tenants.LIMIT_RANGES, so every stored tenant's limits are accepted here. 0 blocks.
_MAX = {
    "rpm": 1e6,
    "burst": 1e6,
    "requests_per_day": 1e10,
    "requests_per_month": 1e11,
    "max_concurrent": 1e5,
    "energy_j_per_day": 1e12,
    "carbon_g_per_month": 1e12,
}
_INTEGER = {"burst", "requests_per_day", "requests_per_month", "max_concurrent"}


@dataclass(frozen=True)
class TenantLimits:
    """One tenant's limits; ``None`` means unlimited, 0 refuses everything (a suspended tenant). ``burst`` (the
    bucket size) defaults to one second of ``rpm``."""

    rpm: float | None = None
    burst: int | None = None
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    max_concurrent: int | None = None
    energy_j_per_day: float | None = None
    carbon_g_per_month: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            low = 1 if f.name == "burst" else 0
            kind = "an integer" if f.name in _INTEGER else "a number"
            allowed = f"None (unlimited) or {kind} in [{low}, {_MAX[f.name]:g}]"
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"limits.{f.name}: {value!r} is not a number (allowed: {allowed})")
            if f.name in _INTEGER and value != int(value):
                raise InvalidInput(f"limits.{f.name}: {value!r} is not an integer (allowed: {allowed})")
            if not math.isfinite(value) or value < low or value > _MAX[f.name]:
                raise InvalidInput(f"limits.{f.name}: {value!r} is out of range (allowed: {allowed})")
        if self.burst is not None and self.rpm is None:
            raise InvalidInput("limits.burst: set without rpm (allowed: burst only together with rpm)")

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> TenantLimits:
        """From a dict (a tenant row, a JSON body); unknown names are refused, naming them and the allowed ones."""
        values = dict(values or {})
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise InvalidInput(f"limits.{unknown[0]}: unknown limit (allowed: {', '.join(names)})")
        return cls(**values)

    @classmethod
    def of(cls, source: Any) -> TenantLimits:
        """From any object with the seven limit attributes (``maas.metering.tenants.Limits``, a tenant row)."""
        return cls(**{f.name: getattr(source, f.name, None) for f in fields(cls)})

    @property
    def bucket_size(self) -> float | None:
        if self.rpm is None:
            return None
        if self.rpm == 0:
            return 0.0
        return float(self.burst) if self.burst is not None else max(1.0, math.ceil(self.rpm / 60.0))

    @property
    def rate_per_s(self) -> float | None:
        return None if self.rpm is None else self.rpm / 60.0


@dataclass(frozen=True)
class Admission:
    """The answer to "may this request run now?".

    ``retry_after_s``/``reset_at_s`` say when the refusing limit frees up. ``limit_requests``,
    ``remaining_requests`` and ``reset_requests_s`` feed the ``x-ratelimit-*-requests`` headers (the rpm bucket
    when set, else the daily, else the monthly quota). ``energy_pressure`` is the fraction of today's joule budget
    used (0 without a budget): the router may shift work to lower-energy tiers as it nears 1.
    """

    ok: bool
    reason: str | None = None
    retry_after_s: float | None = None
    reset_at_s: float | None = None
    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    energy_pressure: float = 0.0

    def headers(self) -> dict[str, str]:
        """``x-ratelimit-*-requests`` (reset as a duration such as ``1.5s``), plus ``retry-after`` when refused."""
        out: dict[str, str] = {}
        if self.limit_requests is not None:
            out["x-ratelimit-limit-requests"] = str(self.limit_requests)
            out["x-ratelimit-remaining-requests"] = str(max(0, self.remaining_requests or 0))
            out["x-ratelimit-reset-requests"] = format_duration(self.reset_requests_s or 0.0)
        if not self.ok and self.retry_after_s is not None:
            out["retry-after"] = str(max(1, math.ceil(self.retry_after_s)))
        return out

    def error(self) -> QuotaExceeded:
        """The 429 to raise for a refusal."""
        wait = "" if self.retry_after_s is None else f"; retry after {format_duration(self.retry_after_s)}"
        return QuotaExceeded(f"{self.reason}: tenant limit reached{wait}", self.reason or "quota", self.retry_after_s)

    def raise_if_refused(self) -> Admission:
        if not self.ok:
            raise self.error()
        return self


@dataclass(frozen=True)
class Lease:
    """Admissions granted to one replica in a batch: ``tokens`` requests it may admit until ``expires_at_s``
    without asking again. Every token already counts against the bucket, the day and the month; unused ones are
    given back with the next lease request (an unreturned, expired lease counts as used: never over-admits).
    ``slots`` is the concurrency the replica may use (None: unlimited). A refusal is a lease of 0 tokens whose
    ``admission`` says why and until when."""

    lease_id: int
    tokens: int
    expires_at_s: float
    admission: Admission
    slots: int | None = None


@dataclass
class PeriodUsage:
    """A tenant's admitted requests and energy of one UTC day, requests and carbon of one UTC month."""

    day: str
    month: str
    day_requests: int = 0
    day_energy_j: float = 0.0
    month_requests: int = 0
    month_carbon_g: float = 0.0


def _utc(now_s: float) -> datetime:
    return datetime.fromtimestamp(now_s, tz=timezone.utc)


def day_key(now_s: float) -> str:
    """``YYYY-MM-DD`` of the UTC day holding ``now_s``."""
    return _day_of(math.floor(now_s / 86400.0))


def month_key(now_s: float) -> str:
    """``YYYY-MM`` of the UTC month holding ``now_s``."""
    return _day_of(math.floor(now_s / 86400.0))[:7]


@functools.lru_cache(maxsize=64)
def _day_of(day_number: int) -> str:  # every usage record asks: cached per UTC day (a day is 86,400 s in UTC)
    return _utc(day_number * 86400.0).strftime("%Y-%m-%d")


def next_day_start_s(now_s: float) -> float:
    """The next UTC midnight after ``now_s``."""
    t = _utc(now_s)
    start = datetime(t.year, t.month, t.day, tzinfo=timezone.utc).timestamp()
    return start + 86400.0


def next_month_start_s(now_s: float) -> float:
    """00:00 UTC on the first day of the month after ``now_s``'s."""
    t = _utc(now_s)
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()


def format_duration(seconds: float) -> str:
    """OpenAI-style reset duration: ``250ms``, ``1.5s``, ``6m0s``, ``3h12m0s``."""
    seconds = max(0.0, seconds)
    if seconds < 1.0:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60.0:
        return f"{seconds:.3g}s"
    whole = int(math.ceil(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s"
