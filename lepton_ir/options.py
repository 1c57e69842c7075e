"""Typed pass options: a frozen dataclass per pass, filled from pipeline text with type checks."""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Mapping


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Options of a pass that takes none."""


class OptionError(ValueError):
    """An option is unknown or its value has the wrong type; ``key`` names the offending option."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def field_name(key: str) -> str:
    """Options may be written in kebab case (``round-to``) or snake case (``round_to``)."""
    return key.replace("-", "_")


def option_fields(options_cls: type) -> dict[str, Any]:
    """Field name -> resolved type annotation."""
    hints = typing.get_type_hints(options_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(options_cls)}


def describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe_type(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"list of {describe_type(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a parsed value to the field's type, or raise OptionError saying what was expected."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value is None and "none" in choices:
            return "none"  # the word none parses as None; here it names a choice
        if value in choices:
            return value
        raise OptionError(f"option '{key}' must be one of {', '.join(map(str, choices))}, got {value!r}", key)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except OptionError:
                continue
        raise OptionError(f"option '{key}' expects {describe_type(tp)}, got {value!r}", key)
    if origin in (tuple, list):
        inner = typing.get_args(tp)[0]
        items = value if isinstance(value, (list, tuple)) else [value]
        converted = [coerce(v, inner, key) for v in items]
        return tuple(converted) if origin is tuple else converted
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # module paths such as layers=[0,2] are written as numbers
    elif tp is Any:
        return value
    raise OptionError(f"option '{key}' expects {describe_type(tp)}, got {value!r}", key)


def build_options(options_cls: type, raw: Mapping[str, Any], pass_name: str = "") -> Any:
    """An instance of ``options_cls`` from ``raw`` key/values; every problem names the option."""
    fields = option_fields(options_cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = field_name(key)
        if name not in fields:
            known = sorted(fields)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            listing = f" (options: {', '.join(known)})" if known else " (it takes no options)"
            raise OptionError(f"pass '{pass_name}' has no option '{key}'{hint}{listing}", key)
        values[name] = coerce(value, fields[name], key)
    try:
        return options_cls(**values)
    except (TypeError, ValueError) as e:
        raise OptionError(f"invalid options for pass '{pass_name}': {e}") from e


def format_options(options: Any) -> str:
    """The ``{key=value,...}`` text of the options that differ from their defaults ('' if none)."""
    parts = []
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING
        )
        if value != default:
            parts.append(f"{f.name}={format_value(value)}")
    return "{" + ",".join(parts) + "}" if parts else ""


def format_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, str):
        plain = value and all(c.isalnum() or c in "_-." for c in value)
        return value if plain else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def options_dict(options: Any) -> dict[str, Any]:
    """JSON-friendly dict of all option values (for reports)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(options).items()}
