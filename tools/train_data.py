"""Training data from a ``--train-data`` SPEC: ``demo`` (digits training split, with labels) or an
``.npz`` file holding the inputs (named after the model's inputs, or ``inputs``/``x``) and optional
``labels``/``y``. Samples along the first axis."""
from __future__ import annotations

import torch

from lepton_ir.errors import InputError
from lepton_ir.module import Module
from lepton_ir.pass_base import TrainData

from .npz_inputs import npz_inputs


def load_train_data(spec: str, module: Module) -> TrainData:
    if spec == "demo":
        from .demo import load_data

        data = load_data()
        return TrainData((data.x_train,), data.y_train)
    if not spec.endswith(".npz"):
        raise InputError(f"unknown --train-data SPEC {spec!r}: use demo or a .npz file")
    inputs, data = npz_inputs(spec, module, "training data")
    label_key = next((k for k in ("labels", "y") if k in data.files), None)
    labels = torch.from_numpy(data[label_key]).long() if label_key else None
    return TrainData(inputs, labels)
