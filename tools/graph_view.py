"""The drawable view of an IR: nodes with a kind, colour and module path, edges labelled with shapes.

Shared by the DOT/SVG and HTML graph writers and by the HTML report.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch.fx as fx

from lepton_ir.analysis_manager import AnalysisManager
from lepton_ir.metadata import QUANT, VAL, module_path, op_name
from lepton_ir.module import Module
from lepton_ir.shapes import format_signature

# op-name fragments -> kind, first match wins
_KINDS = (
    ("quant", ("quantize", "dequantize", "fake_quant")),
    ("conv", ("conv",)),
    ("attention", ("scaled_dot_product_attention", "softmax")),
    ("linear", ("linear", "matmul", "addmm", "bmm", ".mm")),
    ("norm", ("norm",)),
    ("pool", ("pool",)),
    ("activation", ("relu", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "hardtanh", "elu")),
    ("shape", ("view", "reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "expand", "slice",
               "select", "cat", "split", "chunk", "contiguous", "clone", "getitem")),
    ("elementwise", ("add", "sub", "mul", "div", "mean", "sum", "pow", "sqrt", "rsqrt", "exp", "neg", "where")),
)

COLOURS = {
    "input": "#d9f2d9", "output": "#d9f2d9", "conv": "#8fb8ed", "linear": "#b39ddb", "attention": "#f48fb1",
    "norm": "#ffe082", "pool": "#80cbc4", "activation": "#ffcc80", "shape": "#e0e0e0", "elementwise": "#fff59d",
    "quant": "#ef9a9a", "other": "#f5f5f5",
}


def op_kind(node: fx.Node) -> str:
    if node.op == "placeholder":
        return "input"
    if node.op == "output":
        return "output"
    name = op_name(node.target).lower()
    for kind, fragments in _KINDS:
        if any(f in name for f in fragments):
            return kind
    return "other"


@dataclass
class ViewNode:
    id: str
    op: str
    kind: str
    module: str
    shape: str
    quantized: bool
    params: int = 0
    macs: int = 0
    colour: str = ""


@dataclass
class ViewEdge:
    source: str
    target: str
    label: str


@dataclass
class GraphView:
    name: str
    nodes: list[ViewNode] = field(default_factory=list)
    edges: list[ViewEdge] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "nodes": [asdict(n) for n in self.nodes], "edges": [asdict(e) for e in self.edges]}


def graph_view(module: Module) -> GraphView:
    """Compute nodes, inputs and the output; constants are folded into their consumers' params."""
    cost = AnalysisManager(module).get("cost")
    view = GraphView(module.name)
    shown: set[fx.Node] = set()
    for node in module.graph.nodes:
        if node.op == "get_attr":
            continue
        kind = op_kind(node)
        c = cost.nodes.get(node.name)
        label = op_name(node.target) if node.op == "call_function" else ("input" if node.op == "placeholder" else "output")
        view.nodes.append(ViewNode(
            id=node.name, op=label, kind=kind, module=module_path(node) if node.op == "call_function" else "",
            shape=format_signature(node.meta.get(VAL)) if node.op != "output" else "",
            quantized=QUANT in node.meta or kind == "quant",
            params=c.params if c else 0, macs=c.macs if c else 0, colour=COLOURS[kind],
        ))
        shown.add(node)
        for source in node.all_input_nodes:
            if source in shown:
                view.edges.append(ViewEdge(source.name, node.name, format_signature(source.meta.get(VAL))))
    return view


def collapse(view: GraphView, depth: int) -> GraphView:
    """Merge every node whose module path is deeper than ``depth`` into one node per truncated path."""
    if depth < 0:
        return view
    group_of: dict[str, str] = {}
    merged: dict[str, ViewNode] = {}
    nodes: list[ViewNode] = []
    for n in view.nodes:
        parts = n.module.split(".") if n.module else []
        if len(parts) <= depth:
            group_of[n.id] = n.id
            nodes.append(n)
            continue
        key = ".".join(parts[:depth + 1]) if depth >= 0 else n.module
        gid = "group:" + key
        group_of[n.id] = gid
        if gid not in merged:
            merged[gid] = ViewNode(id=gid, op=f"{key} (collapsed)", kind="other", module=key, shape=n.shape,
                                   quantized=n.quantized, colour="#cfd8dc")
            nodes.append(merged[gid])
        g = merged[gid]
        g.params += n.params
        g.macs += n.macs
        g.shape = n.shape  # the group's last node's output
        g.quantized = g.quantized or n.quantized
    edges, seen = [], set()
    for e in view.edges:
        s, t = group_of[e.source], group_of[e.target]
        if s != t and (s, t) not in seen:
            seen.add((s, t))
            edges.append(ViewEdge(s, t, e.label))
    return GraphView(view.name, nodes, edges)
