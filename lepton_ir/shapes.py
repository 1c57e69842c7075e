"""Shape and dtype propagation with fake tensors: no real compute, no real memory."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.fx as fx
from torch._subclasses.fake_tensor import FakeTensorMode

from .metadata import VAL


class _FakeInterpreter(fx.Interpreter):
    """Runs the graph on fake tensors and keeps each node's result instead of writing meta."""

    def __init__(self, gm: fx.GraphModule, mode: FakeTensorMode):
        super().__init__(gm, garbage_collect_values=False)
        self.mode = mode
        self.results: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception as e:
            e.lepton_node = n  # type: ignore[attr-defined]  # the verifier names the node that failed
            raise
        if n.op == "get_attr" and isinstance(result, torch.Tensor):
            result = self.mode.from_tensor(result)
        self.results[n] = result
        return result


def infer_shapes(gm: fx.GraphModule, inputs: Sequence[torch.Tensor]) -> dict[fx.Node, Any]:
    """Each node's fake output for ``inputs`` (real tensors are only read for their shape and dtype)."""
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    interp = _FakeInterpreter(gm, mode)
    with mode:
        fake_inputs = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in inputs]
        interp.run(*fake_inputs)
    return interp.results


def propagate_shapes(gm: fx.GraphModule, inputs: Sequence[torch.Tensor]) -> None:
    """Refresh ``meta['val']`` on every node; call after a rewrite that creates or changes nodes."""
    for node, value in infer_shapes(gm, inputs).items():
        node.meta[VAL] = value


def same_signature(a: Any, b: Any) -> bool:
    """Whether two node values agree in structure, shape and dtype (values themselves are not compared)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_signature(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    return True


def format_signature(value: Any) -> str:
    """``f32[1,3,224,224]`` for a tensor, ``(f32[2], i64[])`` for a tuple, the repr otherwise."""
    if isinstance(value, torch.Tensor):
        dims = ",".join(str(d) for d in value.shape)
        return f"{dtype_abbrev(value.dtype)}[{dims}]"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(format_signature(v) for v in value) + ")"
    if value is None:
        return "-"
    return type(value).__name__


_DTYPE_ABBREV = {
    torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.float64: "f64",
    torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8", torch.uint8: "u8",
    torch.bool: "bool", torch.complex64: "c64",
}


def dtype_abbrev(dtype: torch.dtype) -> str:
    return _DTYPE_ABBREV.get(dtype, str(dtype).replace("torch.", ""))
