"""The frontend: capture a user's ``nn.Module`` with torch.export into a Lepton ``Module``."""
from __future__ import annotations

import copy
import inspect
import traceback
from typing import Any, Mapping, Sequence

import torch
import torch.fx as fx
import torch.utils._pytree as pytree

from .errors import InputError, TraceError
from .metadata import is_library_file
from .module import Module
from .quiet import quiet_logs

__all__ = ["trace", "from_exported_program"]


def trace(
    model: torch.nn.Module,
    example_inputs: Sequence[Any] | torch.Tensor,
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    dynamic_batch: bool = False,
    name: str | None = None,
) -> Module:
    """Capture ``model`` on ``example_inputs`` as ATen-level IR.

    The user's model is deep-copied first and only the copy is put in eval mode and exported
    (torch.export, non-strict), so the caller's model, its training flag and hooks stay as they were.
    With ``dynamic_batch`` the first dimension of every input is exported as symbolic.
    """
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"expected a torch.nn.Module to trace, got {type(model).__name__}")
    args = _as_args(example_inputs)
    kwargs = dict(example_kwargs or {})
    try:
        work = copy.deepcopy(model)
    except Exception as e:  # noqa: BLE001 - any failure here is the model's, reported as such
        raise TraceError(f"could not copy {type(model).__name__} (Lepton never changes your model, so it compiles a copy): {e}") from e
    work.eval()
    # The model runs on copies: one that mutates its inputs in place must not change the caller's
    # tensors, nor the example inputs kept for checking.
    reference = _run_eager(work, *_copies(args, kwargs))
    dynamic_shapes = _batch_dynamic_shapes(work, args, kwargs) if dynamic_batch else None
    try:
        with quiet_logs("torch"):
            exported = torch.export.export(work, *_copies(args, kwargs), strict=False, dynamic_shapes=dynamic_shapes)
    except Exception as e:  # noqa: BLE001
        raise _trace_error(type(model).__name__, e) from e
    return _to_module(exported, args, kwargs, reference, name or type(model).__name__, dynamic_batch)


def from_exported_program(
    program: torch.export.ExportedProgram,
    example_inputs: Sequence[Any] | None = None,
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    name: str = "exported",
) -> Module:
    """Wrap an already exported program (for example one read by ``torch.export.load``)."""
    if example_inputs is None:
        if program.example_inputs is None:
            raise InputError(
                f"the exported program '{name}' carries no example inputs; pass them explicitly "
                "(or on the CLI with --input-shape)"
            )
        example_inputs, example_kwargs = program.example_inputs
    args = _as_args(example_inputs)
    kwargs = dict(example_kwargs or {})
    reference = _run_eager(program.module(), *_copies(args, kwargs))
    dynamic = any(
        isinstance(d, torch.SymInt)
        for n in program.graph.nodes
        if n.op == "placeholder" and isinstance(n.meta.get("val"), torch.Tensor)
        for d in n.meta["val"].shape
    )
    return _to_module(program, args, kwargs, reference, name, dynamic)


def _copies(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    clone = lambda v: v.clone() if isinstance(v, torch.Tensor) else v  # noqa: E731
    return tuple(pytree.tree_map(clone, a) for a in args), {k: pytree.tree_map(clone, v) for k, v in kwargs.items()}


def _as_args(example_inputs: Sequence[Any] | torch.Tensor) -> tuple[Any, ...]:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (list, tuple)):
        return tuple(example_inputs)
    raise InputError(
        f"example_inputs must be a tensor or a tuple of tensors, got {type(example_inputs).__name__}"
    )


