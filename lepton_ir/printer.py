"""The textual form of the IR: one node per line, stable enough to compare in golden tests.

    %conv2d : f32[1,8,8,8] = aten.conv2d(%x, %conv_weight, %conv_bias, [1, 1], [1, 1])  @ conv

name, shape and dtype, op, inputs, and after ``@`` the module path that produced the node.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx

from .metadata import VAL, module_path, op_name
from .shapes import format_signature

if TYPE_CHECKING:
    from .module import Module


def format_arg(arg: Any) -> str:
    if isinstance(arg, fx.Node):
        return f"%{arg.name}"
    if isinstance(arg, (list, tuple)):
        inner = ", ".join(format_arg(a) for a in arg)
        return f"[{inner}]" if isinstance(arg, list) else f"({inner}{',' if len(arg) == 1 else ''})"
    if isinstance(arg, dict):
        return "{" + ", ".join(f"{k}: {format_arg(v)}" for k, v in arg.items()) + "}"
    if isinstance(arg, float):
        return repr(arg)
    if isinstance(arg, torch.dtype):
        return str(arg).replace("torch.", "")
    return repr(arg) if isinstance(arg, str) else str(arg)


def format_node(node: fx.Node) -> str:
    sig = format_signature(node.meta.get(VAL))
    if node.op == "placeholder":
        rhs = "input"
    elif node.op == "get_attr":
        rhs = f"constant {node.target}"
    elif node.op == "output":
        return "return " + format_arg(node.args[0])
    else:
        target = op_name(node.target) if node.op == "call_function" else f"{node.op} {node.target}"
        parts = [format_arg(a) for a in node.args]
        parts += [f"{k}={format_arg(v)}" for k, v in node.kwargs.items()]
        rhs = f"{target}({', '.join(parts)})"
    line = f"%{node.name} : {sig} = {rhs}"
    path = module_path(node)
    return f"{line}  @ {path}" if path and node.op == "call_function" else line


def format_graph(graph: fx.Graph) -> str:
    return "\n".join(format_node(n) for n in graph.nodes)


def format_module(module: "Module") -> str:
    flag = " (dynamic batch)" if module.dynamic_batch else ""
    ops = sum(1 for _ in module.compute_nodes())
    header = f"module {module.name}{flag}: {ops} ops, {module.parameter_count():,} constant elements"
    return header + "\n" + format_graph(module.graph)
