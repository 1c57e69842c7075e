"""Writing a GraphView as Graphviz DOT (nested clusters per module path) and SVG through ``dot``."""
from __future__ import annotations

import shutil
import subprocess

from lepton_ir.errors import LeptonError
from lepton_ir.report import format_count

from .graph_view import GraphView, ViewNode


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_line(n: ViewNode, indent: str) -> str:
    label = "\n".join([n.op] + ([n.shape] if n.shape else []) + ([f"{format_count(n.macs)} MACs"] if n.macs else []))
    border = ', penwidth=2.5, color="#c62828"' if n.quantized else ""
    return f"{indent}{_quote(n.id)} [label={_quote(label)}, fillcolor={_quote(n.colour)}, tooltip={_quote(n.id)}{border}];"


def to_dot(view: GraphView) -> str:
    lines = [f"digraph {_quote(view.name)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8, color="#607d8b"];']
    members: dict[str, list[ViewNode]] = {}
    for n in view.nodes:
        members.setdefault(n.module, []).append(n)
    paths = {p for p in members if p}
    prefixes = {".".join(p.split(".")[:i]) for p in paths for i in range(1, p.count(".") + 2)}

    def children(prefix: str) -> list[str]:
        depth = prefix.count(".") + 1 if prefix else 0
        return sorted(p for p in prefixes if p.count(".") == depth and (not prefix or p.startswith(prefix + ".")))

    def emit(prefix: str, indent: str) -> None:
        for n in members.get(prefix, []):
            lines.append(_node_line(n, indent))
        for child in children(prefix):
            lines.append(f"{indent}subgraph {_quote('cluster_' + child)} {{")
            lines.append(f'{indent}  label={_quote(child)}; style=dashed; color="#90a4ae"; fontname="Helvetica";')
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit("", "  ")
    for e in view.edges:
        lines.append(f"  {_quote(e.source)} -> {_quote(e.target)} [label={_quote(e.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot_text: str) -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise LeptonError("Graphviz 'dot' is not installed, so SVG cannot be drawn: install it "
                          "(apt-get install graphviz), or write .dot or .html instead")
    result = subprocess.run([exe, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise LeptonError(f"Graphviz failed: {result.stderr.strip()}")
    return result.stdout
