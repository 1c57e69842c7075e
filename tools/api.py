"""``lepton_ir.compile``: trace, run a pipeline, lower and verify, in one call."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import torch

from lepton_ir.instrumentation import Instrumentation
from lepton_ir.module import Module
from lepton_ir.pass_manager import PassManager
from lepton_ir.pipeline import Pipeline
from lepton_ir.report import Report
from lepton_ir.trace import from_exported_program, trace

from ..backends import LoweringResult, get_backend

EXTENSIONS = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass
class CompileResult:
    """The compiled IR, the run's report, and the lowered artifact (None without a target)."""

    module: Module
    report: Report
    artifact: Optional[LoweringResult] = None


def compile(  # noqa: A001 - the public name users expect
    model: torch.nn.Module | torch.export.ExportedProgram | Module,
    example_inputs: Sequence[Any] | torch.Tensor | None = None,
    pipeline: str | Pipeline = "-O1",
    target: Optional[str] = "onnx",
    output: Optional[str] = None,
    calibration: Optional[Iterable[tuple[torch.Tensor, ...]]] = None,
    verify: bool = True,
    *,
    example_kwargs: Optional[Mapping[str, Any]] = None,
    dynamic_batch: bool = False,
    instrumentation: Optional[Instrumentation] = None,
    reproducer_dir: Optional[str] = None,
    name: Optional[str] = None,
    cache_dir: Optional[str] = None,
) -> CompileResult:
    """Compile ``model`` with ``pipeline`` and lower it to ``target`` ('onnx', 'torchscript' or None).

    The user's model is never modified: tracing works on a deep copy. ``verify`` checks every pass
    numerically and the artifact in its runtime against the IR; the report records both errors.
    ``output`` defaults to ``lepton-out/<name>.onnx`` (or ``.pt``) under the working directory.
    ``cache_dir``: where sensitivity results are saved and reused by later runs on the same IR and data.
    """
    if isinstance(model, Module):
        ir = model
    elif isinstance(model, torch.export.ExportedProgram):
        ir = from_exported_program(model, example_inputs, example_kwargs, name=name or "exported")
    else:
        if example_inputs is None and not example_kwargs:
            from lepton_ir.errors import InputError

            raise InputError("compile() needs example_inputs to trace the model")
        ir = trace(model, example_inputs or (), example_kwargs, dynamic_batch=dynamic_batch, name=name)
    manager = PassManager(pipeline, verify_each=verify, check_numerics=verify, instrumentation=instrumentation,
                          reproducer_dir=reproducer_dir, calibration=calibration, cache_dir=cache_dir)
    result = manager.run(ir)
    report = result.report
    artifact = None
    if target is not None:
        backend = get_backend(target)
        path = output or os.path.join("lepton-out", f"{ir.name}{EXTENSIONS[target]}")
        artifact = backend.lower(result.module, path, verify=verify)
        report.target, report.output = target, path
        report.verification = artifact.verification
        report.extra["artifact"] = artifact.details
    return CompileResult(module=result.module, report=report, artifact=artifact)
