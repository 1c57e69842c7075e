"""Turning a MODEL argument into something to compile.

MODEL is one of: ``demo``; ``path/to/file.py:factory`` or ``package.module:factory`` (a callable
returning a module, or ``(module, example_inputs)``, or ``(module, args, kwargs)``); a ``.pt2``
file written by ``torch.export.save``; a ``.lepton`` file written by ``Module.save``.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch

from lepton_ir.errors import LeptonError, ModelLoadError
from lepton_ir.module import Module
from lepton_ir.trace import from_exported_program, trace, user_frame


@dataclass
class ModelSource:
    """A loaded MODEL: either a module to trace with its inputs, or IR/program already captured."""

    name: str
    model: Optional[torch.nn.Module] = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    program: Optional[torch.export.ExportedProgram] = None
    ir: Optional[Module] = None
    is_demo: bool = False

    def to_ir(self, dynamic_batch: bool = False) -> Module:
        if self.ir is not None:
            return self.ir
        if self.program is not None:
            return from_exported_program(self.program, self.args or None, self.kwargs or None, name=self.name)
        assert self.model is not None
        return trace(self.model, self.args, self.kwargs, dynamic_batch=dynamic_batch, name=self.name)


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        raise ModelLoadError(f"--input-shape must be comma-separated integers like 1,3,224,224, got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise ModelLoadError(f"--input-shape must have positive dimensions, got {text!r}")
    return dims


def random_inputs(shapes: Sequence[tuple[int, ...]], seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, generator=generator) for s in shapes)


def load_source(spec: str, input_shapes: Sequence[str] = ()) -> ModelSource:
    shapes = [parse_shape(s) for s in input_shapes]
    if spec == "demo":
        from . import demo

        if not os.path.exists(demo.WEIGHTS):
            raise ModelLoadError(f"the demo weights are missing ({demo.WEIGHTS}); run `lepton train-demo`")
        args = random_inputs(shapes) if shapes else demo.example_inputs()
        return ModelSource(name="digits_cnn", model=demo.load_model(), args=args, is_demo=True)
    if spec.endswith(".lepton"):
        _require_file(spec)
        return ModelSource(name=_stem(spec), ir=Module.load(spec))
    if spec.endswith(".pt2"):
        _require_file(spec)
        program = load_exported_program(spec)
        return ModelSource(name=_stem(spec), program=program, args=random_inputs(shapes) if shapes else ())
    if ":" not in spec:
        raise ModelLoadError(
            f"cannot tell what MODEL {spec!r} is: use demo, file.py:factory, package.module:factory, "
            "a .pt2 file from torch.export.save, or a .lepton file"
        )
    location, _, factory_name = spec.rpartition(":")
    namespace = _import_location(location)
    factory = getattr(namespace, factory_name, None)
    if factory is None:
        names = [n for n in dir(namespace) if not n.startswith("_")]
        close = difflib.get_close_matches(factory_name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ModelLoadError(f"{location} has no attribute '{factory_name}'{hint}")
    if not callable(factory):
        raise ModelLoadError(f"{spec}: '{factory_name}' is a {type(factory).__name__}, not a callable factory")
    return _from_factory(spec, factory_name, factory, shapes)


def _from_factory(spec: str, name: str, factory: Any, shapes: list[tuple[int, ...]]) -> ModelSource:
    try:
        made = factory()
    except LeptonError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever the user's factory raised, say so plainly
        where = user_frame(e)
        msg = f"the factory {spec} raised {type(e).__name__}: {e}"
        raise ModelLoadError(msg + (f"\n  at {where}" if where else "")) from e
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    model = made
    if isinstance(made, tuple):
        if len(made) == 2:
            model, args = made
        elif len(made) == 3:
            model, args, kwargs = made
        else:
            raise ModelLoadError(f"{spec} returned a tuple of {len(made)}; expected (module, inputs) or (module, args, kwargs)")
        args = (args,) if isinstance(args, torch.Tensor) else tuple(args)
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(f"{spec} returned {type(model).__name__}, expected a torch.nn.Module")
    if shapes:
        args, kwargs = random_inputs(shapes), {}
    if not args and not kwargs:
        raise ModelLoadError(f"{spec} returned a module without example inputs: give --input-shape (e.g. 1,3,224,224)")
    return ModelSource(name=name, model=model, args=args, kwargs=dict(kwargs))


_UNREGISTERED = re.compile(r"Deserializing (\S+) in pytree is not registered")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))  # includes the traceback that names the type


def load_exported_program(path: str, attempts: int = 5) -> torch.export.ExportedProgram:
    """``torch.export.load``, importing the modules that define the program's pytree types first.

    A program whose outputs are, say, a transformers ``ModelOutput`` can only be read after the
    class's module registered it with pytree; the loader names the type, so import it and retry.
    """
    logger = logging.getLogger("torch.export")
    failure: Exception | None = None
    for _ in range(attempts):
        handler = _Collect()
        handlers, propagate = logger.handlers, logger.propagate
        logger.handlers, logger.propagate = [handler], False
        try:
            return torch.export.load(path)
        except Exception as e:  # noqa: BLE001
            failure = e
        finally:
            logger.handlers, logger.propagate = handlers, propagate
        missing = [m[1] for text in handler.messages for m in [_UNREGISTERED.search(text)] if m]
        if not missing:
            break
        try:
            importlib.import_module(missing[0].rsplit(".", 1)[0])
        except ImportError as e:
            raise ModelLoadError(f"{path} needs {missing[0]} to load, and it cannot be imported: {e}") from e
    raise ModelLoadError(f"cannot read exported program {path}: {type(failure).__name__}: {failure}") from failure


def _import_location(location: str) -> Any:
    if location.endswith(".py") or os.sep in location:
        _require_file(location)
        module_name = "lepton_user_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(location))
        if module_name in sys.modules:
            return sys.modules[module_name]  # imported already (a plugin named twice registers once)
        spec = importlib.util.spec_from_file_location(module_name, location)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot import {location}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001
            del sys.modules[module_name]
            raise ModelLoadError(f"importing {location} raised {type(e).__name__}: {e}") from e
        return module
    try:
        return importlib.import_module(location)
    except ModuleNotFoundError as e:
        raise ModelLoadError(f"cannot import module '{location}': {e}") from e
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"importing {location} raised {type(e).__name__}: {e}") from e


def load_plugin(location: str) -> None:
    """Import a file or module whose import registers passes (``--plugin``)."""
    _import_location(location)


def _require_file(path: str) -> None:
    if not os.path.exists(path):
        raise ModelLoadError(f"no such file: {path}")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
