"""A PNG of a sensitivity result: per-op quantization sensitivity, per-group pruning curves and,
when measured, the accuracy/MACs trade-off (tradeoff.py). matplotlib, headless (Agg)."""
from __future__ import annotations

from typing import Any, Optional


def write_plot(result: dict[str, Any], path: str, tradeoff: Optional[dict[str, Any]] = None, top: int = 30) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quant = sorted((e for e in result["entries"] if e["kind"] == "quantize"), key=lambda e: -max(e["values"].values()))
    prune = sorted((e for e in result["entries"] if e["kind"] == "prune"), key=lambda e: -max(e["values"].values()))
    panels = [p for p in ("quant", "prune", "tradeoff") if {"quant": quant, "prune": prune, "tradeoff": tradeoff}[p]]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(6.5 * max(len(panels), 1), 5), squeeze=False)
    title = f"{result['method']}, metric {result['metric']}"
    for ax, panel in zip(axes[0], panels):
        if panel == "quant":
            shown = quant[:top][::-1]
            precisions = [p for p in ("int8", "int4", "binary") if any(p in e["values"] for e in shown)]
            height = 0.8 / len(precisions)
            for k, precision in enumerate(precisions):
                ax.barh([i + k * height for i in range(len(shown))],
                        [e["values"].get(precision, 0.0) for e in shown], height=height, label=precision)
            ax.set_yticks([i + 0.4 - height / 2 for i in range(len(shown))])
            ax.set_yticklabels([f"{e['name']} ({e['module']})" for e in shown], fontsize=7)
            ax.set_xscale("symlog", linthresh=1e-6)
            ax.set_xlabel("output divergence, only this op quantized")
            ax.set_title(f"quantization sensitivity ({title})", fontsize=9)
            ax.legend(fontsize=8)
        elif panel == "prune":
            for e in prune[:12]:
                xs, ys = zip(*([(0.0, 0.0)] + sorted((float(k), v) for k, v in e["values"].items())))
                ax.plot(xs, ys, marker="o", label=f"{e['name']} ({e['module']}, {e['units']})")
            ax.set_xlabel("fraction of the group's units removed")
            ax.set_ylabel("output divergence, only this group pruned")
            ax.set_title(f"pruning sensitivity ({title})", fontsize=9)
            ax.legend(fontsize=6)
        else:
            for key, style in (("sensitivity", "o-"), ("uniform", "s--")):
                points = sorted((p["macs"], p["value"]) for p in tradeoff[key])
                if points:
                    ax.plot(*zip(*points), style, label=f"{key} allocation" if key == "sensitivity" else "uniform ratio")
            ax.set_xlabel("MACs kept (fraction of the unpruned model)")
            ax.set_ylabel(f"score ({tradeoff['metric']})" if tradeoff["higher_is_better"] else
                          f"output divergence ({tradeoff['metric']})")
            ax.set_title("trade-off before fine-tuning", fontsize=9)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
