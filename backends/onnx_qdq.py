"""QDQ clean-up on the exported ONNX graph: store quantized weights as integers.

The exporter writes ``float weight -> QuantizeLinear -> DequantizeLinear``; ONNX Runtime folds the
QuantizeLinear at load, but the file would still carry float weights (4x the bytes). Here each
QuantizeLinear whose input, scale and zero point are all initializers is evaluated once (round half
to even, as ONNX specifies) and replaced by its integer initializer.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def fold_weight_quantizers(model: onnx.ModelProto) -> int:
    """Replace constant QuantizeLinear nodes by integer initializers; returns how many were folded."""
    constants = _constants(model)
    graph = model.graph
    users: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            users[name] = users.get(name, 0) + 1
    folded, keep = 0, []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or len(node.input) < 3 or not all(n in constants for n in node.input[:3]):
            keep.append(node)
            continue
        x, scale, zero = (constants[n] for n in node.input[:3])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * x.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        info = np.iinfo(zero.dtype)
        q = np.clip(np.rint(x / scale) + zero.astype(np.int64), info.min, info.max).astype(zero.dtype)
        graph.initializer.append(numpy_helper.from_array(q, name=node.output[0]))
        folded += 1
    if folded:
        del graph.node[:]
        graph.node.extend(keep)
        used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        alive = [i for i in graph.initializer if i.name in used]
        del graph.initializer[:]
        graph.initializer.extend(alive)
    return folded
