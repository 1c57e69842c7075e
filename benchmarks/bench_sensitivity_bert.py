"""``quantize{precision=auto}`` on a BERT encoder with an attention mask: which ops it keeps float,
the fidelity it keeps, how many matmuls stay int8, and latency against ONNX Runtime fp32.

    .venv/bin/python benchmarks/bench_sensitivity_bert.py [--rounds 10] [--outliers 0|1]

A Hugging Face BertModel from a config (6 layers, hidden 384, 12 heads, random weights), batch 8 x 32
tokens with varied padding, 8 calibration batches. Random weights have no outliers, so nothing
destroys int8 there; trained BERTs do have them (a few hidden dimensions whose LayerNorm gain is
tens of times the rest: Kovaleva et al. 2021, "BERT Busters"). ``--outliers 1`` (the default)
implants two such dimensions (gain 40 in every layer's output LayerNorm) so that plain int8
(-O2) loses fidelity and the automatic choice has something to find. Fidelity: mean-pooled,
L2-normalised sentence embeddings against the fp32 model's (minimum cosine over 8 held-out
batches), and the minimum per-token cosine. Latency: interleaved medians, ORT intra_op=2.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

import lepton_ir
from lepton_ir.backends.onnx import run_session, session
from lepton_ir.backends.onnx_kernels import format_kernels, kernel_counts
from lepton_ir.tools.latency import interleaved_medians

from bert_workload import HIDDEN, Batches, encoder, sentence_embeddings, traced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--outliers", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = encoder(outliers=bool(args.outliers))
    batch = Batches()
    ir = traced(model, batch)
    ids, mask = ir.example_inputs
    calibration, held_out = [batch() for _ in range(8)], [batch() for _ in range(8)]
    out = tempfile.mkdtemp(prefix="lepton-bench-sens-bert-")
    paths = {"ort-fp32": os.path.join(out, "fp32.onnx"), "lepton-O2": os.path.join(out, "o2.onnx"),
             "lepton-auto": os.path.join(out, "auto.onnx")}
    lepton_ir.compile(ir, pipeline="-O1", output=paths["ort-fp32"])
    # plain int8 on the outlier model moves the outputs too far for the artifact check: measured below
    lepton_ir.compile(ir, pipeline="-O2", output=paths["lepton-O2"], calibration=calibration, verify=not args.outliers)
    start = time.perf_counter()
    auto = lepton_ir.compile(ir, pipeline="-O1,quantize{precision=auto},dce", output=paths["lepton-auto"],
                             calibration=calibration)
    seconds = time.perf_counter() - start
    choice = auto.report.extra["quantize_auto"][0]
    sweep = auto.report.extra["sensitivity"][0]
    sessions = {k: session(p, spin=False) for k, p in paths.items()}

    def outputs(sess, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
        hidden = run_session(sess, ir, (ids, mask))[0].double()
        return sentence_embeddings(hidden, mask), hidden

    feed = {i.name: t.numpy() for i, t in zip(sessions["ort-fp32"].get_inputs(), (ids, mask))}
    medians = interleaved_medians({k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()}, rounds=args.rounds)
    print(f"BERT 6x384, batch 8x32 with attention mask, outlier dims implanted: {bool(args.outliers)}")
    print(f"precision=auto (max_drop {choice['max_drop']}, metric {choice['metric']}, {choice['method']}): "
          f"sweep {sweep['seconds']:.1f} s over {sweep['trials']} trials, whole compile {seconds:.1f} s; "
          f"kept float: {', '.join(choice['float']) or 'none'}; verified: {auto.report.verification.passed}")
    print(f"{'config':<13}{'ms':>8}{'x fp32':>8}{'sentence cos':>14}{'token cos':>11}  kernels")
    for key, sess in sessions.items():
        sentence = token = 1.0
        for b in held_out:
            (e, h), (e0, h0) = outputs(sess, *b), outputs(sessions["ort-fp32"], *b)
            sentence = min(sentence, float((e * e0).sum(-1).min()))
            token = min(token, float(torch.nn.functional.cosine_similarity(h.reshape(-1, HIDDEN), h0.reshape(-1, HIDDEN)).min()))
        text = format_kernels(kernel_counts(paths[key]))
        print(f"{key:<13}{medians[key] * 1e3:8.2f}{medians[key] / medians['ort-fp32']:8.3f}{sentence:14.5f}"
              f"{token:11.5f}  {text}")


if __name__ == "__main__":
    main()
