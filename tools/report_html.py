"""``lepton compile --report-html``: one page with everything a compile measured and changed."""
from __future__ import annotations

import html
from typing import Any, Optional

from lepton_ir.module import Module
from lepton_ir.report import Report, format_count

from .graph_html import default_collapsed, graph_fragment, page
from .graph_view import graph_view
from .sensitivity_table import format_decisions


def _table(header: list[str], rows: list[list[Any]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _sensitivity_svg(values: dict[str, float]) -> str:
    """A horizontal bar chart of per-layer sensitivity (inline SVG: nothing to install)."""
    items = sorted(values.items(), key=lambda kv: -kv[1])[:40]
    top = max((v for _, v in items), default=1.0) or 1.0
    bars = []
    for i, (name, value) in enumerate(items):
        width = 400 * value / top
        bars.append(f'<text x="0" y="{i * 18 + 13}" font-size="11">{html.escape(name)}</text>'
                    f'<rect x="220" y="{i * 18 + 3}" width="{width:.1f}" height="12" fill="#5c6bc0"/>'
                    f'<text x="{225 + width:.1f}" y="{i * 18 + 13}" font-size="10">{value:.3g}</text>')
    return f'<svg class="sensitivity" width="700" height="{len(items) * 18 + 10}">{"".join(bars)}</svg>'


def _headline_values(result: dict) -> dict[str, float]:
    """One number per layer: int8 quantization, or pruning half the group's units."""
    values = {}
    for e in result["entries"]:
        setting = "int8" if e["kind"] == "quantize" else "0.5"
        value = e["values"].get(setting, max(e["values"].values()))
        label = f"{'quantize' if e['kind'] == 'quantize' else 'prune'} {e['name']}"
        values[label + (f" @{setting}" if setting in e["values"] else "")] = value
    return values


def render_report(report: Report, before: Module, after: Module, *, kernels: Optional[dict[str, dict[str, int]]] = None,
                  latency: Optional[dict[str, float]] = None) -> str:
    b, a = report.before, report.after

    def ratio(x: int, y: int) -> str:
        return f"{y / x:.3f}x" if x else "-"

    parts = [f"<h1>Lepton compile report: {html.escape(report.model)}</h1>",
             f"<p>pipeline <code>{html.escape(report.pipeline or '(none)')}</code>, target "
             f"<code>{html.escape(str(report.target))}</code>, artifact <code>{html.escape(str(report.output))}</code></p>",
             "<h2>Summary</h2>",
             _table(["", "before", "after", "ratio"], [
                 ["nodes", b.nodes, a.nodes, ratio(b.nodes, a.nodes)],
                 ["params", format_count(b.params), format_count(a.params), ratio(b.params, a.params)],
                 ["MACs", format_count(b.macs), format_count(a.macs), ratio(b.macs, a.macs)]], "summary"),
             "<h2>Passes</h2>",
             _table(["pass", "seconds", "changed", "stats", "nodes", "params", "MACs", "max abs error"], [
                 [p.name + ("" if p.iteration is None else f" #{p.iteration}"), f"{p.seconds:.4f}",
                  "yes" if p.changed else "no", ", ".join(f"{k}={v}" for k, v in p.stats.items()), p.nodes,
                  format_count(p.params), format_count(p.macs),
                  "-" if p.max_abs_error is None else f"{p.max_abs_error:.2e}"] for p in report.passes], "passes")]
    v = report.verification
    parts.append("<h2>Verification</h2>")
    if v is None:
        parts.append("<p>not run (--no-verify or no target)</p>")
    else:
        parts.append(_table(["backend", "passed", "max abs error vs IR", "tolerance (relative)", "max abs error vs original"],
                            [[v.backend, "yes" if v.passed else "NO", f"{v.max_abs_error:.3e}", f"{v.tolerance:g}",
                              "-" if v.reference_max_abs_error is None else f"{v.reference_max_abs_error:.3e}"]],
                            "verification"))
    parts.append("<h2>Kernels ONNX Runtime runs</h2>")
    if kernels is None:
        parts.append("<p>not measured (the target is not ONNX)</p>")
    else:
        rows = [["integer", op, n] for op, n in kernels["integer"].items()] + \
               [["float", op, n] for op, n in kernels["float"].items()]
        parts.append(_table(["kind", "op", "count"], rows, "kernels") if rows else "<p>no conv/matmul kernels</p>")
        parts.append(f"<p>{sum(kernels['integer'].values())} integer kernels, "
                     f"{sum(kernels['float'].values())} float conv/matmul kernels</p>")
    parts.append("<h2>Latency</h2>")
    if latency:
        base = latency.get("original")
        parts.append(_table(["what", "median ms", "vs original"], [
            [k, f"{s * 1e3:.3f}", f"{s / base:.3f}x" if base else "-"] for k, s in latency.items()], "latency"))
        parts.append("<p>Interleaved in one process; medians. Compare ratios, not absolute times.</p>")
    else:
        parts.append("<p>not measured</p>")
    parts.append("<h2>Sensitivity</h2>")
    results = report.extra.get("sensitivity") or []
    for result in results:
        parts.append(f"<p>{html.escape(result['method'])}, metric {html.escape(result['metric'])}, "
                     f"{result['trials']} trials, {result['seconds']:.1f} s. {html.escape(result['note'])}</p>")
        parts.append(_sensitivity_svg(_headline_values(result)))
    if not results:
        parts.append("<p>not computed (no sensitivity analysis in this pipeline)</p>")
    decisions = format_decisions(report.extra)
    if decisions:
        parts.append(f"<pre>{html.escape(decisions)}</pre>")
    view_before, view_after = graph_view(before), graph_view(after)
    parts += ["<h2>Graph before</h2>", graph_fragment(view_before, default_collapsed(view_before)),
              "<h2>Graph after</h2>", graph_fragment(view_after, default_collapsed(view_after))]
    style = ("<style>table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #cfd8dc;padding:3px 8px;"
             "font-size:13px}body{font-family:Helvetica,Arial,sans-serif}</style>")
    return page(f"Lepton report: {report.model}", style + "".join(parts))
