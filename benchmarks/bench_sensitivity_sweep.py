"""How long the sensitivity sweep takes on a ResNet-18-style CNN at 224x224 on this machine.

    .venv/bin/python benchmarks/bench_sensitivity_sweep.py [--batches 8] [--batch-size 8] [--method sweep]

ResNet-18 layout (random weights and BatchNorm statistics), folded with -O1, then the default
``sensitivity`` analysis: every prunable group at ratios 0.25/0.5/0.75 and every quantizable op at
int8 (and int4 for the classifier), each measured on a compressed copy over the calibration batches
(KL of the logits). Prints the wall time of the sweep, of the whole run, the trial count and the
five most sensitive groups and ops. ``--method`` runs a proxy instead; ``--compare`` also runs every
proxy and prints how well each ranks the settings the sweep measured (Spearman's rank correlation
over all (layer, setting) pairs the proxy sees, pruning and quantization separately).
"""
from __future__ import annotations

import argparse
import time

import torch

import lepton_ir
from lepton_ir.tools.sensitivity_table import format_sensitivity
from lepton_ir.tools.zoo import resnet18


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--method", default="sweep")
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, example = resnet18(224)
    generator = torch.Generator().manual_seed(0)
    calibration = [(torch.randn(args.batch_size, 3, 224, 224, generator=generator),) for _ in range(args.batches)]
    ir = lepton_ir.trace(model, example, name="resnet18")
    start = time.perf_counter()
    run = lepton_ir.PassManager(f"-O1,sensitivity{{method={args.method}}}", calibration=calibration).run(ir)
    total = time.perf_counter() - start
    result = run.report.extra["sensitivity"][0]
    print(f"ResNet-18 224x224, {args.batches} batches x {args.batch_size} images, torch threads 2, "
          f"method {args.method}: sweep {result['seconds']:.1f} s ({result['trials']} trials), "
          f"trace excluded, -O1 + sweep {total:.1f} s")
    print(format_sensitivity(result, top=5))
    if args.compare:
        folded = run.module
        for method in ("magnitude", "taylor", "fisher", "hessian"):
            proxy = lepton_ir.PassManager(f"sensitivity{{method={method}}}", calibration=calibration).run(folded)
            other = proxy.report.extra["sensitivity"][0]
            text = ", ".join(f"{kind} {spearman(result, other, kind):.2f}" for kind in ("prune", "quantize"))
            print(f"{method:<10} {other['seconds']:6.1f} s  rank correlation with the sweep: {text}")


def spearman(reference: dict, other: dict, kind: str) -> float:
    """Spearman's rho between two results over the (layer, setting) pairs both measured."""
    def values(result: dict) -> dict:
        return {(e["name"], k): v for e in result["entries"] if e["kind"] == kind for k, v in e["values"].items()}

    a, b = values(reference), values(other)
    keys = sorted(set(a) & set(b))
    if len(keys) < 3:
        return float("nan")
    ranks = [torch.tensor([x[k] for k in keys], dtype=torch.float64).argsort().argsort().double() for x in (a, b)]
    return float(torch.corrcoef(torch.stack(ranks))[0, 1])


if __name__ == "__main__":
    main()
