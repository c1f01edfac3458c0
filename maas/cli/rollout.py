"""``maas deploy NAME[:V] --tiers a,b [--canary PCT] [--auto-rollback]`` and ``maas rollout
status|history|promote|undo|abort NAME``: thin over ``maas.serving.rollout_control`` (Serve) and
``maas.registry.rollouts`` (the database). Nothing to act on, a bad tier, version or percent: exit 2, nothing
changed."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail, settings_from
from maas.errors import Conflict
from maas.settings import Settings
from maas.tables import Col, View, check_output, render, text

__all__ = ["app", "run_deploy", "status_rows", "status_view", "history_view"]

app = typer.Typer(help="Rollouts: status, history, promote, undo, abort.", no_args_is_help=True)
ConfigOpt = typer.Option(None, "--config", "-c", help="Settings file (YAML); env MAAS_* and flags override it.")
OutputOpt = typer.Option("table", "-o", "--output", help="table (fitted to the width), wide, json or csv.")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _conflicts_exit_2(fn: Callable):
    try:
        return fn()
    except Conflict as exc:
        raise fail(exc.message, EXIT_USAGE) from None


def run_deploy(
    settings: Settings,
    ref: str,
    tiers: list[str],
    canary: int | None,
    auto_rollback: bool,
    attached: Callable[[Settings], object],
) -> None:
    """Validate (exit 2, nothing written), then deploy on the running platform and say what is routed."""
    from maas.registry import open_registry
    from maas.registry.rollout_state import check_percent
    from maas.registry.rollouts import parse_model_ref
    from maas.tiers import load_topology

    with errors_to_exit():
        name, version = parse_model_ref(ref)
        check_percent(canary)
        known = load_topology(settings.topology_path).tier_names
        bad = [t for t in tiers if t not in known]
        if bad:
            raise fail(f"--tiers: {bad[0]!r} is not a tier (allowed: {', '.join(known)})", EXIT_USAGE)
        registry = open_registry(settings)
        version = registry.show(name, version).version  # ModelNotFound naming the registered versions
    attached(settings)
    from maas.serving.rollout_control import deploy_versions

    with errors_to_exit():
        states = _conflicts_exit_2(
            lambda: deploy_versions(
                settings, {name: (version, tiers)}, percent=canary, auto_rollback=auto_rollback, progress=_say
            )
        )
    state = states[name]
    if canary is None:
        _say(f"deployed {name}:{version} on {', '.join(tiers)} (stable, all traffic)")
    else:
        ready = state is not None and state.canary_active
        _say(
            f"canary {name}:{version} on {', '.join(tiers)} at {canary}%"
            + (" (ready: taking traffic)" if ready else " (not ready yet: no traffic)")
            + (", auto-rollback on" if auto_rollback else "")
        )


def _store(settings: Settings):
    from maas.registry import open_registry
    from maas.registry.rollouts import RolloutStore
    from maas.tiers import load_topology

    registry = open_registry(settings)
    return RolloutStore(registry.engine, tier_names=load_topology(settings.topology_path).tier_names, registry=registry)


def _utc(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_rows(state, uplinks: list[dict]) -> list[dict]:
    """One row per (role, version, tier): ready / deploying / uplinking, with the uplink's figures."""
    rows = []
    by_key = {(u["version"], u["tier"]): u for u in uplinks}
    for role, track in (("stable", state.stable), ("canary", state.canary)):
        if track is None:
            continue
        for tier in track.tiers:
            up = by_key.get((track.version, tier))
            st = "ready" if tier in track.ready else "deploying"
            if st == "ready" and up is not None and up["state"] != "ready":
                st = "uplinking" if up["state"] == "uplinking" else up["state"]
            row = {"role": role, "version": track.version, "tier": tier, "state": st}
            if role == "canary":
                row["percent"] = state.percent
            if up is not None:
                row.update(
                    bytes_sent=up["bytes_sent"],
                    bytes_total=up["bytes_total"],
                    windows_used=up["windows_used_count"],
                    next_window_start_s=up["next_window_start_s"],
                    next_window_end_s=up["next_window_end_s"],
                    eta_s=up["eta_s"],
                )
            rows.append(row)
    return rows


def _output(output: str, as_json: bool) -> str:
    message = check_output(output)
    if message:
        raise fail(message, EXIT_USAGE)
    return "json" if as_json else output


def _summary(name: str, state) -> str:
    return (
        f"{name}: "
        + (f"stable {state.stable.version}" if state.stable else "no stable version")
        + (f", canary {state.canary.version} at {state.percent}%" if state.canary and state.percent else "")
        + (f", takeover by {state.canary.version} in progress" if state.canary and not state.percent else "")
        + (" (auto-rollback)" if state.auto_rollback else "")
    )


