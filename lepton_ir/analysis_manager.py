"""Caches analysis results per IR and drops them when a transform changes what they describe."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable

from .pass_base import AnalysisPass, PassContext
from .registry import get_pass

if TYPE_CHECKING:
    from .module import Module


class AnalysisManager:
    """``get`` returns a cached result or runs the analysis; ``invalidate`` keeps only preserved ones."""

    def __init__(self, module: "Module", context: "PassContext | None" = None):
        self.module = module
        self.context = context  # calibration data and seed, for analyses that run the model
        self._cache: dict[tuple[str, Any], Any] = {}
        self.runs: Counter[str] = Counter()  # how often each analysis actually ran (for tests and reports)

    def get(self, analysis: str | type[AnalysisPass] | AnalysisPass, options: Any = None) -> Any:
        instance = self._instance(analysis, options)
        key = (instance.name, instance.options)
        if key not in self._cache:
            self.runs[instance.name] += 1
            self._cache[key] = instance.run(self.module, self)
        return self._cache[key]

    def cached(self, name: str) -> bool:
        return any(key[0] == name for key in self._cache)

    def invalidate(self, preserved: Iterable[str] = ()) -> None:
        keep = set(preserved)
        self._cache = {k: v for k, v in self._cache.items() if k[0] in keep}

    def rebind(self, module: "Module") -> None:
        """Point at a new module (after a pass that returns one); the cache is dropped."""
        self.module = module
        self._cache.clear()

    def _instance(self, analysis: Any, options: Any) -> AnalysisPass:
        if isinstance(analysis, AnalysisPass):
            return analysis
        cls = get_pass(analysis) if isinstance(analysis, str) else analysis
        if not issubclass(cls, AnalysisPass):
            raise TypeError(f"'{cls.name}' is a transform, not an analysis")
        return cls(options)
