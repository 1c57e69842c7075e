"""Saving sensitivity results and finding them again: a sweep costs minutes, so a later run on the
same IR, data and options reuses it.

The key is a SHA-256 over the graph text, every constant's bytes, the analysis options, the metric's
evaluator name and the data's bytes: any change to the model or the data makes a new file. A
registered evaluator is known by its name only: if its code or its own data change, use a new name
or delete the file. Files are ``<cache_dir>/<model>.sensitivity-<key[:16]>.json``; the CLI puts
them next to the report.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Optional, Sequence

import torch

from lepton_ir.module import Module
from lepton_ir.printer import format_graph

from .sensitivity_result import SensitivityResult

FORMAT = 1  # bump when the meaning of stored numbers changes
_MEMORY: dict[str, dict[str, Any]] = {}  # this process's results by key, for repeated runs without a cache_dir
_MEMORY_LIMIT = 16


def _update(digest: "hashlib._Hash", tensor: torch.Tensor) -> None:
    t = tensor.detach().cpu()
    digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.numel():  # 0-dim tensors (BatchNorm's num_batches_tracked) cannot be viewed as bytes directly
        digest.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())


def fingerprint(module: Module, options: Any, batches: Sequence[Sequence[torch.Tensor]]) -> str:
    digest = hashlib.sha256(f"format {FORMAT}\n{options!r}\n".encode())
    digest.update(format_graph(module.graph).encode())
    for node in module.graph.nodes:
        if node.op == "get_attr":
            value = module.constant(node)
            if isinstance(value, torch.Tensor):
                digest.update(str(node.target).encode())
                _update(digest, value)
    for batch in batches:
        for tensor in batch:
            if isinstance(tensor, torch.Tensor):
                _update(digest, tensor)
    return digest.hexdigest()


def cache_path(cache_dir: str, model: str, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model) or "model"
    return os.path.join(cache_dir, f"{safe}.sensitivity-{key[:16]}.json")


def load(cache_dir: Optional[str], model: str, key: str) -> Optional[SensitivityResult]:
    """The stored result for ``key``: from ``cache_dir`` if there, else from this process's memory."""
    if cache_dir:
        path = cache_path(cache_dir, model, key)
        try:
            with open(path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            data = None
        if data is not None and data.get("fingerprint") == key:
            result = SensitivityResult.from_dict(data)
            result.cached = path
            return result
    data = _MEMORY.get(key)
    if data is None:
        return None
    result = SensitivityResult.from_dict(data)
    result.cached = "memory (an earlier run in this process)"
    return result


def save(cache_dir: Optional[str], model: str, result: SensitivityResult) -> Optional[str]:
    if len(_MEMORY) >= _MEMORY_LIMIT:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[result.fingerprint] = result.to_dict()
    if not cache_dir:
        return None
    os.makedirs(cache_dir, exist_ok=True)
    path = cache_path(cache_dir, model, result.fingerprint)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result.to_dict(), fh, indent=1)
    os.replace(tmp, path)
    return path
