"""The ``lepton`` command line: compile, opt, inspect, passes, train-demo.

Built on click (subcommands, typed options and usage errors for free). A LeptonError prints its
message and exits 1 without a traceback (set LEPTON_DEBUG=1 to see one).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click

from lepton_ir.errors import LeptonError
from lepton_ir.instrumentation import Instrumentation
from lepton_ir.pass_manager import PassManager
from lepton_ir.presets import PRESETS
from lepton_ir.report import format_pass_table, format_summary

from .model_source import load_plugin, load_source
from .sensitivity_cli import echo_sensitivity, inspect_sensitivity


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Report LeptonErrors as one clean message and exit status 1."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeptonError as e:
            if os.environ.get("LEPTON_DEBUG"):
                raise
            click.echo(f"error: {e}", err=True)
            sys.exit(1)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _load_plugins(plugins: tuple[str, ...]) -> None:
    from . import demo  # noqa: F401 - registers metric=demo-accuracy before pipelines are parsed

    for plugin in plugins:
        load_plugin(plugin)


def _pipeline_text(opt_level: str | None, pipeline: str | None, default: str) -> str:
    if opt_level is not None and pipeline is not None:
        raise click.UsageError("give either -O<level> or --pipeline, not both (a pipeline may start with -O1,...)")
    if opt_level is not None:
        return f"-O{opt_level}"
    return pipeline if pipeline is not None else default


_model_arg = click.argument("model", required=False, default="demo")
_input_shape = click.option("--input-shape", "input_shapes", multiple=True, metavar="1,3,224,224",
                            help="Shape of a random float input (repeat for several inputs).")
_plugin = click.option("--plugin", "plugins", multiple=True, metavar="FILE.py|module",
                       help="Import this first so that the passes it registers can be used.")
_opt = click.option("-O", "opt_level", type=click.Choice(sorted(p[2:] for p in PRESETS)), default=None,
                    help="Preset pipeline: -O0 (no passes), -O1 (exact folding and cleanups), -O2 (-O1 + int8), "
                         "-O3 (-O1 + sensitivity-guided pruning to 0.7x MACs and int8).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lepton")
def cli() -> None:
    """Lepton compiles PyTorch models into smaller, faster, verified ONNX and TorchScript artifacts.

    MODEL is demo, path/to/file.py:factory, package.module:factory, a .pt2 file from
    torch.export.save, or a .lepton file saved from the IR.
    """


@cli.command("compile")
@_model_arg
@_opt
@click.option("--pipeline", default=None, help="Pass pipeline, e.g. 'fold-batchnorm,dce' (default -O1).")
@click.option("--target", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True)
@click.option("-o", "--output", default=None, help="Artifact path (default lepton-out/<model>.onnx|.pt).")
@_input_shape
@click.option("--calib", default=None, metavar="SPEC", help="Calibration data: random:N, demo, or data.npz.")
@click.option("--train-data", default=None, metavar="SPEC",
              help="Training data for recovery steps (distill): demo, or data.npz with inputs and optional labels.")
@click.option("--report", "report_path", default=None, metavar="FILE.json", help="Write the JSON report here.")
@click.option("--report-html", "report_html", default=None, metavar="FILE.html",
              help="Write a one-page HTML report (passes, graphs, kernels, latency).")
@click.option("--cache-dir", default=None, metavar="DIR",
              help="Where sensitivity results are saved and reused (default: the --report file's directory).")
@click.option("--sensitivity-plot", default=None, metavar="FILE.png",
              help="With a sensitivity analysis in the pipeline: plot it (per-layer values) to this PNG.")
@click.option("--time-passes", is_flag=True, help="Print the per-pass timing table to stderr.")
@click.option("--print-ir-before-all", is_flag=True)
@click.option("--print-ir-after-all", is_flag=True)
@click.option("--print-ir-before", multiple=True, metavar="PASS")
@click.option("--print-ir-after", multiple=True, metavar="PASS")
@click.option("--print-changed-only", is_flag=True, help="With --print-ir-after*, only when the pass changed the IR.")
@click.option("--no-verify", is_flag=True, help="Skip per-pass numeric checks and artifact verification.")
@click.option("--dynamic-batch", is_flag=True, help="Export the first dimension of every input as dynamic.")
@click.option("--reproducer-dir", default=None, help="Where a failing pass leaves its reproducer.")
@_plugin
@_guard
def compile_cmd(model: str, opt_level: str | None, pipeline: str | None, target: str, output: str | None,
                input_shapes: tuple[str, ...], calib: str | None, train_data: str | None, report_path: str | None,
                report_html: str | None, cache_dir: str | None, sensitivity_plot: str | None,
                time_passes: bool,
                print_ir_before_all: bool, print_ir_after_all: bool, print_ir_before: tuple[str, ...],
                print_ir_after: tuple[str, ...], print_changed_only: bool, no_verify: bool,
                dynamic_batch: bool, reproducer_dir: str | None, plugins: tuple[str, ...]) -> None:
    """Compile MODEL (default: the built-in demo) and write a verified artifact."""
    from .api import EXTENSIONS
    from .calibration import load_calibration
    from ..backends import get_backend

    _load_plugins(plugins)
    text = _pipeline_text(opt_level, pipeline, "-O1")
    manager = PassManager(
        text, verify_each=not no_verify, check_numerics=not no_verify, reproducer_dir=reproducer_dir,
        instrumentation=Instrumentation(
            print_before_all=print_ir_before_all, print_after_all=print_ir_after_all,
            print_before=frozenset(print_ir_before), print_after=frozenset(print_ir_after),
            changed_only=print_changed_only, time_passes=time_passes),
        cache_dir=cache_dir or (os.path.dirname(os.path.abspath(report_path)) if report_path else None),
    )
    source = load_source(model, input_shapes)
    ir = source.to_ir(dynamic_batch=dynamic_batch)
    if calib:
        manager.context.calibration = load_calibration(calib, ir)
    if train_data:
        from .train_data import load_train_data

        manager.context.train_data = load_train_data(train_data, ir)
    click.echo(f"compiling {ir.name} with pipeline '{manager.pipeline or '(none)'}' for {target}")
    if "distill" in str(manager.pipeline) and not (calib or train_data):
        click.echo("warning: the pipeline distills (recovers accuracy after pruning) but has no data: pass "
                   "--calib or --train-data, or the pruned model keeps its accuracy loss", err=True)
    result = manager.run(ir)
    report = result.report
    click.echo(format_pass_table(report) if report.passes else "no passes run")
    click.echo(format_summary(report))
    for warning in report.extra.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    echo_sensitivity(report.extra, sensitivity_plot)
    path = output or os.path.join("lepton-out", f"{ir.name}{EXTENSIONS[target]}")
    artifact = get_backend(target).lower(result.module, path, verify=not no_verify)
    report.target, report.output, report.verification = target, path, artifact.verification
    report.extra["artifact"] = artifact.details
    if artifact.details.get("simplify", "ok") not in ("ok", "not requested"):
        click.echo(f"warning: onnx-simplifier {artifact.details['simplify']}", err=True)
    v = artifact.verification
    if v is not None:
        click.echo(f"verified in {v.backend}: max abs error {v.max_abs_error:.2e} vs the IR "
                   f"(tolerance {v.tolerance:g} relative), {v.reference_max_abs_error:.2e} vs the original model "
                   f"(cosine {v.details.get('cosine_vs_reference', 1.0):.5f})")
    else:
        click.echo("verification skipped (--no-verify)")
    if target == "onnx":
        from ..backends.onnx_kernels import kernel_counts

        kernels = kernel_counts(path)
        report.extra["kernels"] = kernels
        listing = lambda d: ", ".join(f"{op} {n}" for op, n in d.items()) or "none"  # noqa: E731
        click.echo(f"ONNX Runtime kernels: integer {listing(kernels['integer'])}; float conv/matmul "
                   f"{listing(kernels['float'])}")
    if source.is_demo:
        original, compiled = _demo_accuracy(target, path)
        report.extra["demo_accuracy"] = {"original": original, "compiled": compiled}
        click.echo(f"digits test-split accuracy: original {original:.2f}%, compiled ({target}) {compiled:.2f}%")
    size = os.path.getsize(path)
    click.echo(f"wrote {path} ({size / 1024:.1f} KiB)")
    if report_html:
        _write_html_report(report_html, report, ir, result.module, source, target, path)
        click.echo(f"HTML report: {report_html}")
    if report_path:
        with open(report_path, "w") as fh:
            fh.write(report.to_json())
        click.echo(f"report: {report_path}")


def _write_html_report(out: str, report, before, after, source, target: str, path: str) -> None:  # noqa: ANN001
    """Measure kernels and latency of the artifact, then write the HTML report."""
    import torch

    from .latency import interleaved_medians
    from .report_html import render_report

    inputs = before.example_inputs
    original = source.model.eval() if source.model is not None else before.graph_module
    if target == "onnx":
        from ..backends.onnx import run_session, session

        kernels = report.extra.get("kernels")
        sess = session(path)

        def artifact() -> object:
            return run_session(sess, before)
    else:
        kernels = None
        loaded = torch.jit.load(path)

        def artifact() -> object:
            with torch.no_grad():
                return loaded(*inputs)

    def run_original() -> object:
        with torch.no_grad():
            return original(*inputs)

    latency = interleaved_medians({"original": run_original, f"artifact ({target})": artifact}, rounds=5, per_round=3)
    report.extra["latency_seconds"] = latency
    with open(out, "w") as fh:
        fh.write(render_report(report, before, after, kernels=kernels, latency=latency))


def _demo_accuracy(target: str, path: str) -> tuple[float, float]:
    """Accuracy of the shipped demo model and of the artifact at ``path``, on the test split."""
    import torch

    from . import demo

    data = demo.load_data()
    original = demo.accuracy(demo.load_model(), data.x_test, data.y_test)
    if target == "onnx":
        from ..backends.onnx import session

        sess = session(path)
        name = sess.get_inputs()[0].name

        def predict(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(sess.run(None, {name: x.numpy()})[0])
    else:
        loaded = torch.jit.load(path)

        def predict(x: torch.Tensor) -> torch.Tensor:
            out = loaded(x)
            return out[0] if isinstance(out, (tuple, list)) else out

    return original, demo.accuracy(predict, data.x_test, data.y_test)


@cli.command("opt")
@click.argument("model")
@_opt
@click.option("--pipeline", default=None, help="Pass pipeline to run (default -O1).")
@_input_shape
@click.option("-o", "--output", default=None, metavar="FILE.lepton", help="Save the resulting IR.")
@click.option("--time-passes", is_flag=True)
@click.option("--print-ir-after-all", is_flag=True)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the final IR.")
@click.option("--no-verify", is_flag=True)
@click.option("--reproducer-dir", default=None)
@_plugin
@_guard
def opt_cmd(model: str, opt_level: str | None, pipeline: str | None, input_shapes: tuple[str, ...],
            output: str | None, time_passes: bool, print_ir_after_all: bool, quiet: bool, no_verify: bool,
            reproducer_dir: str | None, plugins: tuple[str, ...]) -> None:
    """Run passes on MODEL and print the resulting IR."""
    _load_plugins(plugins)
    manager = PassManager(
        _pipeline_text(opt_level, pipeline, "-O1"), verify_each=not no_verify, check_numerics=not no_verify,
        reproducer_dir=reproducer_dir,
        instrumentation=Instrumentation(time_passes=time_passes, print_after_all=print_ir_after_all),
    )
    result = manager.run(load_source(model, input_shapes).to_ir())
    if not quiet:
        click.echo(str(result.module))
    if output:
        result.module.save(output)
        click.echo(f"saved IR to {output}", err=True)


@cli.command("inspect")
@click.argument("model", required=False, default="demo")
@_input_shape
@click.option("--pipeline", default=None, help="Inspect the IR after these passes (e.g. -O1).")
@click.option("--op", "op_filter", default=None, help="Only ops whose name contains this (e.g. conv).")
@click.option("--module", "module_filter", default=None, help="Only nodes whose module path contains this.")
@click.option("--prune-groups", is_flag=True, help="List the channel groups structured pruning sees, and why "
              "excluded ones are excluded.")
@click.option("--sensitivity", "sensitivity", is_flag=True,
              help="Measure per-layer sensitivity to pruning and quantization and print it, most sensitive first.")
@click.option("--sensitivity-options", default="", metavar="OPTS",
              help="Options of the sensitivity analysis, e.g. 'method=fisher,precisions=[int8,int4,binary]'.")
@click.option("--calib", default=None, metavar="SPEC", help="Data for --sensitivity: random:N, demo, or data.npz.")
@click.option("--plot", default=None, metavar="FILE.png",
              help="With --sensitivity: write per-layer sensitivity and the accuracy/MACs trade-off to this PNG.")
@click.option("--cache-dir", default=None, metavar="DIR", help="Save and reuse sensitivity results here.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_plugin
@_guard
def inspect_cmd(model: str, input_shapes: tuple[str, ...], pipeline: str | None, op_filter: str | None,
                module_filter: str | None, prune_groups: bool, sensitivity: bool, sensitivity_options: str,
                calib: str | None, plot: str | None, cache_dir: str | None, as_json: bool,
                plugins: tuple[str, ...]) -> None:
    """A table of MODEL's nodes: shape, dtype, params, MACs, module path, annotations; and totals."""
    from lepton_ir.analysis_manager import AnalysisManager

    from .inspect_table import format_groups, format_inspect, groups_rows, inspect_rows

    _load_plugins(plugins)
    ir = load_source(model, input_shapes).to_ir()
    if pipeline:
        ir = PassManager(pipeline).run(ir).module
    if plot and not sensitivity:
        raise click.UsageError("--plot draws a sensitivity result: add --sensitivity")
    if sensitivity:
        inspect_sensitivity(ir, sensitivity_options, calib, plot, cache_dir, as_json)
        return
    if prune_groups:
        groups = groups_rows(ir, AnalysisManager(ir).get("channel-groups"))
        click.echo(json.dumps(groups, indent=2) if as_json else format_groups(ir.name, groups))
        return
    rows, totals = inspect_rows(ir, op_filter, module_filter)
    if as_json:
        click.echo(json.dumps({"model": ir.name, "nodes": rows, "totals": totals}, indent=2, default=str))
    else:
        click.echo(format_inspect(ir.name, rows, totals))


