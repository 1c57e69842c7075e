"""Holding back third-party log noise while Lepton reports outcomes itself."""
from __future__ import annotations

import contextlib
import io
import logging
import sys
from typing import Iterator


@contextlib.contextmanager
def quiet_logs(*prefixes: str) -> Iterator[None]:
    """Raise the loggers under ``prefixes`` to ERROR and hold back what is printed to stderr.

    torch.export prints a graph dump to stderr when it fails, and the ONNX exporter's optimiser
    logs recoverable constant-folding misses as warnings. When the block raises, Lepton's own
    error replaces that output; when it succeeds, anything printed is passed on unchanged.
    """
    loggers = [logging.getLogger(p) for p in prefixes]
    loggers += [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                if name.startswith(prefixes)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    sys.stderr.write(captured.getvalue())
