"""Storing block-wise int4 weights (``quantize{weights=int4,activations=none}``) as int4 in ONNX.

The IR holds the dequantized float weights. The exporter may rename them or store them transposed
(MatMul takes [in, out]), so initializers are matched by value, in either orientation. Each block's
largest magnitude lies exactly on +-7 x scale, so scales and codes are recovered exactly and written
as ``DequantizeLinear(int4 codes, scales, axis, block_size)`` (opset 21), blocks running along the
input dimension as the quantize pass chose them.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lepton_ir.metadata import QUANT
from lepton_ir.module import Module

INT4_OPSET = 21


def int4_weights(module: Module) -> list[tuple[np.ndarray, int]]:
    """(dequantized weight [out, in], block size) for every weight the quantize pass rounded to int4."""
    found = []
    for node in module.compute_nodes():
        annotation = node.meta.get(QUANT) or {}
        if annotation.get("weights") == "s4" and len(node.args) > 1:
            found.append((module.constant(node.args[1]).detach().numpy(), int(annotation["block_size"])))
    return found


def _encode(w: np.ndarray, block: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """int4 codes and scales of ``w`` with blocks of ``block`` along ``axis`` (0 or 1)."""
    wt = w if axis == 1 else w.T
    blocks = wt.astype(np.float64).reshape(wt.shape[0], -1, block)
    scale = np.abs(blocks).max(-1) / 7.0
    scale = np.where(scale == 0, 1e-12, scale)
    codes = np.clip(np.rint(blocks / scale[..., None]), -8, 7).astype(np.int8).reshape(wt.shape)
    return (codes, scale) if axis == 1 else (codes.T, scale.T)


def lower_int4(model: onnx.ModelProto, weights: list[tuple[np.ndarray, int]]) -> int:
    """Replace float initializers equal to an int4 weight by int4 + DequantizeLinear; returns how many."""
    if not weights:
        return 0
    graph = model.graph
    replaced, keep, nodes = 0, [], []
    for init in graph.initializer:
        match = None
        if init.data_type == TensorProto.FLOAT and len(init.dims) == 2:
            array = numpy_helper.to_array(init)
            for w, block in weights:
                if array.shape == w.shape and np.array_equal(array, w):
                    match = (block, 1)
                elif array.shape == w.T.shape and np.array_equal(array, w.T):
                    match = (block, 0)
                if match:
                    break
        if match is None:
            keep.append(init)
            continue
        block, axis = match
        codes, scale = _encode(array, block, axis)
        keep.append(helper.make_tensor(init.name + "_int4", TensorProto.INT4, list(array.shape), codes.flatten().tolist()))
        keep.append(numpy_helper.from_array(scale.astype(np.float32), init.name + "_scale"))
        nodes.append(helper.make_node("DequantizeLinear", [init.name + "_int4", init.name + "_scale"], [init.name],
                                      axis=axis, block_size=block, name=init.name + "_dequantize"))
        replaced += 1
    if replaced:
        del graph.initializer[:]
        graph.initializer.extend(keep)
        existing = list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes + existing)
        for opset in model.opset_import:
            if opset.domain in ("", "ai.onnx") and opset.version < INT4_OPSET:
                opset.version = INT4_OPSET
    return replaced
