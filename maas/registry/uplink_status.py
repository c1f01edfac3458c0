"""What an uplink looks like from outside: ``UplinkStatus`` (rollout status, JSON), the 503 a pinned request gets
(``ModelUplinking``) and its message (``uplink_message``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from maas.errors import NotReady
from maas.tiers.world import iso_utc

__all__ = ["UplinkStatus", "ModelUplinking", "uplink_message", "UPLINKING", "READY", "REFUSED"]

UPLINKING, READY, REFUSED = "uplinking", "ready", "refused"


@dataclass(frozen=True)
class UplinkStatus:
    """One version's uplink to one satellite tier at ``at_s``. Times are on the injected clock's time line
    (with ``time_scale`` 1 they are the orbit's own times); ``windows_used`` in order, each with its bytes."""

    model: str
    version: int
    tier: str
    station: str
    state: str  # uplinking | ready | refused
    bytes_sent: int
    bytes_total: int
    sha256: str
    attempt: int
    at_s: float
    windows_used: list[dict] = field(default_factory=list)
    next_window_start_s: float | None = None
    next_window_end_s: float | None = None
    eta_s: float | None = None
    completed_at_s: float | None = None
    time_scale: float = 1.0
    rate_bps: float = 0.0
    setup_s: float = 0.0
    message: str | None = None

    @property
    def ready(self) -> bool:
        return self.state == READY

    @property
    def fraction(self) -> float:
        return self.bytes_sent / self.bytes_total if self.bytes_total else 1.0

    def to_dict(self) -> dict:
        """JSON-able, with ISO-8601 UTC twins of the times (``maas rollout status NAME -o json``)."""
        out = asdict(self)
        out["windows_used_count"] = len(self.windows_used)
        for key in ("at_s", "next_window_start_s", "next_window_end_s", "eta_s", "completed_at_s"):
            value = out[key]
            out[key.removesuffix("_s") + "_utc"] = None if value is None else iso_utc(value)
        return out


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _in(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def uplink_message(status: UplinkStatus, serving_version: int | None = None) -> str:
    """The text of the 503 for a request pinned to a version the satellite tier does not have yet."""
    s = status
    head = f"{s.model} version {s.version} is not on the {s.tier} tier yet"
    if s.state == REFUSED:
        text = f"{head}: its uplink was refused ({s.message or 'every attempt arrived corrupt'})"
    else:
        pct = 100.0 * s.fraction
        text = (
            f"{head}: {_mb(s.bytes_sent)} of {_mb(s.bytes_total)} uplinked ({pct:.0f}%) over "
            f"{len(s.windows_used)} contact window(s) from ground station {s.station}"
        )
        if s.next_window_start_s is not None and s.next_window_end_s is not None:
            now_or_next = "current" if s.next_window_start_s <= s.at_s else "next"
            text += f"; {now_or_next} window {iso_utc(s.next_window_start_s)} to {iso_utc(s.next_window_end_s)}"
        if s.eta_s is not None:
            text += f"; transfer expected complete at {iso_utc(s.eta_s)} (in {_in(max(s.eta_s - s.at_s, 0.0))})"
        else:
            text += "; no completion within the predicted windows"
    if serving_version is not None:
        text += f". The {s.tier} tier serves version {serving_version} until then"
    return text


class ModelUplinking(NotReady):
    """503: the version is still travelling to (or was refused by) the satellite tier; ``retry_after_s`` is the
    time to the expected completion (None when none is predicted)."""

    status = 503

    def __init__(self, uplink: UplinkStatus, serving_version: int | None = None) -> None:
        super().__init__(uplink_message(uplink, serving_version))
        self.uplink = uplink
        self.serving_version = serving_version
        eta = uplink.eta_s if uplink.state == UPLINKING else None
        self.retry_after_s = None if eta is None else max(eta - uplink.at_s, 0.0)
