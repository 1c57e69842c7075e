"""Run every benchmark in turn (``make bench``), each as its own process, printing the command first
so every figure can be traced to what produced it. Takes about 15 minutes on 2 cores.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...]

bench_prune.py compares against Torch-Pruning, an optional dependency (pip install -e '.[bench]'):
it is skipped, with a message, when that is not installed.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = [
    ("bench_folding.py", []), ("bench_quantize.py", []), ("bench_quantize_bert.py", []),
    ("bench_prune.py", []), ("prune_demo.py", []), ("distill_demo.py", []), ("binary_demo.py", []),
    ("bench_sensitivity_prune.py", []), ("bench_sensitivity_bert.py", []),
    ("bench_sensitivity_bert.py", ["--outliers", "0"]), ("bench_sensitivity_sweep.py", []),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None, help="script names (without .py) to run")
    args = parser.parse_args()
    failed = []
    for script, extra in BENCHMARKS:
        if args.only and script[:-3] not in args.only:
            continue
        if script == "bench_prune.py" and importlib.util.find_spec("torch_pruning") is None:
            print(f"== skipped {script}: torch-pruning is not installed (pip install -e '.[bench]')\n", flush=True)
            continue
        command = [sys.executable, os.path.join("benchmarks", script), *extra]
        print("== " + " ".join([".venv/bin/python", *command[1:]]), flush=True)
        if subprocess.run(command, cwd=os.path.dirname(HERE)).returncode != 0:
            failed.append(script)
        print(flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
