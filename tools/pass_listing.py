"""The ``lepton passes`` listing: every registered pass, its contract and typed options."""
from __future__ import annotations

import dataclasses
from typing import Any

from lepton_ir.options import describe_type, format_value, option_fields
from lepton_ir.pass_base import TransformPass
from lepton_ir.registry import all_passes


def describe_passes() -> list[dict[str, Any]]:
    out = []
    for name, cls in all_passes().items():
        fields = option_fields(cls.Options)
        defaults = {f.name: f.default for f in dataclasses.fields(cls.Options)}
        options = [{"name": k, "type": describe_type(t), "default": _plain(defaults[k])} for k, t in fields.items()]
        entry: dict[str, Any] = {"name": name, "kind": cls.kind, "summary": cls.summary, "options": options,
                                 "module": cls.__module__}
        if issubclass(cls, TransformPass):
            entry["contract"] = "exact" if cls.contract.exact else f"approximate ({cls.contract.metric})"
        out.append(entry)
    return out


def _plain(value: Any) -> Any:
    if value is dataclasses.MISSING:
        return None
    return list(value) if isinstance(value, tuple) else value


def format_passes(described: list[dict[str, Any]]) -> str:
    width = max(len(d["name"]) for d in described)
    lines = []
    for d in described:
        contract = f" [{d['contract']}]" if "contract" in d else ""
        lines.append(f"{d['name'].ljust(width)}  {d['kind']:<9}  {d['summary']}{contract}")
        for o in d["options"]:
            lines.append(f"{'':{width}}    {o['name']}: {o['type']} = {format_value(o['default'])}")
    return "\n".join(lines)
