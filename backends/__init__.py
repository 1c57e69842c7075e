"""Lowering targets. Each backend module exposes ``lower(module, path, ...) -> LoweringResult``."""
from __future__ import annotations

import importlib
from types import ModuleType

from lepton_ir.errors import LoweringError

from .result import LoweringResult

BACKENDS = {"onnx": "lepton_ir.backends.onnx", "torchscript": "lepton_ir.backends.torchscript"}

__all__ = ["BACKENDS", "LoweringResult", "get_backend"]


def get_backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise LoweringError(f"unknown target '{name}' (targets: {', '.join(BACKENDS)})")
    return importlib.import_module(BACKENDS[name])