@cli.command("graph")
@click.argument("model", required=False, default="demo")
@click.option("-o", "--output", required=True, metavar="OUT.svg|OUT.dot|OUT.html")
@_input_shape
@click.option("--pipeline", default=None, help="Draw the IR after these passes.")
@click.option("--collapse-depth", type=int, default=None,
              help="Merge modules deeper than this many path components into one box.")
@_plugin
@_guard
def graph_cmd(model: str, output: str, input_shapes: tuple[str, ...], pipeline: str | None,
              collapse_depth: int | None, plugins: tuple[str, ...]) -> None:
    """Draw MODEL's IR as SVG (needs Graphviz), DOT, or a self-contained HTML page."""
    from .graph_dot import to_dot, to_svg
    from .graph_html import to_html
    from .graph_view import collapse, graph_view

    _load_plugins(plugins)
    ext = os.path.splitext(output)[1].lower()
    if ext not in (".svg", ".dot", ".html"):
        raise click.UsageError(f"the output must end in .svg, .dot or .html, not {ext or 'nothing'}")
    ir = load_source(model, input_shapes).to_ir()
    if pipeline:
        ir = PassManager(pipeline).run(ir).module
    view = graph_view(ir)
    if ext == ".html":
        chosen = None if collapse_depth is None else sorted({
            ".".join(n.module.split(".")[:collapse_depth + 1]) for n in view.nodes
            if n.module and n.module.count(".") >= collapse_depth})
        text = to_html(view, chosen)
    else:
        drawn = collapse(view, collapse_depth) if collapse_depth is not None else view
        text = to_dot(drawn) if ext == ".dot" else to_svg(to_dot(drawn))
    with open(output, "w") as fh:
        fh.write(text)
    click.echo(f"wrote {output}: {len(view.nodes)} nodes, {len(view.edges)} edges")


