"""Reading model inputs from an ``.npz`` file: one array per model input, samples along axis 0."""
from __future__ import annotations

import os

import numpy as np
import torch

from lepton_ir.errors import InputError
from lepton_ir.module import Module


def npz_inputs(path: str, module: Module, what: str) -> tuple[tuple[torch.Tensor, ...], np.lib.npyio.NpzFile]:
    """Arrays named after the model's inputs (or ``inputs``/``x`` for the first, or ``arr_<i>``), each
    checked to hold samples of the example input's shape; returns them and the open file."""
    if not os.path.exists(path):
        raise InputError(f"no such {what} file: {path}")
    data = np.load(path)
    arrays = []
    for i, (name, example) in enumerate(zip(module.input_names, module.example_inputs)):
        candidates = (name, "inputs", "x", f"arr_{i}") if i == 0 else (name, f"arr_{i}")
        key = next((k for k in candidates if k in data.files), None)
        if key is None:
            raise InputError(f"{path} has no array for input '{name}' (it holds {', '.join(data.files)})")
        array = torch.from_numpy(np.ascontiguousarray(data[key]))
        if tuple(array.shape[1:]) != tuple(example.shape[1:]):
            raise InputError(f"{path}: '{key}' has samples of shape {list(array.shape[1:])}, the model's input "
                             f"'{name}' takes {list(example.shape[1:])} per sample")
        arrays.append(array.to(example.dtype))
    return tuple(arrays), data
