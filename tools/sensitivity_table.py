"""The sensitivity tables the CLI prints (``lepton inspect --sensitivity`` and ``lepton compile``):
most sensitive first, so the layers to leave alone are at the top."""
from __future__ import annotations

from typing import Any, Optional

from lepton_ir.report import format_count


def _table(header: list[str], rows: list[list[str]], numeric_from: int) -> list[str]:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for k, row in enumerate([header] + rows):
        cells = [c.rjust(w) if i >= numeric_from else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _value(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.3g}"


def format_sensitivity(result: dict[str, Any], top: Optional[int] = None) -> str:
    """``result``: a SensitivityResult as a dict (what the report and ``--json`` carry)."""
    source = f"; reused from {result['cached']}" if result.get("cached") else ""
    metrics = ", ".join(m for m in result.get("output_metrics", []) if m) or result["metric"]
    lines = [f"sensitivity: method {result['method']}, metric {result['metric']} ({metrics}), "
             f"{result['batches']} batches, {result['trials']} trials, {result['seconds']:.1f} s{source}",
             f"  {result['note']}"]
    if result.get("baseline") is not None:
        lines.append(f"  reference score {result['baseline']:.4g}; values are the score lost")
    entries = result["entries"]
    prune = sorted((e for e in entries if e["kind"] == "prune"), key=lambda e: -max(e["values"].values()))
    # ops by their first precision's value (int8, what -O2 uses), groups by their largest ratio's
    quant = sorted((e for e in entries if e["kind"] == "quantize"),
                   key=lambda e: -next(iter(e["values"].values())))
    if prune:
        ratios = sorted({k for e in prune for k in e["values"]}, key=float)
        rows = [[e["name"], e["module"], str(e["units"]), format_count(e["macs"])] +
                [_value(e["values"].get(r)) for r in ratios] for e in prune[:top]]
        lines += ["", "pruning: output divergence with only this group pruned at each ratio"]
        lines += _table(["group", "module", "units", "MACs"] + [f"@{r}" for r in ratios], rows, 2)
    if quant:
        precisions = [p for p in ("int8", "int4", "binary") if any(p in e["values"] for e in quant)]
        rows = [[e["name"], e["module"], e["op"], format_count(e["macs"]) if e["macs"] else ""] +
                [_value(e["values"].get(p)) for p in precisions] for e in quant[:top]]
        lines += ["", "quantization: output divergence with only this op quantized"]
        lines += _table(["op", "module", "kind", "MACs"] + precisions, rows, 3)
    return "\n".join(lines)


def format_decisions(extra: dict[str, Any]) -> str:
    """What ``allocate=sensitivity`` and ``precision=auto`` chose, from a run's report extras."""
    lines = []
    for plan in extra.get("prune_allocation", []):
        lines.append(f"prune-channels allocate=sensitivity ({plan['target']}, {plan['method']}): summed sensitivity "
                     f"{plan['predicted']:.3g}, measured on the whole pruned model {plan['measured']:.3g}")
        lines += [f"  {g['group']:<16} {g['removed']:>4}/{g['units']:<4} units removed (ratio {g['ratio']:.3f}, "
                  f"sensitivity {g['sensitivity']:.3g})" for g in plan["groups"]]
    for choice in extra.get("quantize_auto", []):
        lines.append(f"quantize precision=auto (max_drop {choice['max_drop']:g}, {choice['method']}): whole-model "
                     f"divergence {choice['divergence']:.3g}; float: {', '.join(choice['float']) or 'none'}; "
                     f"int8: {len(choice['int8'])} ops; int4: {len(choice['int4'])} ops")
    return "\n".join(lines)
