"""Lepton: compile PyTorch models through an ATen-level IR into verified ONNX or TorchScript.

The IR core (this package's own modules) imports no pass and no backend. ``compile`` lives in
``lepton_ir.tools.api`` (tools may use passes and backends) and is re-exported here lazily.
"""
from __future__ import annotations

from typing import Any

from .analysis_manager import AnalysisManager
from .errors import (
    InputError,
    LeptonError,
    LoweringError,
    ModelLoadError,
    PassError,
    PipelineSyntaxError,
    SerializationError,
    TraceError,
    VerificationError,
)
from .instrumentation import Instrumentation
from .module import Module
from .node_context import visiting
from .options import NoOptions
from .pass_base import EXACT, AnalysisPass, Contract, PassContext, PassResult, TransformPass, approximate
from .pass_manager import PassManager, RunResult
from .pipeline import Pipeline, parse_pipeline
from .registry import all_passes, get_pass, pass_names, register_pass
from .report import Report
from .trace import from_exported_program, trace
from .verifier import verify

__version__ = "0.1.0"

__all__ = [
    "AnalysisManager", "AnalysisPass", "CompileResult", "Contract", "EXACT", "InputError", "Instrumentation",
    "LeptonError", "LoweringError", "ModelLoadError", "Module", "NoOptions", "PassContext", "PassError",
    "PassManager", "PassResult", "Pipeline", "PipelineSyntaxError", "Report", "RunResult", "SerializationError",
    "TraceError", "TransformPass", "VerificationError", "all_passes", "approximate", "compile",
    "from_exported_program", "get_pass", "parse_pipeline", "pass_names", "register_pass", "trace", "verify",
    "visiting",
]


def __getattr__(name: str) -> Any:
    if name in ("compile", "CompileResult"):
        from .tools import api

        return getattr(api, name)
    raise AttributeError(f"module 'lepton_ir' has no attribute {name!r}")
