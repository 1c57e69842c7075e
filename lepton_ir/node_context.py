"""Which node a pass was working on when it failed: for error messages that name it."""
from __future__ import annotations

import contextlib
import contextvars
import traceback
from typing import Iterator

import torch.fx as fx

_current: contextvars.ContextVar[fx.Node | None] = contextvars.ContextVar("lepton_current_node", default=None)


@contextlib.contextmanager
def visiting(node: fx.Node) -> Iterator[fx.Node]:
    """Mark ``node`` as the one being rewritten; a failure inside names it."""
    token = _current.set(node)
    try:
        yield node
    finally:
        _current.reset(token)


def current_node() -> fx.Node | None:
    return _current.get()


def failing_node(exc: BaseException, graph: fx.Graph) -> fx.Node | None:
    """The node a failed pass was on: the one it declared with ``visiting``, else the innermost
    ``fx.Node`` of ``graph`` found among the local variables of the frames that raised."""
    declared = getattr(exc, "lepton_node", None)
    if isinstance(declared, fx.Node):
        return declared
    nodes = set(graph.nodes)
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        for value in frame.f_locals.values():
            if isinstance(value, fx.Node) and value in nodes:
                return value
    return None


def source_of_exception(exc: BaseException) -> str | None:
    """``file:line`` where the exception was raised, for 'raised at' in messages."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    f = frames[-1]
    return f"{f.filename}:{f.lineno}"
