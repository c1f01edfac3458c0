"""A BERT encoder + mean pooling + L2 normalisation as an ONNX graph, written node by node from safetensors.

Why by hand rather than ``torch.onnx.export``: the graph is a pure function of the weights and this file, so the
bytes are identical on every run and every torch version (the TorchScript exporter is deprecated in torch 2.x
and the dynamo exporter's node naming and optimisation passes change between releases); it needs no torch at
build time; and the pooling that sentence-transformers does in Python is part of the graph, so the served
model returns the sentence embedding itself. Correctness is checked against sentence-transformers (the
independent implementation of the same weights) by the build and by tests/unit/test_models_minilm.py.

Graph inputs: ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64 [batch, seq]);
output: ``embedding`` (float32 [batch, hidden]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.common import OPSET

__all__ = ["BertConfig", "build_bert_embedding_graph"]


@dataclass(frozen=True)
class BertConfig:
    """The few Hugging Face ``config.json`` fields the graph needs."""

    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    layer_norm_eps: float
    hidden_act: str = "gelu"

    @classmethod
    def from_hf(cls, config: dict) -> BertConfig:
        return cls(
            hidden_size=int(config["hidden_size"]),
            num_attention_heads=int(config["num_attention_heads"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            layer_norm_eps=float(config["layer_norm_eps"]),
            hidden_act=str(config.get("hidden_act", "gelu")),
        )


class _Graph:
    """Collects nodes and initializers with deterministic, readable names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name


