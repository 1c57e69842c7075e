"""Textual pipelines: parse ``"-O1,prune-channels{ratio=0.5,criterion=l1}"`` into typed pass steps.

    pipeline := item ("," item)*
    item     := preset | group | pass
    preset   := "-O0" | "-O1" | ...                   expands in place (see presets.py)
    group    := "fixpoint" "(" pipeline ")"          repeat until no pass in it changes the IR
    pass     := name [ "{" option ("," option)* "}" ]
    option   := key "=" value
    value    := number | true | false | none | word | "quoted" | "[" [value ("," value)*] "]"

Every error is a PipelineSyntaxError carrying the position of the first problem.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import PipelineSyntaxError
from .options import OptionError, build_options
from .pass_base import Pass
from .presets import PRESETS
from .registry import get_pass, pass_names, unknown_pass_message

FIXPOINT = "fixpoint"
MAX_FIXPOINT_ITERATIONS = 10

_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_WORD_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass
class PassStep:
    """One pass with its options, and where it was written in the pipeline text."""

    instance: Pass
    position: int = 0

    @property
    def name(self) -> str:
        return self.instance.name

    def __str__(self) -> str:
        return self.instance.spec


@dataclass
class FixedPointGroup:
    """Passes repeated as a group until an iteration changes nothing (at most ``max_iterations``)."""

    steps: list["PipelineItem"] = field(default_factory=list)
    max_iterations: int = MAX_FIXPOINT_ITERATIONS

    def __str__(self) -> str:
        return f"{FIXPOINT}({','.join(str(s) for s in self.steps)})"


PipelineItem = Union[PassStep, FixedPointGroup]


@dataclass
class Pipeline:
    items: list[PipelineItem] = field(default_factory=list)
    text: str = ""

    def __str__(self) -> str:
        return ",".join(str(i) for i in self.items)

    def passes(self) -> list[Pass]:
        """Every pass instance, flattened out of groups, in order."""
        out: list[Pass] = []

        def walk(items: list[PipelineItem]) -> None:
            for item in items:
                if isinstance(item, PassStep):
                    out.append(item.instance)
                else:
                    walk(item.steps)

        walk(self.items)
        return out


def parse_pipeline(text: str | Pipeline) -> Pipeline:
    """Parse pipeline text; a ``Pipeline`` is returned as is."""
    if isinstance(text, Pipeline):
        return text
    if not isinstance(text, str):
        raise PipelineSyntaxError(f"a pipeline must be a string, got {type(text).__name__}")
    parser = _Parser(text)
    items = parser.parse()
    return Pipeline(items=items, text=text)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    # -- helpers -----------------------------------------------------------------------------
    def error(self, message: str, position: int | None = None) -> PipelineSyntaxError:
        return PipelineSyntaxError(message, self.text, self.pos if position is None else position)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str, context: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end of the pipeline"
            raise self.error(f"expected '{char}' {context}, found {found}")
        self.pos += 1

    # -- grammar -----------------------------------------------------------------------------
    def parse(self) -> list[PipelineItem]:
        if not self.text.strip():
            return []
        items = self.parse_items(closing="")
        if self.peek():
            raise self.error(f"unexpected {self.peek()!r}")
        return items

    def parse_items(self, closing: str) -> list[PipelineItem]:
        items: list[PipelineItem] = []
        while True:
            if self.peek() in ("", closing) or self.peek() == ",":
                what = "the end" if not self.peek() else repr(self.peek())
                raise self.error(f"expected a pass name or preset, found {what}")
            items.extend(self.parse_item())
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() in ("", closing):
                return items
            if self.peek() == "}":
                raise self.error("unbalanced '}': no option list is open here")
            if self.peek() == ")":
                raise self.error("unbalanced ')': no fixpoint( group is open here")
            raise self.error(f"expected ',' between passes, found {self.peek()!r}")

    def parse_item(self) -> list[PipelineItem]:
        start = self.pos
        if self.peek() == "-":
            return self.parse_preset()
        name = self.read_name()
        if name == FIXPOINT and self.peek() == "(":
            open_pos = self.pos
            self.pos += 1
            steps = self.parse_items(closing=")")
            if self.peek() != ")":
                raise self.error("unbalanced '(': fixpoint( is never closed", open_pos)
            self.pos += 1
            return [FixedPointGroup(steps=steps)]
        if name not in pass_names():
            raise self.error(unknown_pass_message(name), start)
        cls = get_pass(name)
        raw: dict[str, Any] = {}
        key_positions: dict[str, int] = {}
        if self.peek() == "{":
            raw, key_positions = self.parse_options()
        try:
            options = build_options(cls.Options, raw, name)
        except OptionError as e:
            position = key_positions.get(e.key, start) if e.key else start
            raise self.error(str(e), position) from None
        return [PassStep(instance=cls(options), position=start)]

    def parse_preset(self) -> list[PipelineItem]:
        start = self.pos
        end = start + 1
        while end < len(self.text) and (self.text[end].isalnum()):
            end += 1
        token = self.text[start:end]
        if token not in PRESETS:
            raise self.error(f"unknown preset '{token}' (presets: {', '.join(PRESETS)})", start)
        self.pos = end
        return parse_pipeline(PRESETS[token]).items

    def read_name(self) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _NAME_CHARS:
            self.pos += 1
        name = self.text[start:self.pos]
        if not name:
            found = self.text[start] if start < len(self.text) else "the end"
            raise self.error(f"expected a pass name (lowercase letters, digits, '-'), found {found!r}", start)
        if self.pos < len(self.text) and (self.text[self.pos].isalpha() or self.text[self.pos] == "_"):
            raise self.error(
                f"pass names are lowercase kebab case; '{name}{self.text[self.pos]}...' is not one", self.pos
            )
        return name

    def parse_options(self) -> tuple[dict[str, Any], dict[str, int]]:
        open_pos = self.pos
        self.pos += 1  # '{'
        raw: dict[str, Any] = {}
        positions: dict[str, int] = {}
        if self.peek() == "}":
            self.pos += 1
            return raw, positions
        while True:
            if not self.peek():
                raise self.error("unbalanced '{': the option list is never closed", open_pos)
            key_pos = self.pos
            key = self.read_word("an option name")
            if key in raw:
                raise self.error(f"option '{key}' given twice", key_pos)
            if self.peek() != "=":
                if not self.peek():
                    raise self.error("unbalanced '{': the option list is never closed", open_pos)
                raise self.error(f"expected '=' after option '{key}'")
            self.pos += 1
            positions[key] = key_pos
            raw[key] = self.parse_value(open_pos)
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == "}":
                self.pos += 1
                return raw, positions
            if not self.peek():
                raise self.error("unbalanced '{': the option list is never closed", open_pos)
            raise self.error(f"expected ',' or '}}' after the value of '{key}', found {self.peek()!r}")

    def read_word(self, what: str) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _WORD_CHARS:
            self.pos += 1
        if start == self.pos:
            found = repr(self.text[start]) if start < len(self.text) else "the end of the pipeline"
            raise self.error(f"expected {what}, found {found}", start)
        return self.text[start:self.pos]

    def parse_value(self, open_pos: int) -> Any:
        char = self.peek()
        if char == '"':
            return self.read_quoted()
        if char == "[":
            list_pos = self.pos
            self.pos += 1
            values: list[Any] = []
            if self.peek() == "]":
                self.pos += 1
                return values
            while True:
                if not self.peek():
                    raise self.error("unbalanced '[': the list is never closed", list_pos)
                values.append(self.parse_value(open_pos))
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() == "]":
                    self.pos += 1
                    return values
                elif not self.peek():
                    raise self.error("unbalanced '[': the list is never closed", list_pos)
                else:
                    raise self.error(f"expected ',' or ']' in a list, found {self.peek()!r}")
        if not char:
            raise self.error("unbalanced '{': the option list is never closed", open_pos)
        word = self.read_word("a value")
        if word in ("true", "false"):
            return word == "true"
        if word == "none":
            return None
        if _NUMBER.match(word):
            return float(word) if any(c in word for c in ".eE") else int(word)
        return word

    def read_quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.error("unterminated quoted string", start)
