"""The result of the ``sensitivity`` analysis: one entry per prunable group and per quantizable op,
JSON round-trippable so a later run can reuse it (see sensitivity_cache.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional


@dataclass
class SensitivityEntry:
    """How much the output moves when only this group is pruned / only this op is quantized.

    ``values`` maps a setting to the divergence (or score lost): ``"0.25"``, ``"0.5"`` ... for pruning
    ratios, ``"int8"``, ``"int4"``, ``"binary"`` for precisions.
    """

    kind: str  # "prune" | "quantize"
    name: str  # a group's first producing node / the op's node name
    module: str
    op: str  # "group" for pruning; conv | linear | matmul | add | pool | cat for quantization
    nodes: list[str] = field(default_factory=list)  # a group's producing nodes
    units: int = 0  # a group's prunable units (channels or heads)
    macs: int = 0  # MACs of the op (quantization) / of the group's producing layers (pruning)
    values: dict[str, float] = field(default_factory=dict)

    def at(self, setting: str) -> Optional[float]:
        return self.values.get(setting)


@dataclass
class SensitivityResult:
    method: str  # sweep | magnitude | taylor | fisher | hessian
    metric: str  # what the numbers mean
    batches: int
    seconds: float
    fingerprint: str
    entries: list[SensitivityEntry] = field(default_factory=list)
    output_metrics: list[str] = field(default_factory=list)
    baseline: Optional[float] = None  # the reference model's evaluator score
    note: str = ""
    trials: int = 0  # measured configurations (sweep) or gradient passes (proxies)
    cached: Optional[str] = None  # the file it was loaded from, when reused

    def prune(self) -> list[SensitivityEntry]:
        return [e for e in self.entries if e.kind == "prune"]

    def quantize(self) -> list[SensitivityEntry]:
        return [e for e in self.entries if e.kind == "quantize"]

    def for_group(self, spaces: list[str]) -> Optional[SensitivityEntry]:
        wanted = set(spaces)
        return next((e for e in self.prune() if set(e.nodes) == wanted), None)

    def for_op(self, name: str) -> Optional[SensitivityEntry]:
        return next((e for e in self.quantize() if e.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SensitivityResult":
        data = dict(data)
        entries = [SensitivityEntry(**e) for e in data.pop("entries", [])]
        return cls(entries=entries, **data)