def status_view(name: str, state, rows: list[dict]) -> View:
    """Role, version, tier and state always; then the canary's percent and the uplink (bytes sent of total,
    windows used, ETA, next window) as the width allows."""
    cols = [
        Col("role", "role", fmt=text, left=True),
        Col("version", "version"),
        Col("tier", "tier", fmt=text, left=True),
        Col("state", "state", fmt=text, left=True),
        Col("canary", "percent", unit="%", priority=1),
        Col("sent", "bytes_sent", unit="bytes", priority=1),
        Col("total", "bytes_total", unit="bytes", priority=1),
        Col("windows", "windows_used", unit="used", priority=3),
        Col("ETA", "eta_s", fmt=_utc, left=True, priority=2),
        Col("next window", "next_window_start_s", unit="start", fmt=_utc, left=True, priority=4),
        Col("next window", "next_window_end_s", unit="end", fmt=_utc, left=True, priority=5),
    ]
    return View(_summary(name, state), cols, rows)


def _history_row(e) -> dict:
    s = e.state
    canary = None
    if s.canary is not None:
        canary = f"v{s.canary.version} " + (f"{s.percent}%" if s.percent else "(takeover)")
    return {"seq": e.seq, "at_s": e.at_s, "action": e.action,
            "stable": f"v{s.stable.version} on {','.join(s.stable.tiers)}" if s.stable else "nothing stable",
            "canary": canary, "reason": e.reason}


def history_view(entries) -> View:
    """Sequence, time and action always; then the stable version and the canary it left, and why."""
    cols = [
        Col("seq", "seq"),
        Col("at", "at_s", fmt=_utc, left=True),
        Col("action", "action", fmt=text, left=True),
        Col("stable", "stable", fmt=text, left=True, priority=1),
        Col("canary", "canary", fmt=text, left=True, priority=1),
        Col("reason", "reason", fmt=text, left=True, wrap=True, priority=2),
    ]
    return View(None, cols, [_history_row(e) for e in entries])


@app.command()
def status(
    name: str = typer.Argument(..., help="Model name."),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts (the same as -o json)."),
    output: str = OutputOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Per tier: ready / deploying / uplinking, bytes sent/total, windows used, next window and ETA."""
    from maas.registry.uplink import UplinkTracker
    from maas.tiers import load_topology

    output = _output(output, as_json)
    settings = settings_from(config)
    with errors_to_exit():
        store = _store(settings)
        state = store.state(name)
        if state is None:
            store.registry.show(name)  # 404 -> exit 2 for an unknown model
            raise fail(f"{name}: no rollout (deploy it with `maas deploy {name} --tiers ...`)", EXIT_USAGE)
        topology = load_topology(settings.topology_path)
        tracker = UplinkTracker(store.engine, settings.data_dir, topology, time_scale=settings.uplink_time_scale)
        uplinks = [u.to_dict() for u in tracker.rollout_status(name)] if tracker.tiers else []
    rows = status_rows(state, uplinks)
    if output == "json":
        print(json.dumps({"model": name, "state": state.to_dict(), "tiers": rows, "uplinks": uplinks}, indent=2))
        return
    render(status_view(name, state, rows), output)


@app.command()
def history(
    name: str = typer.Argument(..., help="Model name."),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts (the same as -o json)."),
    output: str = OutputOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Every rollout action on NAME, oldest first, with the state it left and why."""
    output = _output(output, as_json)
    settings = settings_from(config)
    with errors_to_exit():
        entries = _store(settings).history(name)
    if not entries:
        raise fail(f"{name}: no rollout history", EXIT_USAGE)
    if output == "json":
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    render(history_view(entries), output)


def _act(action: str, name: str, config: Path | None) -> None:
    settings = settings_from(config)
    with errors_to_exit():
        store = _store(settings)
        _conflicts_exit_2(lambda: _dry_run(store, action, name))
    from maas.cli.platform import _attached

    platform = _attached(settings)  # noqa: F841 (connects this process to the cluster)
    from maas.serving import rollout_control

    with errors_to_exit():
        state = _conflicts_exit_2(lambda: getattr(rollout_control, action)(settings, name, _say))
    stable = "nothing" if state is None or state.stable is None else f"version {state.stable.version}"
    _say(
        f"{action}: {name} now serves {stable}"
        + (f" (version {state.canary.version} being deployed)" if state and state.canary and not state.percent else "")
    )


def _dry_run(store, action: str, name: str) -> None:
    """Check there is something to act on before touching the cluster (Conflict, nothing written)."""
    from maas.registry import rollout_state as rs

    state = store.state(name)
    if state is None:
        store.registry.show(name)
    if action == "promote":
        rs.promote(state, name)
    elif action == "abort":
        rs.abort(state, name)
    else:
        rs.undo(state, name, [h.state for h in store.history(name)])


@app.command()
def promote(name: str = typer.Argument(..., help="Model name."), config: Path | None = ConfigOpt) -> None:
    """The canary becomes the stable version (all traffic); the previous one is kept for undo."""
    _act("promote", name, config)


@app.command()
def undo(name: str = typer.Argument(..., help="Model name."), config: Path | None = ConfigOpt) -> None:
    """Back to the version and tiers that served before the current stable one."""
    _act("undo", name, config)


@app.command()
def abort(name: str = typer.Argument(..., help="Model name."), config: Path | None = ConfigOpt) -> None:
    """Drop the canary; the stable version keeps all traffic."""
    _act("abort", name, config)
