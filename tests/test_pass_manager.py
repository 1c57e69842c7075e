"""The pass manager: copies, verification, contracts, caching, fixed points, reports, reproducers."""
from __future__ import annotations

import io
import json
import os
import subprocess

import pytest
import torch

import lepton_ir
from lepton_ir import Instrumentation, PassError, PassManager, VerificationError
from lepton_ir.pass_base import AnalysisPass, PassResult, TransformPass
from lepton_ir.registry import register_pass, unregister_pass
import tests.plugins.faulty_passes  # noqa: F401 - registers the test-* passes
from tests.cli_helpers import cli_env

PLUGIN = os.path.join(os.path.dirname(__file__), "plugins", "faulty_passes.py")


@pytest.fixture
def ir(tiny_cnn):
    model, inputs = tiny_cnn
    return lepton_ir.trace(model, inputs)


def test_run_returns_a_new_module_and_leaves_the_input_untouched(ir):
    before = str(ir)
    weights = ir.constant("conv.weight").clone()
    result = PassManager("-O1").run(ir)
    assert result.module is not ir
    assert str(ir) == before and torch.equal(ir.constant("conv.weight"), weights)
    assert "dropout" in before and "dropout" not in str(result.module)


def test_report_rows_follow_the_schema(ir):
    report = PassManager("fixpoint(remove-identity,dce),cost").run(ir).report
    data = json.loads(report.to_json())
    assert data["pipeline"] == "fixpoint(remove-identity,dce),cost"
    assert set(data["before"]) == {"nodes", "params", "macs"} == set(data["after"])
    assert data["before"]["nodes"] == data["after"]["nodes"] + 1  # the dropout
    for row in data["passes"]:
        assert {"name", "options", "seconds", "changed", "stats", "nodes", "params", "macs", "max_abs_error"} <= set(row)
    first = data["passes"][0]
    assert first["name"] == "remove-identity" and first["changed"] and first["stats"]["dropout"] == 1
    assert first["max_abs_error"] == 0.0
    assert data["passes"][-1]["stats"]["macs"] == data["after"]["macs"] > 0


def test_fixpoint_repeats_until_nothing_changes(ir):
    rows = PassManager("fixpoint(remove-identity,dce)").run(ir).report.passes
    assert [(r.name, r.iteration, r.changed) for r in rows] == [
        ("remove-identity", 1, True), ("dce", 1, True), ("remove-identity", 2, False), ("dce", 2, False),
    ]


def test_analyses_are_cached_and_invalidated_by_changes(ir):
    runs = []

    @register_pass
    class Counting(AnalysisPass):
        name = "test-counting"
        summary = "counts its runs"

        def run(self, module, analyses):
            runs.append(1)
            return len(runs)

    @register_pass
    class Touch(TransformPass):
        name = "test-touch"
        summary = "changes the IR, preserving test-counting when asked"

        def run(self, module, analyses, context):
            assert analyses.get("test-counting") >= 1
            module.set_constant("fc.bias", module.constant("fc.bias").clone())
            return PassResult(changed=True)

    try:
        PassManager("test-counting,test-counting,dce").run(ir)
        assert len(runs) == 1  # cached; the unchanged dce keeps it
        runs.clear()
        PassManager("test-counting,test-touch,test-counting").run(ir)
        assert len(runs) == 2  # test-touch changed the IR and preserves nothing
        runs.clear()
        Touch.preserves = frozenset({"test-counting"})
        PassManager("test-counting,test-touch,test-counting").run(ir)
        assert len(runs) == 1
    finally:
        unregister_pass("test-counting")
        unregister_pass("test-touch")


def test_failing_pass_names_pass_node_source_and_leaves_a_replayable_reproducer(ir, tmp_path):
    original = str(ir)
    with pytest.raises(PassError) as info:
        PassManager("dce,test-explode", reproducer_dir=str(tmp_path)).run(ir)
    e = info.value
    text = str(e)
    assert e.pass_name == "test-explode"
    assert "ValueError: cannot handle batch_norm" in text
    assert "%batch_norm = call_function aten.batch_norm in module 'bn'" in text
    assert "passes run before it: dce" in text
    assert e.reproducer and os.path.isdir(e.reproducer) and e.reproducer.startswith(str(tmp_path))
    assert open(os.path.join(e.reproducer, "pipeline.txt")).read().strip() == "test-explode"
    assert e.replay_command == f"lepton replay {e.reproducer}"
    assert open(os.path.join(e.reproducer, "plugins.txt")).read().strip() == PLUGIN
    assert str(ir) == original
    saved = lepton_ir.Module.load(os.path.join(e.reproducer, "input.lepton"))
    assert "num_batches_tracked" not in str(saved)  # the IR after dce, before the failing pass
    replay = subprocess.run(e.replay_command, shell=True, capture_output=True, text=True,
                            env=cli_env(LEPTON_REPRODUCER_DIR=str(tmp_path)), cwd=tmp_path)
    assert replay.returncode == 1
    assert "pass 'test-explode' failed" in replay.stderr and "cannot handle batch_norm" in replay.stderr


def test_pass_that_lies_about_changed_is_caught(ir, tmp_path):
    with pytest.raises(PassError, match="reported changed=False but modified the IR"):
        PassManager("test-liar", reproducer_dir=str(tmp_path)).run(ir)


def test_exact_contract_is_checked_numerically(ir, tmp_path):
    with pytest.raises(VerificationError) as info:
        PassManager("test-perturb", reproducer_dir=str(tmp_path)).run(ir)
    assert "exact within rtol 0.0001 but moved the outputs" in str(info.value)
    rows = PassManager("test-perturb-approx").run(ir).report.passes
    assert rows[0].max_abs_error > 1e-3  # recorded, not refused: approximate without a tolerance


def test_no_verify_skips_numeric_checks(ir):
    rows = PassManager("test-perturb", check_numerics=False).run(ir).report.passes
    assert rows[0].changed


def test_verifier_runs_after_each_pass(ir, tmp_path):
    with pytest.raises(VerificationError) as info:
        PassManager("test-stale", reproducer_dir=str(tmp_path)).run(ir)
    assert "invalid IR after 'test-stale'" in str(info.value) and "%slice" in str(info.value)
    assert info.value.reproducer


def test_in_place_declarations_are_enforced(ir, tmp_path):
    result = PassManager("test-new-module").run(ir)
    assert result.report.passes[0].changed
    with pytest.raises(PassError, match="declares in_place=False but modified its input"):
        PassManager("test-claims-copy", reproducer_dir=str(tmp_path)).run(ir)


def test_instrumentation_prints_ir_and_timing(ir):
    stream = io.StringIO()
    instr = Instrumentation(print_after=frozenset({"dce"}), changed_only=True, time_passes=True, stream=stream)
    PassManager("-O1", instrumentation=instr).run(ir)
    text = stream.getvalue()
    assert text.count("IR after dce") == 1  # the second, unchanged dce is not printed
    assert "IR after remove-identity" not in text
    assert "pass" in text and "seconds" in text and "total" in text
    stream = io.StringIO()
    PassManager("dce", instrumentation=Instrumentation(print_before_all=True, stream=stream)).run(ir)
    assert "IR before dce" in stream.getvalue() and "%conv2d" in stream.getvalue()


def test_run_leaves_the_callers_random_state_alone(ir):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    PassManager("-O1").run(ir)
    torch.testing.assert_close(torch.rand(3), expected)