def _describe_inputs(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, torch.Tensor):
            return f"{str(v.dtype).replace('torch.', '')}{list(v.shape)}"
        return type(v).__name__

    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def user_frame(exc: BaseException) -> str | None:
    """``file:line: code`` of the innermost traceback frame outside torch and Lepton."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not is_library_file(f.filename)]
    cause = exc.__cause__ or exc.__context__
    if not frames and cause is not None:
        return user_frame(cause)
    if not frames:
        return None
    f = frames[-1]
    return f"{f.filename}:{f.lineno}: {(f.line or '').strip()}"


def _run_eager(model: torch.nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    try:
        with torch.no_grad():
            return model(*args, **kwargs)
    except Exception as e:  # noqa: BLE001
        where = user_frame(e)
        msg = (
            f"the model raised on the example inputs {_describe_inputs(args, kwargs)}: "
            f"{type(e).__name__}: {_first_lines(str(e))}"
        )
        if where:
            msg += f"\n  at {where}"
        msg += "\n  check the input shapes and dtypes (on the CLI: --input-shape)"
        raise InputError(msg) from e


_HINTS = (
    ("data-dependent", "the model branches on a tensor's value: use torch.where or torch.cond, or make the value a Python constant"),
    ("GuardOnDataDependent", "the model branches on a tensor's value: use torch.where or torch.cond, or make the value a Python constant"),
    ("Constraints violated", "a dimension marked dynamic was specialised by the model's code: trace without dynamic_batch or remove the size check"),
    ("specialized", "a dimension marked dynamic was specialised by the model's code: trace without dynamic_batch or remove the size check"),
    ("not supported", "replace the unsupported operation, or wrap it in a custom op"),
)


def _first_lines(text: str, count: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n  ".join(lines[:count])


def _trace_error(model_name: str, exc: Exception) -> TraceError:
    text = str(exc)
    msg = f"torch.export could not trace {model_name}: {type(exc).__name__}: {_first_lines(text)}"
    where = user_frame(exc)
    if where:
        msg += f"\n  at {where}"
    for needle, hint in _HINTS:
        if needle.lower() in text.lower():
            msg += f"\n  try: {hint}"
            break
    return TraceError(msg)


def _batch_dynamic_shapes(model: torch.nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    batch = torch.export.Dim("batch")
    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    shapes: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        def spec(t: Any) -> Any:
            if isinstance(t, torch.Tensor) and t.dim() > 0:
                if t.shape[0] < 2:
                    raise InputError(
                        f"dynamic_batch needs example inputs with batch size >= 2 ('{key}' has {t.shape[0]}): "
                        "torch.export specialises dimensions of size 0 and 1"
                    )
                return {0: batch}
            return None

        shapes[key] = pytree.tree_map(spec, value)
    return shapes


def _to_module(
    exported: torch.export.ExportedProgram,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    reference: Any,
    name: str,
    dynamic_batch: bool,
) -> Module:
    gm = exported.module()
    flat_inputs, _ = pytree.tree_flatten((args, dict(kwargs)))
    flat_outputs, _ = pytree.tree_flatten(reference)
    for i, v in enumerate(list(flat_inputs) + list(flat_outputs)):
        if not isinstance(v, torch.Tensor):
            raise TraceError(
                f"{name}: only tensor inputs and outputs are supported, found {type(v).__name__} at flat position {i}"
            )
    graph = gm.graph
    for node in list(graph.nodes):
        if node.op == "call_module" and not node.users:
            graph.erase_node(node)  # torch.export's input-guard call; Lepton checks inputs itself
    graph._codegen = fx.graph.CodeGen()  # flat tensors in, flat tuple out
    # A plain GraphModule holding only the constants the graph reads (export's wrapper forbids eval()).
    gm = fx.GraphModule(gm, graph, class_name=_class_name(name))
    gm.eval()
    gm.requires_grad_(False)
    placeholders = [n.name for n in graph.nodes if n.op == "placeholder"]
    output_node = next(n for n in reversed(graph.nodes) if n.op == "output")
    out_count = len(output_node.args[0]) if isinstance(output_node.args[0], (tuple, list)) else 1
    module = Module(
        graph_module=gm,
        example_inputs=tuple(t.detach().clone() for t in flat_inputs),
        reference_outputs=tuple(t.detach().clone() for t in flat_outputs),
        name=name,
        input_names=tuple(placeholders),
        output_names=_output_names(reference, out_count),
        dynamic_batch=dynamic_batch,
    )
    module.refresh_shapes()
    return module


def _output_names(reference: Any, count: int) -> tuple[str, ...]:
    """Names from the model's output structure (``last_hidden_state`` for a Hugging Face output's
    field, a dict's key); ``output_<i>`` for positions in plain tuples. Metrics and ONNX use them."""
    names: list[str] = []
    for i, (path, _) in enumerate(pytree.tree_flatten_with_path(reference)[0]):
        parts = [str(getattr(k, "key", getattr(k, "name", ""))) for k in path
                 if not isinstance(k, pytree.SequenceKey)]
        name = "_".join("".join(c if c.isalnum() else "_" for c in p) for p in parts if p)
        names.append(name if name and name[0].isalpha() and name not in names else f"output_{i}")
    return tuple(names) if len(names) == count else tuple(f"output_{i}" for i in range(count))


def _class_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in name)
    return cleaned if cleaned[:1].isalpha() else f"M_{cleaned}"
