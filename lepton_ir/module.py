"""``Module``: the Lepton IR object, an ATen-level fx graph plus what is needed to check it."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.fx as fx

from .shapes import infer_shapes, propagate_shapes


@dataclass
class Module:
    """The IR: an unlifted ATen-level ``fx.GraphModule`` whose weights are ``get_attr`` constants.

    The graph takes the model's inputs flattened into a sequence of tensors (positional args,
    then keyword args in the order given) and returns a flat tuple of tensors.

    ``reference_outputs`` are the original model's outputs on ``example_inputs``: the ground
    truth every pass and backend is checked against.
    """

    graph_module: fx.GraphModule
    example_inputs: tuple[torch.Tensor, ...]
    reference_outputs: tuple[torch.Tensor, ...]
    name: str = "model"
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    dynamic_batch: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    # -- graph access -------------------------------------------------------------------------
    @property
    def graph(self) -> fx.Graph:
        return self.graph_module.graph

    @property
    def nodes(self) -> list[fx.Node]:
        return list(self.graph.nodes)

    def compute_nodes(self) -> Iterator[fx.Node]:
        """Nodes that compute (``call_function``), in graph order."""
        return (n for n in self.graph.nodes if n.op == "call_function")

    def node(self, name: str) -> fx.Node:
        for n in self.graph.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}")

    # -- constants ----------------------------------------------------------------------------
    def constant(self, node_or_target: fx.Node | str) -> torch.Tensor:
        """The tensor behind a ``get_attr`` node (or its dotted target)."""
        target = node_or_target.target if isinstance(node_or_target, fx.Node) else node_or_target
        obj: Any = self.graph_module
        for part in str(target).split("."):
            obj = getattr(obj, part)
        return obj

    def set_constant(self, target: str, value: torch.Tensor) -> None:
        """Store ``value`` under a dotted target, creating holder submodules on the way."""
        *path, leaf = target.split(".")
        owner: torch.nn.Module = self.graph_module
        for part in path:
            if not hasattr(owner, part):
                owner.add_module(part, torch.nn.Module())
            owner = getattr(owner, part)
        if leaf in owner._parameters:
            del owner._parameters[leaf]
        if hasattr(owner, leaf) and leaf not in owner._buffers:
            delattr(owner, leaf)
        owner.register_buffer(leaf, value.detach())

    def add_constant(self, hint: str, value: torch.Tensor, *, before: fx.Node) -> fx.Node:
        """A new ``get_attr`` node holding ``value``, named after ``hint``, inserted before ``before``."""
        base = "_lepton." + hint.replace(".", "_")
        target, i = base, 0
        while self._has_attr(target):
            i += 1
            target = f"{base}_{i}"
        self.set_constant(target, value)
        with self.graph.inserting_before(before):
            node = self.graph.get_attr(target)
        node.meta["val"] = value
        return node

    def _has_attr(self, target: str) -> bool:
        try:
            self.constant(target)
            return True
        except AttributeError:
            return False

    def remove_unused_constants(self) -> int:
        """Delete tensors no ``get_attr`` node refers to; returns how many were removed."""
        used = {n.target for n in self.graph.nodes if n.op == "get_attr"}
        removed = 0
        for name, _ in list(self.graph_module.named_buffers()) + list(self.graph_module.named_parameters()):
            if name not in used:
                *path, leaf = name.split(".")
                owner = self.graph_module.get_submodule(".".join(path)) if path else self.graph_module
                owner._buffers.pop(leaf, None)
                owner._parameters.pop(leaf, None)
                removed += 1
        return removed

    # -- execution ----------------------------------------------------------------------------
    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            out = self.graph_module(*inputs)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    def run_examples(self) -> tuple[torch.Tensor, ...]:
        """Outputs on the example inputs; copies are passed, since a model may mutate its inputs in place."""
        return self(*(t.clone() for t in self.example_inputs))

    def recompile(self) -> None:
        """Regenerate the Python code after graph edits (fx requires it before the module is called)."""
        self.graph_module.recompile()

    def refresh_shapes(self) -> None:
        """Recompute every node's ``val`` from the example inputs."""
        propagate_shapes(self.graph_module, self.example_inputs)

    def infer_shapes(self) -> dict[fx.Node, Any]:
        return infer_shapes(self.graph_module, self.example_inputs)

    # -- copies, printing, files --------------------------------------------------------------
    def clone(self) -> "Module":
        """An independent copy: graph, weights and metadata; inputs and references are shared (read-only)."""
        return Module(
            graph_module=copy.deepcopy(self.graph_module),
            example_inputs=self.example_inputs,
            reference_outputs=self.reference_outputs,
            name=self.name,
            input_names=self.input_names,
            output_names=self.output_names,
            dynamic_batch=self.dynamic_batch,
            metadata=copy.deepcopy(self.metadata),
        )

    def __str__(self) -> str:
        from .printer import format_module

        return format_module(self)

    def __repr__(self) -> str:
        n = sum(1 for _ in self.compute_nodes())
        return f"<lepton_ir.Module {self.name!r}: {n} ops, {len(self.example_inputs)} inputs>"

    def save(self, path: str) -> None:
        """Write the IR, its weights, example inputs and reference outputs to one file."""
        from .serialize import save_module

        save_module(self, path)

    @staticmethod
    def load(path: str) -> "Module":
        from .serialize import load_module

        return load_module(path)

    def parameter_count(self) -> int:
        """Elements in all floating-point constants the graph reads."""
        seen: set[str] = set()
        total = 0
        for n in self.graph.nodes:
            if n.op == "get_attr" and n.users and n.target not in seen:
                seen.add(n.target)
                t = self.constant(n)
                if isinstance(t, torch.Tensor) and t.is_floating_point():
                    total += t.numel()
        return total




def float_constants(graph_module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every floating-point parameter and buffer by dotted name: what a training step may update."""
    tensors = dict(graph_module.named_parameters())
    tensors.update(graph_module.named_buffers())
    return {k: v for k, v in tensors.items() if v.is_floating_point()}
