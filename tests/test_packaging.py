"""The installed distribution (not the source tree) imports, with passes/backends/tools mapped under lepton_ir."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_installed_package_imports_from_site_packages(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), ROOT],
                   check=True, capture_output=True, text=True, timeout=300)
    assert not (target / "passes").exists() and not (target / "backends").exists()  # no global top-level modules
    assert (target / "lepton_ir" / "tools" / "data" / "digits_cnn.pt").exists()
    code = (
        "import lepton_ir, lepton_ir.passes.transforms.dce as d, lepton_ir.backends.onnx as o, lepton_ir.tools.cli as c;"
        "print(lepton_ir.__file__); print(d.__file__); print(o.__file__); print(c.__file__);"
        "print(sorted(lepton_ir.all_passes()))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    files = r.stdout.splitlines()
    for f in files[:4]:
        assert f.startswith(str(target)), f
    assert "'dce'" in files[4] and "'remove-identity'" in files[4]
