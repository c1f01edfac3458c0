"""The service side of every request: who calls (API key), what they may use, whether their limits admit the
request now, and the usage record written before the response goes out. Transport-free, like the data plane.

Lifecycle (one ``ServiceGuard`` per gateway replica):
1. ``open_service(settings, clock, lease_source=None)``: the platform database (migrated), the ``Authenticator``,
   a ``LocalLimiter`` over a lease source (the serving layer's limit-authority actor, so limits hold across
   gateway replicas; an in-process ``LimitAuthority`` without a cluster), the usage journal and its ingester.
2. Per request: ``ticket = guard.admit(authorization, model)`` (401 / 403 / 429 raised with their headers),
   ``guard.tiers_for(ticket, deployed)`` (data residency), the tenant's routing defaults from ``ticket.tenant``;
   then ``guard.finish(ticket, record)`` exactly once, success or failure: one journal line (one ``write()``
   into the OS) before the response is returned, the joules settled and the concurrency slot released.
3. ``close()``: leases given back, the journal closed and ingested.

With ``settings.auth`` false every request runs as the tenant ``anonymous`` with no limits, still metered.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from maas.clock import Clock
from maas.errors import Forbidden, MaasError
from maas.metering import Authenticator, Principal, load_server_secret
from maas.metering.journal import Journal, UsageRecord
from maas.metering.limits import LimitAuthority
from maas.metering.limits_local import LeaseSource, LocalLimiter
from maas.metering.limits_types import Admission, TenantLimits
from maas.metering.usage import period_usage
from maas.metering.usage_ingest import UsageIngester, ingest
from maas.settings import Settings
from maas.store import make_engine, migrate

__all__ = ["ServiceGuard", "Ticket", "open_service", "ANONYMOUS", "open_lease_authority", "prepare_service"]

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
_NO_LIMITS = TenantLimits()


@dataclass(slots=True)
class Ticket:
    """One admitted request: its caller, the limits' answer, and the headers every response carries."""

    request_id: str
    principal: Principal | None
    tenant: str
    admission: Admission | None
    headers: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    @property
    def key_id(self) -> str | None:
        return None if self.principal is None else self.principal.key_id


class ServiceGuard:
    """Authentication, authorisation, limits and metering for the data plane (see the module docstring)."""

    def __init__(self, *, auth: bool, authenticator: Authenticator | None, limiter: LocalLimiter,
                 journal: Journal, clock: Clock, energy_shift_pressure: float,
                 ingester: UsageIngester | None = None, engine: Engine | None = None) -> None:
        self.auth = auth
        self.authenticator = authenticator
        self.limiter = limiter
        self.journal = journal
        self.ingester = ingester
        self.engine = engine
        self.clock = clock
        self.energy_shift_pressure = energy_shift_pressure
        self.observers: list = []  # callables given every usage record as it is journalled (e.g. metrics)
        self._id_prefix = uuid.uuid4().hex[:16] + "-"  # request ids: 64 random bits per replica + a counter
        self._ids = itertools.count(1)
        self._ticker_started = False
        self._limits: dict[object, TenantLimits] = {}  # the tenant's Limits value -> its TenantLimits (validated once)

    # -- per request ---------------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller (None with auth off); ``Unauthorized`` (401) with the reason."""
        if not self.auth:
            return None
        assert self.authenticator is not None
        return self.authenticator.authenticate(authorization)

    def admit(self, authorization: str | None, model: str) -> Ticket:
        """Authenticate, check the model is allowed, and ask the limits; raises 401 / 403 / 429 (with headers)."""
        principal = self.authenticate(authorization)
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        if principal is None:
            return Ticket(request_id, None, ANONYMOUS, None)
        if principal.is_admin:
            return Ticket(request_id, principal, f"admin:{principal.key_id}", None)
        tenant = principal.tenant
        assert tenant is not None
        if tenant.allowed_models is not None and model not in tenant.allowed_models:
            raise Forbidden(f"model {model!r} is not available to tenant {tenant.name!r}")
        self._ensure_lease_ticker()
        admission = self.limiter.admit(tenant.name, self._limits_of(tenant.limits))
        ticket = Ticket(request_id, principal, tenant.name, admission, admission.headers())
        if not admission.ok:
            error = admission.error()
            error.headers = ticket.headers
            self._journal_refusal(ticket, model, error)
            raise error
        return ticket

    def _ensure_lease_ticker(self) -> None:
        """Every lease period, on the request path's event loop, give back leases a quiet tenant did not use."""
        if self._ticker_started:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous caller): leases lapse as the authority allows
            return
        self._ticker_started = True
        period_s = self.limiter.lease_s

        def tick() -> None:
            try:
                self.limiter.return_idle()
            except Exception:  # the authority is away: its grace rule counts the tokens as used, never more
                log.warning("could not give back idle leases", exc_info=True)
            loop.call_later(period_s, tick)

        loop.call_later(period_s, tick)

    def _limits_of(self, limits: object) -> TenantLimits:
        got = self._limits.get(limits)
        if got is None:
            if len(self._limits) > 10_000:
                self._limits.clear()
            got = self._limits[limits] = TenantLimits.of(limits)
        return got

    def tiers_for(self, ticket: Ticket, deployed: list[str], pinned: str | None) -> list[str]:
        """The deployed tiers this caller's data may go to; a pin outside them is 403 (data residency)."""
        tenant = None if ticket.principal is None else ticket.principal.tenant
        if tenant is None or tenant.allowed_tiers is None:
            return deployed
        if pinned is not None and pinned not in tenant.allowed_tiers:
            raise Forbidden(f"tier {pinned!r} is not allowed for tenant {tenant.name!r} "
                            f"(allowed: {', '.join(tenant.allowed_tiers)})")
        return [t for t in deployed if t in tenant.allowed_tiers]

    def shift_to_energy(self, ticket: Ticket) -> bool:
        """True when the tenant's joules today are near its budget: the router then minimises energy."""
        a = ticket.admission
        return a is not None and a.energy_pressure >= self.energy_shift_pressure

    def finish(self, ticket: Ticket, record: UsageRecord) -> None:
        """Journal the request's record (before its response is returned), settle and release (once)."""
        if ticket.finished:
            return
        ticket.finished = True
        try:
            self.journal.append(record)
        finally:
            if ticket.admission is not None:
                self.limiter.settle(ticket.tenant, record.energy_j, record.carbon_g)
                self.limiter.release(ticket.tenant)
        self._notify(record)

    def _notify(self, record: UsageRecord) -> None:
        for observe in self.observers:
            try:
                observe(record)
            except Exception:  # an observer (metrics) must never fail a request
                log.exception("usage observer failed")

    def record(self, ticket: Ticket, model: str, status: int, **values: object) -> UsageRecord:
        """A usage record for ``ticket`` (time from the clock)."""
        return UsageRecord(request_id=ticket.request_id, time_s=self.clock.now_s(), tenant=ticket.tenant,
                           model=model, status=status, key_id=ticket.key_id, **values)  # type: ignore[arg-type]

    def _journal_refusal(self, ticket: Ticket, model: str, error: MaasError) -> None:
        reason = getattr(error, "reason", None)
        record = self.record(ticket, model, error.status, reason=reason)
        self.journal.append(record)
        self._notify(record)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.limiter.flush()
        finally:
            if self.ingester is not None:
                self.ingester.stop()
            else:
                self.journal.close()


