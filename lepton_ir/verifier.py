"""The IR verifier, run by the pass manager after every pass: is this still a valid Lepton IR?"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.fx as fx

from .errors import VerificationError
from .metadata import VAL, describe, source_line
from .shapes import format_signature, same_signature

if TYPE_CHECKING:
    from .module import Module


def verify(module: "Module", *, pass_name: str | None = None, outputs_may_change: bool = False) -> None:
    """Raise VerificationError naming the first problem found.

    Checks: fx graph lint; every ``get_attr`` resolves to a tensor; placeholders match the example
    inputs; every node carries shape metadata that agrees with a fresh fake-tensor propagation;
    the outputs keep their count and shapes (unless the pass declared it changes them).
    """

    def fail(message: str, node: fx.Node | None = None) -> VerificationError:
        prefix = f"invalid IR after '{pass_name}': " if pass_name else "invalid IR: "
        return VerificationError(
            prefix + message,
            pass_name=pass_name,
            node=describe(node) if node is not None else None,
            source=source_line(node) if node is not None else None,
        )

    graph = module.graph
    try:
        graph.lint()
    except Exception as e:  # noqa: BLE001 - fx reports lint failures with assorted exception types
        raise fail(f"graph lint failed: {e}") from e

    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(module.example_inputs):
        raise fail(f"the graph takes {len(placeholders)} inputs but the module has {len(module.example_inputs)} example inputs")

    for node in graph.nodes:
        if node.op == "get_attr":
            try:
                value = module.constant(node)
            except AttributeError:
                raise fail(f"constant '{node.target}' does not exist", node) from None
            if not isinstance(value, torch.Tensor):
                raise fail(f"constant '{node.target}' is a {type(value).__name__}, not a tensor", node)
        if node.op in ("call_function", "call_module", "call_method"):
            if node.op != "call_function":
                raise fail(f"Lepton IR only has call_function nodes, found {node.op}", node)
            if VAL not in node.meta:
                raise fail("node has no shape metadata ('val'); call module.refresh_shapes() after rewriting", node)

    try:
        fresh = module.infer_shapes()
    except Exception as e:  # noqa: BLE001 - whatever op failed, report it with the graph's context
        first = str(e).splitlines()[0] if str(e) else ""
        raise fail(f"shape propagation failed: {type(e).__name__}: {first}", getattr(e, "lepton_node", None)) from e
    for node, value in fresh.items():
        if node.op == "output":
            continue
        stored = node.meta.get(VAL)
        if not same_signature(stored, value):
            raise fail(
                f"stale shape metadata: recorded {format_signature(stored)}, propagation gives {format_signature(value)}",
                node,
            )

    if not outputs_may_change:
        output = next(n for n in reversed(graph.nodes) if n.op == "output")
        produced = fresh.get(output)
        produced = tuple(produced) if isinstance(produced, (tuple, list)) else (produced,)
        expected = module.reference_outputs
        if len(produced) != len(expected):
            raise fail(f"the graph returns {len(produced)} outputs, the model returned {len(expected)}")
        for i, (p, e) in enumerate(zip(produced, expected)):
            if not isinstance(p, torch.Tensor) or tuple(p.shape) != tuple(e.shape):
                raise fail(f"output {i} is {format_signature(p)}, the model's was {format_signature(e)}")
