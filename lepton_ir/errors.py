"""The error hierarchy: every failure a user can cause ends in one of these."""
from __future__ import annotations

__all__ = [
    "LeptonError",
    "ModelLoadError",
    "InputError",
    "TraceError",
    "PipelineSyntaxError",
    "PassError",
    "VerificationError",
    "LoweringError",
    "SerializationError",
]


class LeptonError(Exception):
    """Base of every error Lepton raises on purpose; its message is meant for the user."""


class ModelLoadError(LeptonError):
    """A MODEL argument could not be turned into a model (missing file, bad factory, factory raised)."""


class InputError(LeptonError):
    """The example inputs do not fit the model (wrong shape, dtype or count)."""


class TraceError(LeptonError):
    """torch.export could not capture the model."""


class PipelineSyntaxError(LeptonError):
    """A pipeline string is malformed, names an unknown pass or option, or has a value of the wrong type.

    ``position`` is the 0-based character offset of the first error in ``text``.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None):
        self.reason = message
        self.text = text
        self.position = position
        if text and position is not None:
            caret = " " * position + "^"
            message = f"{message} (at position {position})\n  {text}\n  {caret}"
        super().__init__(message)


class PassError(LeptonError):
    """A pass failed. Names the pass, the node it was working on, and where a reproducer was written."""

    def __init__(
        self,
        message: str,
        *,
        pass_name: str | None = None,
        node: str | None = None,
        source: str | None = None,
        reproducer: str | None = None,
        replay_command: str | None = None,
    ):
        self.reason = message
        self.pass_name = pass_name
        self.node = node
        self.source = source
        self.reproducer = reproducer
        self.replay_command = replay_command
        super().__init__(self._render())

    def _headline(self) -> str:
        head = f"pass '{self.pass_name}' failed" if self.pass_name else "pass failed"
        return f"{head}: {self.reason}"

    def _render(self) -> str:
        lines = [self._headline()]
        if self.node:
            lines.append(f"  node: {self.node}")
        if self.source:
            lines.append(f"  source: {self.source}")
        if self.reproducer:
            lines.append(f"  reproducer: {self.reproducer}")
        if self.replay_command:
            lines.append(f"  replay with: {self.replay_command}")
        return "\n".join(lines)


class VerificationError(PassError):
    """The IR is invalid after a pass, or outputs moved beyond the pass's numerical contract."""

    def _headline(self) -> str:
        if self.reason.startswith("invalid IR") or not self.pass_name:
            return self.reason
        return f"pass '{self.pass_name}' broke its contract: {self.reason}"


class LoweringError(LeptonError):
    """A backend could not lower, check or verify the IR."""


class SerializationError(LeptonError):
    """A saved IR could not be written or read."""
