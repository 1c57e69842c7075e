"""How far a compressed model's outputs are from the reference model's: the divergences that the
sensitivity analysis and automatic precision selection measure, and user-registered evaluators.

Built-in metrics (0 = identical, larger = worse):
  ``kl``      KL(softmax(reference) || softmax(candidate)) over the last dimension (logits)
  ``cosine``  1 - cosine similarity along the last dimension (embeddings, hidden states)
  ``mse``     mean squared error relative to the reference's mean square (scale-free)
  ``auto``    per output: ``kl`` for [batch, classes] outputs, ``cosine`` for 3-D and larger
              outputs and for outputs named like embeddings (hidden, pooler, embed, feature),
              ``mse`` otherwise
An *evaluator* is a task metric the user registers (``@register_evaluator("accuracy")``): it is
given a function that runs the candidate model on inputs and returns a score where higher is
better; the sensitivity of a change is the score lost (reference score - candidate score).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

RunFn = Callable[..., tuple[torch.Tensor, ...]]
Evaluator = Callable[[RunFn], float]
BUILTIN_METRICS = ("auto", "kl", "cosine", "mse")
_EMBEDDING_WORDS = ("hidden", "pooler", "embed", "feature")
_EVALUATORS: dict[str, Evaluator] = {}


def register_evaluator(name: str) -> Callable[[Evaluator], Evaluator]:
    """Decorator: ``@register_evaluator("accuracy")`` makes ``metric=accuracy`` available.

    The function receives ``run(*inputs) -> tuple of outputs`` for the candidate model and returns
    a score where higher is better (accuracy in percent, F1, negative loss...). The IR has the traced
    shapes: feed batches shaped like the example inputs unless the model was traced with
    ``dynamic_batch=True`` or its graph does not depend on the batch size (convolutional nets).
    The sweep calls it once per setting, so keep it to a few hundred samples.
    """

    def wrap(fn: Evaluator) -> Evaluator:
        if name in BUILTIN_METRICS:
            raise ValueError(f"'{name}' is a built-in metric")
        _EVALUATORS[name] = fn
        return fn

    return wrap


def metric_names() -> list[str]:
    return list(BUILTIN_METRICS) + sorted(_EVALUATORS)


def evaluator(name: str) -> Evaluator | None:
    return _EVALUATORS.get(name)


def check_metric(name: str) -> None:
    """ValueError for an unknown metric (an options ``__post_init__`` turns it into a pipeline error)."""
    if name not in BUILTIN_METRICS and name not in _EVALUATORS:
        raise ValueError(f"unknown metric '{name}' (known: {', '.join(metric_names())}; "
                         "register a task metric with register_evaluator)")


def choose_metrics(metric: str, outputs: Sequence[torch.Tensor], names: Sequence[str]) -> list[str]:
    """The divergence used for each floating-point output ('' for outputs that are not compared)."""
    chosen = []
    for i, out in enumerate(outputs):
        name = names[i].lower() if i < len(names) else ""
        if not (isinstance(out, torch.Tensor) and out.is_floating_point()):
            chosen.append("")
        elif metric != "auto":
            chosen.append(metric)
        elif out.dim() >= 3 or any(w in name for w in _EMBEDDING_WORDS):
            chosen.append("cosine")
        elif out.dim() == 2 and out.shape[-1] > 1:
            chosen.append("kl")
        else:
            chosen.append("mse")
    return chosen


def divergence(kind: str, candidate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """One output's divergence as a 0-dim tensor (differentiable: the Hessian proxy uses it)."""
    candidate, reference = candidate.double(), reference.double()
    if kind == "kl":
        log_p = torch.log_softmax(reference, dim=-1)
        log_q = torch.log_softmax(candidate, dim=-1)
        return (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    if kind == "cosine":
        a, b = candidate.reshape(-1, candidate.shape[-1]), reference.reshape(-1, reference.shape[-1])
        return (1 - torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-12)).mean()
    return (candidate - reference).pow(2).mean() / reference.pow(2).mean().clamp_min(1e-12)


def total_divergence(kinds: Sequence[str], candidate: Sequence[torch.Tensor],
                     reference: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over the compared outputs."""
    terms = [divergence(k, c, r) for k, c, r in zip(kinds, candidate, reference) if k]
    return torch.stack(terms).mean() if terms else torch.zeros((), dtype=torch.float64)
