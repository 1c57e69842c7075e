"""Saving and loading the IR: a readable JSON graph plus tensors, in one ``torch.save`` file.

The file loads with ``torch.load(weights_only=True)``: it holds only strings, numbers and tensors,
so opening a saved IR never runs code from the file.
"""
from __future__ import annotations

import importlib
import json
import math
from typing import Any

import torch
import torch.fx as fx

from .errors import SerializationError
from .metadata import MODULE_STACK, STACK_TRACE
from .module import Module

FORMAT = "lepton-ir"
VERSION = 1

_LAYOUTS = {str(v): v for v in (torch.strided, torch.sparse_coo)}
_MEMORY_FORMATS = {str(v): v for v in (torch.contiguous_format, torch.channels_last, torch.preserve_format)}


def _encode_target(target: Any) -> str:
    if isinstance(target, str):
        return target
    if isinstance(target, torch._ops.OpOverload):
        return f"op:{target.name()}"  # e.g. aten::conv2d.default or aten::add.Tensor
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", None)
    if module and name and "<" not in name:
        return f"py:{module}:{name}"
    raise SerializationError(f"cannot save a node whose target is {target!r}")


def _decode_target(text: str) -> Any:
    if text.startswith("op:"):
        qualified = text[3:]
        ns, rest = qualified.split("::", 1)
        op_name, _, overload = rest.partition(".")
        try:
            packet = getattr(getattr(torch.ops, ns), op_name)
            return getattr(packet, overload or "default")
        except (AttributeError, RuntimeError) as e:
            raise SerializationError(f"saved IR uses operator {qualified}, which this torch does not have") from e
    if text.startswith("py:"):
        _, module, name = text.split(":", 2)
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj
    return text


def _encode(value: Any) -> Any:
    if isinstance(value, fx.Node):
        return {"node": value.name}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, list):
        return {"list": [_encode(v) for v in value]}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[k, _encode(v)] for k, v in value.items()]}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).replace("torch.", "")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, torch.layout):
        return {"layout": str(value)}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value)}
    raise SerializationError(f"cannot save a node argument of type {type(value).__name__}: {value!r}")


def _decode(value: Any, nodes: dict[str, fx.Node]) -> Any:
    if not isinstance(value, dict):
        return value
    (kind, payload), = value.items()
    if kind == "node":
        return nodes[payload]
    if kind == "float":
        return float(payload)
    if kind == "list":
        return [_decode(v, nodes) for v in payload]
    if kind == "tuple":
        return tuple(_decode(v, nodes) for v in payload)
    if kind == "dict":
        return {k: _decode(v, nodes) for k, v in payload}
    if kind == "dtype":
        return getattr(torch, payload)
    if kind == "device":
        return torch.device(payload)
    if kind == "layout":
        return _LAYOUTS[payload]
    if kind == "memory_format":
        return _MEMORY_FORMATS[payload]
    raise SerializationError(f"unknown value kind {kind!r} in saved IR")


def _encode_meta(node: fx.Node) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    stack = node.meta.get(MODULE_STACK)
    if stack:
        meta[MODULE_STACK] = [
            [key, path, t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}"] for key, (path, t) in stack.items()
        ]
    if node.meta.get(STACK_TRACE):
        meta[STACK_TRACE] = node.meta[STACK_TRACE]
    for key, value in node.meta.items():
        if key.startswith("lepton."):
            try:
                json.dumps(value)
                meta[key] = value
            except TypeError:
                pass  # analysis results that are not plain data are recomputed, not saved
    return meta


def _decode_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = dict(meta)
    if MODULE_STACK in out:
        out[MODULE_STACK] = {key: (path, t) for key, path, t in out[MODULE_STACK]}
    return out


def save_module(module: Module, path: str) -> None:
    gm = module.graph_module
    nodes = []
    constants: dict[str, torch.Tensor] = {}
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            constants[n.target] = module.constant(n).detach()
        nodes.append({
            "name": n.name, "op": n.op, "target": _encode_target(n.target),
            "args": _encode(n.args), "kwargs": _encode(n.kwargs), "meta": _encode_meta(n),
        })
    header = {
        "format": FORMAT, "version": VERSION, "name": module.name,
        "input_names": list(module.input_names), "output_names": list(module.output_names),
        "dynamic_batch": module.dynamic_batch, "metadata": module.metadata, "nodes": nodes,
    }
    try:
        text = json.dumps(header)
    except TypeError as e:
        raise SerializationError(f"module metadata is not JSON-serialisable: {e}") from e
    payload = {
        "graph": text,
        "constants": constants,
        "example_inputs": list(module.example_inputs),
        "reference_outputs": list(module.reference_outputs),
    }
    try:
        torch.save(payload, path)
    except OSError as e:
        raise SerializationError(f"cannot write IR to {path}: {e}") from e


def load_module(path: str) -> Module:
    try:
        payload = torch.load(path, weights_only=True)
        header = json.loads(payload["graph"])
    except FileNotFoundError as e:
        raise SerializationError(f"no such IR file: {path}") from e
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same answer
        raise SerializationError(f"{path} is not a saved Lepton IR ({type(e).__name__}: {e})") from e
    if header.get("format") != FORMAT:
        raise SerializationError(f"{path} is not a saved Lepton IR (format {header.get('format')!r})")
    if header.get("version", 0) > VERSION:
        raise SerializationError(f"{path} was written by a newer Lepton (IR version {header['version']})")
    graph = fx.Graph()
    nodes: dict[str, fx.Node] = {}
    for entry in header["nodes"]:
        args = _decode(entry["args"], nodes)
        kwargs = _decode(entry["kwargs"], nodes)
        if entry["op"] == "output":
            node = graph.output(args[0])
        else:
            node = graph.create_node(entry["op"], _decode_target(entry["target"]), args, kwargs, name=entry["name"])
        node.meta.update(_decode_meta(entry["meta"]))
        nodes[entry["name"]] = node
    root = torch.nn.Module()
    module = Module(
        graph_module=fx.GraphModule(root, fx.Graph()),
        example_inputs=tuple(payload["example_inputs"]),
        reference_outputs=tuple(payload["reference_outputs"]),
        name=header["name"],
        input_names=tuple(header["input_names"]),
        output_names=tuple(header["output_names"]),
        dynamic_batch=header["dynamic_batch"],
        metadata=header["metadata"],
    )
    for target, tensor in payload["constants"].items():
        module.set_constant(target, tensor)
    module.graph_module.graph = graph
    module.graph_module.eval()
    module.recompile()
    module.refresh_shapes()
    return module