def prepare_service(settings: Settings, clock: Clock, progress=lambda _msg: None) -> None:
    """What ``maas up`` does before the gateway starts: migrate the platform database and, on the first start,
    create an admin key and a ``dev`` tenant with a key (files ``admin.key`` and ``dev.key`` in the data dir)."""
    from maas.metering import bootstrap

    data_dir = Path(settings.data_dir)
    engine = make_engine(settings.effective_database_url())
    migrate(engine)
    if not settings.auth:
        progress(f"WARNING: MAAS_AUTH=false: the API serves anyone without a key, as the tenant {ANONYMOUS!r}")
        return
    done = bootstrap(engine, data_dir, clock)
    if done.created:
        progress(f"first start: admin key in {done.admin_key_path}, tenant 'dev' key in {done.dev_key_path} "
                 "(send it as 'Authorization: Bearer <key>')")
    else:
        progress(f"API keys: admin key in {data_dir / 'admin.key'}, tenant 'dev' key in {data_dir / 'dev.key'}")


def open_lease_authority(settings: Settings, clock: Clock, engine: Engine | None = None) -> LimitAuthority:
    """The one ``LimitAuthority`` (in-process, or inside the serving layer's actor), loaded with this day's and
    this month's usage so a restart does not reset quotas."""
    engine = engine or make_engine(settings.effective_database_url())
    authority = LimitAuthority(clock, lease_s=settings.limit_lease_s)
    authority.load(period_usage(engine, clock.now_s()))
    return authority


def open_service(settings: Settings, clock: Clock, lease_source: LeaseSource | None = None, *,
                 writer: str | None = None, ingest_interval_s: float | None = None) -> ServiceGuard:
    """A ``ServiceGuard`` from settings (see the module docstring); ``lease_source`` None: in-process limits."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url())
    migrate(engine)
    journal_dir = data_dir / "journal"
    try:
        ingest(engine, journal_dir)  # what a killed process left: replayed idempotently by request id
    except MaasError as exc:  # the database is busy: the ingester retries, nothing is lost
        log.warning("usage journal replay postponed: %s", exc.message)
    if lease_source is None:
        lease_source = open_lease_authority(settings, clock, engine)
    writer = writer or f"gw-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    limiter = LocalLimiter(lease_source, writer, clock, lease_s=settings.limit_lease_s)
    journal = Journal(journal_dir, writer=writer, fsync_interval_s=settings.journal_fsync_interval_s)
    journal.start_flusher()
    ingester = UsageIngester(engine, journal, interval_s=ingest_interval_s or settings.usage_ingest_interval_s)
    ingester.start()
    authenticator = None
    if settings.auth:
        authenticator = Authenticator(engine, load_server_secret(data_dir), clock,
                                      cache_ttl_s=settings.auth_cache_ttl_s)
    else:
        log.warning("MAAS_AUTH=false: every request runs as the tenant %r, without a key or limits", ANONYMOUS)
    return ServiceGuard(auth=settings.auth, authenticator=authenticator, limiter=limiter, journal=journal,
                        clock=clock, energy_shift_pressure=settings.energy_shift_pressure, ingester=ingester,
                        engine=engine)
