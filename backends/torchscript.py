"""TorchScript backend: trace the IR, freeze, save, reload and check the reloaded artifact."""
from __future__ import annotations

import os
import warnings

import torch

from lepton_ir.errors import LoweringError
from lepton_ir.module import Module

from .result import LoweringResult, check_artifact, lowering_tolerance


def lower(module: Module, path: str, *, verify: bool = True, rtol: float | None = None) -> LoweringResult:
    """Write ``module`` to ``path`` as frozen TorchScript.

    TorchScript tracing records the example shapes: a dynamic batch in the IR does not survive
    into this artifact (``details['dynamic_batch']`` says so); use ONNX for that.
    """
    gm = module.graph_module
    gm.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(gm, tuple(t.clone() for t in module.example_inputs), check_trace=False)
            frozen = torch.jit.freeze(traced.eval())
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            torch.jit.save(frozen, path)
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LoweringError(f"TorchScript lowering failed for {module.name}: {type(e).__name__}: {first}") from e
    details = {"bytes": os.path.getsize(path), "dynamic_batch": False}
    verification = None
    if verify:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            loaded = torch.jit.load(path)
            out = loaded(*(t.clone() for t in module.example_inputs))  # a model may mutate its inputs
        produced = list(out) if isinstance(out, (tuple, list)) else [out]
        verification = check_artifact("torchscript", module, produced, lowering_tolerance(module, rtol), path)
    return LoweringResult("torchscript", path, verification, details)
