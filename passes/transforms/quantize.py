"""``quantize``: insert quantize-dequantize (fake-quant) pairs where a runtime can use integer kernels.

Approximate: the report records the error and cosine against the float model; no fixed tolerance.

What gets quantized (the QDQ placement ONNX Runtime fuses into QLinearConv/QGemm/QLinearAdd...):
- weights of conv and linear: int8, symmetric (scale = absmax / 127, zero point 0), per output channel by
  default (``per_channel=false``: one scale per tensor);
- every activation that feeds a quantized op (``ops``: conv, linear, matmul, add, pool, cat):
  uint8 asymmetric by default (``activations=int8`` selectable), one scale per tensor, the range
  chosen by the ``calibrate`` analysis (``calib``: minmax, percentile, mse, entropy);
  ``activations=none`` is weight-only int8 (for transformer-style models: 4x smaller weights,
  float compute, no calibration needed); ``weights=int4`` (weight-only, linear layers) rounds to
  int4 with one scale per ``block_size`` inputs, stored by the ONNX backend as int4 (8x smaller);
- an op's output is quantized where a quantized op consumes it, also through reshape-like ops;
  conv -> relu quantizes after the relu (the runtime folds the relu into the requantization);
  max-pool and reshape outputs reuse their input's scale and zero point (the runtime then runs
  them on uint8 without requantizing; with other parameters it falls back to float).
Placement rules that keep ranges sane: ``add`` is quantized only as a residual add of two
activations of the output's shape (never an add with a constant, such as an attention mask);
softmax and attention are never quantized; float consumers of a quantized tensor keep reading the
float value. ``ignore`` takes module paths (prefixes) or node names to leave in float.
``precision=auto`` lets the ``sensitivity`` analysis decide per op (quant_precision.py): the most
sensitive ops stay float (W8A8), or, weight-only with ``weights=int4``, each linear gets int4, int8
or float, so that the whole model's divergence on the calibration data stays within ``max_drop``
(in ``metric``'s units: 1 - cosine, KL, relative MSE, or a registered evaluator's score lost);
``sensitivity`` picks the measurement (sweep) or a cheaper proxy to order the ops by.
Stats: ``quantized_<kind>`` per op kind, ``activation_quantizers``, ``weight_quantizers``, ``ignored``,
``kept_float``, ``weights_int4``/``weights_int8`` (weight-only), ``auto_*`` (precision=auto).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.fx as fx

from lepton_ir.metadata import QUANT, copy_provenance, matches_any, shape_of
from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass, approximate
from lepton_ir.registry import register_pass

from ..analysis.calibration import CalibrationOptions, CalibrationResult
from .weighted_ops import as_weighted

aten = torch.ops.aten

KINDS = {
    "conv": {aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, aten.conv1d.padding,
             aten.conv2d.padding, aten.conv3d.padding},
    "linear": {aten.linear.default},
    "matmul": {aten.matmul.default, aten.mm.default, aten.bmm.default},
    "add": {aten.add.Tensor, aten.add_.Tensor},
    "pool": {aten.max_pool2d.default, aten.avg_pool2d.default, aten.adaptive_avg_pool2d.default},
    "cat": {aten.cat.default},
}
# ops that move values without changing them: a quantized tensor stays quantized through them
TRANSPARENT = {aten.flatten.using_ints, aten.view.default, aten.reshape.default, aten._unsafe_view.default,
               aten.permute.default, aten.transpose.int, aten.squeeze.dim, aten.unsqueeze.default}
# ops whose output the runtime keeps in the input's quantization (no requantization): their output
# quantizer must copy the input's scale and zero point, or ONNX Runtime leaves them in float
SAME_QPARAMS = TRANSPARENT | {aten.max_pool2d.default}
# activations the runtime folds into the requantization of the op before them
FOLDABLE_ACTIVATIONS = {aten.relu.default, aten.relu_.default, aten.relu6.default, aten.hardtanh.default}
QUANT_OPS = frozenset({aten.fake_quantize_per_tensor_affine.default, aten.fake_quantize_per_channel_affine.default})

ACTIVATION_RANGES = {"uint8": (0, 255), "int8": (-128, 127)}
WEIGHT_RANGE = (-128, 127)  # ONNX QuantizeLinear int8; absmax scaling keeps values in [-127, 127]


@dataclass(frozen=True)
class QuantizeOptions:
    activations: Literal["uint8", "int8", "none"] = "uint8"
    weights: Literal["int8", "int4"] = "int8"
    block_size: int = 32
    per_channel: bool = True
    ops: tuple[str, ...] = ("conv", "linear", "matmul", "add", "pool", "cat")
    ignore: tuple[str, ...] = ()
    calib: Literal["minmax", "percentile", "mse", "entropy"] = "percentile"
    percentile: float = 99.99
    precision: Literal["fixed", "auto"] = "fixed"
    max_drop: float = 0.001
    metric: str = "auto"
    sensitivity: Literal["sweep", "magnitude", "taylor", "fisher", "hessian"] = "sweep"

    def __post_init__(self) -> None:
        from ..analysis.sensitivity_metrics import check_metric

        check_metric(self.metric)
        if self.max_drop < 0:
            raise ValueError(f"max_drop must be >= 0, got {self.max_drop}")
        unknown = set(self.ops) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown op kinds {sorted(unknown)}; choose from {sorted(KINDS)}")
        if self.weights == "int4" and self.activations != "none":
            raise ValueError("weights=int4 is weight-only: add activations=none")
        if self.block_size < 2 or self.block_size & (self.block_size - 1):
            raise ValueError(f"block_size must be a power of two >= 2, got {self.block_size}")


def kind_of(node: fx.Node) -> Optional[str]:
    if node.op != "call_function":
        return None
    for kind, targets in KINDS.items():
        if node.target in targets:
            return kind
    return None


def is_activation(value: Any) -> bool:
    return (isinstance(value, fx.Node) and value.op != "get_attr"
            and isinstance(value.meta.get("val"), torch.Tensor) and value.meta["val"].is_floating_point())


def activation_inputs(node: fx.Node, kind: str) -> list[fx.Node]:
    """The inputs of ``node`` that carry activations the integer kernel reads."""
    if kind in ("conv", "linear", "pool"):
        return [node.args[0]] if is_activation(node.args[0]) else []
    if kind == "matmul":
        return [a for a in node.args[:2] if is_activation(a)]
    if kind == "cat":
        return [a for a in node.args[0] if is_activation(a)]
    if kind == "add":
        a, b = node.args[0], node.args[1]
        residual = (is_activation(a) and is_activation(b) and shape_of(a) == shape_of(b) == shape_of(node)
                    and node.kwargs.get("alpha", 1) == 1)
        return [a, b] if residual else []
    return []


def activation_qparams(low: float, high: float, dtype: str) -> tuple[float, int, int, int]:
    qmin, qmax = ACTIVATION_RANGES[dtype]
    low, high = min(low, 0.0), max(high, 0.0)  # zero must be exactly representable (padding, relu)
    scale = max((high - low) / (qmax - qmin), 1e-8)
    zero_point = int(min(max(round(qmin - low / scale), qmin), qmax))
    return scale, zero_point, qmin, qmax


@register_pass
class Quantize(TransformPass):
    """Insert calibrated fake-quant pairs for integer execution."""

    name = "quantize"
    summary = "insert calibrated quantize/dequantize pairs (int8 weights, uint8/int8 activations)"
    Options = QuantizeOptions
    contract = approximate(None, "cosine to the float model")

    def run(self, module: Module, analyses: Any, context: PassContext) -> PassResult:
        o = self.options
        calibration = self.calibration(analyses)
        plan: dict[str, str] = {}
        auto_stats: dict[str, int | float] = {}
        if o.precision == "auto":
            from .quant_precision import choose_precisions

            plan, auto_stats = choose_precisions(self, module, analyses, context, calibration)
        stats = self.apply(module, calibration, plan)
        stats.update(auto_stats)
        return PassResult(changed=any(k.startswith("quantized_") for k in stats), stats=stats)

    def calibration(self, analyses: Any) -> CalibrationResult:
        o = self.options
        return (CalibrationResult(method="none", source="weight-only") if o.activations == "none" else
                analyses.get("calibrate", CalibrationOptions(method=o.calib, percentile=o.percentile)))

    def default_precision(self) -> str:
        return "int4" if self.options.weights == "int4" else "int8"

    def candidates(self, module: Module) -> list[tuple[fx.Node, str]]:
        """(node, kind) of every op this configuration would quantize, ``ignore`` aside."""
        o = self.options
        found = []
        for node in module.compute_nodes():
            kind = kind_of(node)
            if kind is None or kind not in o.ops:
                continue
            if kind == "add" and not activation_inputs(node, kind):
                continue
            if o.activations == "none" and kind not in ("conv", "linear"):
                continue  # weight-only: nothing to do for ops without weights
            found.append((node, kind))
        return found

    def apply(self, module: Module, calibration: CalibrationResult, plan: dict[str, str],
              only: Optional[set[str]] = None) -> dict[str, int | float]:
        """Quantize the candidates: ``plan`` maps node names to int8 | int4 | float (others take the
        options' precision); with ``only``, just those nodes (the sensitivity sweep uses this)."""
        o = self.options
        stats: Counter[str] = Counter()
        targets: list[tuple[fx.Node, str, str]] = []
        for node, kind in self.candidates(module):
            if only is not None and node.name not in only:
                continue
            precision = plan.get(node.name, self.default_precision())
            if self.is_ignored(node) or precision == "float":
                stats["ignored" if self.is_ignored(node) else "kept_float"] += 1
                continue
            targets.append((node, kind, precision))
        quantized: dict[fx.Node, fx.Node] = {}
        for node, kind, precision in targets:
            inputs = activation_inputs(node, kind) if o.activations != "none" else []
            for source in inputs:
                for producer in reversed(self._chain(source)):  # the tensor first, then its reshapes
                    if producer not in quantized:
                        quantized[producer] = self._activation_quantizer(module, producer, calibration, quantized)
                        stats["activation_quantizers"] += 1
                replacement = quantized[source]
                node.replace_input_with(source, replacement)
            if precision == "int4":
                if kind != "linear" or not self._int4_weight(module, node):
                    stats["int4_skipped"] += 1
                    continue
                stats["weight_quantizers"] += 1
            elif kind in ("conv", "linear") and self._quantize_weight(module, node):
                stats["weight_quantizers"] += 1
            node.meta[QUANT] = {"dtype": {"uint8": "u8", "int8": "s8", "none": "f32"}[o.activations],
                                "weights": "s4" if precision == "int4" else "s8",
                                "per_channel": o.per_channel, "observer": o.calib}
            if precision == "int4":
                node.meta[QUANT].update({"block_size": o.block_size, "observer": "block absmax"})
                stats["weights_int4"] += 1
            elif o.activations == "none":
                stats["weights_int8"] += 1
            stats[f"quantized_{kind}"] += 1
        for chain_node, fq in quantized.items():  # reshape-like ops between two quantized tensors
            for user in list(chain_node.users):
                if user.op == "call_function" and user.target in TRANSPARENT and user in quantized:
                    user.replace_input_with(chain_node, fq)
        stats_out: dict[str, int | float] = dict(sorted(stats.items()))
        stats_out["calibration_batches"] = calibration.batches
        return stats_out

    def is_ignored(self, node: fx.Node) -> bool:
        return matches_any(node, self.options.ignore)

    def _chain(self, source: fx.Node) -> list[fx.Node]:
        """``source`` and, back through reshape-like ops, the tensor it reshapes (quantized too)."""
        chain = [source]
        node = source
        while node.op == "call_function" and node.target in TRANSPARENT and is_activation(node.args[0]):
            node = node.args[0]
            chain.append(node)
        return chain

    def _activation_quantizer(self, module: Module, producer: fx.Node, calibration: CalibrationResult,
                              quantized: dict[fx.Node, fx.Node]) -> fx.Node:
        observed = calibration.ranges.get(producer.name)
        low, high = (observed.low, observed.high) if observed else (-1.0, 1.0)
        scale, zero_point, qmin, qmax = activation_qparams(low, high, self.options.activations)
        source = producer.args[0] if producer.op == "call_function" and producer.args else None
        if producer.target in SAME_QPARAMS and isinstance(source, fx.Node):
            # max-pool/reshape: keep the input's parameters (its input may already read the quantizer)
            fq = source if source.target is aten.fake_quantize_per_tensor_affine.default else quantized.get(source)
            if fq is not None:
                scale, zero_point, qmin, qmax = fq.args[1:5]
        with module.graph.inserting_after(producer):
            fq = module.graph.call_function(aten.fake_quantize_per_tensor_affine.default,
                                            (producer, scale, zero_point, qmin, qmax))
        fq.meta["val"] = producer.meta["val"]
        copy_provenance(producer, fq)
        fq.meta[QUANT] = {"dtype": "u8" if qmin == 0 else "s8", "scale_min": scale, "scale_max": scale,
                          "zero_point": zero_point, "range": [low, high], "observer": self.options.calib}
        return fq

    def _int4_weight(self, module: Module, node: fx.Node) -> bool:
        """Round the weight to int4 with one scale per ``block_size`` inputs of each output.

        The IR keeps the dequantized values (exact emulation); the ONNX backend re-derives the int4
        codes from them (each block's largest value sits exactly on +-7 x scale) and stores
        DequantizeLinear(int4, block_size).
        """
        op = as_weighted(node, module)
        if op is None or op.weight.dim() != 2 or op.weight.shape[1] % self.options.block_size:
            return False
        weight = op.weight.detach()
        blocks = weight.reshape(weight.shape[0], -1, self.options.block_size)
        scale = (blocks.abs().amax(-1, keepdim=True) / 7).clamp_min(1e-12)
        dequantized = (torch.round(blocks / scale).clamp(-8, 7) * scale).reshape(weight.shape)
        new = module.add_constant(f"{node.args[1].target}_int4", dequantized.to(weight.dtype), before=node)
        node.replace_input_with(node.args[1], new)
        return True

    def _quantize_weight(self, module: Module, node: fx.Node) -> bool:
        op = as_weighted(node, module)
        if op is None:
            return False
        weight = op.weight.detach()
        qmin, qmax = WEIGHT_RANGE
        if self.options.per_channel:
            extent = weight.abs().reshape(weight.shape[0], -1).amax(dim=1)
        else:
            extent = weight.abs().max().reshape(1).expand(weight.shape[0])
        scale = (extent / qmax).clamp_min(1e-12).to(torch.float32)
        zero_point = torch.zeros(weight.shape[0], dtype=torch.int32)
        weight_node = node.args[1]
        s = module.add_constant(f"{weight_node.target}_scale", scale, before=node)
        z = module.add_constant(f"{weight_node.target}_zero_point", zero_point, before=node)
        with module.graph.inserting_before(node):
            fq = module.graph.call_function(aten.fake_quantize_per_channel_affine.default,
                                            (weight_node, s, z, 0, qmin, qmax))
        fq.meta["val"] = weight_node.meta.get("val")
        fq.meta[QUANT] = {"dtype": "s8", "scale_min": float(scale.min()), "scale_max": float(scale.max()),
                          "observer": "per-channel absmax" if self.options.per_channel else "per-tensor absmax"}
        node.replace_input_with(weight_node, fq)
        return True
