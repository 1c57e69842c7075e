"""The structured report of a run: per-pass rows and before/after totals, JSON-serialisable.

Schema (additive; these keys stay): see docs/architecture.md.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional


@dataclass
class GraphStats:
    nodes: int
    params: int
    macs: int


@dataclass
class PassRecord:
    name: str
    options: dict[str, Any]
    seconds: float
    changed: bool
    stats: dict[str, Any]
    nodes: int
    params: int
    macs: int
    max_abs_error: Optional[float]
    kind: str = "transform"
    iteration: Optional[int] = None  # 1-based iteration inside a fixpoint group


@dataclass
class Verification:
    backend: str
    max_abs_error: float
    passed: bool
    max_rel_error: float = 0.0
    tolerance: float = 0.0
    reference_max_abs_error: Optional[float] = None  # artifact vs the original model (not the IR)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    model: str
    pipeline: str
    before: GraphStats
    after: GraphStats
    passes: list[PassRecord] = field(default_factory=list)
    target: Optional[str] = None
    output: Optional[str] = None
    verification: Optional[Verification] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        data.update(extra)
        return data

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_json_default)

    def total_seconds(self) -> float:
        return sum(p.seconds for p in self.passes)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def format_count(n: float) -> str:
    """1234567 -> '1.23M': readable magnitudes for tables."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(int(n)) if float(n).is_integer() else f"{n:.3g}"


def format_pass_table(report: Report) -> str:
    """The ``--time-passes`` table: one row per pass run, slowest visible at a glance."""
    rows = [("pass", "seconds", "changed", "nodes", "params", "MACs", "max abs err")]
    for p in report.passes:
        label = p.name if p.iteration is None else f"{p.name} #{p.iteration}"
        err = "-" if p.max_abs_error is None else f"{p.max_abs_error:.2e}"
        rows.append((label, f"{p.seconds:.4f}", "yes" if p.changed else "no", str(p.nodes),
                     format_count(p.params), format_count(p.macs), err))
    total = report.total_seconds()
    rows.append(("total", f"{total:.4f}", "", "", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_summary(report: Report) -> str:
    b, a = report.before, report.after

    def ratio(x: int, y: int) -> str:
        return f"{y / x:.3f}x" if x else "-"

    return "\n".join([
        f"{'':8}{'before':>10}{'after':>10}{'ratio':>9}",
        f"{'nodes':8}{b.nodes:>10}{a.nodes:>10}{ratio(b.nodes, a.nodes):>9}",
        f"{'params':8}{format_count(b.params):>10}{format_count(a.params):>10}{ratio(b.params, a.params):>9}",
        f"{'MACs':8}{format_count(b.macs):>10}{format_count(a.macs):>10}{ratio(b.macs, a.macs):>9}",
    ])
