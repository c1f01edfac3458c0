"""``maas models``: list, show, verify and build the reference models of the catalog.

Mount with ``app.add_typer(models_cli.app, name="models")``. Exit codes: 0 ok, 1 a check failed,
2 bad input (unknown model, broken manifest: file/field/allowed named).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from maas.errors import ConfigError, ModelNotFound

__all__ = ["app"]

app = typer.Typer(
    help="Reference models: catalog, manifests, artifact checks, build.", add_completion=False, no_args_is_help=True
)

ModelsDirOpt = Annotated[
    Path | None, typer.Option("--models-dir", help="built models directory (default: settings models_dir)")
]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table or json")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _models_dir(models_dir: Path | None) -> Path:
    if models_dir is not None:
        return models_dir
    from maas.settings import load_settings

    try:
        return load_settings(None).models_dir
    except ConfigError as exc:
        raise _fail(exc.message) from None


def _catalog(models_dir: Path | None):
    from maas.models import load_catalog

    try:
        return load_catalog(_models_dir(models_dir))
    except ConfigError as exc:
        raise _fail(exc.message) from None


def _check_output(output: str) -> None:
    if output not in ("table", "json"):
        raise _fail(f"-o/--output: unknown format {output!r} (allowed: table, json)")


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "?"
    return f"{size_bytes / 1e6:.1f} MB" if size_bytes >= 1e6 else f"{size_bytes / 1e3:.1f} kB"


def _signature(specs) -> str:
    return ", ".join(f"{s.name} {s.datatype}{s.shape}" for s in specs)


@app.command("list")
def list_models(models_dir: ModelsDirOpt = None, output: OutputOpt = "table") -> None:
    """Every built model: signature, variants with size, host ms p50 and the headline quality figure."""
    _check_output(output)
    catalog = _catalog(models_dir)
    if output == "json":
        print(json.dumps([m.model_dump(mode="json") for m in catalog.manifests()], indent=2))
        return
    for m in catalog.manifests():
        print(f"{m.name} v{m.version}  ({m.task})")
        print(f"  in:  {_signature(m.inputs)}" + ("  [text, tokenised by the platform]" if m.preprocessing else ""))
        print(f"  out: {_signature(m.outputs)}")
        for variant, spec in m.variants.items():
            host_ms = m.profile.get(variant, {}).get("host_ms_p50")
            timing = f"{host_ms:.3f} ms p50 (batch 1, 1 thread)" if host_ms is not None else "not profiled"
            agreement = ", ".join(f"{k}={v:.4g}" for k, v in spec.agreement.items())
            print(
                f"  {variant:<5} {_size(spec.size_bytes):>9}  {timing}"
                + (f"  vs fp32: {agreement}" if agreement else "")
            )
        headline = ", ".join(f"{k}={v:.4g}" for k, v in list(m.quality.items())[:2])
        print(f"  quality: {headline}")


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="model name")],
    version: Annotated[str | None, typer.Option(help="model version (default: highest)")] = None,
    models_dir: ModelsDirOpt = None,
) -> None:
    """The full manifest of one model, as JSON."""
    try:
        manifest = _catalog(models_dir).get(name, version)
    except ModelNotFound as exc:
        raise _fail(exc.message) from None
    print(json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False))


@app.command()
def verify(models_dir: ModelsDirOpt = None) -> None:
    """Check every artifact against the sha256 in its manifest; exit 1 if one differs or is missing."""
    catalog = _catalog(models_dir)
    failed = 0
    for manifest in catalog.manifests():
        try:
            manifest.verify(catalog.models_dir)
            print(f"ok      {manifest.name} v{manifest.version}")
        except ConfigError as exc:
            failed += 1
            print(f"FAILED  {manifest.name} v{manifest.version}: {exc.message}")
    if failed:
        raise typer.Exit(1)


@app.command()
def build(
    models_dir: ModelsDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if the cached build is fresh")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="build only this model (repeat)")] = None,
) -> None:
    """Build the reference models (same as ``python -m models.build``); cached unless --force."""
    try:
        from models.build import main as build_main
    except ImportError:
        raise _fail("the `models` build package is not importable: run from the repository root") from None
    argv = ["--out", str(_models_dir(models_dir))] + (["--force"] if force else [])
    for name in only or []:
        argv += ["--only", name]
    try:
        code = build_main(argv)
    except SystemExit as exc:  # argparse rejected an argument (an unknown --only name)
        code = int(exc.code or 2)
    if code:
        raise typer.Exit(code)
