"""Instrumentation around each pass: IR printing on request (timing is always in the report)."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from .module import Module


class PassObserver(Protocol):
    """Called around every transform (debug tools use this to snapshot and diff the IR)."""

    def before(self, pass_spec: str, module: "Module") -> None: ...

    def after(self, pass_spec: str, module: "Module", changed: bool) -> None: ...


@dataclass
class Instrumentation:
    """What the pass manager prints while it runs.

    ``print_before`` / ``print_after`` hold pass names; the ``*_all`` flags cover every pass.
    With ``changed_only`` the IR after a pass is printed only when the pass changed it.
    ``time_passes`` prints the timing table at the end of the run.
    """

    print_before_all: bool = False
    print_after_all: bool = False
    print_before: frozenset[str] = field(default_factory=frozenset)
    print_after: frozenset[str] = field(default_factory=frozenset)
    changed_only: bool = False
    time_passes: bool = False
    stream: TextIO | None = None
    observers: list[PassObserver] = field(default_factory=list)

    def _out(self) -> TextIO:
        return self.stream or sys.stderr

    def before(self, pass_spec: str, pass_name: str, module: "Module") -> None:
        for observer in self.observers:
            observer.before(pass_spec, module)
        if self.print_before_all or pass_name in self.print_before:
            self._print(f"IR before {pass_spec}", module)

    def after(self, pass_spec: str, pass_name: str, module: "Module", changed: bool) -> None:
        for observer in self.observers:
            observer.after(pass_spec, module, changed)
        if not (self.print_after_all or pass_name in self.print_after):
            return
        if self.changed_only and not changed:
            return
        note = "" if changed else " (unchanged)"
        self._print(f"IR after {pass_spec}{note}", module)

    def _print(self, title: str, module: "Module") -> None:
        out = self._out()
        out.write(f"// ----- {title} -----\n{module}\n")
        out.flush()
