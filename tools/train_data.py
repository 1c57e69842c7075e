"""Training data from a ``--train-data`` SPEC: ``demo`` (digits training split, with labels) or an
``.npz`` file holding the inputs (named after the model's inputs, or ``inputs``/``x``) and optional
``labels``/``y``. Samples along the first axis."""
from __future__ import annotations

import os

import numpy as np
import torch

from lepton_ir.errors import InputError
from lepton_ir.module import Module
from lepton_ir.pass_base import TrainData


def load_train_data(spec: str, module: Module) -> TrainData:
    if spec == "demo":
        from .demo import load_data

        data = load_data()
        return TrainData((data.x_train,), data.y_train)
    if not spec.endswith(".npz"):
        raise InputError(f"unknown --train-data SPEC {spec!r}: use demo or a .npz file")
    if not os.path.exists(spec):
        raise InputError(f"no such training data file: {spec}")
    data = np.load(spec)
    inputs = []
    for i, (name, example) in enumerate(zip(module.input_names, module.example_inputs)):
        key = next((k for k in (name, "inputs" if i == 0 else None, "x" if i == 0 else None, f"arr_{i}")
                    if k and k in data.files), None)
        if key is None:
            raise InputError(f"{spec} has no array for input '{name}' (it holds {', '.join(data.files)})")
        array = torch.from_numpy(np.ascontiguousarray(data[key])).to(example.dtype)
        if tuple(array.shape[1:]) != tuple(example.shape[1:]):
            raise InputError(f"{spec}: '{key}' has samples of shape {list(array.shape[1:])}, the model's input "
                             f"'{name}' takes {list(example.shape[1:])}")
        inputs.append(array)
    label_key = next((k for k in ("labels", "y") if k in data.files), None)
    labels = torch.from_numpy(data[label_key]).long() if label_key else None
    return TrainData(tuple(inputs), labels)
