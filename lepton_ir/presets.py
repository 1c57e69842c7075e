"""Optimisation presets: each expands in place to a pipeline string.

-O0  trace, verify and lower only: no passes.
-O1  exact cleanups, run to a fixed point.
-O2  -O1, then int8 quantization (uint8 activations, int8 per-channel weights) with calibration.
Later levels are added here as their passes land.
"""
from __future__ import annotations

PRESETS: dict[str, str] = {
    "-O0": "",
    "-O1": "functionalize,fixpoint(remove-identity,fold-constants,fold-batchnorm,fold-affine,simplify,merge-linear,cse,dce)",
    "-O2": "-O1,quantize,dce",
}
