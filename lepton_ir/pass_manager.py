"""Runs a pipeline over a copy of the IR: verifier after each pass, numeric checks, report rows."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import torch

from .analysis_manager import AnalysisManager
from .errors import LeptonError, PassError, VerificationError
from .instrumentation import Instrumentation
from .metadata import describe, source_line
from .module import Module
from .node_context import failing_node, source_of_exception
from .numerics import compare_outputs
from .pass_base import AnalysisPass, PassContext, PassResult, TrainData, TransformPass
from .pipeline import FixedPointGroup, PassStep, Pipeline, PipelineItem, parse_pipeline
from .printer import format_graph
from .report import GraphStats, PassRecord, Report, format_pass_table
from .reproducer import write_reproducer
from .verifier import verify


@dataclass
class RunResult:
    module: Module
    report: Report


class PassManager:
    """Runs ``pipeline`` (text or parsed) on a module and returns a new one; the input is untouched.

    ``verify_each``: run the IR verifier after every transform that changed the IR.
    ``check_numerics``: run the IR on its example inputs after every change; exact passes must
    keep outputs within their contract, and each row records the error against the original.
    ``enforce_contracts``: with False, errors are still measured and reported per pass but a pass that
    breaks its contract does not stop the run (``lepton replay --bisect`` uses this).
    ``reproducers``: on failure, write the IR before the failing pass to ``reproducer_dir``
    (default: ``$LEPTON_REPRODUCER_DIR``, else the system temporary directory).
    """

    def __init__(
        self,
        pipeline: str | Pipeline,
        *,
        verify_each: bool = True,
        check_numerics: bool = True,
        instrumentation: Optional[Instrumentation] = None,
        reproducers: bool = True,
        reproducer_dir: Optional[str] = None,
        calibration: Optional[Iterable[tuple[torch.Tensor, ...]]] = None,
        seed: int = 0,
        enforce_contracts: bool = True,
        train_data: Optional[TrainData] = None,
        cache_dir: Optional[str] = None,
    ):
        self.pipeline = parse_pipeline(pipeline)
        self.verify_each = verify_each
        self.check_numerics = check_numerics
        self.enforce_contracts = enforce_contracts
        self.instrumentation = instrumentation or Instrumentation()
        self.reproducers = reproducers
        self.reproducer_dir = reproducer_dir or os.environ.get("LEPTON_REPRODUCER_DIR") or None
        self.context = PassContext(calibration=calibration, seed=seed, train_data=train_data, cache_dir=cache_dir)

    def run(self, module: Module) -> RunResult:
        # Passes that draw random numbers see the fixed seed; the caller's RNG state is restored after.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.context.seed)
            return self._run(module)

    def _run(self, module: Module) -> RunResult:
        work = module.clone()
        state = _RunState(work, AnalysisManager(work, self.context), self)
        state.original = module
        self.context.teacher = module
        self.context.report_extra = {}
        before = state.stats()
        state.outputs = work.run_examples() if self.check_numerics else None
        state.error = compare_outputs(state.outputs, work.reference_outputs).max_abs_error if state.outputs else None
        state.run_items(self.pipeline.items, iteration=None)
        report = Report(
            model=module.name, pipeline=str(self.pipeline), before=before,
            after=state.stats(), passes=state.records,
        )
        report.extra.update(self.context.report_extra)
        if state.warnings:
            report.extra.setdefault("warnings", []).extend(state.warnings)
        if self.instrumentation.time_passes:
            out = self.instrumentation._out()
            out.write(format_pass_table(report) + "\n")
        return RunResult(module=state.module, report=report)


class _RunState:
    """The mutable state of one run, so that PassManager itself stays reusable."""

    def __init__(self, module: Module, analyses: AnalysisManager, manager: PassManager):
        self.module = module
        self.analyses = analyses
        self.manager = manager
        self.records: list[PassRecord] = []
        self.ran: list[str] = []
        self.warnings: list[str] = []
        self.outputs: Optional[tuple[torch.Tensor, ...]] = None
        self.error: Optional[float] = None
        self.original: Optional[Module] = None

    def stats(self) -> GraphStats:
        cost = self.analyses.get("cost")
        nodes = sum(1 for _ in self.module.compute_nodes())
        return GraphStats(nodes=nodes, params=cost.total_params, macs=cost.total_macs)

    def run_items(self, items: Sequence[PipelineItem], iteration: Optional[int]) -> bool:
        changed = False
        for item in items:
            if isinstance(item, FixedPointGroup):
                changed |= self.run_fixpoint(item)
            else:
                changed |= self.run_step(item, iteration)
        return changed

    def run_fixpoint(self, group: FixedPointGroup) -> bool:
        any_change = False
        for i in range(1, group.max_iterations + 1):
            if not self.run_items(group.steps, iteration=i):
                return any_change
            any_change = True
        self.warnings.append(f"{group} did not reach a fixed point in {group.max_iterations} iterations")
        return any_change

    def run_step(self, step: PassStep, iteration: Optional[int]) -> bool:
        instance = step.instance
        instr = self.manager.instrumentation
        start = time.perf_counter()
        if isinstance(instance, AnalysisPass):
            try:
                result = self.analyses.get(instance)
            except LeptonError:
                raise
            except Exception as e:  # noqa: BLE001
                raise self.failure(instance, e, self.module, PassError) from e
            self.record(instance, iteration, time.perf_counter() - start, False, instance.stats(result), "analysis")
            self.ran.append(instance.spec)
            return False
        if not isinstance(instance, TransformPass):
            raise PassError(f"{type(instance).__name__} is neither an AnalysisPass nor a TransformPass", pass_name=instance.name)

        snapshot = self.module.clone() if self.manager.reproducers else None
        fingerprint = _fingerprint(self.module)
        instr.before(instance.spec, instance.name, self.module)
        try:
            result = instance.run(self.module, self.analyses, self.manager.context)
        except Exception as e:  # noqa: BLE001 - every failure is reported with the pass, node and reproducer
            raise self.failure(instance, e, snapshot, PassError) from e
        seconds = time.perf_counter() - start
        new_module = self.check_result(instance, result, fingerprint, snapshot)
        if new_module is not self.module:
            self.module = new_module
            self.analyses.rebind(new_module)
        if result.changed:
            self.module.recompile()
            self.analyses.invalidate(instance.preserves)
            if self.manager.verify_each:
                try:
                    verify(self.module, pass_name=instance.name, outputs_may_change=instance.changes_outputs)
                except VerificationError as e:
                    raise self.failure(instance, e, snapshot, VerificationError) from e
            self.check_outputs(instance, snapshot)
        instr.after(instance.spec, instance.name, self.module, result.changed)
        self.record(instance, iteration, seconds, result.changed, result.stats, "transform")
        self.ran.append(instance.spec)
        return result.changed

    def check_result(self, instance: TransformPass, result: object, fingerprint: str, snapshot: Optional[Module]) -> Module:
        def broken(msg: str) -> PassError:
            return self.failure(instance, PassError(msg), snapshot, PassError)

        if not isinstance(result, PassResult):
            raise broken(f"run() must return a PassResult, got {type(result).__name__}")
        if instance.in_place:
            if result.module is not None and result.module is not self.module:
                raise broken("the pass declares in_place=True but returned a new module")
            if not result.changed and _fingerprint(self.module) != fingerprint:
                raise broken("the pass reported changed=False but modified the IR (cached analyses would be stale)")
            return self.module
        if not isinstance(result.module, Module):
            raise broken("the pass declares in_place=False but returned no module in PassResult.module")
        if _fingerprint(self.module) != fingerprint:
            raise broken("the pass declares in_place=False but modified its input module")
        return result.module

    def check_outputs(self, instance: TransformPass, snapshot: Optional[Module]) -> None:
        if not self.manager.check_numerics or self.outputs is None:
            return
        outputs = self.module.run_examples()
        step = compare_outputs(outputs, self.outputs)
        contract = instance.contract
        if (self.manager.enforce_contracts and contract.rtol is not None and not step.within(contract.rtol)
                and not instance.changes_outputs):
            kind = "exact" if contract.exact else "approximate"
            detail = step.mismatch or f"max relative error {step.max_rel_error:.3e} (max abs {step.max_abs_error:.3e})"
            err = VerificationError(
                f"the pass is {kind} within rtol {contract.rtol:g} but moved the outputs on the example inputs: {detail}"
            )
            raise self.failure(instance, err, snapshot, VerificationError)
        self.outputs = outputs
        if not instance.changes_outputs:
            self.error = compare_outputs(outputs, self.module.reference_outputs).max_abs_error

    def record(self, instance, iteration, seconds, changed, stats, kind) -> None:  # noqa: ANN001
        totals = self.stats()
        self.records.append(PassRecord(
            name=instance.name, options=instance.options_dict(), seconds=seconds, changed=changed,
            stats=dict(stats), nodes=totals.nodes, params=totals.params, macs=totals.macs,
            max_abs_error=self.error, kind=kind, iteration=iteration,
        ))

    def failure(self, instance, exc: BaseException, snapshot: Optional[Module], cls: type) -> PassError:  # noqa: ANN001
        """Turn any exception from a pass into a PassError naming pass, node and source, with a reproducer."""
        if isinstance(exc, PassError) and exc.pass_name == instance.name and exc.reproducer:
            return exc
        node = failing_node(exc, self.module.graph)
        if node is None and snapshot is not None:
            node = failing_node(exc, snapshot.graph)
        if isinstance(exc, PassError):
            reason = exc.reason
            node_text = exc.node or (describe(node) if node is not None else None)
            source = exc.source or (source_line(node) if node is not None else None)
        else:
            raised_at = source_of_exception(exc)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = f"{type(exc).__name__}: {first}" + (f" (raised at {raised_at})" if raised_at else "")
            node_text = describe(node) if node is not None else "unknown (the pass did not say which node it was on)"
            source = source_line(node) if node is not None else None
        if self.ran:
            reason += f"\n  passes run before it: {', '.join(self.ran)}"
        directory = command = None
        if snapshot is not None:
            try:
                directory, command = write_reproducer(
                    snapshot, instance, str(self.manager.pipeline), self.ran,
                    f"{reason}\nnode: {node_text}\nsource: {source}", self.manager.reproducer_dir,
                    original=self.original,
                )
            except Exception as e:  # noqa: BLE001 - a failed reproducer must not hide the real error
                reason += f"\n  (could not write a reproducer: {e})"
        error_cls = cls if issubclass(cls, PassError) else PassError
        return error_cls(reason, pass_name=instance.name, node=node_text, source=source,
                         reproducer=directory, replay_command=command)


def _fingerprint(module: Module) -> str:
    """Graph text plus identity and version of every constant: changes if a pass edits either."""
    consts = []
    for node in module.graph.nodes:
        if node.op == "get_attr":
            try:
                t = module.constant(node)
                consts.append(f"{node.target}:{id(t)}:{getattr(t, '_version', 0)}")
            except AttributeError:
                consts.append(f"{node.target}:missing")
    return format_graph(module.graph) + "\n" + "\n".join(consts)
