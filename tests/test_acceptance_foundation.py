"""Foundation acceptance: a Hugging Face BertModel (.pt2) and a ResNet-style CNN compile to ONNX and
TorchScript artifacts whose outputs match the original model within 1e-4 (max abs error)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.cli_helpers import lepton

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def bert_pt2(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert") / "bert.pt2"
    subprocess.run([sys.executable, os.path.join(HERE, "fixtures", "hf_export.py"), str(path)], check=True, timeout=300)
    return str(path)


@pytest.mark.parametrize("target", ["onnx", "torchscript"])
def test_bert_pt2_compiles_and_matches(bert_pt2, target, tmp_path):
    r = lepton("compile", bert_pt2, "-O1", "--target", target, "--report", "r.json", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    v = report["verification"]
    assert v["passed"] and v["max_abs_error"] < 1e-4 and v["reference_max_abs_error"] < 1e-4
    assert report["after"]["nodes"] < report["before"]["nodes"]  # dropouts and asserts gone


@pytest.mark.parametrize("target", ["onnx", "torchscript"])
def test_resnet_style_cnn_compiles_and_matches(target, tmp_path):
    r = lepton("compile", "lepton_ir.tools.zoo:resnet18", "-O1", "--target", target, "--report", "r.json",
               cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    v = report["verification"]
    assert v["passed"] and v["max_abs_error"] < 1e-4 and v["reference_max_abs_error"] < 1e-4
    assert report["before"]["macs"] == 1_814_073_344  # ResNet-18 at 224: convs + fc, as fvcore counts it
