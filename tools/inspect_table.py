"""The ``lepton inspect`` table: one row per op with shape, dtype, params, MACs, module path and any
quantization, pruning-group and sensitivity annotations that passes have written."""
from __future__ import annotations

from typing import Any, Optional

from lepton_ir.analysis_manager import AnalysisManager
from lepton_ir.metadata import PRUNE_GROUP, QUANT, SENSITIVITY, VAL, module_path, op_name
from lepton_ir.module import Module
from lepton_ir.report import format_count
from lepton_ir.shapes import dtype_abbrev, format_signature


def _quant_text(annotation: Any) -> str:
    if not annotation:
        return ""
    if isinstance(annotation, dict):
        parts = [str(annotation.get("dtype", ""))]
        if "scale_min" in annotation and "scale_max" in annotation:
            parts.append(f"scale {annotation['scale_min']:.2g}..{annotation['scale_max']:.2g}")
        if annotation.get("observer"):
            parts.append(str(annotation["observer"]))
        return " ".join(p for p in parts if p)
    return str(annotation)


def inspect_rows(module: Module, op: Optional[str] = None, module_filter: Optional[str] = None
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows for the compute nodes matching ``op`` (substring of the op name) and ``module_filter``
    (substring of the module path), and totals over the rows shown and over the whole model."""
    cost = AnalysisManager(module).get("cost")
    rows = []
    for node in module.compute_nodes():
        name, path = op_name(node.target), module_path(node)
        if op and op.lower() not in name.lower():
            continue
        if module_filter and module_filter not in path:
            continue
        c = cost.nodes[node.name]
        val = node.meta.get(VAL)
        rows.append({
            "node": node.name, "op": name, "shape": format_signature(val),
            "dtype": dtype_abbrev(val.dtype) if hasattr(val, "dtype") else "",
            "params": c.params, "macs": c.macs, "kind": c.kind, "module": path,
            "quant": node.meta.get(QUANT), "prune_group": node.meta.get(PRUNE_GROUP),
            "sensitivity": node.meta.get(SENSITIVITY),
        })
    totals = {"nodes": len(rows), "params": sum(r["params"] for r in rows), "macs": sum(r["macs"] for r in rows),
              "model": {"nodes": len(cost.nodes), "params": cost.total_params, "macs": cost.total_macs,
                        "elementwise": cost.total_elementwise, "macs_by_kind": cost.macs_by_kind}}
    return rows, totals


def format_inspect(name: str, rows: list[dict[str, Any]], totals: dict[str, Any]) -> str:
    header = ["node", "op", "shape", "params", "MACs", "module"]
    optional = [("quant", "quant", _quant_text), ("prune_group", "group", str), ("sensitivity", "sensitivity",
                                                                                    lambda v: f"{v:.3g}")]
    shown = [(key, title, fmt) for key, title, fmt in optional if any(r[key] is not None for r in rows)]
    header += [title for _, title, _ in shown]
    table = [header]
    for r in rows:
        row = [r["node"], r["op"], r["shape"], format_count(r["params"]) if r["params"] else "",
               format_count(r["macs"]) if r["macs"] else "", r["module"]]
        row += [fmt(r[key]) if r[key] is not None else "" for key, _, fmt in shown]
        table.append(row)
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = [f"model {name}"]
    for i, row in enumerate(table):
        cells = [str(c).rjust(w) if j in (3, 4) else str(c).ljust(w) for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    model = totals["model"]
    if totals["nodes"] != model["nodes"]:
        lines.append(f"shown: {totals['nodes']} ops, {totals['params']:,} params, {totals['macs']:,} MACs")
    by_kind = ", ".join(f"{k} {format_count(v)}" for k, v in model["macs_by_kind"].items())
    lines.append(f"total: {model['nodes']} ops, {model['params']:,} params, {model['macs']:,} MACs"
                 + (f" ({by_kind})" if by_kind else "") + f", {model['elementwise']:,} elementwise ops")
    return "\n".join(lines)


def groups_rows(module: Module, groups: Any) -> list[dict[str, Any]]:
    """One row per channel group: its layers (module paths), channel count, and status."""
    nodes = {n.name: n for n in module.graph.nodes}
    rows = []
    for g in groups.groups:
        layers = [module_path(nodes[s]) or s if s in nodes else s for s in g.spaces]
        rows.append({"group": g.id, "layers": layers, "nodes": g.spaces, "channels": g.channels,
                     "status": "prunable" if g.excluded is None else f"excluded: {g.excluded}"})
    return rows


def format_groups(name: str, rows: list[dict[str, Any]]) -> str:
    lines = [f"model {name}: {len(rows)} channel groups, {sum(r['status'] == 'prunable' for r in rows)} prunable"]
    for r in rows:
        layers = ", ".join(r["layers"][:4]) + (f" (+{len(r['layers']) - 4})" if len(r["layers"]) > 4 else "")
        lines.append(f"  group {r['group']:>3}  {r['channels']:>5} ch  {r['status']:<40}  {layers}")
    return "\n".join(lines)
