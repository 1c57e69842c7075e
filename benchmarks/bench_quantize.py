"""int8 on ONNX Runtime: Lepton -O2 against ONNX Runtime's own quantizer, side by side in one process.

    .venv/bin/python benchmarks/bench_quantize.py [--model resnet18|hf-resnet18|hf-resnet50] [--resolution 224]

Configurations (same fp32 model, same calibration data: 16 random images, seeded):
  ort-fp32           the fp32 ONNX model (Lepton -O1 export)
  ort-static-default onnxruntime.quantization.quantize_static with its defaults (QDQ, S8S8, per-tensor)
  ort-static-u8s8    quantize_static, uint8 activations, int8 per-channel weights
  ort-dynamic        quantize_dynamic with its defaults
  lepton-O2          lepton -O2 (uint8 activations, int8 per-channel weights, percentile calibration)
Printed: median latency and its ratio to fp32 and to the others, the kernels ORT's optimised graph
runs (integer vs float conv/matmul), and output cosine to the fp32 model on 8 held-out inputs.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import onnx
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

import lepton_ir
from lepton_ir.backends.onnx import session
from lepton_ir.backends.onnx_kernels import format_kernels, kernel_counts
from lepton_ir.tools import zoo
from lepton_ir.tools.latency import interleaved_medians


class _Reader(CalibrationDataReader):
    def __init__(self, name: str, batches: list[np.ndarray]):
        self._items = iter([{name: b} for b in batches])

    def get_next(self):  # noqa: ANN201 - ORT's interface
        return next(self._items, None)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["resnet18", "hf-resnet18", "hf-resnet50"], default="resnet18")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.model == "resnet18":
        model, inputs = zoo.resnet18(args.resolution)
    else:
        from transformers import ResNetConfig, ResNetForImageClassification

        torch.manual_seed(0)  # random weights and BN statistics; ResNet-18 (basic blocks) or ResNet-50 layout
        config = ResNetConfig() if args.model == "hf-resnet50" else ResNetConfig(
            layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512])
        model = zoo.randomize_batchnorm(ResNetForImageClassification(config)).eval()
        inputs = (torch.randn(1, 3, args.resolution, args.resolution, generator=torch.Generator().manual_seed(0)),)
    generator = torch.Generator().manual_seed(1)
    calib = [(torch.randn(inputs[0].shape, generator=generator),) for _ in range(16)]
    held_out = [torch.randn(inputs[0].shape, generator=generator) for _ in range(8)]
    out = tempfile.mkdtemp(prefix="lepton-bench-q-")
    ir = lepton_ir.trace(model, inputs, name=args.model)
    fp32 = lepton_ir.compile(ir, pipeline="-O1", target="onnx", output=os.path.join(out, "fp32.onnx"))
    # verify=False: the artifact is checked here against fp32 like every other configuration (random-weight
    # deep networks amplify rounding differences between ORT's integer kernels and the float emulation)
    lepton = lepton_ir.compile(ir, pipeline="-O2", target="onnx", output=os.path.join(out, "lepton_o2.onnx"),
                               calibration=calib, verify=False)
    name = onnx.load(fp32.report.output).graph.input[0].name
    prepared = os.path.join(out, "fp32_pre.onnx")
    quant_pre_process(fp32.report.output, prepared, skip_symbolic_shape=True)
    data = [c[0].numpy() for c in calib]
    paths = {"ort-fp32": fp32.report.output, "lepton-O2": lepton.report.output}
    paths["ort-static-default"] = os.path.join(out, "ort_static_default.onnx")
    quantize_static(prepared, paths["ort-static-default"], _Reader(name, data))
    paths["ort-static-u8s8"] = os.path.join(out, "ort_static_u8s8.onnx")
    quantize_static(prepared, paths["ort-static-u8s8"], _Reader(name, data), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    paths["ort-dynamic"] = os.path.join(out, "ort_dynamic.onnx")
    quantize_dynamic(prepared, paths["ort-dynamic"])
    sessions = {k: session(p, spin=False) for k, p in paths.items()}
    feed = {name: inputs[0].numpy()}
    medians = interleaved_medians({k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()},
                                  rounds=args.rounds)
    reference = [sessions["ort-fp32"].run(None, {name: x.numpy()})[0] for x in held_out]
    print(f"{args.model} 1x3x{args.resolution}x{args.resolution}, ORT intra_op=2, median of {args.rounds * 5} runs")
    print(f"{'config':<20}{'ms':>8}{'x fp32':>8}{'x static-def':>13}{'x u8s8':>8}  {'cosine':>8}  kernels")
    for key, sess in sessions.items():
        cos = min(_cosine(sess.run(None, {name: x.numpy()})[0], r) for x, r in zip(held_out, reference))
        text = format_kernels(kernel_counts(paths[key]))
        m = medians[key]
        print(f"{key:<20}{m * 1e3:8.2f}{m / medians['ort-fp32']:8.3f}{m / medians['ort-static-default']:13.3f}"
              f"{m / medians['ort-static-u8s8']:8.3f}  {cos:8.5f}  {text}")


if __name__ == "__main__":
    main()
