"""Which kernels ONNX Runtime actually runs: op counts of its optimised graph, integer vs float.

The QDQ pattern in a model file says little; ORT fuses only the placements it recognises, so the
optimised graph (``SessionOptions.optimized_model_filepath``) is what tells whether int8 ran.
"""
from __future__ import annotations

import os
import tempfile
from collections import Counter

import onnx

INTEGER_KERNELS = frozenset({
    "QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearAveragePool",
    "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax",
    "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulNBits", "QAttention",
})
FLOAT_COMPUTE = frozenset({"Conv", "FusedConv", "ConvTranspose", "MatMul", "FusedMatMul", "Gemm", "FusedGemm",
                           "Attention", "MultiHeadAttention"})


def optimized_op_counts(path: str) -> Counter[str]:
    """Op-type counts of ORT's optimised graph for the model at ``path`` (CPU, all optimisations)."""
    from .onnx import session

    with tempfile.TemporaryDirectory() as tmp:
        optimized = os.path.join(tmp, "optimized.onnx")
        session(path, optimized_path=optimized)
        model = onnx.load(optimized, load_external_data=False)
    return Counter(node.op_type for node in model.graph.node)


def kernel_counts(path: str) -> dict[str, dict[str, int]]:
    """``{"integer": {...}, "float": {...}}``: integer kernels and float conv/matmul kernels left."""
    counts = optimized_op_counts(path)
    return {
        "integer": {op: n for op, n in sorted(counts.items()) if op in INTEGER_KERNELS},
        "float": {op: n for op, n in sorted(counts.items()) if op in FLOAT_COMPUTE},
    }


def format_kernels(kernels: dict[str, dict[str, int]]) -> str:
    """``QLinearConv 20, QLinearAdd 8 | float: Gemm 1``: a ``kernel_counts`` result on one line."""
    def listing(counts: dict[str, int]) -> str:
        return ", ".join(f"{op} {n}" for op, n in counts.items()) or "-"

    return f"{listing(kernels['integer'])} | float: {listing(kernels['float'])}"
