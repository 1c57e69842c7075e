"""The sensitivity tools on the command line: inspect --sensitivity (table, JSON, PNG), compile's
tables and decisions, reuse next to the report, -O3, and usage errors."""
from __future__ import annotations

import json
import os
import re

from tests.cli_helpers import lepton


def _ok(*args, cwd):
    r = lepton(*args, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_inspect_sensitivity_table_json_and_plot(tmp_path):
    out = _ok("inspect", "demo", "--pipeline", "-O1", "--sensitivity", "--calib", "demo", cwd=str(tmp_path))
    assert "method sweep, metric auto (kl)" in out
    assert re.search(r"^conv2d\s+stem\.0\s+16\s+\S+\s+[\d.e-]+\s+[\d.e-]+\s+[\d.e-]+$", out, re.M)
    assert re.search(r"^linear\s+classifier\s+linear\s+320\s+[\d.e-]+\s+[\d.e-]+$", out, re.M)
    # most sensitive first: the rows of the pruning table are in decreasing order of their largest value
    rows = re.findall(r"^(conv2d\S*)\s+\S+\s+\d+\s+\S+\s+([\d.e-]+)\s+([\d.e-]+)\s+([\d.e-]+)$", out, re.M)
    worst = [max(map(float, r[1:])) for r in rows]
    assert len(rows) == 3 and worst == sorted(worst, reverse=True)
    data = json.loads(_ok("inspect", "demo", "--pipeline", "-O1", "--sensitivity", "--calib", "demo", "--json",
                          "--plot", "s.png", "--sensitivity-options", "precisions=[int8,binary]", cwd=str(tmp_path)))
    entries = data["sensitivity"]["entries"]
    assert {e["kind"] for e in entries} == {"prune", "quantize"}
    assert any("binary" in e["values"] for e in entries) and not any("int4" in e["values"] for e in entries)
    curve = data["tradeoff"]
    assert curve["sensitivity"] and curve["uniform"] and all(0 < p["macs"] <= 1 for p in curve["sensitivity"])
    png = (tmp_path / "s.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_compile_reuses_the_sensitivity_saved_next_to_the_report(tmp_path):
    args = ("compile", "demo", "--pipeline", "-O1,sensitivity{quantize=false}", "--calib", "demo",
            "--report", "out/r.json")
    first = _ok(*args, cwd=str(tmp_path))
    saved = [f for f in os.listdir(tmp_path / "out") if ".sensitivity-" in f]
    assert len(saved) == 1 and "reused" not in first and "pruning: output divergence" in first
    second = _ok(*args, cwd=str(tmp_path))
    assert f"reused from {tmp_path / 'out' / saved[0]}" in second
    report = json.loads((tmp_path / "out" / "r.json").read_text())
    assert report["sensitivity"][0]["cached"].endswith(saved[0])
    assert report["passes"][-1]["name"] == "sensitivity" and report["passes"][-1]["stats"]["reused"] == 1


def test_o3_prunes_distills_and_quantizes_the_demo(tmp_path):
    out = _ok("compile", "demo", "-O3", "--calib", "demo", "--report", "r.json", "--sensitivity-plot", "p.png",
              cwd=str(tmp_path))
    macs = float(re.search(r"^MACs\s+\S+\s+\S+\s+([\d.]+)x$", out, re.M).group(1))
    assert macs <= 0.7 * 1.005
    original, compiled = map(float, re.search(r"original ([\d.]+)%, compiled \(onnx\) ([\d.]+)%", out).groups())
    assert compiled >= original - 2.0  # measured 98.44% vs 99.11%
    assert "prune-channels allocate=sensitivity (macs 0.7, sweep)" in out and "quantize precision=auto" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert [p["name"] for p in report["passes"]].count("distill") == 1
    assert len(report["sensitivity"]) == 2 and report["quantize_auto"][0]["divergence"] <= 0.001
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_o3_without_data_warns_that_nothing_recovers_the_accuracy(tmp_path):
    r = lepton("compile", "demo", "-O3", cwd=str(tmp_path))
    assert r.returncode == 0 and "has no data: pass --calib or --train-data" in r.stderr


def test_usage_errors_name_the_fix(tmp_path):
    r = lepton("inspect", "demo", "--plot", "x.png", cwd=str(tmp_path))
    assert r.returncode != 0 and "add --sensitivity" in r.stderr
    r = lepton("compile", "demo", "--sensitivity-plot", "x.png", cwd=str(tmp_path))
    assert r.returncode != 0 and "no sensitivity was measured" in r.stderr
    r = lepton("compile", "demo", "--pipeline", "prune-channels{target_macs=0.05,allocate=sensitivity,best_effort=true}",
               cwd=str(tmp_path))
    assert r.returncode == 0 and "warning: prune-channels: allocate=sensitivity cannot reach macs 0.050x" in r.stderr
    r = lepton("inspect", "demo", "--sensitivity", "--sensitivity-options", "method=hutchinson", cwd=str(tmp_path))
    assert r.returncode != 0 and "method" in r.stderr and "hessian" in r.stderr and "Traceback" not in r.stderr


def test_html_report_shows_sensitivity_and_decisions(tmp_path):
    _ok("compile", "demo", "--pipeline", "-O1,quantize{precision=auto}", "--calib", "demo", "--report-html", "r.html",
        cwd=str(tmp_path))
    page = (tmp_path / "r.html").read_text()
    section = page[page.index("<h2>Sensitivity</h2>"):page.index("<h2>Graph before</h2>")]
    assert '<svg class="sensitivity"' in section and "quantize conv2d_1 @int8" in section
    assert "quantize precision=auto (max_drop 0.001, sweep): whole-model divergence" in section