@cli.command("diff")
@click.argument("first")
@click.argument("second", required=False)
@click.option("--pipeline", default=None, help="With one MODEL: diff the IR before/after each pass of this pipeline.")
@_input_shape
@click.option("--json", "as_json", is_flag=True)
@_plugin
@_guard
def diff_cmd(first: str, second: str | None, pipeline: str | None, input_shapes: tuple[str, ...], as_json: bool,
             plugins: tuple[str, ...]) -> None:
    """Nodes added/removed/changed, weight shapes changed, params/MACs delta: between two saved IRs,
    or across every pass of --pipeline on one MODEL."""
    from .ir_diff import PassDiffRecorder, diff_modules

    _load_plugins(plugins)
    if second is not None:
        if pipeline:
            raise click.UsageError("give two IRs, or one MODEL with --pipeline, not both")
        diffs = [diff_modules(load_source(first, input_shapes).to_ir(), load_source(second, input_shapes).to_ir(),
                              title=f"{first} -> {second}")]
    else:
        if not pipeline:
            raise click.UsageError("give two IRs to compare, or one MODEL and --pipeline")
        recorder = PassDiffRecorder()
        PassManager(pipeline, instrumentation=Instrumentation(observers=[recorder])).run(
            load_source(first, input_shapes).to_ir())
        diffs = recorder.diffs
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in diffs], indent=2))
    else:
        click.echo("\n\n".join(d.format() for d in diffs) if diffs else "no pass changed the IR")