def build_bert_embedding_graph(
    weights: dict[str, np.ndarray], config: BertConfig, graph_name: str = "minilm_embed"
) -> onnx.ModelProto:
    """The sentence-embedding graph for BERT ``weights`` (names as in Hugging Face ``BertModel``)."""
    if config.hidden_act != "gelu":
        raise ValueError(f"only the exact (erf) gelu is implemented, config has {config.hidden_act!r}")
    g = _Graph()
    hidden = config.hidden_size
    heads = config.num_attention_heads
    head_dim = hidden // heads
    f32 = np.float32

    def w(key: str) -> np.ndarray:
        return np.asarray(weights[key], dtype=f32)

    def linear(x: str, prefix: str, out: str) -> str:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        weight = g.const(f"{prefix}.weight_t", w(f"{prefix}.weight").T)
        bias = g.const(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.op("Add", [g.op("MatMul", [x, weight], f"{out}_mm"), bias], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        scale = g.const(f"{prefix}.weight", w(f"{prefix}.weight"))
        bias = g.const(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.op("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=config.layer_norm_eps)

    # Shared constants.
    g.const("c_zero_1d", np.array([0], dtype=np.int64))
    g.const("c_axes_0", np.array([0], dtype=np.int64))
    g.const("c_axes_1", np.array([1], dtype=np.int64))
    g.const("c_axes_1_2", np.array([1, 2], dtype=np.int64))
    g.const("c_axes_neg1", np.array([-1], dtype=np.int64))
    g.const("c_one_f", np.array(1.0, dtype=f32))
    g.const("c_mask_min_f", np.array(np.finfo(f32).min, dtype=f32))
    g.const("c_heads_shape", np.array([0, 0, heads, head_dim], dtype=np.int64))
    g.const("c_hidden_shape", np.array([0, 0, hidden], dtype=np.int64))
    g.const("c_inv_sqrt_head", np.array(1.0 / math.sqrt(head_dim), dtype=f32))
    g.const("c_inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=f32))
    g.const("c_half", np.array(0.5, dtype=f32))
    g.const("c_eps_count", np.array(1e-9, dtype=f32))
    g.const("c_eps_norm", np.array(1e-12, dtype=f32))

    # Embeddings: word + position + token type, then LayerNorm.
    # Position embeddings are rows 0..seq-1 of the table: a Slice (a Range + Gather trips an onnxruntime fusion).
    seq_len = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    word = g.op("Gather", [g.const("emb.word", w("embeddings.word_embeddings.weight")), "input_ids"], "emb_word")
    pos_table = g.const("emb.pos", w("embeddings.position_embeddings.weight"))
    pos = g.op("Slice", [pos_table, "c_zero_1d", seq_len, "c_axes_0"], "emb_pos")
    typ = g.op(
        "Gather", [g.const("emb.type", w("embeddings.token_type_embeddings.weight")), "token_type_ids"], "emb_type"
    )
    summed = g.op("Add", [g.op("Add", [word, pos], "emb_word_pos"), typ], "emb_sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "emb_out")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, float32 min where padded (as HF does).
    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = g.op("Sub", ["c_one_f", mask_f], "mask_inverted")
    additive = g.op("Mul", [inverted, "c_mask_min_f"], "mask_additive")
    ext_mask = g.op("Unsqueeze", [additive, "c_axes_1_2"], "mask_ext")

    for layer in range(config.num_hidden_layers):
        p = f"encoder.layer.{layer}"
        n = f"l{layer}"

        def split_heads(t: str, perm: list[int], tag: str, n: str = n) -> str:
            reshaped = g.op("Reshape", [t, "c_heads_shape"], f"{n}_{tag}_heads")
            return g.op("Transpose", [reshaped], f"{n}_{tag}_t", perm=perm)

        q = split_heads(linear(x, f"{p}.attention.self.query", f"{n}_q"), [0, 2, 1, 3], "q")
        k = split_heads(linear(x, f"{p}.attention.self.key", f"{n}_k"), [0, 2, 3, 1], "k")
        v = split_heads(linear(x, f"{p}.attention.self.value", f"{n}_v"), [0, 2, 1, 3], "v")
        scores = g.op("Mul", [g.op("MatMul", [q, k], f"{n}_qk"), "c_inv_sqrt_head"], f"{n}_scores")
        probs = g.op("Softmax", [g.op("Add", [scores, ext_mask], f"{n}_masked")], f"{n}_probs", axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probs, v], f"{n}_ctx")], f"{n}_ctx_t", perm=[0, 2, 1, 3])
        merged = g.op("Reshape", [context, "c_hidden_shape"], f"{n}_ctx_merged")
        attn = linear(merged, f"{p}.attention.output.dense", f"{n}_attn")
        x = layer_norm(g.op("Add", [attn, x], f"{n}_attn_res"), f"{p}.attention.output.LayerNorm", f"{n}_attn_ln")

        inter = linear(x, f"{p}.intermediate.dense", f"{n}_inter")
        erf = g.op("Erf", [g.op("Mul", [inter, "c_inv_sqrt2"], f"{n}_gelu_scaled")], f"{n}_gelu_erf")
        gelu_gate = g.op("Mul", [g.op("Add", [erf, "c_one_f"], f"{n}_gelu_plus1"), "c_half"], f"{n}_gelu_gate")
        gelu = g.op("Mul", [inter, gelu_gate], f"{n}_gelu")
        ffn = linear(gelu, f"{p}.output.dense", f"{n}_ffn")
        x = layer_norm(g.op("Add", [ffn, x], f"{n}_ffn_res"), f"{p}.output.LayerNorm", f"{n}_out")

    # Mean pooling over attended tokens, then L2 normalisation (sentence-transformers Pooling + Normalize).
    mask_3d = g.op("Unsqueeze", [mask_f, "c_axes_neg1"], "pool_mask")
    token_sum = g.op("ReduceSum", [g.op("Mul", [x, mask_3d], "pool_masked"), "c_axes_1"], "pool_sum", keepdims=0)
    count = g.op(
        "Max", [g.op("ReduceSum", [mask_3d, "c_axes_1"], "pool_count_raw", keepdims=0), "c_eps_count"], "pool_count"
    )
    mean = g.op("Div", [token_sum, count], "pool_mean")
    norm = g.op("Max", [g.op("ReduceL2", [mean], "norm_raw", axes=[1], keepdims=1), "c_eps_norm"], "norm")
    g.op("Div", [mean, norm], "embedding")

    int_input = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])]
    graph = helper.make_graph(g.nodes, graph_name, int_input, output, initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="maas")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model
