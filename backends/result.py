"""What lowering produced and how its outputs compare with the IR and the original model."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from lepton_ir.errors import LoweringError
from lepton_ir.metadata import QUANT
from lepton_ir.module import Module
from lepton_ir.numerics import compare_outputs
from lepton_ir.report import Verification

#: Default lowering tolerance: artifact vs IR, max abs error relative to the largest output magnitude.
DEFAULT_RTOL = 1e-4
#: For quantized IR: integer kernels round where the float emulation does not (int32 bias,
#: requantization, the runtime's fixed-point multipliers), so each layer may differ by about one
#: quantization step and deep models accumulate it: 5% of the largest output, and cosine >= 0.999,
#: bound that on the CNNs and BERT-style encoders measured (BERT 6x384: 2.8%, cosine 0.9999).
QUANTIZED_RTOL = 5e-2
QUANTIZED_MIN_COSINE = 0.999


def is_quantized(module: Module) -> bool:
    """Quantization ops in the graph, or int4 weights (ORT's MatMulNBits then quantizes activations
    to int8 on the fly, its default accuracy level on CPU)."""
    return any("quantize" in str(n.target) or (n.meta.get(QUANT) or {}).get("weights") == "s4"
               for n in module.compute_nodes())


def lowering_tolerance(module: Module, rtol: float | None) -> float:
    if rtol is not None:
        return rtol
    return QUANTIZED_RTOL if is_quantized(module) else DEFAULT_RTOL


@dataclass
class LoweringResult:
    backend: str
    path: str
    verification: Verification | None
    details: dict[str, Any] = field(default_factory=dict)


def check_artifact(
    backend: str, module: Module, produced: Sequence[torch.Tensor], rtol: float, path: str,
) -> Verification:
    """Compare the artifact's outputs with the IR's own (lowering fidelity) and with the original model's.

    Raises LoweringError when the artifact strays from the IR beyond ``rtol``: a lowering must not
    silently change what the model computes.
    """
    expected = module.run_examples()
    vs_ir = compare_outputs(produced, expected)
    vs_ref = compare_outputs(produced, module.reference_outputs)
    passed = vs_ir.within(rtol) and (not is_quantized(module) or vs_ir.cosine >= QUANTIZED_MIN_COSINE)
    verification = Verification(
        backend=backend, max_abs_error=vs_ir.max_abs_error, passed=passed, max_rel_error=vs_ir.max_rel_error,
        tolerance=rtol, reference_max_abs_error=vs_ref.max_abs_error,
        details={"cosine_vs_ir": vs_ir.cosine, "cosine_vs_reference": vs_ref.cosine},
    )
    if not passed:
        detail = vs_ir.mismatch or (f"max abs error {vs_ir.max_abs_error:.3e}, relative {vs_ir.max_rel_error:.3e} "
                                    f"(tolerance {rtol:g}), cosine {vs_ir.cosine:.5f}")
        raise LoweringError(
            f"{backend} artifact {path} does not reproduce the IR: {detail}\n"
            "  the artifact was kept for inspection; rerun with --no-verify to skip this check"
        )
    return verification
