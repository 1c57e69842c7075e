"""The pass registry: pass name -> pass class, loaded lazily.

Built-in passes are listed by import path, so importing ``lepton_ir`` imports no pass.
Users add passes with ``@register_pass``; installed packages add them through the
``lepton_ir.passes`` entry-point group (each entry point names a pass class, or a module
whose import registers passes). Either way they show up in ``lepton passes`` and pipelines.
"""
from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, TypeVar

from .errors import LeptonError, PipelineSyntaxError

if TYPE_CHECKING:
    from .pass_base import Pass

ENTRY_POINT_GROUP = "lepton_ir.passes"

_BUILTIN: dict[str, str] = {
    "cost": "lepton_ir.passes.analysis.cost:CostAnalysis",
    "dce": "lepton_ir.passes.transforms.dce:DeadCodeElimination",
    "remove-identity": "lepton_ir.passes.transforms.remove_identity:RemoveIdentity",
    "functionalize": "lepton_ir.passes.transforms.functionalize:Functionalize",
    "fold-batchnorm": "lepton_ir.passes.transforms.fold_batchnorm:FoldBatchNorm",
    "fold-affine": "lepton_ir.passes.transforms.fold_affine:FoldAffine",
    "fold-constants": "lepton_ir.passes.transforms.fold_constants:FoldConstants",
    "merge-linear": "lepton_ir.passes.transforms.merge_linear:MergeLinear",
    "cse": "lepton_ir.passes.transforms.cse:CommonSubexpressionElimination",
    "simplify": "lepton_ir.passes.transforms.simplify:Simplify",
    "calibrate": "lepton_ir.passes.analysis.calibration:Calibrate",
    "quantize": "lepton_ir.passes.transforms.quantize:Quantize",
    "binarize": "lepton_ir.passes.transforms.binarize:Binarize",
    "channel-groups": "lepton_ir.passes.analysis.channel_groups:ChannelGroupsAnalysis",
    "prune-channels": "lepton_ir.passes.transforms.prune_channels:PruneChannels",
    "prune-weights": "lepton_ir.passes.transforms.prune_weights:PruneWeights",
    "distill": "lepton_ir.passes.recovery.distill:Distill",
    "sensitivity": "lepton_ir.passes.analysis.sensitivity:Sensitivity",
}

_registry: dict[str, "str | type[Pass]"] = dict(_BUILTIN)
_entry_points_loaded = False

P = TypeVar("P", bound=type)


def register_pass(cls: P) -> P:
    """Class decorator: make a pass available by its ``name`` everywhere a pipeline is taken."""
    from .pass_base import AnalysisPass, TransformPass

    if not (isinstance(cls, type) and issubclass(cls, (AnalysisPass, TransformPass))):
        raise LeptonError(f"@register_pass expects a subclass of AnalysisPass or TransformPass, got {cls!r}")
    name = getattr(cls, "name", "")
    if not name or name != name.lower() or not all(c.isalnum() or c == "-" for c in name):
        raise LeptonError(f"pass class {cls.__name__} needs a kebab-case 'name' (lowercase letters, digits, '-'), got {name!r}")
    existing = _registry.get(name)
    if existing is not None and existing is not cls and not _same_class(existing, cls):
        raise LeptonError(f"a pass named '{name}' is already registered ({_describe(existing)})")
    _registry[name] = cls
    return cls


def unregister_pass(name: str) -> None:
    """Remove a user pass (tests use this to clean up); built-ins return to their default."""
    if name in _BUILTIN:
        _registry[name] = _BUILTIN[name]
    else:
        _registry.pop(name, None)


def get_pass(name: str) -> "type[Pass]":
    _load_entry_points()
    entry = _registry.get(name)
    if entry is None:
        raise PipelineSyntaxError(unknown_pass_message(name))
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module_name), attr)
        _registry[name] = entry
    return entry


def pass_names() -> list[str]:
    _load_entry_points()
    return sorted(_registry)


def all_passes() -> "dict[str, type[Pass]]":
    return {name: get_pass(name) for name in pass_names()}


def unknown_pass_message(name: str) -> str:
    close = difflib.get_close_matches(name, pass_names(), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else "; `lepton passes` lists them"
    return f"unknown pass '{name}'{hint}"


def _same_class(entry: "str | type", cls: type) -> bool:
    return isinstance(entry, str) and entry == f"{cls.__module__}:{cls.__qualname__}"


def _describe(entry: "str | type") -> str:
    return entry if isinstance(entry, str) else f"{entry.__module__}.{entry.__qualname__}"


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break every pipeline
            raise LeptonError(f"could not load pass plugin '{ep.name}' ({ep.value}): {type(e).__name__}: {e}") from e
        if isinstance(loaded, type):
            register_pass(loaded)