@cli.command("replay")
@click.argument("target")
@click.option("--pipeline", default=None, help="Run this instead of the recorded pass (or, with --bisect, pipeline).")
@click.option("--print-ir-before", is_flag=True, help="Print the IR the pass is replayed on.")
@click.option("--bisect", "bisect_mode", is_flag=True,
              help="Find the first pass of the pipeline whose output stops matching the reference.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True,
              help="With --bisect: allowed max abs error relative to the largest reference output.")
@_input_shape
@_plugin
@_guard
def replay_cmd(target: str, pipeline: str | None, print_ir_before: bool, bisect_mode: bool, tolerance: float,
               input_shapes: tuple[str, ...], plugins: tuple[str, ...]) -> None:
    """Rerun the crash reproducer in TARGET (a directory a failed pass left), or with --bisect find
    the first pass whose output goes wrong (TARGET: a reproducer directory, or a MODEL with --pipeline)."""
    from .replay import bisect, is_reproducer, load_reproducer, replay

    _load_plugins(plugins)
    reproducer = load_reproducer(target) if is_reproducer(target) else None
    if bisect_mode:
        if reproducer is not None:
            start = reproducer.original or reproducer.input
            text = pipeline or (reproducer.full_pipeline if reproducer.original else reproducer.pass_spec)
        else:
            if not pipeline:
                raise click.UsageError("--bisect on a MODEL needs --pipeline")
            start, text = load_source(target, input_shapes).to_ir(), pipeline
        if print_ir_before:
            click.echo(str(start))
        result = bisect(start, text, tolerance)
        click.echo(result.format(tolerance))
        return
    if reproducer is None:
        raise click.UsageError(f"{target} is not a reproducer directory; to bisect a MODEL use --bisect --pipeline")
    if print_ir_before:
        click.echo(f"// IR before {pipeline or reproducer.pass_spec}\n{reproducer.input}")
    module = replay(reproducer, pipeline)
    click.echo(f"{pipeline or reproducer.pass_spec} succeeded on the reproducer this time")
    click.echo(str(module))


@cli.command("passes")
@click.option("--json", "as_json", is_flag=True)
@click.option("--plugin", "plugins", multiple=True)
@_guard
def passes_cmd(as_json: bool, plugins: tuple[str, ...]) -> None:
    """List every registered pass with its kind, contract, summary and options."""
    from .pass_listing import describe_passes, format_passes

    _load_plugins(plugins)
    described = describe_passes()
    click.echo(json.dumps(described, indent=2) if as_json else format_passes(described))


@cli.command("train-demo")
@click.option("--epochs", default=30, show_default=True)
@click.option("-o", "--output", default=None, help="Where to write the weights (default: the packaged file).")
@_guard
def train_demo_cmd(epochs: int, output: str | None) -> None:
    """Retrain the demo model reproducibly (fixed seed, one thread) and write its weights."""
    from . import demo

    _, acc = demo.train(epochs=epochs, output=output or demo.WEIGHTS)
    click.echo(f"trained DigitsCNN for {epochs} epochs: test accuracy {acc:.2f}%; wrote {output or demo.WEIGHTS}")


def main() -> None:
    cli(prog_name="lepton")


if __name__ == "__main__":
    main()
