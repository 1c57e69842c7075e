"""Differential testing: every exact pass and -O1 preserve the outputs of random models.

Default run: 100 models through -O1 and 25 through each exact pass alone (about 20 s).
Full run (500 models, each pass alone on all of them): ``make test-slow`` or
``.venv/bin/python -m pytest -m slow tests/differential``.
The pass manager also checks each pass's exactness contract (1e-4 relative) inside -O1.
"""
from __future__ import annotations

import pytest
import torch

import lepton_ir
from tests.differential.generator import RandomNet

EXACT_PASSES = ["functionalize", "remove-identity", "fold-constants", "fold-batchnorm", "fold-affine", "simplify", "merge-linear",
                "cse", "dce"]
RTOL, ATOL = 1e-4, 1e-5
CHUNK = 25


def check_model(seed: int, each_pass: bool) -> dict[str, int]:
    model = RandomNet(seed).eval()
    ir = lepton_ir.trace(model, (model.example_input(),), name=f"random{seed}")
    fresh = model.example_input(seed=1)  # not the inputs the pass manager checked on
    expected = model(fresh.clone())  # models may mutate their input in place
    pipelines = ["-O1"] + (EXACT_PASSES if each_pass else [])
    fired: dict[str, int] = {}
    for pipeline in pipelines:
        result = lepton_ir.PassManager(pipeline).run(ir)
        for got, want in zip(result.module(fresh.clone()), expected):
            torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL,
                                       msg=lambda m: f"seed {seed}, pipeline {pipeline}: {m}")
        for row in result.report.passes:
            if row.changed:
                fired[row.name] = fired.get(row.name, 0) + 1
    return fired


def test_random_models_default_run():
    fired: dict[str, int] = {}
    for seed in range(100):
        for name, count in check_model(seed, each_pass=seed < 25).items():
            fired[name] = fired.get(name, 0) + count
    # the generator must actually exercise every exact pass, or this test proves little
    assert set(EXACT_PASSES) <= set(fired), f"passes never changed anything: {set(EXACT_PASSES) - set(fired)}"


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(500 // CHUNK))
def test_random_models_full_run(chunk):
    for seed in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        check_model(seed, each_pass=True)
