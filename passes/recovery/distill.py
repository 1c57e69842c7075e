"""``distill``: fine-tune the compressed IR (student) against the IR the pipeline started from (teacher).

Approximate (it changes weights to recover accuracy). Loss = ``alpha`` x soft + (1 - ``alpha``) x hard
(+ ``feature_weight`` x feature matching):
- soft: KL(softmax(teacher / T) || softmax(student / T)) x T^2 (Hinton et al.: T^2 keeps gradients
  comparable across temperatures);
- hard: cross-entropy to the true labels when the training data has them and ``hard=labels``, else to
  the teacher's argmax;
- features: mean squared error between teacher and student outputs of the named nodes (same shapes).
Works on quantized IR (fake-quant passes gradients straight through inside the range: quantization-
aware fine-tuning) and on binarized layers (trained as latent weights, re-binarized afterwards).
Data: the pass context's training data (``--train-data``), else its calibration data (no labels).
Options: ``epochs`` or ``steps``, ``lr``, ``batch_size``, ``optimizer`` (adam | sgd), ``T``, ``alpha``,
``hard``, ``features``, ``feature_weight``, ``patience`` (early stop on held-out accuracy, labels
needed) with ``val_fraction``. Deterministic: the pass context's seed orders the batches.
Stats: ``steps``, ``loss_first``, ``loss_last``, ``val_accuracy`` (with patience), ``stopped_early``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.fx as fx
import torch.nn.functional as F
from tqdm import tqdm

from lepton_ir.errors import PassError
from lepton_ir.metadata import QUANT
from lepton_ir.module import Module, float_constants
from lepton_ir.pass_base import PassContext, PassResult, TrainData, TransformPass, approximate
from lepton_ir.registry import register_pass

from ..transforms.binarize import _ste, binarize_weight


@dataclass(frozen=True)
class DistillOptions:
    epochs: int = 3
    steps: int = 0
    lr: float = 1e-3
    batch_size: int = 32
    optimizer: Literal["adam", "sgd"] = "adam"
    T: float = 4.0
    alpha: float = 0.7
    hard: Literal["labels", "teacher"] = "labels"
    features: tuple[str, ...] = ()
    feature_weight: float = 1.0
    patience: int = 0
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.T <= 0 or self.lr <= 0 or self.batch_size < 1:
            raise ValueError("T, lr and batch_size must be positive")


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


class _Recorder(fx.Interpreter):
    """Runs a graph module and keeps the outputs of named nodes (for feature matching)."""

    def __init__(self, gm: fx.GraphModule, names: tuple[str, ...]):
        super().__init__(gm)
        self.names, self.seen = set(names), {}

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if n.name in self.names:
            self.seen[n.name] = result
        return result


@register_pass
class Distill(TransformPass):
    """Knowledge distillation from the uncompressed IR into the compressed one."""

    name = "distill"
    summary = "fine-tune the compressed IR against the original (soft/hard targets, QAT, binary STE)"
    Options = DistillOptions
    contract = approximate(None, "accuracy")

    def run(self, module: Module, analyses: Any, context: PassContext) -> PassResult:
        o = self.options
        data = self._data(module, context)
        if data is None or (o.epochs == 0 and o.steps == 0):
            return PassResult(changed=False, stats={"steps": 0})
        teacher = context.teacher or module.clone()
        student = copy.deepcopy(module.graph_module)
        binary = self._wrap_binary(module, student)
        params = self._trainable(module, student)
        for p in params.values():
            p.requires_grad_(True)
        optimizer = (torch.optim.Adam if o.optimizer == "adam" else torch.optim.SGD)(params.values(), lr=o.lr)
        inputs, labels = data.inputs, data.labels
        train_idx, val_idx = self._split(len(inputs[0]), labels is not None and o.patience > 0, context.seed)
        generator = torch.Generator().manual_seed(context.seed)
        per_epoch = max(1, len(train_idx) // o.batch_size)
        total = o.steps or o.epochs * per_epoch
        stats: dict[str, int | float] = {}
        best, best_state, bad = -1.0, None, 0
        step = trained = 0
        progress = tqdm(total=total, desc="distill", disable=None if total > 50 else True, leave=False)
        while step < total:
            order = train_idx[torch.randperm(len(train_idx), generator=generator)]
            for start in range(0, len(order) - o.batch_size + 1, o.batch_size):
                if step >= total:
                    break
                idx = order[start:start + o.batch_size]
                batch = tuple(t[idx] for t in inputs)
                loss = self._loss(student, teacher, batch, labels[idx] if labels is not None else None)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                value = float(loss.detach())
                stats.setdefault("loss_first", round(value, 5))
                stats["loss_last"] = round(value, 5)
                step += 1
                trained += 1
                progress.update(1)
                progress.set_postfix(loss=f"{value:.4f}")
                if o.patience and val_idx is not None and step % per_epoch == 0:
                    accuracy = self._accuracy(student, inputs, labels, val_idx)
                    if accuracy > best:
                        best, bad = accuracy, 0
                        best_state = {k: v.detach().clone() for k, v in params.items()}
                    else:
                        bad += 1
                        if bad >= o.patience:
                            stats["stopped_early"] = 1
                            step = total
                            break
        progress.close()
        if best_state is not None:
            for k, v in best_state.items():
                params[k].data.copy_(v)
            stats["val_accuracy"] = round(best, 4)
        for name, tensor in params.items():
            value = tensor.detach().clone()
            module.set_constant(name, binarize_weight(value) if name in binary else value)
        stats["steps"] = trained
        return PassResult(changed=True, stats=stats)

    # -- pieces -----------------------------------------------------------------------------------
    def _data(self, module: Module, context: PassContext) -> Optional[TrainData]:
        if context.train_data is not None:
            return context.train_data
        if context.calibration:
            batches = [tuple(b) for b in context.calibration]
            return TrainData(tuple(torch.cat([b[i] for b in batches]) for i in range(len(batches[0]))))
        return None

    def _trainable(self, module: Module, student: fx.GraphModule) -> dict[str, torch.Tensor]:
        """Every floating-point constant except quantization scales (those stay as calibrated)."""
        frozen = {a.target for n in student.graph.nodes if n.op == "call_function" and "quantize" in str(n.target)
                  for a in n.args[1:3] if isinstance(a, fx.Node) and a.op == "get_attr"}
        return {k: v for k, v in float_constants(student).items() if k not in frozen}

    def _wrap_binary(self, module: Module, student: fx.GraphModule) -> set[str]:
        """Binarized layers train latent weights through the straight-through estimator."""
        names = set()
        for node in student.graph.nodes:
            if (node.meta.get(QUANT) or {}).get("dtype") == "binary":
                weight = node.args[1]
                with student.graph.inserting_before(node):
                    ste = student.graph.call_function(_ste, (weight,))
                node.replace_input_with(weight, ste)
                names.add(weight.target)
        student.recompile()
        return names

    def _split(self, count: int, validate: bool, seed: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + 1))
        if not validate:
            return order, None
        held = max(1, int(count * self.options.val_fraction))
        return order[held:], order[:held]

    def _loss(self, student: fx.GraphModule, teacher: Module, batch: tuple[torch.Tensor, ...],
              labels: Optional[torch.Tensor]) -> torch.Tensor:
        o = self.options
        features = o.features
        with torch.no_grad():
            if features:
                recorder = _Recorder(teacher.graph_module, features)
                t_logits = _first(recorder.run(*batch))
                t_features = recorder.seen
            else:
                t_logits = _first(teacher.graph_module(*batch))
        try:
            if features:
                recorder = _Recorder(student, features)
                s_logits = _first(recorder.run(*batch))
                s_features = recorder.seen
            else:
                s_logits = _first(student(*batch))
        except RuntimeError as e:
            raise PassError(f"the IR does not run on a batch of {len(batch[0])} ({str(e).splitlines()[0]}): "
                            "trace with dynamic_batch or set batch_size to the traced batch size") from e
        soft = F.kl_div(F.log_softmax(s_logits / o.T, -1), F.softmax(t_logits / o.T, -1), reduction="batchmean")
        targets = labels if labels is not None and o.hard == "labels" else t_logits.argmax(-1)
        loss = o.alpha * soft * o.T ** 2 + (1 - o.alpha) * F.cross_entropy(s_logits, targets)
        for name in features:
            if name not in s_features or name not in t_features or s_features[name].shape != t_features[name].shape:
                raise PassError(f"feature '{name}' is missing or has another shape in the student")
            loss = loss + o.feature_weight * F.mse_loss(s_features[name], t_features[name])
        return loss

    def _accuracy(self, student: fx.GraphModule, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor,
                  idx: torch.Tensor) -> float:
        with torch.no_grad():
            logits = _first(student(*(t[idx] for t in inputs)))
        return float((logits.argmax(-1) == labels[idx]).float().mean())
