"""``maas models``: the model registry (push, list, show, rm, register-built) and the built reference models.

``list`` and ``show`` read the registry (``--data-dir``, default settings ``data_dir``), or a built models
directory when ``--models-dir`` is given; ``verify`` and ``build`` work on the built directory.
Mount with ``app.add_typer(models_cli.app, name="models")``. Exit codes: 0 ok, 1 a check failed or the database
is unavailable, 2 bad input (unknown model, bad name/version/file, conflict: the field and allowed values named).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from maas.errors import ConfigError, MaasError, ModelNotFound, NotReady
from maas.tables import Col, View, render, text

__all__ = ["app", "catalog_view"]

app = typer.Typer(
    help="Model registry (push, list, show, rm) and the reference models (verify, build).",
    add_completion=False,
    no_args_is_help=True,
)

ModelsDirOpt = Annotated[
    Path | None, typer.Option("--models-dir", help="built models directory (default: settings models_dir)")
]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table (fitted to the width), wide, json or csv")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="registry data directory (default: settings data_dir)")
]


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


def _registry(data_dir: Path | None):
    from maas.registry import open_registry
    from maas.settings import load_settings

    try:
        return open_registry(load_settings(None, data_dir=data_dir))
    except MaasError as exc:
        raise _fail(exc.message, 1 if isinstance(exc, NotReady) else 2) from None


def _int_version(version: str | None, field: str) -> int | None:
    if version is None:
        return None
    if not version.isdigit() or int(version) < 1:
        raise _fail(f"{field}: {version!r} is not a version (allowed: an integer >= 1)")
    return int(version)


def _check_output(output: str) -> None:
    from maas.tables import check_output

    message = check_output(output)
    if message:
        raise _fail(message)


def catalog_view(manifests) -> View:
    """One row per (model, variant) of a built directory: name, variant, size, host ms p50 at batch 1 (1 thread),
    agreement with fp32, quality, as the width allows (``-o wide``: the signatures too)."""
    from maas.cli.models_registry import _figures, _inputs, _signature, variant_columns

    rows = []
    for m in manifests:
        for variant, spec in m.variants.items():
            rows.append({
                "model": f"{m.name} v{m.version}", "variant": variant, "task": m.task, "size_bytes": spec.size_bytes,
                "b1": m.profile.get(variant, {}).get("host_ms_p50"), "agreement": _figures(spec.agreement),
                "quality": _figures(dict(list(m.quality.items())[:2])), "inputs": _inputs(m),
                "outputs": _signature(m.outputs),
            })
    var = [c for c in variant_columns() if c.get not in ("b4", "b16")]  # a built model is profiled at batch 1
    cols = [
        Col("model", "model", fmt=text, left=True),
        var[0],
        Col("task", "task", fmt=text, left=True, priority=5),
        *var[1:],
        Col("quality", "quality", fmt=text, left=True, wrap=True, priority=6),
        Col("inputs", "inputs", fmt=text, left=True, wrap=True, priority=9),
        Col("outputs", "outputs", fmt=text, left=True, wrap=True, priority=9),
    ]
    return View(None, cols, rows)


@app.command("list")
def list_models(models_dir: ModelsDirOpt = None, output: OutputOpt = "table", data_dir: DataDirOpt = None) -> None:
    """Every registered version (or every built model with --models-dir): signature, variants, host ms, quality."""
    _check_output(output)
    if models_dir is None:
        from maas.cli.models_registry import list_registry

        list_registry(_registry(data_dir), output)
        return
    catalog = _catalog(models_dir)
    if output == "json":
        print(json.dumps([m.model_dump(mode="json") for m in catalog.manifests()], indent=2))
        return
    render(catalog_view(catalog.manifests()), output)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="model name")],
    version: Annotated[str | None, typer.Option(help="model version (default: highest)")] = None,
    models_dir: ModelsDirOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """One version as JSON: registry record and manifest (the built manifest with --models-dir)."""
    if models_dir is None:
        from maas.cli.models_registry import show_registry

        show_registry(_registry(data_dir), name, _int_version(version, "--version"))
        return
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


@app.command()
def push(
    path: Annotated[Path, typer.Argument(help="ONNX file to register")],
    name: Annotated[str, typer.Option("--name", help="model name: lower-case letters, digits, dot, underscore or hyphen; at most 64 characters")],
    version: Annotated[str | None, typer.Option("--version", help="version (default: the next integer)")] = None,
    description: Annotated[str | None, typer.Option("--description", help="what the model does")] = None,
    calibration: Annotated[
        Path | None, typer.Option("--calibration", help=".npz of inputs (one array per input): static int8")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Check, quantise (int8), measure and register an ONNX file; prints what it did."""
    from maas.cli.models_registry import run_push

    run_push(_registry(data_dir), path, name, _int_version(version, "--version"), description, calibration)


@app.command("rm")
def remove(
    target: Annotated[str, typer.Argument(metavar="NAME:VERSION", help="the version to remove, e.g. churn-clf:2")],
    data_dir: DataDirOpt = None,
) -> None:
    """Remove one registered version (refused while it is serving) and the artifacts only it used."""
    from maas.cli.models_registry import run_remove

    name, _, version = target.rpartition(":")
    if not name or not version.isdigit() or int(version) < 1:
        raise _fail(f"NAME:VERSION: {target!r} (allowed: a model name and an integer version >= 1, e.g. churn-clf:2)")
    run_remove(_registry(data_dir), name, int(version))


@app.command("register-built")
def register_built_cmd(models_dir: ModelsDirOpt = None, data_dir: DataDirOpt = None) -> None:
    """Register the built reference models (idempotent: the same bytes again change nothing)."""
    from maas.cli.models_registry import run_register_built

    run_register_built(_registry(data_dir), _models_dir(models_dir))
