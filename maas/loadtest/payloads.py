"""Request payloads built from real inputs: English sentences, handwritten digit images, machine sensor rows.

- ``minilm-embed``: input ``text`` BYTES [n], sentences from ``SENTENCES``;
- ``digits-mlp``: input ``pixels`` FP32 [n, 64], real UCI digit images (0..16, embedded);
- ``maintenance-clf``: input ``features`` FP32 [n, 6] (product type 0/1/2, air temperature K, process
  temperature K, rotational speed rpm, torque Nm, tool wear min), drawn like the AI4I 2020 predictive
  maintenance data set from a seed;
- any other model: inputs generated from its V2 metadata (``inputs_from_metadata``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maas.loadtest.digits_data import digit_images

__all__ = [
    "SENTENCES",
    "REFERENCE_MODELS",
    "sentence_rows",
    "digit_rows",
    "maintenance_rows",
    "reference_inputs",
    "inputs_from_metadata",
]

SENTENCES: tuple[str, ...] = (
    "The pump on line three has been vibrating more than usual since Monday.",
    "Please send me the invoice for last month's delivery.",
    "Our delivery van broke down on the motorway near the junction.",
    "The bakery opens at six in the morning and closes at noon on Sundays.",
    "Can you recommend a good hotel close to the railway station?",
    "The customer asked whether the jacket is available in a larger size.",
    "Heavy rain is expected across the north of the country this evening.",
    "I forgot my password and cannot log in to the staff portal.",
    "The harvest was smaller this year because of the long dry summer.",
    "Shipping to the islands takes between three and five working days.",
    "The new espresso machine makes excellent coffee but is quite loud.",
    "She booked a table for four people at eight o'clock.",
    "The temperature in the cold store rose above five degrees overnight.",
    "Refunds are processed within fourteen days of receiving the returned item.",
    "The conference room on the second floor has a broken projector.",
    "A fallen tree is blocking the road to the farm.",
    "The patient reported mild headaches after starting the new medication.",
    "We need two more electricians on site by Thursday.",
    "The train was cancelled because of a signal failure.",
    "How much does it cost to repair a cracked phone screen?",
    "The library will be closed for renovation until the end of March.",
    "My order arrived damaged and the box was soaking wet.",
    "The fishing boats stayed in the harbour because of the storm.",
    "Customers love the new seasonal menu with local vegetables.",
    "The solar panels produced less power than expected in December.",
    "Please confirm the meeting time with the supplier.",
    "The children built a sandcastle on the beach all afternoon.",
    "The warehouse inventory does not match the numbers in the system.",
    "He is looking for a second-hand bicycle in good condition.",
    "The bridge will be closed to heavy vehicles during the inspection.",
    "Our internet connection drops every evening around nine.",
    "The vineyard offers guided tours and tastings on weekends.",
    "The quarterly report shows a small increase in sales.",
    "The cat sat quietly on the windowsill watching the birds.",
    "Please water the tomato plants while I am away.",
    "The dentist can see you tomorrow at half past ten.",
    "The hospital is looking for volunteers for the night shift.",
    "The engine makes a strange knocking noise when it is cold.",
    "We are out of stock of the blue paint until next week.",
    "The museum has a new exhibition about the history of the railway.",
)

REFERENCE_MODELS: tuple[str, ...] = ("minilm-embed", "digits-mlp", "maintenance-clf")


def sentence_rows(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` sentences drawn from ``SENTENCES``."""
    idx = rng.integers(0, len(SENTENCES), size=n)
    return [SENTENCES[i] for i in idx]


def digit_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` 8x8 digit images flattened to 64 values 0..16 (real UCI digits, see ``digits_data``)."""
    data = digit_images()
    return data[rng.integers(0, data.shape[0], size=n)]


def maintenance_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` realistic milling-machine sensor rows (AI4I 2020 ranges and correlations)."""
    product = rng.choice(3, size=n, p=[0.6, 0.3, 0.1]).astype(np.float32)  # L, M, H quality variants
    air_k = np.clip(rng.normal(300.0, 2.0, n), 295.3, 304.5)
    process_k = np.clip(air_k + 10.0 + rng.normal(0.0, 1.0, n), 305.7, 313.8)
    # speed ~ N(1540, 180) rpm; torque falls as speed rises (correlation about -0.87 as in AI4I 2020)
    speed_rpm = np.clip(rng.normal(1540.0, 180.0, n), 1168.0, 2886.0)
    torque_nm = np.clip(40.0 - 0.045 * (speed_rpm - 1540.0) + rng.normal(0.0, 4.5, n), 3.8, 76.6)
    wear_min = rng.uniform(0.0, 253.0, n)
    rows = np.stack([product, air_k, process_k, speed_rpm, torque_nm, wear_min], axis=1)
    return np.round(rows, 1).astype(np.float32)


def _tensor(name: str, datatype: str, array: Any) -> dict[str, Any]:
    if datatype == "BYTES":
        return {"name": name, "shape": [len(array)], "datatype": "BYTES", "data": list(array)}
    arr = np.asarray(array)
    return {"name": name, "shape": list(arr.shape), "datatype": datatype, "data": arr.ravel().tolist()}


def reference_inputs(model: str, rows: int, rng: np.random.Generator) -> list[dict[str, Any]] | None:
    """V2 ``inputs`` for a reference model, or ``None`` if ``model`` is not one of ``REFERENCE_MODELS``."""
    if model == "minilm-embed":
        return [_tensor("text", "BYTES", sentence_rows(rows, rng))]
    if model == "digits-mlp":
        return [_tensor("pixels", "FP32", digit_rows(rows, rng))]
    if model == "maintenance-clf":
        return [_tensor("features", "FP32", maintenance_rows(rows, rng))]
    return None


_NUMPY = {
    "FP32": np.float32,
    "FP64": np.float64,
    "FP16": np.float32,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "BOOL": np.bool_,
}


def inputs_from_metadata(metadata: dict[str, Any], rows: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """V2 ``inputs`` for any model from its metadata: -1 dimensions become ``rows`` (first) or 1 (others);
    BYTES tensors get sentences, numeric tensors small values in [0, 1)."""
    out = []
    for spec in metadata.get("inputs", []):
        shape = [int(d) for d in spec.get("shape", [-1])]
        shape = [(rows if i == 0 else 1) if d < 0 else d for i, d in enumerate(shape)] or [rows]
        datatype = str(spec.get("datatype", "FP32")).upper()
        size = int(np.prod(shape))
        if datatype == "BYTES":
            out.append({"name": spec["name"], "shape": shape, "datatype": "BYTES", "data": sentence_rows(size, rng)})
            continue
        values = rng.random(size)
        dtype = _NUMPY.get(datatype, np.float32)
        if np.issubdtype(dtype, np.integer):
            values = (values * 10).astype(dtype)
        elif dtype is np.bool_:
            values = values > 0.5
        else:
            values = values.astype(dtype)
        out.append({"name": spec["name"], "shape": shape, "datatype": datatype, "data": values.tolist()})
    return out
