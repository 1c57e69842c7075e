"""Running the installed ``lepton`` command as a user would: a subprocess with the venv on PATH."""
from __future__ import annotations

import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.pop("LEPTON_DEBUG", None)
    env.update(extra)
    return env


def lepton(*args: str, cwd: str | None = None, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([os.path.join(BIN, "lepton"), *args], capture_output=True, text=True, cwd=cwd,
                          env=cli_env(**env), timeout=timeout)
