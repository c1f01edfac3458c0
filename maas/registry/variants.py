"""The int8 variant of a pushed model, its agreement with fp32, and host latency profiles.

1. ``read_calibration(path, signature)``: a ``.npz`` with one array per input name, samples on axis 0.
2. ``quantize_int8(fp32, calibration)``: onnxruntime dynamic quantisation (int8 weights, activations
   quantised at run time), or static QDQ quantisation calibrated on the given inputs.
3. ``agreement(fp32, int8, signature, feeds)``: per output, how far int8 is from fp32.
4. ``profile(session, signature)``: host ms p50/p90 at batch 1, 4 and 16, one thread.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from maas.errors import InvalidInput
from maas.models import numpy_dtype
from maas.registry.checks import Signature, generate_inputs

__all__ = [
    "PROFILE_BATCHES",
    "AGREEMENT_SAMPLES",
    "read_calibration",
    "quantize_int8",
    "agreement_feeds",
    "agreement",
    "profile",
]

#: Batch sizes whose host latency every pushed variant is profiled at.
PROFILE_BATCHES = (1, 4, 16)
#: Largest number of rows the agreement is measured on (generated inputs use exactly this many).
AGREEMENT_SAMPLES = 64


def read_calibration(path: Path, signature: Signature) -> dict[str, np.ndarray]:
    """Calibration inputs from ``path`` (``.npz``, one array per input, samples on axis 0), cast to the inputs'
    dtypes; InvalidInput naming the field that does not fit."""
    label = f"calibration {Path(path).name}"
    try:
        with np.load(Path(path), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{label}: not a readable .npz file ({exc})") from None
    names = [spec.name for spec in signature.inputs]
    missing = [name for name in names if name not in arrays]
    if missing:
        raise InvalidInput(
            f"{label}: missing array(s) {', '.join(missing)} (file has: {', '.join(sorted(arrays)) or 'none'}; "
            f"needed: {', '.join(names)})"
        )
    feeds, rows = {}, set()
    for spec in signature.inputs:
        array = arrays[spec.name]
        dtype = numpy_dtype(spec.datatype)
        fixed = [(i, dim) for i, dim in enumerate(spec.shape) if dim != -1]
        if array.ndim != len(spec.shape) or any(array.shape[i] != dim for i, dim in fixed):
            raise InvalidInput(f"{label}: {spec.name} has shape {list(array.shape)}, the input is {spec.shape}")
        if spec.datatype != "BYTES" and not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise InvalidInput(f"{label}: {spec.name} has dtype {array.dtype}, the input is {spec.datatype}")
        feeds[spec.name] = array.astype(dtype, copy=False)
        rows.add(array.shape[0])
    if len(rows) != 1 or 0 in rows:
        raise InvalidInput(f"{label}: every array needs the same number of samples (> 0) on axis 0, got {sorted(rows)}")
    return feeds


def quantize_int8(fp32: bytes, calibration: dict[str, np.ndarray] | None = None) -> tuple[bytes, str]:
    """The int8 model's bytes and the method: ``"dynamic"``, or ``"static"`` when ``calibration`` is given."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    with tempfile.TemporaryDirectory(prefix="maas-quantize-") as work:
        source, target = Path(work) / "model.onnx", Path(work) / "model.int8.onnx"
        source.write_bytes(_normalised_opsets(fp32))
        try:
            if calibration is None:
                quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
                method = "dynamic"
            else:
                quantize_static(
                    source,
                    target,
                    _Reader(calibration),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                    activation_type=QuantType.QInt8,
                )
                method = "static"
        except Exception as exc:  # the quantiser raises plain Exceptions/ValueErrors from deep inside
            raise InvalidInput(f"model: int8 quantisation failed: {str(exc).strip().splitlines()[0]}") from None
        return target.read_bytes(), method


