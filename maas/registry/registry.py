"""The model registry: pushed and built models, their versions, variants and serving state.

Lifecycle of a version:
    1. ``push(path, name)`` (or ``register_built(models_dir)`` for the reference models) checks and measures the
       model, writes its artifacts (content-addressed, atomic) and then commits its rows in one transaction.
       Same bytes again: nothing changes and the result says so. Same name+version, other bytes: Conflict (409).
    2. ``catalog()`` serves every registered version's manifest to the gateway like a built models directory.
    3. ``set_serving(name, version, tiers)`` marks it serving (the rollout code does this); ``[]`` unmarks it.
    4. ``remove(name, version)`` deletes its rows (Conflict while serving) and artifacts no other version uses.

A failure or a crash at any step leaves the registry as it was: rows are committed last, and artifact files no
row references are invisible and removed by ``sweep()`` (which every push and remove runs first, under the
store's lock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from maas.clock import Clock, WallClock
from maas.errors import Conflict, InvalidInput, ModelNotFound
from maas.models import Catalog, ModelManifest
from maas.registry.artifacts import ArtifactStore
from maas.registry.push import prepare, push_manifest, read_model_file
from maas.registry.records import PushResult, VersionInfo, check_name, check_version
from maas.registry.tables import ModelVariant, ModelVersion, RegisteredModel
from maas.store import session_scope

__all__ = ["Registry", "Entry", "DEFAULT_MAX_MODEL_BYTES"]

DEFAULT_MAX_MODEL_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """A version ready to be stored: its blobs, variant rows and a manifest maker (called with the version)."""

    name: str
    version: int | None
    description: str | None
    fp32_sha256: str
    tokenizer_sha256: str | None
    quantisation: str
    agreement_inputs: str
    blobs: dict[str, tuple[bytes, str]]  # sha256 -> (bytes, file suffix)
    variants: list[dict]  # variant, sha256, size_bytes, host_ms_p50 {batch: ms}, agreement
    make_manifest: Callable[[int], ModelManifest]
    strict: bool = False  # True: the same version must also have the same variant and tokenizer bytes


class Registry:
    """Models in a database (``engine``, migrated) with their artifacts under ``<data_dir>/artifacts``."""

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        *,
        max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES,
        clock: Clock | None = None,
        profile_budget_s: float = 0.3,
    ) -> None:
        self.engine = engine
        self.artifacts = ArtifactStore(Path(data_dir) / "artifacts")
        self.max_model_bytes = max_model_bytes
        self.profile_budget_s = profile_budget_s
        self._clock = clock or WallClock()
        #: Test seam: called after a push's artifacts are written, before its rows are committed.
        self.after_artifacts_written: Callable[[], None] | None = None

    # -- writing ---------------------------------------------------------------------------------------------

    def push(
        self,
        path: Path,
        name: str,
        version: int | None = None,
        description: str | None = None,
        calibration: Path | None = None,
        progress: Callable[[str], None] = lambda _done: None,
    ) -> PushResult:
        """Check, quantise, measure and register the ONNX file at ``path`` as ``name`` (next version by default);
        ``progress`` hears ``push.PREPARE_STEPS`` steps, then "stored"."""
        start_s = time.perf_counter()
        check_name(name)
        check_version(version)
        if description is not None and len(description) > 1024:
            raise InvalidInput(f"description: {len(description)} characters (allowed: at most 1024)")
        data, sha256 = read_model_file(Path(path), self.max_model_bytes)
        same = self.find_same(name, version, sha256, None)
        if same is not None:
            return self.unchanged(same, start_s)
        prepared = prepare(Path(path), data, sha256, calibration, self.profile_budget_s, progress)
        rel = {"fp32": self.artifacts.relative(sha256), "int8": self.artifacts.relative(prepared.int8_sha256)}
        now_s = self._clock.now_s()
        entry = Entry(
            name=name,
            version=version,
            description=description,
            fp32_sha256=sha256,
            tokenizer_sha256=None,
            quantisation=prepared.quantisation,
            agreement_inputs=prepared.agreement_inputs,
            blobs={sha256: (data, ".onnx"), prepared.int8_sha256: (prepared.int8, ".onnx")},
            variants=[
                _variant_row(variant, sha, len(blob), prepared.profile[variant], agreement)
                for variant, sha, blob, agreement in (
                    ("fp32", sha256, data, {}),
                    ("int8", prepared.int8_sha256, prepared.int8, prepared.agreement),
                )
            ],
            make_manifest=lambda v: push_manifest(prepared, name, v, description, rel, Path(path).name, now_s),
        )
        result = self.add(entry, start_s)
        progress("stored (artifacts and database)")
        return result

    def add(self, entry: Entry, start_s: float | None = None) -> PushResult:
        """Store a prepared version: artifacts first (atomic each), then its rows in one transaction."""
        start_s = time.perf_counter() if start_s is None else start_s
        with self.artifacts.lock():
            self._sweep_locked()
            written: list[Path] = []
            try:
                for blob, suffix in entry.blobs.values():
                    sha, new = self.artifacts.put(blob, suffix)
                    if new:
                        written.append(self.artifacts.path(sha, suffix))
                if self.after_artifacts_written is not None:
                    self.after_artifacts_written()
                with session_scope(self.engine) as session:
                    same = self._find_same(session, entry.name, entry.version, entry.fp32_sha256, entry)
                    if same is not None:
                        self.artifacts.discard(written)
                        return self.unchanged(same, start_s)
                    info = self._insert(session, entry)
            except sa_exc.IntegrityError:
                self.artifacts.discard(written)
                raise Conflict(
                    f"{entry.name}: another push registered the same version at the same time; retry"
                ) from None
            except BaseException:
                self.artifacts.discard(written)
                raise
        message = f"registered {entry.name}:{info.version}"
        seconds = time.perf_counter() - start_s
        return PushResult(entry.name, info.version, True, message, info, seconds, [str(p) for p in written])

    def set_serving(self, name: str, version: int, tiers: list[str]) -> VersionInfo:
        """Mark ``name:version`` as served on ``tiers`` (state ``serving``); an empty list marks it ``ready``."""
        if any(not isinstance(t, str) or not t for t in tiers):
            raise InvalidInput(f"tiers: {tiers!r} must be tier names")
        with session_scope(self.engine) as session:
            model, row = self._get_row(session, name, version)
            row.state = "serving" if tiers else "ready"
            row.serving_tiers = sorted(set(tiers)) or None
            session.flush()
            return self._info(session, model.name, row)

    def remove(self, name: str, version: int) -> VersionInfo:
        """Delete ``name:version`` (Conflict while it is serving) and the artifacts no other version uses."""
        with self.artifacts.lock():
            with session_scope(self.engine) as session:
                model, row = self._get_row(session, name, version)
                if row.state == "serving":
                    tiers = ", ".join(row.serving_tiers or [])
                    raise Conflict(f"{name}:{version} is serving on {tiers}; roll it back before removing it")
                info = self._info(session, model.name, row)
                session.delete(row)
                session.flush()
                if not session.scalar(
                    select(func.count()).select_from(ModelVersion).where(ModelVersion.model_id == model.id)
                ):
                    session.delete(model)
            self._sweep_locked()
        return info

    def sweep(self) -> list[Path]:
        """Remove artifact files no registered version references (left by a push that was killed)."""
        with self.artifacts.lock():
            return self._sweep_locked()

    # -- reading ---------------------------------------------------------------------------------------------

    def list(self) -> list[VersionInfo]:
        """Every registered version, sorted by name then version."""
        with session_scope(self.engine, write=False) as session:
            rows = session.execute(
                select(RegisteredModel.name, ModelVersion)
                .join(ModelVersion, ModelVersion.model_id == RegisteredModel.id)
                .order_by(RegisteredModel.name, ModelVersion.version)
            ).all()
            return [self._info(session, name, row) for name, row in rows]

    def show(self, name: str, version: int | None = None) -> VersionInfo:
        """One version (the highest when ``version`` is None); ModelNotFound naming the known ones."""
        with session_scope(self.engine, write=False) as session:
            model, row = self._get_row(session, name, version)
            return self._info(session, model.name, row)

    def catalog(self) -> Catalog:
        """A ``maas.models.Catalog`` of every registered version; variant files are absolute artifact paths
        (``ModelRunner`` verifies their sha256 when it opens them)."""
        return Catalog(self.artifacts.root, [self.served_manifest(info.manifest) for info in self.list()])

    def served_manifest(self, manifest: ModelManifest) -> ModelManifest:
        """``manifest`` with its files pointing into this registry's artifact store."""
        root = self.artifacts.root.resolve()
        variants = {k: v.model_copy(update={"file": str(root / v.file)}) for k, v in manifest.variants.items()}
        update: dict = {"variants": variants}
        if manifest.tokenizer is not None:
            update["tokenizer"] = manifest.tokenizer.model_copy(update={"file": str(root / manifest.tokenizer.file)})
        return manifest.model_copy(update=update)

    def artifact_path(self, sha256: str, suffix: str = ".onnx") -> Path:
        """The path of a stored artifact after checking its bytes against ``sha256``."""
        return self.artifacts.verify(sha256, suffix)

    # -- internals -------------------------------------------------------------------------------------------

    def find_same(self, name: str, version: int | None, sha256: str, entry: Entry | None) -> VersionInfo | None:
        """The version of ``name`` holding these bytes (None: none); Conflict if ``version`` holds others."""
        with session_scope(self.engine, write=False) as session:
            return self._find_same(session, name, version, sha256, entry)

    def _find_same(
        self, session: Session, name: str, version: int | None, sha256: str, entry: Entry | None
    ) -> VersionInfo | None:
        """The version that already holds these bytes (None: none); Conflict if ``version`` holds others."""
        query = select(ModelVersion).join(RegisteredModel).where(RegisteredModel.name == name)
        if version is not None:
            row = session.scalar(query.where(ModelVersion.version == version))
            if row is None:
                return None
            if row.fp32_sha256 != sha256 or (
                entry is not None and entry.strict and not _same_files(session, row, entry)
            ):
                raise Conflict(
                    f"{name}:{version} is registered with other bytes (fp32 sha256 {row.fp32_sha256[:12]}..., "
                    f"pushed {sha256[:12]}...); push without a version to add the next one, or remove {name}:{version}"
                )
            return self._info(session, name, row)
        row = session.scalar(query.where(ModelVersion.fp32_sha256 == sha256).order_by(ModelVersion.version.desc()))
        return None if row is None else self._info(session, name, row)

    def _insert(self, session: Session, entry: Entry) -> VersionInfo:
        model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == entry.name))
        now_s = self._clock.now_s()
        if model is None:
            model = RegisteredModel(name=entry.name, created_at_s=now_s)
            session.add(model)
            session.flush()
        highest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id))
        version = entry.version or (highest or 0) + 1
        manifest = entry.make_manifest(version)
        row = ModelVersion(
            model_id=model.id,
            version=version,
            description=entry.description,
            state="ready",
            serving_tiers=None,
            fp32_sha256=entry.fp32_sha256,
            tokenizer_sha256=entry.tokenizer_sha256,
            quantisation=entry.quantisation,
            agreement_inputs=entry.agreement_inputs,
            manifest=manifest.model_dump(mode="json"),
            created_at_s=now_s,
        )
        session.add(row)
        session.flush()
        for variant in entry.variants:
            batches = variant["host_ms_p50"]
            session.add(
                ModelVariant(
                    version_id=row.id,
                    variant=variant["variant"],
                    artifact_sha256=variant["sha256"],
                    size_bytes=variant["size_bytes"],
                    host_ms_p50_batch1=batches.get(1),
                    host_ms_p50_batch4=batches.get(4),
                    host_ms_p50_batch16=batches.get(16),
                    agreement=variant["agreement"],
                )
            )
        session.flush()
        return self._info(session, entry.name, row)

    def _get_row(self, session: Session, name: str, version: int | None) -> tuple[RegisteredModel, ModelVersion]:
        model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
        if model is None:
            known = ", ".join(session.scalars(select(RegisteredModel.name).order_by(RegisteredModel.name))) or "none"
            raise ModelNotFound(f"unknown model {name!r} (registered: {known})")
        versions = select(ModelVersion).where(ModelVersion.model_id == model.id)
        if version is None:
            row = session.scalar(versions.order_by(ModelVersion.version.desc()))
        else:
            row = session.scalar(versions.where(ModelVersion.version == version))
        if row is None:
            known = ", ".join(
                str(v)
                for v in session.scalars(
                    select(ModelVersion.version).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version)
                )
            )
            raise ModelNotFound(f"model {name!r} has no version {version!r} (registered: {known or 'none'})")
        return model, row

    @staticmethod
    def _info(session: Session, name: str, row: ModelVersion) -> VersionInfo:
        variants = list(session.scalars(select(ModelVariant).where(ModelVariant.version_id == row.id)))
        return VersionInfo.from_row(name, row, variants)

    def unchanged(self, info: VersionInfo, start_s: float) -> PushResult:
        """The result of a push that found its bytes registered already."""
        message = (
            f"{info.name}:{info.version} already holds these bytes (sha256 {info.fp32_sha256[:12]}...); nothing changed"
        )
        return PushResult(info.name, info.version, False, message, info, time.perf_counter() - start_s, [])

    def _sweep_locked(self) -> list[Path]:
        with session_scope(self.engine, write=False) as session:
            referenced = set(session.scalars(select(ModelVariant.artifact_sha256)))
            referenced |= {sha for sha in session.scalars(select(ModelVersion.tokenizer_sha256)) if sha}
        return self.artifacts.sweep(referenced)


def _variant_row(variant: str, sha256: str, size_bytes: int, profile: dict, agreement: dict) -> dict:
    batches = {
        1: profile.get("host_ms_p50"),
        4: profile.get("host_ms_p50_batch4"),
        16: profile.get("host_ms_p50_batch16"),
    }
    return {
        "variant": variant,
        "sha256": sha256,
        "size_bytes": size_bytes,
        "host_ms_p50": batches,
        "agreement": agreement,
    }


def _same_files(session: Session, row: ModelVersion, entry: Entry) -> bool:
    stored = {
        v.variant: v.artifact_sha256
        for v in session.scalars(select(ModelVariant).where(ModelVariant.version_id == row.id))
    }
    wanted = {v["variant"]: v["sha256"] for v in entry.variants}
    return stored == wanted and row.tokenizer_sha256 == entry.tokenizer_sha256
