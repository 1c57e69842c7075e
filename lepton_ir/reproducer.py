"""Crash reproducers: the IR before a failing pass plus the pipeline, and the command that replays it."""
from __future__ import annotations

import inspect
import os
import shlex
import tempfile
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .module import Module
    from .pass_base import Pass

INPUT_FILE = "input.lepton"
ORIGINAL_FILE = "original.lepton"


def plugin_file(pass_obj: "Pass") -> str | None:
    """The source file to load with ``--plugin`` when the pass is not one of Lepton's own."""
    module = type(pass_obj).__module__
    if module.startswith("lepton_ir."):
        return None
    try:
        return os.path.abspath(inspect.getfile(type(pass_obj)))
    except (TypeError, OSError):
        return None


def replay_command(directory: str) -> str:
    """``lepton replay DIR``: it reads the pass, the IR and any plugin file from the directory."""
    return " ".join(shlex.quote(p) for p in ["lepton", "replay", directory])


def write_reproducer(
    module_before: "Module",
    failing: "Pass",
    pipeline_text: str,
    passes_before: Sequence[str],
    error_text: str,
    base_dir: str | None = None,
    original: "Module | None" = None,
) -> tuple[str, str]:
    """Write the reproducer and return (directory, replay command).

    ``input.lepton`` is the IR right before the failing pass; ``original.lepton`` the IR the whole
    pipeline started from (for ``lepton replay --bisect``).
    """
    if base_dir:
        os.makedirs(base_dir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix=f"lepton-crash-{failing.name}-", dir=base_dir)
    module_before.save(os.path.join(directory, INPUT_FILE))
    if original is not None:
        original.save(os.path.join(directory, ORIGINAL_FILE))
    plugin = plugin_file(failing)
    command = replay_command(directory)
    files = {
        "pipeline.txt": failing.spec + "\n",
        "full_pipeline.txt": pipeline_text + "\n",
        "passes_before.txt": "\n".join(passes_before) + ("\n" if passes_before else ""),
        "error.txt": error_text + "\n",
        "replay.sh": "#!/bin/sh\n" + command + "\n",
    }
    if plugin:
        files["plugins.txt"] = plugin + "\n"
    for name, text in files.items():
        with open(os.path.join(directory, name), "w") as fh:
            fh.write(text)
    return directory, command
