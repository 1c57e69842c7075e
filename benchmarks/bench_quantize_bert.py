"""int8 on a BERT-style encoder with an attention mask: Lepton -O2 against ONNX Runtime's quantizers.

    .venv/bin/python benchmarks/bench_quantize_bert.py [--rounds 10]

A Hugging Face BertModel from a config (6 layers, hidden 384, 12 heads, random weights), batch 8 x 32
tokens with varied padding. Fidelity: mean-pooled, L2-normalised embeddings compared per sentence
with the fp32 model's (the minimum cosine over 8 held-out batches). Latency: interleaved medians.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import torch
from onnxruntime.quantization import quantize_dynamic

import lepton_ir
from lepton_ir.backends.onnx import run_session, session
from lepton_ir.backends.onnx_kernels import format_kernels, kernel_counts
from lepton_ir.tools.latency import interleaved_medians

from bert_workload import Batches, encoder, sentence_embeddings, traced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = encoder()
    batch = Batches()
    ir = traced(model, batch)
    ids, mask = ir.example_inputs
    calibration, held_out = [batch() for _ in range(16)], [batch() for _ in range(8)]
    out = tempfile.mkdtemp(prefix="lepton-bench-bert-")
    paths = {"ort-fp32": os.path.join(out, "fp32.onnx"), "lepton-O2": os.path.join(out, "o2.onnx"),
             "ort-dynamic": os.path.join(out, "dynamic.onnx")}
    lepton_ir.compile(ir, pipeline="-O1", output=paths["ort-fp32"])
    o2 = lepton_ir.compile(ir, pipeline="-O2", output=paths["lepton-O2"], calibration=calibration)
    quantize_dynamic(paths["ort-fp32"], paths["ort-dynamic"])
    sessions = {k: session(p, spin=False) for k, p in paths.items()}

    def embed(sess, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return sentence_embeddings(run_session(sess, ir, (ids, mask))[0], mask)

    feed = {i.name: t.numpy() for i, t in zip(sessions["ort-fp32"].get_inputs(), (ids, mask))}
    medians = interleaved_medians({k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()}, rounds=args.rounds)
    print(f"BERT 6x384, batch 8x32 with attention mask, ORT intra_op=2, median of {args.rounds * 5} runs; "
          f"Lepton -O2 verified: {o2.report.verification.passed}")
    print(f"{'config':<14}{'ms':>8}{'x fp32':>8}  {'min cosine':>10}  kernels")
    for key, sess in sessions.items():
        cosine = min(float((embed(sess, *b) * embed(sessions["ort-fp32"], *b)).sum(-1).min()) for b in held_out)
        text = format_kernels(kernel_counts(paths[key]))
        print(f"{key:<14}{medians[key] * 1e3:8.2f}{medians[key] / medians['ort-fp32']:8.3f}  {cosine:10.5f}  {text}")


if __name__ == "__main__":
    main()
