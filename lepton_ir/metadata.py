"""Node metadata keys, in one place: what each key holds and who writes it.

Keys from torch.export (kept on every node Lepton produces):
  ``val``             output fake tensor (shape, dtype); refreshed by :func:`lepton_ir.shapes.propagate_shapes`.
  ``nn_module_stack`` ordered module path of the node, outermost first: {key: (path, type name)}.
  ``stack_trace``     Python frames that produced the op, innermost last.

Lepton's own keys carry the ``lepton.`` prefix. Each is written by exactly one pass, named here.
JSON-serialisable values under these keys survive ``Module.save``/``load``; others are recomputed.
Reserved for the passes that write them (the debug tools already display them when present):
  ``lepton.quant``        dict: dtype, scale range, observer (written by the quantize pass)
  ``lepton.prune_group``  int: channel-group id (written by the channel-groups analysis)
  ``lepton.sensitivity``  float: output divergence when this layer is compressed (sensitivity analysis)
"""
from __future__ import annotations

import os
import re

import torch
import torch.fx as fx

VAL = "val"
MODULE_STACK = "nn_module_stack"
STACK_TRACE = "stack_trace"
LEPTON_PREFIX = "lepton."
QUANT = "lepton.quant"
PRUNE_GROUP = "lepton.prune_group"
SENSITIVITY = "lepton.sensitivity"

#: Keys a rewrite copies from the node it replaces onto the nodes it creates.
PROVENANCE_KEYS = (MODULE_STACK, STACK_TRACE)

_TORCH_DIR = os.path.dirname(torch.__file__)
_LEPTON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>[^\n]+)\n(?P<code>[^\n]*)')


def module_path(node: fx.Node) -> str:
    """The dotted path of the innermost nn.Module that produced ``node`` ('' for the root)."""
    stack = node.meta.get(MODULE_STACK)
    if not stack:
        return ""
    path, _ = list(stack.values())[-1]
    return str(path)


def matches_any(node: fx.Node, rules: "tuple[str, ...] | list[str]") -> bool:
    """Whether ``node`` is named by one of ``rules``: its node name, its module path, or a parent path.
    The meaning of every ``ignore=[...]`` / ``layers=[...]`` option."""
    path = module_path(node)
    return any(node.name == r or path == r or path.startswith(r + ".") for r in rules)


def module_type(node: fx.Node) -> str:
    stack = node.meta.get(MODULE_STACK)
    if not stack:
        return ""
    _, type_name = list(stack.values())[-1]
    return str(type_name) if isinstance(type_name, str) else getattr(type_name, "__qualname__", str(type_name))


def is_library_file(filename: str) -> bool:
    """Frames inside torch or Lepton are plumbing; the user's line is the last frame outside both."""
    path = os.path.abspath(filename)
    return path.startswith(_TORCH_DIR) or path.startswith(_LEPTON_DIR + os.sep + "lepton_ir")


def source_line(node: fx.Node) -> str | None:
    """``file:line: code`` of the user's source that produced ``node``, if torch.export recorded it."""
    trace = node.meta.get(STACK_TRACE)
    if not trace:
        return None
    frames = list(_FRAME.finditer(trace))
    if not frames:
        return None
    user = [f for f in frames if not is_library_file(f["file"])]
    frame = (user or frames)[-1]
    return f"{frame['file']}:{frame['line']}: {frame['code'].strip()}"


def tensor_val(node: fx.Node) -> torch.Tensor | None:
    val = node.meta.get(VAL)
    return val if isinstance(val, torch.Tensor) else None


def shape_of(node: fx.Node) -> tuple[int, ...] | None:
    val = tensor_val(node)
    return None if val is None else tuple(int(d) if not isinstance(d, torch.SymInt) else d for d in val.shape)


def dtype_of(node: fx.Node) -> torch.dtype | None:
    val = tensor_val(node)
    return None if val is None else val.dtype


def copy_provenance(source: fx.Node, target: fx.Node) -> None:
    """Give a node created by a rewrite the module path and source line of the node it replaces."""
    for key in PROVENANCE_KEYS:
        if key in source.meta and key not in target.meta:
            target.meta[key] = source.meta[key]


def describe(node: fx.Node) -> str:
    """One-line description of a node for error messages: name, op and module path."""
    target = node.target if node.op != "call_function" else op_name(node.target)
    path = module_path(node)
    where = f" in module '{path}'" if path else ""
    return f"%{node.name} = {node.op} {target}{where}"


def op_name(target: object) -> str:
    """Short printable name of a call_function target: ``aten.conv2d`` for ``torch.ops.aten.conv2d.default``."""
    if isinstance(target, torch._ops.OpOverload):
        ns = target.namespace
        base = target._schema.name.split("::")[-1]
        overload = target._overloadname
        return f"{ns}.{base}" if overload == "default" else f"{ns}.{base}.{overload}"
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__name__", repr(target))
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    return f"{module}.{name}" if module else name
