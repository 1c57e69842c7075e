"""The ``lepton`` command, run as a subprocess the way users run it."""
from __future__ import annotations

import json
import os
import re

import pytest

from tests.cli_helpers import lepton

HERE = os.path.dirname(os.path.abspath(__file__))
FACTORIES = os.path.join(HERE, "fixtures", "factories.py")
PLUGIN = os.path.join(HERE, "plugins", "faulty_passes.py")


def test_compile_demo_by_default(tmp_path):
    r = lepton("compile", "--report", "report.json", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "pass" in out and "remove-identity #1" in out and "dce #1" in out
    assert re.search(r"params\s+\S+\s+\S+", out) and re.search(r"MACs\s+\S+\s+\S+", out)
    accuracy = re.search(r"original ([\d.]+)%, compiled \(onnx\) ([\d.]+)%", out)
    assert accuracy and abs(float(accuracy[1]) - float(accuracy[2])) <= 0.5
    assert "wrote lepton-out/digits_cnn.onnx" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["target"] == "onnx" and report["verification"]["passed"]
    assert report["verification"]["max_abs_error"] < 1e-4
    assert report["before"]["nodes"] > report["after"]["nodes"]
    assert report["demo_accuracy"]["original"] > 95


def test_compile_factory_to_torchscript_with_ir_printing(tmp_path):
    r = lepton("compile", f"{FACTORIES}:small", "-O1", "--target", "torchscript", "-o", "s.pt",
               "--print-ir-after", "dce", "--print-changed-only", "--time-passes", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.pt").exists()
    assert r.stderr.count("IR after dce") == 1 and "%conv2d" in r.stderr
    assert "seconds" in r.stderr  # the --time-passes table
    assert "verified in torchscript" in r.stdout


def test_input_shape_and_module_only_factory(tmp_path):
    r = lepton("compile", f"{FACTORIES}:module_only", "--input-shape", "1,3,16,16", "-O0", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    r = lepton("compile", f"{FACTORIES}:module_only", cwd=str(tmp_path))
    assert r.returncode == 1 and "give --input-shape" in r.stderr


def test_passes_lists_every_pass_with_options():
    r = lepton("passes")
    assert r.returncode == 0
    for name in ("dce", "remove-identity", "cost"):
        assert re.search(rf"^{name}\s", r.stdout, re.M)
    data = json.loads(lepton("passes", "--json").stdout)
    assert {d["name"] for d in data} >= {"dce", "remove-identity", "cost"}
    r = lepton("passes", "--plugin", PLUGIN)
    assert "test-explode" in r.stdout


def test_opt_prints_ir_and_saves_it_for_inspect(tmp_path):
    r = lepton("opt", "demo", "--pipeline", "remove-identity,dce", "-o", "d.lepton", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("module digits_cnn") and "aten.dropout" not in r.stdout
    r = lepton("inspect", "d.lepton", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "model digits_cnn"
    assert any(re.match(r"conv2d\s+aten\.conv2d\s+f32\[1,16,8,8\]\s+144\s+9\.22K\s+stem\.0", ln) for ln in lines)
    assert re.match(r"total: \d+ ops, [\d,]+ params, [\d,]+ MACs", lines[-1])


def test_inspect_json_totals_match_rows():
    data = json.loads(lepton("inspect", "demo", "--json").stdout)
    assert data["totals"]["macs"] == sum(r["macs"] for r in data["nodes"]) > 0
    assert data["totals"]["nodes"] == len(data["nodes"])


@pytest.mark.parametrize("args, message", [
    (["compile", "missing.py:make"], "error: no such file: missing.py"),
    (["compile", f"{FACTORIES}:raises"], "the factory"),
    (["compile", f"{FACTORIES}:smal"], "did you mean 'small'?"),
    (["compile", f"{FACTORIES}:not_a_module"], "returned int, expected a torch.nn.Module"),
    (["compile", f"{FACTORIES}:untraceable"], "torch.export could not trace DataDependent"),
    (["compile", "--pipeline", "dce,fold-everything"], "unknown pass 'fold-everything'"),
    (["compile", "--pipeline", "dce{"], "unbalanced '{'"),
    (["compile", "demo", "--input-shape", "1,3,8,8"], "the model raised on the example inputs (float32[1, 3, 8, 8])"),
    (["compile", "demo", "--input-shape", "1,x"], "--input-shape must be comma-separated integers"),
    (["compile", "nothing-like-a-model"], "cannot tell what MODEL"),
    (["compile", "--calib", "random:zero"], "--calib random:N needs a whole number"),
    (["inspect", "missing.lepton"], "no such file: missing.lepton"),
])
def test_bad_input_gets_one_clear_error(args, message, tmp_path):
    r = lepton(*args, cwd=str(tmp_path))
    assert r.returncode == 1, r.stdout
    assert message in r.stderr
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_factory_error_names_the_users_line(tmp_path):
    r = lepton("compile", f"{FACTORIES}:raises", cwd=str(tmp_path))
    assert "RuntimeError: weights file missing" in r.stderr
    assert "factories.py" in r.stderr and 'raise RuntimeError("weights file missing")' in r.stderr


def test_failing_pass_prints_replay_command(tmp_path):
    r = lepton("compile", "--pipeline", "dce,test-explode", "--plugin", PLUGIN, "--reproducer-dir", str(tmp_path),
               cwd=str(tmp_path))
    assert r.returncode == 1
    assert "pass 'test-explode' failed: ValueError: cannot handle batch_norm" in r.stderr
    assert "node: %batch_norm = call_function aten.batch_norm in module 'stem.1'" in r.stderr
    assert "demo.py" in r.stderr  # the source line of the failing node
    command = re.search(r"replay with: (.*)", r.stderr)[1]
    assert command.startswith("lepton replay ") and str(tmp_path) in command
    replay = lepton(*command.split()[1:], cwd=str(tmp_path))
    assert replay.returncode == 1 and "cannot handle batch_norm" in replay.stderr


def test_calibration_specs_are_loaded(tmp_path):
    import numpy as np

    np.savez(tmp_path / "calib.npz", x=np.random.rand(8, 1, 8, 8).astype("float32"))
    for spec in ("random:4", "demo", "calib.npz"):
        r = lepton("compile", "--calib", spec, "-O0", cwd=str(tmp_path))
        assert r.returncode == 0, (spec, r.stderr)
    np.savez(tmp_path / "bad.npz", x=np.random.rand(8, 3, 8, 8).astype("float32"))
    r = lepton("compile", "--calib", "bad.npz", cwd=str(tmp_path))
    assert r.returncode == 1 and "takes [1, 8, 8] per sample" in r.stderr


def test_train_data_feeds_distillation(tmp_path):
    r = lepton("compile", "--pipeline", "-O1,prune-channels{ratio=0.3},distill{epochs=2,batch_size=32}",
               "--train-data", "demo", "--report", "r.json", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["passes"]
    assert rows[-1]["name"] == "distill" and rows[-1]["stats"]["steps"] == 2 * (1347 // 32)
    bad = lepton("compile", "--train-data", "nope.txt", cwd=str(tmp_path))
    assert bad.returncode == 1 and "unknown --train-data SPEC" in bad.stderr
