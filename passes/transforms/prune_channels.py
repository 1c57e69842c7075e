"""``prune-channels``: structured pruning that physically removes channels, attention heads and
everything coupled to them.

Approximate (outputs change; recover accuracy by fine-tuning). The ``channel-groups`` analysis says
which units (coupled channel sets, whole heads) exist and which groups must stay; this pass decides
which units go and ``prune_apply`` slices every affected tensor and rewrites sizes.
Options:
  ``ratio``         fraction of units removed (per group with ``scope=local``; of all units, ranked by
                    importance relative to their group's mean, with ``scope=global``)
  ``target_macs`` / ``target_params``  instead of a ratio: the fraction of the model's MACs / params to
                    keep, reached by global ranking over estimated per-unit costs, corrected by measuring
  ``criterion``     l1 | l2 | bn-scale | taylor | a name registered with ``register_scorer``
  ``round_to``      kept unit counts a multiple of this (hardware-friendly shapes)
  ``ignore``        module paths or node names whose output channels stay (model outputs always stay)
  ``iterative_steps`` reach the goal in this many steps, re-scoring the pruned model between them
  ``allocate``      importance (rank units across groups as above) | sensitivity: with a target,
                    per-group ratios chosen from the ``sensitivity`` analysis' measured curves (at
                    ``ratios``, measured with ``sensitivity`` = sweep or a proxy, in ``metric``) so the
                    budget is met with the least summed sensitivity (prune_allocation.py); the
                    report's ``prune_allocation`` lists the ratio chosen per group, the predicted
                    (summed) and the measured whole-model sensitivity; ``best_effort`` prunes as far
                    as the measured ratios go when the budget is out of reach (a report warning)
                    instead of failing
Stats: ``groups_pruned``, ``groups_excluded``, ``units_removed``, ``channels_removed``, ``steps``,
``macs_kept``/``params_kept`` with a target, ``predicted_sensitivity`` and ``measured_sensitivity``
with allocate=sensitivity.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from lepton_ir.analysis_manager import AnalysisManager
from lepton_ir.errors import PassError
from lepton_ir.metadata import matches_any
from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass, approximate
from lepton_ir.registry import register_pass

from ..analysis.channel_groups import ChannelGroups, Group, Label
from .prune_allocation import GroupChoice, allocate
from .prune_apply import apply_pruning
from .prune_scoring import Importance, bn_positions, scorer_names


@dataclass(frozen=True)
class PruneChannelsOptions:
    ratio: float = 0.5
    target_macs: Optional[float] = None
    target_params: Optional[float] = None
    criterion: str = "l1"
    scope: Literal["local", "global"] = "local"
    round_to: int = 1
    ignore: tuple[str, ...] = ()
    iterative_steps: int = 1
    allocate: Literal["importance", "sensitivity"] = "importance"
    sensitivity: Literal["sweep", "magnitude", "taylor", "fisher", "hessian"] = "sweep"
    metric: str = "auto"
    ratios: tuple[float, ...] = (0.25, 0.5, 0.75)
    best_effort: bool = False

    def __post_init__(self) -> None:
        from ..analysis.sensitivity import SensitivityOptions

        if self.allocate == "sensitivity":
            if self.target_macs is None and self.target_params is None:
                raise ValueError("allocate=sensitivity needs a budget: give target_macs or target_params")
            if self.iterative_steps != 1:
                raise ValueError("allocate=sensitivity chooses every group's ratio at once: iterative_steps must be 1")
            SensitivityOptions(method=self.sensitivity, metric=self.metric, ratios=self.ratios, quantize=False)
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {self.ratio}")
        for name in ("target_macs", "target_params"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise ValueError(f"{name} is the fraction to keep, in (0, 1], got {value}")
        if self.target_macs is not None and self.target_params is not None:
            raise ValueError("give target_macs or target_params, not both")
        if self.criterion not in scorer_names():
            raise ValueError(f"unknown criterion '{self.criterion}' (known: {', '.join(scorer_names())})")
        if self.round_to < 1 or self.iterative_steps < 1:
            raise ValueError("round_to and iterative_steps must be >= 1")


@register_pass
class PruneChannels(TransformPass):
    """Remove the least important units of the prunable channel groups."""

    name = "prune-channels"
    summary = "structured pruning: remove channels and attention heads, and everything coupled to them"
    Options = PruneChannelsOptions
    contract = approximate(None, "accuracy after fine-tuning")

    def run(self, module: Module, analyses: Any, context: PassContext) -> PassResult:
        o = self.options
        target_kind = "macs" if o.target_macs is not None else "params" if o.target_params is not None else None
        target = o.target_macs if target_kind == "macs" else o.target_params
        original = self._measure(analyses, target_kind) if target_kind else 0
        if o.allocate == "sensitivity":
            return self._by_sensitivity(module, analyses, context, target_kind, original * target)
        totals = {"groups_pruned": 0, "groups_excluded": 0, "units_removed": 0, "channels_removed": 0, "steps": 0}
        steps = o.iterative_steps
        # a target is estimated, then measured: up to 4 corrections per step close the gap
        rounds = [(step, attempt) for step in range(1, steps + 1) for attempt in range(5 if target_kind else 1)]
        for step, attempt in rounds:
            result: ChannelGroups = analyses.get("channel-groups")
            groups = self._prunable(module, result, totals if (step, attempt) == (1, 0) else None)
            if target_kind:
                goal = original * (1 - (1 - target) * step / steps)
                if self._measure(analyses, target_kind) <= goal * 1.005:
                    continue
            importance = Importance(module, o.criterion, bn_positions(result),
                                    list(context.calibration) if context.calibration else None)
            if target_kind:
                removed = self._to_target(module, analyses, result, groups, importance, target_kind, goal)
            else:
                kept_before = (1 - o.ratio) ** ((step - 1) / steps)
                step_ratio = 1 - (1 - o.ratio) ** (step / steps) / kept_before
                removed = self._by_ratio(groups, importance, step_ratio)
            if not removed:
                continue
            apply_pruning(module, result, removed)
            analyses.invalidate()
            totals["steps"] += attempt == 0
            totals["groups_pruned"] += len({g.id for g in groups if any(u[0] in removed for u in g.units)})
            totals["units_removed"] += sum(1 for g in groups for u in g.units if u[0] in removed)
            totals["channels_removed"] += len(removed)
        if target_kind:
            totals[f"{target_kind}_kept"] = round(self._measure(analyses, target_kind) / original, 4)
        return PassResult(changed=totals["channels_removed"] > 0, stats=totals)

    def _by_sensitivity(self, module: Module, analyses: Any, context: PassContext, kind: str,
                        goal: float) -> PassResult:
        from ..analysis.sensitivity import SensitivityOptions, sensitivity_batches
        from ..analysis.sensitivity_trials import TrialScorer

        o = self.options
        original = self._measure(analyses, kind)
        result: ChannelGroups = analyses.get("channel-groups")
        totals = {"groups_pruned": 0, "groups_excluded": 0, "units_removed": 0, "channels_removed": 0, "steps": 1}
        groups = self._prunable(module, result, totals)
        sensitivity = analyses.get("sensitivity", SensitivityOptions(
            method=o.sensitivity, metric=o.metric, quantize=False, ratios=o.ratios, criterion=o.criterion,
            ignore=o.ignore))
        # the same data the sweep ranked units on, so its curves describe the units removed here
        batches, _ = sensitivity_batches(module, context.calibration, SensitivityOptions.max_samples)
        importance = Importance(module, o.criterion, bn_positions(result), [tuple(b) for b in batches])
        choices = []
        for g in groups:
            curve = sensitivity.for_group(g.spaces)
            if curve is None or not curve.values:
                continue  # a single-unit group: nothing to remove
            scores = [importance.unit(u) for u in g.units]
            choices.append(GroupChoice(g, sorted(range(len(g.units)), key=lambda i: (scores[i], i)), curve))

        def measure(removed: set[Label]) -> float:
            trial = module.clone()
            apply_pruning(trial, result, removed)
            cost = AnalysisManager(trial).get("cost")
            return float(cost.total_macs if kind == "macs" else cost.total_params)

        plan = allocate(module, analyses.get("cost"), result, choices, kind, goal, o.round_to, measure)
        if not plan.reached:
            problem = (f"allocate=sensitivity cannot reach {kind} {goal / original:.3f}x: at the largest measured "
                       f"ratio ({max(o.ratios):g}) per group it keeps {plan.measured / original:.3f}x")
            if not o.best_effort:
                raise PassError(f"{problem}; add a larger ratio (ratios=[...,0.9]) or relax the target",
                                pass_name=self.name)
            context.report_extra.setdefault("warnings", []).append(f"prune-channels: {problem} (best_effort: kept that)")
        before_pruning = module.clone() if plan.removed else None
        if plan.removed:
            apply_pruning(module, result, plan.removed)
            module.recompile()
            analyses.invalidate()
        chosen = [c for c in choices if c.chosen]
        totals.update(groups_pruned=len(chosen), units_removed=sum(c.chosen for c in chosen),
                      channels_removed=len(plan.removed))
        totals[f"{kind}_kept"] = round(self._measure(analyses, kind) / original, 4)
        totals["predicted_sensitivity"] = sum(c.sensitivity(c.chosen) for c in choices)
        # the sum of single-group values assumes groups do not interact: measure the whole pruned model
        measured = TrialScorer(before_pruning, batches, o.metric)(module) if before_pruning is not None else 0.0
        totals["measured_sensitivity"] = measured
        context.report_extra.setdefault("prune_allocation", []).append(
            {"target": f"{kind} {goal / original:g}", "reached": plan.reached, "method": sensitivity.method,
             "metric": sensitivity.metric, "predicted": totals["predicted_sensitivity"], "measured": measured,
             "groups": plan.summary()})
        return PassResult(changed=bool(plan.removed), stats=totals)

    # -- which groups, which units ----------------------------------------------------------------
    def _prunable(self, module: Module, result: ChannelGroups, totals: Optional[dict]) -> list[Group]:
        nodes = {n.name: n for n in module.graph.nodes}
        groups = []
        for g in result.groups:
            if g.excluded is not None or any(s in nodes and matches_any(nodes[s], self.options.ignore) for s in g.spaces):
                if totals is not None:
                    totals["groups_excluded"] += 1
                continue
            groups.append(g)
        return groups

    def _keep_count(self, count: int, remove: int) -> int:
        r = self.options.round_to
        keep = max(count - remove, 1)
        keep = max(r, round(keep / r) * r)  # the nearest multiple of round_to, at least one multiple
        return min(count, keep)

    def _by_ratio(self, groups: list[Group], importance: Importance, ratio: float) -> set[Label]:
        scored = {g.id: [importance.unit(u) for u in g.units] for g in groups}
        if self.options.scope == "global":
            ranked = sorted(((s / (sum(scores) / len(scores) or 1.0), g.id, i)
                             for g in groups for scores in [scored[g.id]] for i, s in enumerate(scores)))
            per_group: dict[int, int] = {}
            for _, gid, _ in ranked[:int(ratio * len(ranked))]:
                per_group[gid] = per_group.get(gid, 0) + 1
        else:
            per_group = {g.id: round(len(g.units) * ratio) for g in groups}
        removed: set[Label] = set()
        for g in groups:
            keep = self._keep_count(len(g.units), per_group.get(g.id, 0))
            order = sorted(range(len(g.units)), key=lambda i: (scored[g.id][i], i))
            for i in order[:len(g.units) - keep]:
                removed.update(g.units[i])
        return removed

    def _to_target(self, module: Module, analyses: Any, result: ChannelGroups, groups: list[Group],
                   importance: Importance, kind: str, goal: float) -> set[Label]:
        """Globally rank units by relative importance per unit of cost; remove until the estimated
        cost reaches ``goal`` (rounding to ``round_to`` per group)."""
        current = self._measure(analyses, kind)
        if current <= goal:
            return set()
        cost = self._unit_costs(module, analyses, result, kind)
        candidates = []
        for g in groups:
            scores = [importance.unit(u) for u in g.units]
            mean = sum(scores) / len(scores) or 1.0
            for i, unit in enumerate(g.units):
                c = sum(cost.get(label, 0.0) for label in unit) or 1e-9
                candidates.append((scores[i] / mean / c, g, i, c))
        candidates.sort(key=lambda t: (t[0], t[1].id, t[2]))
        per_group: dict[int, list[int]] = {}
        saved = 0.0
        for _, g, i, c in candidates:
            if saved >= current - goal:
                break
            if len(g.units) - len(per_group.get(g.id, [])) <= self.options.round_to:
                continue
            per_group.setdefault(g.id, []).append(i)
            saved += c
        removed: set[Label] = set()
        for g in groups:
            chosen = per_group.get(g.id, [])
            keep = self._keep_count(len(g.units), len(chosen))
            for i in chosen[:len(g.units) - keep]:
                removed.update(g.units[i])
        return removed

    # -- measurements -----------------------------------------------------------------------------
    def _measure(self, analyses: Any, kind: Optional[str]) -> float:
        cost = analyses.get("cost")
        return float(cost.total_macs if kind == "macs" else cost.total_params)

    def _unit_costs(self, module: Module, analyses: Any, result: ChannelGroups, kind: str) -> dict[Label, float]:
        """Estimated MACs (or params) that disappear with each channel: its share of the producing
        layer and of every layer that reads it."""
        cost = analyses.get("cost").nodes
        share: dict[Label, float] = {}
        nodes = {n.name: n for n in module.graph.nodes}
        for edit_kind, name, extra in result.edits:
            entry = cost.get(name)
            if entry is None:
                continue
            amount = float(entry.macs if kind == "macs" else entry.params)
            if edit_kind == "producer":
                channels = module.constant(nodes[name].args[1]).shape[0]
                for i in range(channels):
                    share[(name, i)] = share.get((name, i), 0.0) + amount / channels
            elif edit_kind in ("conv_in", "linear_in", "depthwise", "bn", "ln"):
                for label in extra:
                    share[label] = share.get(label, 0.0) + amount / len(extra)
        return share

