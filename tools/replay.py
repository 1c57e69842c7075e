"""``lepton replay``: rerun a crash reproducer, or find the first pass whose output goes wrong."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from lepton_ir.errors import LeptonError, ModelLoadError, PassError
from lepton_ir.instrumentation import Instrumentation
from lepton_ir.module import Module
from lepton_ir.pass_manager import PassManager
from lepton_ir.reproducer import INPUT_FILE, ORIGINAL_FILE

from .ir_diff import IRDiff, PassDiffRecorder
from .model_source import load_plugin


@dataclass
class Reproducer:
    directory: str
    input: Module
    pass_spec: str
    full_pipeline: str
    original: Optional[Module]


def is_reproducer(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, INPUT_FILE))


def load_reproducer(directory: str) -> Reproducer:
    if not is_reproducer(directory):
        raise ModelLoadError(f"{directory} is not a Lepton reproducer directory (no {INPUT_FILE})")

    def read(name: str) -> str:
        path = os.path.join(directory, name)
        return open(path).read().strip() if os.path.exists(path) else ""

    for plugin in read("plugins.txt").splitlines():
        if plugin.strip():
            load_plugin(plugin.strip())
    original_path = os.path.join(directory, ORIGINAL_FILE)
    return Reproducer(
        directory=directory, input=Module.load(os.path.join(directory, INPUT_FILE)), pass_spec=read("pipeline.txt"),
        full_pipeline=read("full_pipeline.txt"),
        original=Module.load(original_path) if os.path.exists(original_path) else None,
    )


@dataclass
class BisectResult:
    """The first pass whose outputs left the tolerance (None: every pass stayed within it)."""

    culprit: Optional[str]
    position: Optional[int]
    max_rel_error: Optional[float]
    max_abs_error: Optional[float]
    diff: Optional[IRDiff]
    failure: Optional[str]
    passes_checked: int

    def format(self, tolerance: float) -> str:
        if self.failure:
            return f"pass {self.culprit} failed outright before its outputs could be compared:\n{self.failure}"
        if self.culprit is None:
            return f"all {self.passes_checked} passes keep the outputs within {tolerance:g} of the reference"
        head = (f"first pass whose output stops matching the reference: {self.culprit} (#{self.position} of "
                f"{self.passes_checked} in run order): max abs error {self.max_abs_error:.3e}, relative "
                f"{self.max_rel_error:.3e} > {tolerance:g}")
        return head + ("\n" + self.diff.format() if self.diff else "")


def bisect(module: Module, pipeline: str, tolerance: float = 1e-4) -> BisectResult:
    """Run ``pipeline`` once, measuring the outputs against the reference after every pass, and name
    the first pass after which the relative error exceeds ``tolerance``. Contracts are not enforced,
    so a pass that lies about its exactness is still run and measured."""
    recorder = PassDiffRecorder()
    manager = PassManager(pipeline, enforce_contracts=False, reproducers=False,
                          instrumentation=Instrumentation(observers=[recorder]))
    scale = max((float(t.abs().max()) for t in module.reference_outputs if t.numel()), default=1.0) or 1.0
    try:
        report = manager.run(module).report
    except PassError as e:
        return BisectResult(e.pass_name, None, None, None, None, str(e), 0)
    changed_index = 0
    for position, row in enumerate(report.passes, start=1):
        diff = None
        if row.changed and row.kind == "transform":
            diff = recorder.diffs[changed_index] if changed_index < len(recorder.diffs) else None
            changed_index += 1
        if row.max_abs_error is not None and row.max_abs_error / scale > tolerance:
            label = row.name if row.iteration is None else f"{row.name} (fixpoint iteration {row.iteration})"
            return BisectResult(label, position, row.max_abs_error / scale, row.max_abs_error, diff, None,
                                len(report.passes))
    return BisectResult(None, None, None, None, None, None, len(report.passes))


def replay(reproducer: Reproducer, pipeline: Optional[str] = None) -> Module:
    """Run the failing pass again on the IR it failed on; raises the same PassError if it still fails."""
    return PassManager(pipeline or reproducer.pass_spec, reproducers=False).run(reproducer.input).module


__all__ = ["BisectResult", "LeptonError", "Reproducer", "bisect", "is_reproducer", "load_reproducer", "replay"]
