"""Running one pass the way the pass manager does, for the per-pass tests."""
from __future__ import annotations

import torch

import lepton_ir
from lepton_ir import Module, PassManager
from lepton_ir.report import PassRecord


def run_pass(module: Module, pipeline: str) -> tuple[Module, PassRecord]:
    """Run ``pipeline`` with verification and numeric checks on; return the new module and the row of
    its first pass (later passes, such as a trailing dce, only tidy up for the golden comparison)."""
    result = PassManager(pipeline).run(module)
    return result.module, result.report.passes[0]


def body(module: Module) -> str:
    """The printed IR without constants and header: the part a rewrite changes."""
    return "\n".join(line for line in str(module).splitlines()[1:] if "= constant" not in line)


def assert_same_outputs(a: Module, b: Module, inputs: tuple[torch.Tensor, ...], rtol: float = 1e-5) -> None:
    for x, y in zip(a(*inputs), b(*inputs)):
        torch.testing.assert_close(x, y, rtol=rtol, atol=1e-6)


def trace(model: torch.nn.Module, *inputs: torch.Tensor, **kwargs) -> Module:
    return lepton_ir.trace(model.eval(), inputs, name="m", **kwargs)
