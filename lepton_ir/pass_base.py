"""What a pass is: analysis or transform, typed options, a numerical contract, a result."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Iterable, Optional, TypeVar

import torch

from .options import NoOptions, format_options, options_dict

if TYPE_CHECKING:
    from .analysis_manager import AnalysisManager
    from .module import Module

R = TypeVar("R")


@dataclass(frozen=True)
class Contract:
    """How far a transform may move the model's outputs.

    ``exact``: the pass manager checks outputs stay within ``rtol`` (relative to the largest
    reference magnitude). Approximate passes name their own ``rtol`` (``None``: report only)
    and the metric they are judged by.
    """

    exact: bool
    rtol: Optional[float]
    metric: str = "max relative error"


#: Exact in real arithmetic; in float32 a rewrite still rounds differently, and over a deep network
#: that adds up: BatchNorm folding on a ResNet-50 layout with random statistics moves the logits by
#: 1.5e-5 of their largest magnitude. 1e-4 leaves room for that and still catches any real bug
#: (those move outputs by 1e-2 and more in the tests).
EXACT = Contract(exact=True, rtol=1e-4)


def approximate(rtol: Optional[float] = None, metric: str = "max relative error") -> Contract:
    return Contract(exact=False, rtol=rtol, metric=metric)


@dataclass
class PassResult:
    """What a transform reports: whether it changed the IR, and counters such as ``nodes_removed``."""

    changed: bool
    stats: dict[str, int | float] = field(default_factory=dict)
    #: A transform with ``in_place = False`` returns its new module here.
    module: Optional["Module"] = None


@dataclass
class TrainData:
    """Training inputs (first dim = samples, one tensor per model input) and optional labels."""

    inputs: tuple[torch.Tensor, ...]
    labels: Optional[torch.Tensor] = None


@dataclass
class PassContext:
    """Inputs a pass may need beyond the IR; shared by all passes of one run.

    ``calibration``: input tuples for calibration. ``train_data``: for recovery steps that train.
    ``teacher``: the IR the pipeline started from (set by the pass manager), the reference a
    distillation step learns from. ``cache_dir``: where analyses that are expensive to compute
    (sensitivity) save their results and find them again in a later run. ``report_extra``: entries
    passes publish for the run's report (``Report.extra``); the pass manager resets it per run.
    """

    calibration: Optional[Iterable[tuple[torch.Tensor, ...]]] = None
    seed: int = 0
    train_data: Optional[TrainData] = None
    teacher: Optional["Module"] = None
    cache_dir: Optional[str] = None
    report_extra: dict[str, Any] = field(default_factory=dict)


class Pass:
    """Base of all passes. Subclasses set ``name`` (kebab case), ``summary`` and ``Options``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    kind: ClassVar[str] = ""

    def __init__(self, options: Any = None):
        self.options = options if options is not None else self.Options()
        if not isinstance(self.options, self.Options):
            raise TypeError(f"{self.name}: options must be {self.Options.__name__}, got {type(self.options).__name__}")

    @property
    def spec(self) -> str:
        """This pass as pipeline text, e.g. ``prune-channels{ratio=0.5}``."""
        return self.name + format_options(self.options)

    def options_dict(self) -> dict[str, Any]:
        return options_dict(self.options) if dataclasses.is_dataclass(self.options) else {}

    def __repr__(self) -> str:
        return f"<pass {self.spec}>"


class AnalysisPass(Pass, Generic[R]):
    """Computes a typed result from the IR and never mutates it; cached by the AnalysisManager."""

    kind: ClassVar[str] = "analysis"

    def run(self, module: "Module", analyses: "AnalysisManager") -> R:
        raise NotImplementedError

    def stats(self, result: R) -> dict[str, int | float]:
        """Counters for the report row when the analysis runs as a pipeline step."""
        return {}


class TransformPass(Pass):
    """Rewrites the IR.

    ``in_place``: the pass edits the module it is given and returns ``PassResult`` without a module;
    otherwise it leaves its input alone and returns the new module in ``PassResult.module``. The
    pass manager checks that the pass kept its word, and that ``changed=False`` really means unchanged.
    ``preserves``: names of analyses still valid after this pass changes the IR.
    ``changes_outputs``: the pass may change the count or shapes of the model's outputs.
    ``fixed_point``: run repeatedly (inside ``fixpoint(...)``) until nothing changes.
    """

    kind: ClassVar[str] = "transform"
    contract: ClassVar[Contract] = EXACT
    preserves: ClassVar[frozenset[str]] = frozenset()
    in_place: ClassVar[bool] = True
    changes_outputs: ClassVar[bool] = False

    def run(self, module: "Module", analyses: "AnalysisManager", context: PassContext) -> PassResult:
        raise NotImplementedError
