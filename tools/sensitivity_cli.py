"""The sensitivity parts of the command line: ``lepton inspect --sensitivity`` and what ``lepton
compile`` prints (tables, decisions, plot) when a pipeline measured sensitivity."""
from __future__ import annotations

import json

import click

from lepton_ir.module import Module


def echo_sensitivity(extra: dict, plot: str | None) -> None:
    """Sensitivity tables and the decisions made from them, when the pipeline measured any."""
    from .sensitivity_table import format_decisions, format_sensitivity

    for result in extra.get("sensitivity", []):
        click.echo(format_sensitivity(result, top=25))
    decisions = format_decisions(extra)
    if decisions:
        click.echo(decisions)
    if plot:
        if not extra.get("sensitivity"):
            raise click.UsageError("--sensitivity-plot: no sensitivity was measured in this pipeline "
                                   "(add 'sensitivity', -O3, allocate=sensitivity or precision=auto)")
        from .sensitivity_plot import write_plot

        write_plot(extra["sensitivity"][-1], plot)
        click.echo(f"sensitivity plot: {plot}")


def inspect_sensitivity(ir: Module, options: str, calib: str | None, plot: str | None, cache_dir: str | None,
                        as_json: bool) -> None:
    """Measure, print (table or JSON) and optionally plot, with the trade-off curve when groups exist."""
    from lepton_ir.analysis_manager import AnalysisManager
    from lepton_ir.pass_base import PassContext
    from lepton_ir.pipeline import parse_pipeline

    from .calibration import load_calibration
    from .sensitivity_table import format_sensitivity

    step = parse_pipeline(f"sensitivity{{{options}}}" if options.strip() else "sensitivity").items[0]
    context = PassContext(calibration=load_calibration(calib, ir) if calib else None, cache_dir=cache_dir)
    result = AnalysisManager(ir, context).get(step.instance).to_dict()
    output: dict = {"model": ir.name, "sensitivity": result}
    if plot:
        from .sensitivity_plot import write_plot
        from .tradeoff import tradeoff

        curve = None
        if any(e["kind"] == "prune" for e in result["entries"]):
            curve = tradeoff(ir, context.calibration, metric=step.instance.options.metric, cache_dir=cache_dir,
                             criterion=step.instance.options.criterion)
            output["tradeoff"] = curve
        write_plot(result, plot, curve)
    if as_json:
        click.echo(json.dumps(output, indent=2))
        return
    click.echo(format_sensitivity(result))
    for key in ("sensitivity", "uniform"):
        points = output.get("tradeoff", {}).get(key, [])
        if points:
            text = ", ".join(f"{p['macs']:.2f}x: {p['value']:.3g}" for p in points)
            click.echo(f"trade-off ({'sensitivity allocation' if key == 'sensitivity' else 'uniform ratio'}): {text}")
    if plot:
        click.echo(f"plot: {plot}")
