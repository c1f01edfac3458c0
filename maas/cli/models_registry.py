"""Output of the registry commands of ``maas models`` (push, list, show, rm, register-built).

Errors: bad input (InvalidInput, Conflict, PayloadTooLarge, ModelNotFound, Unsupported) exits 2 with the message,
which names the field and the allowed values; an unavailable database exits 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import typer

from maas.errors import MaasError, NotReady

__all__ = ["run_push", "run_remove", "run_register_built", "list_registry", "show_registry", "format_version"]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except MaasError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1 if isinstance(exc, NotReady) else 2) from None


def _size(size_bytes: int) -> str:
    if size_bytes >= 1e6:
        return f"{size_bytes / 1e6:.1f} MB"
    return f"{size_bytes / 1e3:.1f} kB" if size_bytes >= 1e3 else f"{size_bytes} B"


def _signature(specs) -> str:
    return ", ".join(f"{s.name} {s.datatype}{s.shape}" for s in specs)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def format_version(info, out: Callable[[str], None] = print) -> None:
    """Signature, variants (size, sha256, host ms p50 at batch 1/4/16, agreement with fp32), state."""
    m = info.manifest
    tiers = f" on {', '.join(info.serving_tiers)}" if info.serving_tiers else ""
    out(f"{info.name}:{info.version}  {info.state}{tiers}  ({m.task})  {info.description or ''}".rstrip())
    out(f"  in:  {_signature(m.inputs)}" + ("  [text, tokenised by the platform]" if m.preprocessing else ""))
    out(f"  out: {_signature(m.outputs)}")
    for name, variant in info.variants.items():
        timing = "  ".join(f"b{batch} {_ms(ms)}" for batch, ms in variant.host_ms_p50.items())
        out(f"  {name:<5} {_size(variant.size_bytes):>9}  sha256 {variant.sha256[:12]}  host ms p50: {timing}")
        if variant.agreement:
            figures = ", ".join(f"{k}={v:.4g}" for k, v in variant.agreement.items())
            out(f"        vs fp32 ({info.agreement_inputs} inputs, {info.quantisation} int8): {figures}")


def run_push(registry, path: Path, name: str, version, description, calibration) -> None:
    with _errors():
        result = registry.push(path, name, version=version, description=description, calibration=calibration)
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
    if not infos:
        print("no models registered (maas models push PATH.onnx --name NAME, or maas models register-built)")
    for info in infos:
        format_version(info)


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
