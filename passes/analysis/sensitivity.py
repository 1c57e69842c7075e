"""``sensitivity``: how much the model's outputs move when one layer alone is compressed.

For every prunable channel group (``channel-groups``) and ratio in ``ratios``, and for every op
``quantize`` would touch and precision in ``precisions`` (int8: the quantize pass's default, W8A8
or weight-only per ``activations``; int4: block-wise weight-only, linear layers; binary: 1-bit
weights, only when listed), it records one number: the divergence of the outputs from the
uncompressed model on the calibration data (sensitivity_metrics.py: KL for logits, 1 - cosine for
embeddings, relative MSE otherwise, or the score lost on a registered evaluator).

``method=sweep`` measures each setting on a compressed copy (sensitivity_trials.py); ``magnitude``,
``taylor``, ``fisher`` and ``hessian`` estimate it from weights and gradients instead
(sensitivity_proxies.py), for models too large to sweep; the result's ``note`` says which.
``prune-channels{allocate=sensitivity}`` and ``quantize{precision=auto}`` consume the result.

Results are cached per run like every analysis, and on disk when the context has a ``cache_dir``
(the CLI: the report's directory), keyed by IR, data and options (sensitivity_cache.py); a run
that finds its key reuses the file and says so. Writes ``lepton.sensitivity`` on each layer (the
larger of its int8 and 50%-pruning values) and publishes the result in the run's report
(``sensitivity``: a list, one item per distinct sweep).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from tqdm import tqdm

from lepton_ir.metadata import SENSITIVITY, matches_any, module_path
from lepton_ir.module import Module
from lepton_ir.pass_base import AnalysisPass, PassContext
from lepton_ir.registry import register_pass

from ..transforms.prune_scoring import Importance, bn_positions, scorer_names
from . import sensitivity_cache
from .calibration import calibration_batches
from .channel_groups import ChannelGroups, Group
from .sensitivity_metrics import check_metric, evaluator
from .sensitivity_proxies import ProxyScorer, prune_deltas, quant_deltas
from .sensitivity_result import SensitivityEntry, SensitivityResult
from .sensitivity_trials import TrialScorer, pruned_copy, quantized_copy, removal_count, removed_labels

PRECISIONS = ("int8", "int4", "binary")
METHODS = ("sweep", "magnitude", "taylor", "fisher", "hessian")
Method = Literal["sweep", "magnitude", "taylor", "fisher", "hessian"]


@dataclass(frozen=True)
class SensitivityOptions:
    method: Method = "sweep"
    metric: str = "auto"
    prune: bool = True
    quantize: bool = True
    ratios: tuple[float, ...] = (0.25, 0.5, 0.75)
    precisions: tuple[str, ...] = ("int8", "int4")
    criterion: str = "l1"
    activations: Literal["uint8", "int8", "none"] = "uint8"
    calib: Literal["minmax", "percentile", "mse", "entropy"] = "percentile"
    ops: tuple[str, ...] = ("conv", "linear", "matmul", "add", "pool", "cat")
    ignore: tuple[str, ...] = ()
    max_samples: int = 64
    probes: int = 4

    def __post_init__(self) -> None:
        check_metric(self.metric)
        if evaluator(self.metric) is not None and self.method != "sweep":
            raise ValueError(f"metric={self.metric} is an evaluator: it needs method=sweep (proxies use divergences)")
        if not self.ratios or any(not 0.0 < r < 1.0 for r in self.ratios):
            raise ValueError(f"ratios must be in (0, 1), got {list(self.ratios)}")
        unknown = set(self.precisions) - set(PRECISIONS)
        if unknown:
            raise ValueError(f"unknown precisions {sorted(unknown)}; choose from {list(PRECISIONS)}")
        if self.criterion not in scorer_names():
            raise ValueError(f"unknown criterion '{self.criterion}' (known: {', '.join(scorer_names())})")
        if self.max_samples < 1 or self.probes < 1:
            raise ValueError("max_samples and probes must be >= 1")
        if not (self.prune or self.quantize):
            raise ValueError("nothing to measure: prune and quantize are both false")


def sensitivity_batches(module: Module, data: Any, max_samples: int) -> tuple[list, str]:
    """Calibration batches until they hold ``max_samples`` samples (first dimension) in all: a
    divergence over a handful of inputs is noise, and batch-1 data would otherwise give only a few."""
    first = calibration_batches(module, data, 1)
    size = first[0][0][0].shape[0] if first[0][0] and first[0][0][0].dim() else 1
    return calibration_batches(module, data, max(1, -(-max_samples // max(size, 1))))


@register_pass
class Sensitivity(AnalysisPass[SensitivityResult]):
    """Per-layer output divergence under pruning ratios and quantization precisions."""

    name = "sensitivity"
    summary = "per-layer sensitivity to pruning ratios and quantization precisions (measured or proxy)"
    Options = SensitivityOptions

    def run(self, module: Module, analyses: Any) -> SensitivityResult:
        o = self.options
        context: PassContext = getattr(analyses, "context", None) or PassContext()
        batches, source = sensitivity_batches(module, context.calibration, o.max_samples)
        key = sensitivity_cache.fingerprint(module, o, batches)
        result = sensitivity_cache.load(context.cache_dir, module.name, key)
        if result is None:
            result = self._measure(module, analyses, batches, source, key, context.seed)
        if result.cached is None or not result.cached.endswith(".json"):
            sensitivity_cache.save(context.cache_dir, module.name, result)
        self._annotate(module, result)
        published = context.report_extra.setdefault("sensitivity", [])
        if all(item.get("fingerprint") != key for item in published):
            published.append(result.to_dict())
        return result

    def stats(self, result: SensitivityResult) -> dict[str, int | float]:
        return {"groups": len(result.prune()), "ops": len(result.quantize()), "trials": result.trials,
                "seconds": round(result.seconds, 3), "reused": int(result.cached is not None)}

    # -- measuring ----------------------------------------------------------------------------
    def _measure(self, module: Module, analyses: Any, batches: list, source: str, key: str,
                 seed: int) -> SensitivityResult:
        o = self.options
        start = time.perf_counter()
        settings = self._settings(module, analyses, batches)
        if o.method == "sweep":
            scorer = TrialScorer(module, batches, o.metric)
            kinds, baseline = scorer.kinds, scorer.baseline
            what = ("score lost on evaluator " + o.metric if baseline is not None else
                    "measured: output divergence of a copy with only that layer compressed")
        else:
            targets = {t for _, _, _, deltas in settings for t in (deltas() or {})}
            scorer = ProxyScorer(module, batches, o.metric, o.method, targets, o.probes, seed)
            kinds, baseline = scorer.kinds, None
            what = (f"proxy '{o.method}' (sensitivity_proxies.py): weights only, activation quantization and "
                    "ops without weights are not measured")
        result = SensitivityResult(method=o.method, metric=o.metric, batches=len(batches), seconds=0.0,
                                   fingerprint=key, baseline=baseline,
                                   note=f"{what}; data: {source}")
        entries: dict[tuple[str, str], SensitivityEntry] = {}
        bar = tqdm(settings, desc=f"sensitivity ({o.method})", disable=None, leave=False)
        for entry, setting, trial, deltas in bar:
            entries.setdefault((entry.kind, entry.name), entry)
            if o.method == "sweep":
                candidate = trial()
                value = None if candidate is None else scorer(candidate)
            else:
                d = deltas()
                value = None if d is None else scorer(d)
            if value is not None:
                entry.values[setting] = float(value)
                result.trials += 1
        if o.method != "sweep":
            result.trials = scorer.passes
        result.entries = [e for e in entries.values() if e.values]
        result.output_metrics = kinds
        result.seconds = time.perf_counter() - start
        return result

    def _settings(self, module: Module, analyses: Any, batches: list) -> list[tuple]:
        """(entry, setting, build the trial copy, compute the weight deltas) for everything to measure."""
        o = self.options
        cost = analyses.get("cost").nodes
        settings: list[tuple] = []
        if o.prune:
            groups: ChannelGroups = analyses.get("channel-groups")
            importance = Importance(module, o.criterion, bn_positions(groups),
                                    [tuple(b) for b in batches] if o.criterion == "taylor" else None)
            for group in self._prunable(module, groups):
                scores = [importance.unit(u) for u in group.units]
                order = sorted(range(len(group.units)), key=lambda i: (scores[i], i))
                head = module.node(group.spaces[0])
                entry = SensitivityEntry(kind="prune", name=group.spaces[0], module=module_path(head), op="group",
                                         nodes=list(group.spaces), units=len(group.units),
                                         macs=sum(cost[s].macs for s in group.spaces if s in cost))
                for ratio in o.ratios:
                    removed = removed_labels(group, order, removal_count(len(group.units), ratio))
                    settings.append((entry, f"{ratio:g}",
                                     lambda r=removed: pruned_copy(module, groups, r),
                                     lambda r=removed: prune_deltas(module, r)))
        if o.quantize:
            from ..transforms.quantize import Quantize, QuantizeOptions

            w8 = Quantize(QuantizeOptions(activations=o.activations, calib=o.calib, ops=o.ops))
            calibration = w8.calibration(analyses)
            w4 = Quantize(QuantizeOptions(activations="none", weights="int4", ops=("linear",)))
            for node, kind in w8.candidates(module):
                if matches_any(node, o.ignore):
                    continue
                entry = SensitivityEntry(kind="quantize", name=node.name, module=module_path(node), op=kind,
                                         macs=cost[node.name].macs if node.name in cost else 0)
                for precision in o.precisions:
                    if precision in ("int4", "binary") and kind not in ("conv", "linear"):
                        continue
                    quantizer = w4 if precision == "int4" else w8
                    calib = calibration if precision == "int8" else w4.calibration(None)
                    settings.append((entry, precision,
                                     lambda n=node.name, p=precision, q=quantizer, c=calib:
                                     quantized_copy(module, q, c, n, p),
                                     lambda n=node, p=precision, k=kind: quant_deltas(module, n, p)
                                     if k in ("conv", "linear") else None))
        return settings

    def _prunable(self, module: Module, groups: ChannelGroups) -> list[Group]:
        nodes = {n.name: n for n in module.graph.nodes}
        return [g for g in groups.prunable() if len(g.units) > 1
                and not any(s in nodes and matches_any(nodes[s], self.options.ignore) for s in g.spaces)]

    def _annotate(self, module: Module, result: SensitivityResult) -> None:
        marks: dict[str, float] = {}
        for entry in result.prune():
            value = entry.at("0.5") if entry.at("0.5") is not None else max(entry.values.values())
            for space in entry.nodes:
                marks[space] = max(marks.get(space, value), value)
        for entry in result.quantize():
            value = entry.at("int8") if entry.at("int8") is not None else max(entry.values.values())
            marks[entry.name] = max(marks.get(entry.name, value), value)
        for node in module.graph.nodes:
            if node.name in marks:
                node.meta[SENSITIVITY] = marks[node.name]
