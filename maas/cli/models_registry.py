"""Output of the registry commands of ``maas models`` (push, list, show, rm, register-built).

Errors: bad input (InvalidInput, Conflict, PayloadTooLarge, ModelNotFound, Unsupported) exits 2 with the message,
which names the field and the allowed values; an unavailable database exits 1.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import typer

from maas.errors import MaasError, NotReady
from maas.tables import Col, View, render, text, width_now

__all__ = [
    "run_push",
    "run_remove",
    "run_register_built",
    "list_registry",
    "show_registry",
    "format_version",
    "registry_view",
    "variant_columns",
]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except MaasError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1 if isinstance(exc, NotReady) else 2) from None


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "?"
    if size_bytes >= 1e6:
        return f"{size_bytes / 1e6:.1f} MB"
    return f"{size_bytes / 1e3:.1f} kB" if size_bytes >= 1e3 else f"{size_bytes} B"


def _signature(specs) -> str:
    return ", ".join(f"{s.name} {s.datatype}{s.shape}" for s in specs)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _figures(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in values.items())


def _inputs(m) -> str:
    return _signature(m.inputs) + (" (text, tokenised by the platform)" if m.preprocessing else "")


def format_version(info, out: Callable[[str], None] = print, width: int | None = None) -> None:
    """Signature, variants (size, sha256, host ms p50 at batch 1/4/16, agreement with fp32), state; each line
    wrapped at ``width`` (the terminal's) with a hanging indent, no word cut."""
    width = width or width_now()

    def say(line: str, indent: int) -> None:
        for part in textwrap.wrap(line, max(width, 40), subsequent_indent=" " * indent, break_long_words=False,
                                  break_on_hyphens=False) or [""]:
            out(part)

    m = info.manifest
    tiers = f" on {', '.join(info.serving_tiers)}" if info.serving_tiers else ""
    say(f"{info.name}:{info.version}  {info.state}{tiers}  ({m.task})  {info.description or ''}".rstrip(), 2)
    say(f"  in:  {_inputs(m)}", 7)
    say(f"  out: {_signature(m.outputs)}", 7)
    for name, variant in info.variants.items():
        timing = "  ".join(f"b{batch} {_ms(ms)}" for batch, ms in variant.host_ms_p50.items())
        say(f"  {name:<5} {_size(variant.size_bytes):>9}  sha256 {variant.sha256[:12]}  host ms p50: {timing}", 8)
        if variant.agreement:
            say(f"        vs fp32 ({info.agreement_inputs} inputs, {info.quantisation} int8): "
                f"{_figures(variant.agreement)}", 10)


def variant_columns() -> list[Col]:
    """What ``maas models list`` shows of a variant row, registry or built directory alike."""
    return [
        Col("variant", "variant", fmt=text, left=True),
        Col("size", "size_bytes", fmt=_size, priority=1),
        Col("host p50", "b1", unit="ms b1", priority=1),
        Col("host p50", "b4", unit="ms b4", priority=4),
        Col("host p50", "b16", unit="ms b16", priority=3),
        Col("vs fp32", "agreement", fmt=text, left=True, wrap=True, priority=2),
    ]


def registry_view(infos) -> View:
    """One row per (version, variant): name:version, variant and state always, then size, host ms at batch 1,
    serving tiers, task... as the width allows (``-o wide``: signatures, sha256 and description too)."""
    rows = []
    for info in infos:
        m = info.manifest
        for name, v in info.variants.items():
            rows.append({
                "model": f"{info.name}:{info.version}", "variant": name, "state": info.state,
                "tiers": ",".join(info.serving_tiers) or "-", "task": m.task, "size_bytes": v.size_bytes,
                **{f"b{batch}": ms for batch, ms in v.host_ms_p50.items()}, "agreement": _figures(v.agreement),
                "inputs": _inputs(m), "outputs": _signature(m.outputs), "sha256": v.sha256[:12],
                "description": info.description,
            })
    var = variant_columns()
    cols = [
        Col("model", "model", fmt=text, left=True),
        var[0],
        Col("state", "state", fmt=text, left=True),
        Col("tiers", "tiers", fmt=text, left=True, priority=2),
        Col("task", "task", fmt=text, left=True, priority=5),
        *var[1:],
        Col("inputs", "inputs", fmt=text, left=True, wrap=True, priority=9),
        Col("outputs", "outputs", fmt=text, left=True, wrap=True, priority=9),
        Col("sha256", "sha256", fmt=text, left=True, priority=9),
        Col("description", "description", fmt=text, left=True, wrap=True, priority=6),
    ]
    return View(None, cols, rows)


def run_push(registry, path: Path, name: str, version, description, calibration) -> None:
    from maas.cli.progress import Steps
    from maas.registry.push import PREPARE_STEPS

    with _errors(), Steps(PREPARE_STEPS + 1, f"push {name}") as step:
        result = registry.push(path, name, version=version, description=description, calibration=calibration,
                               progress=step)
    print(f"{result.message} ({result.seconds:.1f} s)")
    format_version(result.info)


def run_remove(registry, name: str, version: int) -> None:
    with _errors():
        info = registry.remove(name, version)
    print(f"removed {info.name}:{info.version}")


def run_register_built(registry, models_dir: Path) -> None:
    with _errors():
        results = registry_register_built(registry, models_dir)
    for result in results:
        print(f"{result.message} ({result.seconds:.1f} s)")


def registry_register_built(registry, models_dir: Path):
    from maas.registry import register_built

    return register_built(registry, models_dir)


def list_registry(registry, output: str) -> None:
    with _errors():
        infos = registry.list()
    if output == "json":
        print(json.dumps([_record(info) for info in infos], indent=2))
        return
    if not infos and output in ("table", "wide"):
        print("no models registered (maas models push PATH.onnx --name NAME, or maas models register-built)")
        return
    render(registry_view(infos), output)


def show_registry(registry, name: str, version: int | None) -> None:
    with _errors():
        info = registry.show(name, version)
    print(json.dumps(_record(info), indent=2, ensure_ascii=False))


def _record(info) -> dict:
    record = asdict(info)
    record["manifest"] = info.manifest.model_dump(mode="json")
    for variant in record["variants"].values():
        variant["host_ms_p50"] = {f"batch{k}": v for k, v in variant["host_ms_p50"].items()}
    return record
