"""Debug tools: what inspect, graph, diff, replay and the HTML report print and write."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from tests.cli_helpers import lepton

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = os.path.join(HERE, "plugins", "faulty_passes.py")
BERT = "lepton_ir.tools.zoo:bert_small"
MODELS = ["demo", BERT]


def run_ok(*args: str, cwd: str) -> str:
    r = lepton(*args, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("model", MODELS)
def test_inspect_table_filters_and_json(model, tmp_path):
    data = json.loads(run_ok("inspect", model, "--json", cwd=str(tmp_path)))
    nodes = data["nodes"]
    assert data["totals"]["nodes"] == len(nodes) == data["totals"]["model"]["nodes"]
    assert data["totals"]["macs"] == sum(n["macs"] for n in nodes) == data["totals"]["model"]["macs"] > 0
    assert all({"node", "op", "shape", "dtype", "params", "macs", "module", "quant", "prune_group"} <= set(n)
               for n in nodes)
    op = "conv" if model == "demo" else "linear"
    text = run_ok("inspect", model, "--op", op, cwd=str(tmp_path))
    rows = [ln for ln in text.splitlines()[3:] if not ln.startswith(("shown", "total"))]
    expected = [n for n in nodes if op in n["op"]]
    assert len(rows) == len(expected) > 0 and all(f"aten.{op}" in r for r in rows)
    assert re.search(rf"shown: {len(expected)} ops", text)
    module = "block" if model == "demo" else "encoder.layer.0"
    scoped = json.loads(run_ok("inspect", model, "--module", module, "--json", cwd=str(tmp_path)))["nodes"]
    assert scoped and all(module in n["module"] for n in scoped)


@pytest.mark.parametrize("model", MODELS)
def test_graph_in_three_formats(model, tmp_path):
    data = json.loads(run_ok("inspect", model, "--json", cwd=str(tmp_path)))
    names = [n["node"] for n in data["nodes"]]
    run_ok("graph", model, "-o", "g.dot", cwd=str(tmp_path))
    dot = (tmp_path / "g.dot").read_text()
    assert dot.startswith("digraph") and all(f'"{n}" [label=' in dot for n in names)
    assert "subgraph \"cluster_" in dot and "->" in dot and "f32[" in dot  # clusters, edges with shapes
    html_out = run_ok("graph", model, "-o", "g.html", cwd=str(tmp_path))
    page = (tmp_path / "g.html").read_text()
    payload = json.loads(re.search(r'<script type="application/json">(.*?)</script>', page, re.S)[1])
    assert {n["id"] for n in payload["nodes"]} >= set(names)
    assert f"{len(payload['nodes'])} nodes" in html_out
    if shutil.which("dot"):
        run_ok("graph", model, "-o", "g.svg", cwd=str(tmp_path))
        svg = (tmp_path / "g.svg").read_text()
        assert "<svg" in svg and all(f"<title>{n}</title>" in svg for n in names[:20])
    else:
        r = lepton("graph", model, "-o", "g.svg", cwd=str(tmp_path))
        assert r.returncode == 1 and "apt-get install graphviz" in r.stderr


def test_graph_collapses_by_module_path(tmp_path):
    run_ok("graph", BERT, "-o", "c.dot", "--collapse-depth", "1", cwd=str(tmp_path))
    dot = (tmp_path / "c.dot").read_text()
    assert '"group:encoder.layer" [label="encoder.layer (collapsed)' in dot
    assert '"group:embeddings.word_embeddings"' in dot and "aten.embedding" not in dot


@pytest.mark.parametrize("model", MODELS)
def test_diff_of_two_saved_irs_and_per_pass(model, tmp_path):
    run_ok("opt", model, "-O0", "-q", "-o", "a.lepton", cwd=str(tmp_path))
    run_ok("opt", model, "-O1", "-q", "-o", "b.lepton", cwd=str(tmp_path))
    a = json.loads(run_ok("inspect", "a.lepton", "--json", cwd=str(tmp_path)))["totals"]["model"]
    b = json.loads(run_ok("inspect", "b.lepton", "--json", cwd=str(tmp_path)))["totals"]["model"]
    (diff,) = json.loads(run_ok("diff", "a.lepton", "b.lepton", "--json", cwd=str(tmp_path)))
    assert diff["nodes"] == [a["nodes"], b["nodes"]] and diff["params"] == [a["params"], b["params"]]
    assert len(diff["removed"]) - len(diff["added"]) == a["nodes"] - b["nodes"] > 0
    assert any("aten.dropout" in line for line in diff["removed"])
    text = run_ok("diff", model, "--pipeline", "-O1", cwd=str(tmp_path))
    assert text.startswith("=== remove-identity") and "- %dropout" in text
    if model == "demo":
        assert "=== fold-batchnorm" in text and "params 10K -> 9.77K (-240)" in text


def test_diff_reports_weight_shape_changes(tmp_path):
    import torch

    import lepton_ir

    from lepton_ir.tools.ir_diff import diff_modules

    ir = lepton_ir.trace(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)),
                         (torch.randn(1, 4),))
    pruned = ir.clone()
    pruned.set_constant("0.weight", ir.constant("0.weight")[:6])
    pruned.set_constant("0.bias", ir.constant("0.bias")[:6])
    pruned.set_constant("2.weight", ir.constant("2.weight")[:, :6])
    pruned.refresh_shapes()
    diff = diff_modules(ir, pruned, "prune")
    assert [(w.node, w.before, w.after) for w in diff.weights] == [
        ("linear", "f32[8,4]", "f32[6,4]"), ("linear", "f32[8]", "f32[6]"), ("linear_1", "f32[2,8]", "f32[2,6]")]
    assert diff.params == (58, 44) and diff.macs == (48, 36)
    assert "weight 1 of %linear: f32[8,4] -> f32[6,4]" in diff.format()


def test_replay_bisect_finds_the_planted_broken_pass(tmp_path):
    out = run_ok("replay", "demo", "--bisect", "--pipeline", "-O1,test-silent-break,dce", "--plugin", PLUGIN,
                 cwd=str(tmp_path))
    assert out.startswith("first pass whose output stops matching the reference: test-silent-break")
    assert "values changed: _lepton.stem_0_weight_bn" in out
    clean = run_ok("replay", "demo", "--bisect", "--pipeline", "-O1", cwd=str(tmp_path))
    assert re.match(r"all \d+ passes keep the outputs within 0.0001", clean)


def test_replay_of_a_crash_reproducer(tmp_path):
    r = lepton("compile", "--pipeline", "remove-identity,dce,test-explode", "--plugin", PLUGIN, "--reproducer-dir", str(tmp_path),
               cwd=str(tmp_path))
    assert r.returncode == 1
    directory = re.search(r"reproducer: (\S+)", r.stderr)[1]
    assert sorted(os.listdir(directory)) == ["error.txt", "full_pipeline.txt", "input.lepton", "original.lepton",
                                             "passes_before.txt", "pipeline.txt", "plugins.txt", "replay.sh"]
    replay = lepton("replay", directory, "--print-ir-before", cwd=str(tmp_path))
    assert replay.returncode == 1 and "pass 'test-explode' failed" in replay.stderr
    assert replay.stdout.startswith("// IR before test-explode\nmodule digits_cnn")
    assert "aten.dropout" not in replay.stdout  # the IR after remove-identity, right before the failing pass
    bisect = run_ok("replay", directory, "--bisect", cwd=str(tmp_path))
    assert bisect.startswith("pass test-explode failed outright")


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.headings: list[str] = []
        self.tables = 0
        self._in_h2 = False
        self.errors: list[str] = []

    VOID = {"meta", "br", "input", "img", "hr", "link", "path", "rect", "line", "text"}

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables += 1
        self._in_h2 = tag == "h2"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def _chromium_dom(path: str) -> str | None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        return None
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--dump-dom", f"file://{path}"],
                           capture_output=True, text=True, timeout=120)
    return r.stdout if r.returncode == 0 else None


@pytest.mark.parametrize("model", MODELS)
def test_html_report_content(model, tmp_path):
    out = run_ok("compile", model, "--report-html", "r.html", "--report", "r.json", cwd=str(tmp_path))
    assert "HTML report: r.html" in out
    report = json.loads((tmp_path / "r.json").read_text())
    page = (tmp_path / "r.html").read_text()
    parser = _Structure()
    parser.feed(page)
    assert not parser.errors, parser.errors[:3]
    assert parser.headings == ["Summary", "Passes", "Verification", "Kernels ONNX Runtime runs", "Latency",
                               "Sensitivity", "Graph before", "Graph after"]
    for row in report["passes"]:
        suffix = "" if row["iteration"] is None else f" #{row['iteration']}"
        assert f"<td>{row['name']}{suffix}</td>" in page
    assert f"<td>nodes</td><td>{report['before']['nodes']}</td><td>{report['after']['nodes']}</td>" in page
    kernels = report["kernels"]
    float_kernels = sum(kernels["float"].values())
    assert float_kernels > 0 and f"{float_kernels} float conv/matmul kernels" in page
    assert "<td>artifact (onnx)</td>" in page and report["latency_seconds"]["original"] > 0
    graphs = re.findall(r'<script type="application/json">(.*?)</script>', page, re.S)
    before, after = (json.loads(g) for g in graphs)
    assert len(before["nodes"]) == report["before"]["nodes"] + 1 + len(report_inputs(before))
    dom = _chromium_dom(str(tmp_path / "r.html"))
    if dom is not None:  # the page's script ran in a real browser and drew both graphs
        drawn = dom.count('class="node"')
        assert drawn > 0 and "boxes shown of" in dom
    else:
        assert "function draw()" in page


def report_inputs(graph: dict) -> list[dict]:
    return [n for n in graph["nodes"] if n["kind"] == "input"]


def test_inspect_prune_groups_explains_exclusions(tmp_path):
    text = run_ok("inspect", "demo", "--prune-groups", "--pipeline", "-O1", cwd=str(tmp_path))
    assert text.splitlines()[0] == "model digits_cnn: 4 channel groups, 3 prunable"
    assert re.search(r"group +\d+ +10 ch +excluded: reaches a model output +classifier", text)
    assert re.search(r"group +\d+ +16 ch +prunable +stem.0, block.conv2.0", text)
    data = json.loads(run_ok("inspect", BERT, "--prune-groups", "--json", cwd=str(tmp_path)))
    assert any(g["status"].startswith("excluded: combined with a tensor whose channels are not tracked")
               for g in data)  # the residual stream starts at the embeddings
    assert sum(g["status"] == "prunable" for g in data) == 4  # heads and FFN of both layers
