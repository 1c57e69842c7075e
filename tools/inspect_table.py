"""The ``lepton inspect`` table: one row per op with shape, params, MACs and module path."""
from __future__ import annotations

from typing import Any

from lepton_ir.analysis_manager import AnalysisManager
from lepton_ir.metadata import VAL, module_path, op_name
from lepton_ir.module import Module
from lepton_ir.report import format_count
from lepton_ir.shapes import format_signature


def inspect_rows(module: Module) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cost = AnalysisManager(module).get("cost")
    rows = []
    for node in module.compute_nodes():
        c = cost.nodes[node.name]
        rows.append({
            "node": node.name, "op": op_name(node.target), "shape": format_signature(node.meta.get(VAL)),
            "params": c.params, "macs": c.macs, "kind": c.kind, "module": module_path(node),
        })
    totals = {"nodes": len(rows), "params": cost.total_params, "macs": cost.total_macs,
              "elementwise": cost.total_elementwise, "macs_by_kind": cost.macs_by_kind}
    return rows, totals


def format_inspect(name: str, rows: list[dict[str, Any]], totals: dict[str, Any]) -> str:
    header = ("node", "op", "shape", "params", "MACs", "module")
    table = [header] + [(r["node"], r["op"], r["shape"], format_count(r["params"]) if r["params"] else "",
                         format_count(r["macs"]) if r["macs"] else "", r["module"]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = [f"model {name}"]
    for i, row in enumerate(table):
        cells = [str(c).rjust(w) if j in (3, 4) else str(c).ljust(w) for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    by_kind = ", ".join(f"{k} {format_count(v)}" for k, v in totals["macs_by_kind"].items())
    lines.append(f"total: {totals['nodes']} ops, {totals['params']:,} params, {totals['macs']:,} MACs"
                 + (f" ({by_kind})" if by_kind else "") + f", {totals['elementwise']:,} elementwise ops")
    return "\n".join(lines)
