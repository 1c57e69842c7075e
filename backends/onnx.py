"""ONNX backend: torch.onnx (torch.export-based) export, onnx-simplifier, checker, ONNX Runtime check."""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import warnings
from typing import Any, Iterator

import numpy as np
import onnx
import torch

from lepton_ir.errors import LoweringError
from lepton_ir.module import Module
from lepton_ir.quiet import quiet_logs

from .onnx_int4 import int4_weights, lower_int4
from .onnx_qdq import fold_weight_quantizers
from .result import LoweringResult, check_artifact, lowering_tolerance

DEFAULT_OPSET = 20


def export_model(module: Module, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """The IR as an ONNX model, weights inline."""
    gm = module.graph_module
    gm.eval()
    dynamic_shapes = None
    if module.dynamic_batch and any("fake_quantize" in str(n.target) for n in module.compute_nodes()):
        raise LoweringError(
            f"{module.name}: the ONNX exporter cannot export quantize/dequantize with a dynamic batch "
            "(it decomposes them into fake_quantize_*_cachemask, which has no ONNX form); compile the "
            "quantized model without --dynamic-batch (dynamic_batch=False), or target torchscript"
        )
    if module.dynamic_batch:
        batch = torch.export.Dim("batch")
        dynamic_shapes = tuple({0: batch} if t.dim() > 0 else None for t in module.example_inputs)
    try:
        with warnings.catch_warnings(), quiet_logs("torch", "onnxscript", "onnx_ir"):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                gm, tuple(t.clone() for t in module.example_inputs), dynamo=True, external_data=False, opset_version=opset,
                input_names=list(module.input_names), output_names=list(module.output_names),
                dynamic_shapes=dynamic_shapes, optimize=True, verbose=False,
            )
    except Exception as e:  # noqa: BLE001 - torch.onnx raises many types; the innermost cause says what
        root = e
        while root.__cause__ is not None:
            root = root.__cause__
        first = str(root).strip().splitlines()[0] if str(root).strip() else ""
        raise LoweringError(f"torch.onnx.export failed for {module.name}: {type(root).__name__}: {first}") from e
    return program.model_proto


@contextlib.contextmanager
def captured_native_output(sink: list[str]) -> Iterator[None]:
    """Capture what native code prints on fds 1 and 2 (onnxsim's C++ logs) into ``sink``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as buffer:
        os.dup2(buffer.fileno(), 1)
        os.dup2(buffer.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            ctypes.CDLL(None).fflush(None)  # C stdio buffers, where C++ iostreams write by default
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            buffer.seek(0)
            sink.extend(line for line in buffer.read().decode(errors="replace").splitlines() if line.strip())


def simplify(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str, list[str]]:
    """onnx-simplifier: the model and 'ok', or the original and why it was not simplified, plus its log.

    onnxsim logs partial constant-folding failures that it recovers from; they go into the
    artifact details rather than onto the user's terminal.
    """
    import onnxsim

    log: list[str] = []
    try:
        with captured_native_output(log):
            simplified, ok = onnxsim.simplify(model)
    except Exception as e:  # noqa: BLE001 - a failed simplification keeps the exported model, reported
        return model, f"skipped: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", log
    if not ok:
        return model, "skipped: onnxsim's own check failed", log
    return simplified, "ok", log


def session(model_or_path: onnx.ModelProto | str, threads: int = 2, optimized_path: str | None = None,
            spin: bool = True) -> Any:
    """An ORT CPU session. ``spin=False`` stops idle worker threads from busy-waiting: needed when
    several sessions share the cores (side-by-side benchmarks), where one session's spinning
    threads would steal time from the next."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path:
        options.optimized_model_filepath = optimized_path
    source = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) else model_or_path
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_session(sess: Any, module: Module, inputs: tuple[torch.Tensor, ...] | None = None) -> list[torch.Tensor]:
    inputs = module.example_inputs if inputs is None else inputs
    by_name = dict(zip(module.input_names, inputs))
    feed = {}
    for i, arg in enumerate(sess.get_inputs()):
        tensor = by_name.get(arg.name, inputs[i] if i < len(inputs) else None)
        feed[arg.name] = tensor.detach().cpu().numpy()
    return [torch.from_numpy(np.asarray(o)) for o in sess.run(None, feed)]


def lower(
    module: Module, path: str, *, verify: bool = True, rtol: float | None = None,
    opset: int = DEFAULT_OPSET, simplify_model: bool = True,
) -> LoweringResult:
    """Write ``module`` to ``path`` as a single-file ONNX model and, with ``verify``, check it in ORT."""
    model = export_model(module, opset)
    status, log = "not requested", []
    if simplify_model:
        model, status, log = simplify(model)
    weights_folded = fold_weight_quantizers(model)
    int4 = lower_int4(model, int4_weights(module))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001
        raise LoweringError(f"the exported ONNX model fails onnx.checker: {e}") from e
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save(model, path)
    details = {
        "opset": opset, "simplify": status, "onnx_nodes": len(model.graph.node),
        "bytes": os.path.getsize(path), "dynamic_batch": module.dynamic_batch, "simplify_log": log,
        "integer_weights": weights_folded, "int4_weights": int4,
    }
    verification = None
    if verify:
        try:
            produced = run_session(session(path), module)
        except Exception as e:  # noqa: BLE001
            raise LoweringError(f"ONNX Runtime could not run {path}: {type(e).__name__}: {e}") from e
        verification = check_artifact("onnxruntime", module, produced, lowering_tolerance(module, rtol), path)
    return LoweringResult("onnx", path, verification, details)
