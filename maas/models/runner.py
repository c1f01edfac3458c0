"""ModelRunner: one onnxruntime session for one variant of one model, V2 tensors in, V2 tensors out.

Lifecycle:
    1. ``ModelRunner(manifest, models_dir, variant)`` checks the artifact's sha256 and opens the session
       (sequential execution, ``intra_op_threads`` threads, 1 by default so replicas do not fight for cores).
    2. ``warmup()`` runs one dummy request so the first real one does not pay for lazy initialisation.
    3. ``infer(inputs)`` any number of times, from any thread: inputs keyed by the manifest's input names
       (already validated by the gateway); returns exactly the manifest's outputs with their V2 dtypes.
       For ``preprocessing: "tokenize"`` models the BYTES input is tokenised here, padded per batch.
    4. Drop the object to free the session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from maas.errors import InvalidInput
from maas.models.manifest import ModelManifest, numpy_dtype

__all__ = ["ModelRunner", "TextEncoder", "session_options"]


def session_options(intra_op_threads: int = 1) -> ort.SessionOptions:
    """Options every maas session uses: sequential, ``intra_op_threads`` threads, full graph optimisation."""
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


class TextEncoder:
    """Tokenises BYTES (UTF-8) into the int64 id/mask/type tensors a BERT-style graph takes."""

    def __init__(self, tokenizer_path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        padding = self._tokenizer.padding or {}
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding(
            pad_id=int(padding.get("pad_id", 0)),
            pad_type_id=int(padding.get("pad_type_id", 0)),
            pad_token=str(padding.get("pad_token", "[PAD]")),
        )

    def encode(self, texts: np.ndarray, input_name: str) -> dict[str, np.ndarray]:
        strings = []
        for item in texts.reshape(-1):
            try:
                strings.append(item.decode("utf-8") if isinstance(item, bytes | bytearray) else str(item))
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"input {input_name!r}: element is not valid UTF-8 ({exc.reason})") from None
        encodings = self._tokenizer.encode_batch(strings)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }


class ModelRunner:
    """Runs one variant of one model on the host CPU with onnxruntime."""

    def __init__(
        self,
        manifest: ModelManifest,
        models_dir: Path,
        variant: str = "fp32",
        intra_op_threads: int = 1,
        verify: bool = True,
    ) -> None:
        self.manifest = manifest
        self.variant = variant
        self.path = manifest.variant_path(Path(models_dir), variant)
        if verify:
            manifest.verify(Path(models_dir), [variant])
        self._session = ort.InferenceSession(
            str(self.path), sess_options=session_options(intra_op_threads), providers=["CPUExecutionProvider"]
        )
        self._graph_inputs = [node.name for node in self._session.get_inputs()]
        self._output_names = [spec.name for spec in manifest.outputs]
        self._output_dtypes = [numpy_dtype(spec.datatype) for spec in manifest.outputs]
        self._encoder: TextEncoder | None = None
        if manifest.preprocessing == "tokenize":
            assert manifest.tokenizer is not None  # guaranteed by the manifest's validator
            tokenizer_path = Path(models_dir) / manifest.name / manifest.tokenizer.file
            self._encoder = TextEncoder(tokenizer_path, manifest.tokenizer.max_length)

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; returns ``{output name: array}`` in the manifest's order and datatypes."""
        missing = [spec.name for spec in self.manifest.inputs if spec.name not in inputs]
        if missing:
            raise InvalidInput(f"model {self.manifest.name!r}: missing input(s) {', '.join(missing)}")
        batch_shape = np.shape(inputs[self.manifest.inputs[0].name])
        if batch_shape and batch_shape[0] == 0:
            return self._empty_outputs()
        feeds = self._feeds(inputs)
        try:
            results = self._session.run(self._output_names, feeds)
        except InvalidArgument as exc:
            raise InvalidInput(f"model {self.manifest.name!r}: {exc}") from None
        return {
            name: np.asarray(value).astype(dtype, copy=False)
            for name, value, dtype in zip(self._output_names, results, self._output_dtypes, strict=True)
        }

    def warmup(self) -> None:
        """Run one batch-1 request built from the manifest's input specs."""
        dummy = {}
        for spec in self.manifest.inputs:
            shape = [1 if dim == -1 else dim for dim in spec.shape]
            if spec.datatype == "BYTES":
                dummy[spec.name] = np.full(shape, b"warm up", dtype=object)
            else:
                dummy[spec.name] = np.zeros(shape, dtype=numpy_dtype(spec.datatype))
        self.infer(dummy)

    def _empty_outputs(self) -> dict[str, np.ndarray]:
        """A batch of zero items gives zero rows of each output (onnxruntime itself rejects empty batches)."""
        return {
            spec.name: np.zeros([0 if dim == -1 else dim for dim in spec.shape], dtype=dtype)
            for spec, dtype in zip(self.manifest.outputs, self._output_dtypes, strict=True)
        }

    def _feeds(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._encoder is not None:
            name = self.manifest.inputs[0].name
            encoded = self._encoder.encode(np.asarray(inputs[name], dtype=object), name)
            return {key: encoded[key] for key in self._graph_inputs}
        return {
            spec.name: np.asarray(inputs[spec.name], dtype=numpy_dtype(spec.datatype)) for spec in self.manifest.inputs
        }