def _normalised_opsets(data: bytes) -> bytes:
    """The quantiser needs exactly one ``ai.onnx`` opset import. Graphs of only ``ai.onnx.ml`` ops may have none
    (then opset 17 is imported: no node uses it) and skl2onnx may list one twice (kept once, highest version)."""
    model = onnx.load_model_from_string(data)
    versions: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        versions[domain] = max(versions.get(domain, 0), int(entry.version))
    versions.setdefault("", 17)
    if len(versions) == len(model.opset_import):
        return data
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in versions.items())
    return model.SerializeToString()


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over in-memory arrays, 16 rows at a time."""

    def __init__(self, feeds: dict[str, np.ndarray]) -> None:
        rows = len(next(iter(feeds.values())))
        self._batches = iter([{k: v[i : i + 16] for k, v in feeds.items()} for i in range(0, rows, 16)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def agreement_feeds(signature: Signature, calibration: dict[str, np.ndarray] | None) -> tuple[dict, str]:
    """The inputs agreement is measured on and where they came from (``"calibration"`` or ``"generated"``)."""
    if calibration is not None:
        return {name: array[:AGREEMENT_SAMPLES] for name, array in calibration.items()}, "calibration"
    return generate_inputs(signature.inputs, AGREEMENT_SAMPLES, seed=1), "generated"


def agreement(
    fp32: ort.InferenceSession, int8: ort.InferenceSession, signature: Signature, feeds: dict[str, np.ndarray]
) -> dict[str, float]:
    """Per output: float outputs ``max_abs_diff``, ``mean_abs_diff``, ``cosine_min`` (rows) and, for
    ``[batch, classes]`` outputs, ``argmax_agreement``; other outputs ``equal_fraction`` of rows."""
    names = [spec.name for spec in signature.outputs]
    rows = len(next(iter(feeds.values())))
    expected, actual = [], []
    for start in range(0, rows, 16):  # batches of 16: the largest profiled size, and cheap on memory
        chunk = {k: v[start : start + 16] for k, v in feeds.items()}
        expected.append(fp32.run(names, chunk))
        actual.append(int8.run(names, chunk))
    result: dict[str, float] = {"samples": float(rows)}
    for i, name in enumerate(names):
        a = np.concatenate([np.asarray(part[i]) for part in expected]) if rows else np.zeros(0)
        b = np.concatenate([np.asarray(part[i]) for part in actual]) if rows else np.zeros(0)
        if np.issubdtype(a.dtype, np.floating) and a.shape == b.shape:
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            result[f"{name}.max_abs_diff"] = round(float(diff.max(initial=0.0)), 6)
            result[f"{name}.mean_abs_diff"] = round(float(diff.mean()) if diff.size else 0.0, 6)
            if a.ndim >= 2:
                flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
                norm_a, norm_b = np.linalg.norm(flat_a, axis=1), np.linalg.norm(flat_b, axis=1)
                norms = norm_a * norm_b
                cosine = np.sum(flat_a * flat_b, axis=1) / np.where(norms == 0, 1.0, norms)
                cosine[(norm_a == 0) & (norm_b == 0)] = 1.0  # two zero vectors agree
                result[f"{name}.cosine_min"] = round(float(cosine.min()), 6)
            if a.ndim == 2 and a.shape[1] > 1:
                result[f"{name}.argmax_agreement"] = round(float(np.mean(a.argmax(1) == b.argmax(1))), 6)
        else:
            same = [np.array_equal(x, y) for x, y in zip(a, b, strict=False)] if a.shape == b.shape else [False]
            result[f"{name}.equal_fraction"] = round(float(np.mean(same)), 6)
    return result


def profile(session: ort.InferenceSession, signature: Signature, budget_s: float = 0.3) -> dict[str, float]:
    """Host latency of ``session.run`` on generated inputs at each of PROFILE_BATCHES, one thread.

    Per batch: 2 warm-up runs, then runs until ``budget_s`` is spent (at least 5, at most 300). Keys follow the
    manifest's profile: ``host_ms_p50``/``host_ms_p90`` (batch 1), ``host_ms_p50_batch4``, ... and ``runs``.
    """
    names = [spec.name for spec in signature.outputs]
    result: dict[str, float] = {"batch": 1.0, "threads": 1.0}
    for batch in PROFILE_BATCHES:
        feeds = generate_inputs(signature.inputs, batch, seed=batch)
        for _ in range(2):
            session.run(names, feeds)
        samples_ms: list[float] = []
        deadline_ns = time.perf_counter_ns() + int(budget_s * 1e9)
        while len(samples_ms) < 5 or (len(samples_ms) < 300 and time.perf_counter_ns() < deadline_ns):
            start_ns = time.perf_counter_ns()
            session.run(names, feeds)
            samples_ms.append((time.perf_counter_ns() - start_ns) / 1e6)
        p50, p90 = statistics.median(samples_ms), statistics.quantiles(samples_ms, n=10)[8]
        suffix = "" if batch == 1 else f"_batch{batch}"
        result[f"host_ms_p50{suffix}"] = round(p50, 4)
        result[f"host_ms_p90{suffix}"] = round(p90, 4)
        if batch == 1:
            result["runs"] = float(len(samples_ms))
    return result
