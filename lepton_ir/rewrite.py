"""The rewrite driver: apply a table of local rules to every node, counting what each rule did."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Optional

import torch.fx as fx

from .errors import PassError
from .metadata import VAL, copy_provenance, describe, source_line
from .node_context import visiting
from .shapes import format_signature, same_signature

if TYPE_CHECKING:
    from .module import Module

#: A rule's rewrite returns the node that should replace ``node`` (an existing one, or one it
#: built before ``node``), or None when the rule does not apply.
RewriteFn = Callable[[fx.Node, "Module"], Optional[fx.Node]]


@dataclass(frozen=True)
class Rule:
    """One local rewrite: ``name`` for statistics, ``targets`` the ops it looks at, ``doc`` why it is exact."""

    name: str
    targets: frozenset
    rewrite: RewriteFn
    doc: str = ""


def mutated_in_place(node: fx.Node) -> bool:
    """Whether some user writes into ``node``'s storage (``relu_``, ``add_``, ``copy_`` ...)."""
    for user in node.users:
        schema = getattr(user.target, "_schema", None)
        if schema is None:
            continue
        for i, arg in enumerate(user.args):
            if arg is node and i < len(schema.arguments):
                info = schema.arguments[i].alias_info
                if info is not None and info.is_write:
                    return True
    return False


def apply_rules(module: "Module", rules: Iterable[Rule]) -> Counter[str]:
    """One sweep over the graph in order; each node is offered to the rules for its op.

    The replacement must have the node's exact shape and dtype: a rule that breaks this is a
    bug in the rule, reported with the node, not left for the verifier to find later. No rewrite
    applies where either value is written in place (functionalize first to enable them).
    """
    by_target: dict[object, list[Rule]] = {}
    for rule in rules:
        for target in rule.targets:
            by_target.setdefault(target, []).append(rule)
    counts: Counter[str] = Counter()
    for node in list(module.graph.nodes):
        if node.op != "call_function" or node.graph is not module.graph:
            continue
        for rule in by_target.get(node.target, ()):
            with visiting(node):
                replacement = rule.rewrite(node, module)
            if replacement is None or replacement is node:
                continue
            if mutated_in_place(node) or mutated_in_place(replacement):
                if not replacement.users:
                    module.graph.erase_node(replacement)  # built by the rule, now unused
                continue  # merging the two values would let one in-place write reach both
            if VAL in node.meta and not same_signature(replacement.meta.get(VAL), node.meta[VAL]):
                raise PassError(
                    f"rule '{rule.name}' would replace {format_signature(node.meta[VAL])} "
                    f"with {format_signature(replacement.meta.get(VAL))}",
                    node=describe(node), source=source_line(node),
                )
            copy_provenance(node, replacement)
            node.replace_all_uses_with(replacement)
            module.graph.erase_node(node)
            counts[rule.name] += 1
            break
    return counts
