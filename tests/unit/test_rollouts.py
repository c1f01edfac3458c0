"""Rollouts without Ray: transitions, readiness gating, split shares, history, undo/promote/abort, auto-rollback
decisions, refusals that leave the database unchanged, the gateway's view of the routing revision, and the
migration against the tables. Virtual clocks throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from maas.api.versions import VersionRouter
from maas.clock import ManualClock
from maas.errors import Conflict, InvalidInput, ModelNotFound, NotReady
from maas.models import Catalog
from maas.registry import rollout_state as rs
from maas.registry.autorollback import WindowStats, judge
from maas.registry.rollout_tables import RolloutEvent, RolloutRow, RoutingRevision
from maas.registry.rollouts import RolloutStore, parse_model_ref
from maas.store import make_engine, migrate, session_scope
from tests.unit.registry_support import open_test_registry, sklearn_onnx

TIERS = ["base-station", "optical-access", "ground", "satellite"]
T0 = 1_800_000_000.0


@pytest.fixture
def env(tmp_path):
    registry = open_test_registry(f"sqlite:///{tmp_path / 'maas.db'}", tmp_path / "data")
    model = sklearn_onnx(tmp_path / "m.onnx", "tree")
    registry.push(model, "churn")
    registry.push(sklearn_onnx(tmp_path / "m2.onnx", "logistic"), "churn")
    clock = ManualClock(T0)
    store = RolloutStore(registry.engine, clock, tier_names=TIERS, registry=registry)
    return store, registry, clock


def dump(store: RolloutStore):
    with session_scope(store.engine, write=False) as s:
        rows = [(r.model, r.stable_version, r.stable_tiers, r.stable_ready, r.canary_version, r.canary_percent)
                for r in s.scalars(select(RolloutRow))]
        events = [(e.model, e.seq, e.action, e.state) for e in s.scalars(select(RolloutEvent))]
        rev = s.scalar(select(RoutingRevision.revision))
    return rows, events, rev


def stable_v1(store):
    store.deploy("churn", 1, ["ground", "base-station"])
    return store.mark_ready("churn", 1, ["ground", "base-station"])


def test_a_takeover_routes_nothing_until_ready_then_replaces_stable(env):
    store, registry, _ = env
    state = store.deploy("churn", 1, ["ground", "base-station"])
    assert state.stable is None and state.canary.version == 1 and state.percent is None
    assert rs.routes(state, lambda v, t: True) == [rs.Route(1, 0, ())]
    state = store.mark_ready("churn", 1, ["ground"])
    assert state.stable is None  # not ready on base-station yet
    state = store.mark_ready("churn", 1, ["base-station"])
    assert state.stable == rs.Track(1, ("ground", "base-station"), ("ground", "base-station")) and state.canary is None
    assert rs.routes(state, lambda v, t: True) == [rs.Route(1, 100, ("ground", "base-station"))]
    assert registry.show("churn", 1).state == "serving"


def test_canary_gets_its_share_only_once_ready_on_every_named_tier(env):
    store, _, clock = env
    stable_v1(store)
    state = store.deploy("churn", 2, ["ground", "base-station"], percent=20)
    assert not state.canary_active
    assert [r.weight for r in rs.routes(state, lambda v, t: True)] == [100, 0]
    clock.advance(5)
    state = store.mark_ready("churn", 2, ["ground"])
    assert [r.weight for r in rs.routes(state, lambda v, t: True)] == [100, 0]
    clock.advance(5)
    state = store.mark_ready("churn", 2, ["base-station"])
    assert state.canary_active and state.canary_since_s == T0 + 10
    assert rs.routes(state, lambda v, t: True) == [
        rs.Route(1, 80, ("ground", "base-station")), rs.Route(2, 20, ("ground", "base-station"))]


def test_promote_undo_abort_and_history(env):
    store, registry, _ = env
    stable_v1(store)
    store.deploy("churn", 2, ["ground", "base-station"], percent=20)
    store.mark_ready("churn", 2, ["ground", "base-station"])
    state = store.promote("churn")
    assert state.stable.version == 2 and state.canary is None
    assert store.retained("churn") == {1, 2}  # the previous version is kept deployable
    assert registry.show("churn", 1).state == "serving"  # so it cannot be removed
    state = store.undo("churn")
    assert state.stable.version == 2 and state.canary.version == 1 and state.percent is None  # staged takeover
    assert state.canary.ready == ()
    state = store.mark_ready("churn", 1, ["ground", "base-station"])
    assert state.stable.version == 1 and state.canary is None
    state = store.undo("churn")  # undo again: back to 2 (like `cd -`)
    assert state.canary.version == 2
    state = store.abort("churn")
    assert state.stable.version == 1 and state.canary is None
    actions = [e.action for e in store.history("churn")]
    assert actions == ["deploy", "ready", "canary", "ready", "promote", "undo", "ready", "undo", "abort"]


@pytest.mark.parametrize(
    ("act", "fragment"),
    [
        (lambda s: s.promote("churn"), "no canary to promote"),
        (lambda s: s.abort("churn"), "no canary or deployment in progress to abort"),
        (lambda s: s.undo("churn"), "nothing to undo"),
        (lambda s: s.deploy("churn", 2, ["ground"], percent=0), "allowed: an integer from 1 to 99"),
        (lambda s: s.deploy("churn", 2, ["ground"], percent=100), "allowed: an integer from 1 to 99"),
        (lambda s: s.deploy("churn", 2, ["mars"], percent=10), "'mars' is not a tier"),
        (lambda s: s.deploy("churn", 9, ["ground"]), "has no version 9"),
        (lambda s: s.deploy("nope", 1, ["ground"]), "unknown model"),
        (lambda s: s.deploy("churn", 1, ["ground"], percent=10), "is the stable version"),
        (lambda s: s.deploy("churn", 2, ["ground"], auto_rollback=True), "needs --canary"),
        (lambda s: s.deploy("churn", 2, []), "one or more distinct tier names"),
    ],
)
def test_bad_input_and_nothing_to_act_on_leave_the_database_unchanged(env, act, fragment):
    store, _, _ = env
    stable_v1(store)
    before = dump(store)
    with pytest.raises((Conflict, InvalidInput, ModelNotFound)) as info:
        act(store)
    assert fragment in info.value.message
    assert dump(store) == before
    assert info.value.status in (400, 404, 409)


def test_promote_refuses_a_canary_not_ready_everywhere(env):
    store, _, _ = env
    stable_v1(store)
    store.deploy("churn", 2, ["ground", "base-station"], percent=20)
    store.mark_ready("churn", 2, ["ground"])
    before = dump(store)
    with pytest.raises(Conflict, match="not ready on base-station"):
        store.promote("churn")
    assert dump(store) == before


def test_every_change_bumps_the_revision_and_the_router_sees_it_within_check_s(env):
    store, registry, _ = env
    now = [0.0]
    loads = []

    def load():
        rev, routes = store.routing_table()
        loads.append(rev)
        return rev, routes, registry.catalog()

    router = VersionRouter(revision=store.revision, load=load, check_s=0.1, monotonic=lambda: now[0])
    assert router.choose("churn", None, None) is None  # no rollout yet: the caller serves it as before
    stable_v1(store)
    now[0] += 0.05
    assert router.refresh() is False  # checked less than check_s ago
    now[0] += 0.06
    assert router.refresh() is True and router.revision == store.revision()
    choice = router.choose("churn", None, None)
    assert choice.version == 1 and choice.target == "churn:1" and choice.tiers == ["ground", "base-station"]
    assert choice.manifest.version == "1"
    now[0] += 1
    assert router.refresh() is False and len(loads) == 2  # unchanged revision: no reload


def test_split_shares_follow_the_weights_and_the_seed(env):
    store, registry, _ = env
    stable_v1(store)
    store.deploy("churn", 2, ["ground", "base-station"], percent=20)
    store.mark_ready("churn", 2, ["ground", "base-station"])

    def router(seed):
        return VersionRouter(revision=store.revision,
                             load=lambda: (*store.routing_table(), registry.catalog()), seed=seed)

    draws = [router(3).choose("churn", None, None).version for _ in range(1)]
    a, b = router(3), router(3)
    seq_a = [a.choose("churn", None, None).version for _ in range(4000)]
    seq_b = [b.choose("churn", None, None).version for _ in range(4000)]
    assert seq_a == seq_b and draws[0] == seq_a[0]
    share = seq_a.count(2) / len(seq_a)
    assert 0.18 < share < 0.22
    assert a.choose("churn", "1", None).version == 1  # the URL's version wins
    with pytest.raises(ModelNotFound):
        a.choose("churn", "7", None)


def test_satellite_keeps_the_previous_version_until_the_uplink_arrives(env):
    store, registry, _ = env
    store.deploy("churn", 1, ["ground", "satellite"])
    store.mark_ready("churn", 1, ["ground", "satellite"])
    store.deploy("churn", 2, ["ground", "satellite"])
    store.mark_ready("churn", 2, ["ground", "satellite"])
    arrived = {"ok": False}
    uplinked = lambda m, v, t: t != "satellite" or v == 1 or arrived["ok"]  # noqa: E731
    required = []

    def require(name, version, tier):
        required.append((name, version, tier))
        raise NotReady(f"{name} version {version} is not on the {tier} tier yet: 10% uplinked")

    router = VersionRouter(revision=store.revision, require=require,
                           load=lambda: (*store.routing_table(uplinked), registry.catalog()))
    assert router.choose("churn", None, None).tiers == ["ground"]  # v2 is not ready on the satellite
    assert router.choose("churn", None, "satellite").version == 1  # the satellite serves the previous one
    with pytest.raises(NotReady, match="10% uplinked"):
        router.choose("churn", "2", "satellite")
    assert required == [("churn", 2, "satellite")]
    arrived["ok"] = True
    store.bump()
    router.refresh(force=True)
    assert router.choose("churn", None, "satellite").version == 2


def test_auto_rollback_decisions():
    ok = WindowStats(requests=100, errors=1, with_deadline=100, deadline_met=95)
    kw = dict(error_margin=0.05, attainment_margin=0.10, min_requests=20)
    assert judge(ok, WindowStats(40, 1, 40, 38), **kw) is None
    assert judge(ok, WindowStats(19, 19, 0, 0), **kw) is None  # too few requests to judge
    reason = judge(ok, WindowStats(40, 8, 40, 38), **kw, window_s=60)
    assert reason.startswith("error rate 20.0% (8/40) vs stable 1.0% (1/100) over the last 60 s")
    reason = judge(ok, WindowStats(40, 0, 40, 30), **kw)
    assert reason.startswith("deadline attainment 75.0% (30/40) vs stable 95.0%")
    assert judge(ok, WindowStats(40, 0, 0, 0), **kw) is None  # no deadlines: only errors count


def test_rollback_applies_once_and_history_says_why(env):
    store, _, _ = env
    stable_v1(store)
    store.deploy("churn", 2, ["ground", "base-station"], percent=20, auto_rollback=True)
    store.mark_ready("churn", 2, ["ground", "base-station"])
    state = store.rollback("churn", 2, "error rate 20.0% vs stable 1.0%")
    assert state.canary is None and state.stable.version == 1
    before = dump(store)
    store.rollback("churn", 2, "again")  # another gateway judged the same canary: nothing changes
    assert dump(store) == before
    last = store.history("churn")[-1]
    assert last.action == "rollback" and "error rate 20.0%" in last.reason


def test_parse_model_ref():
    assert parse_model_ref("churn") == ("churn", None)
    assert parse_model_ref("churn:3") == ("churn", 3)
    with pytest.raises(InvalidInput, match="NAME:V"):
        parse_model_ref("churn:x")


def test_migration_matches_the_tables(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    inspector = sa.inspect(engine)
    for table in (RolloutRow.__table__, RolloutEvent.__table__, RoutingRevision.__table__):
        cols = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
        assert cols == {c.name: c.nullable for c in table.columns}, table.name


def test_routes_of_an_empty_catalog_router():
    router = VersionRouter(revision=lambda: 0, load=lambda: (0, {}, Catalog(Path("."), [])))
    assert router.deployed() == {} and router.choose("x", None, None) is None
