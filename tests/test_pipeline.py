"""Pipeline text: what parses, what presets expand to, and every syntax error with its position."""
from __future__ import annotations

import dataclasses
from typing import Literal, Optional

import pytest

from lepton_ir import PipelineSyntaxError, TransformPass, parse_pipeline, register_pass
from lepton_ir.pipeline import FixedPointGroup, PassStep
from lepton_ir.registry import unregister_pass


@dataclasses.dataclass(frozen=True)
class _KnobOptions:
    ratio: float = 0.5
    steps: int = 1
    criterion: Literal["l1", "l2"] = "l1"
    ignore: tuple[str, ...] = ()
    label: Optional[str] = None
    strict: bool = False


@pytest.fixture(autouse=True)
def knob_pass():
    @register_pass
    class Knobs(TransformPass):
        name = "test-knobs"
        summary = "options of every type, for parser tests"
        Options = _KnobOptions

    yield Knobs
    unregister_pass("test-knobs")


def test_options_parse_into_typed_fields():
    p = parse_pipeline('dce,test-knobs{ratio=1,steps=3,criterion=l2,ignore=[layer1.0.conv1,"fc"],label="a b",strict=true}')
    step = p.items[1]
    assert isinstance(step, PassStep)
    o = step.instance.options
    assert o == _KnobOptions(ratio=1.0, steps=3, criterion="l2", ignore=("layer1.0.conv1", "fc"), label="a b", strict=True)
    assert isinstance(o.ratio, float)


def test_kebab_and_snake_keys_and_whitespace():
    p = parse_pipeline(" test-knobs { ratio = 0.25 } , dce ")
    assert p.items[0].instance.options.ratio == 0.25


def test_canonical_text_round_trips():
    text = 'test-knobs{ratio=0.25,ignore=[a,b],label="x y"},fixpoint(dce,remove-identity)'
    p = parse_pipeline(text)
    assert str(p) == text
    assert str(parse_pipeline(str(p))) == text


def test_presets_expand_in_place():
    assert str(parse_pipeline("-O0")) == ""
    p = parse_pipeline("-O1,test-knobs")
    assert p.items[0].name == "functionalize" and isinstance(p.items[1], FixedPointGroup)
    assert [s.name for s in p.items[1].steps] == [
        "remove-identity", "fold-constants", "fold-batchnorm", "fold-affine", "simplify", "merge-linear", "cse", "dce"]
    assert p.items[2].name == "test-knobs"


def test_empty_pipeline_has_no_passes():
    assert parse_pipeline("").passes() == []


@pytest.mark.parametrize("text, position, message", [
    ("dce,remove-identiy", 4, "unknown pass 'remove-identiy'; did you mean 'remove-identity'?"),
    ("dce,frobnicate", 4, "unknown pass 'frobnicate'"),
    ("test-knobs{ratoi=0.5}", 11, "has no option 'ratoi'; did you mean 'ratio'?"),
    ("test-knobs{ratio=high}", 11, "option 'ratio' expects float, got 'high'"),
    ("test-knobs{steps=1.5}", 11, "option 'steps' expects int, got 1.5"),
    ("test-knobs{criterion=l3}", 11, "option 'criterion' must be one of l1, l2, got 'l3'"),
    ("test-knobs{strict=1}", 11, "option 'strict' expects bool"),
    ("test-knobs{ratio=0.5", 10, "unbalanced '{': the option list is never closed"),
    ("test-knobs{ratio=0.5,", 10, "unbalanced '{'"),
    ("dce}", 3, "unbalanced '}'"),
    ("fixpoint(dce", 8, "unbalanced '(': fixpoint( is never closed"),
    ("dce)", 3, "unbalanced ')'"),
    ("test-knobs{ignore=[a,b}", 22, "expected ',' or ']' in a list"),
    ("test-knobs{ratio}", 16, "expected '=' after option 'ratio'"),
    ("test-knobs{ratio=0.5,ratio=1}", 21, "option 'ratio' given twice"),
    ("dce,,dce", 4, "expected a pass name or preset"),
    ("dce,", 4, "expected a pass name or preset, found the end"),
    ("-O7", 0, "unknown preset '-O7'"),
    ("Dce", 0, "expected a pass name"),
    ("dce remove-identity", 4, "expected ',' between passes"),
    ('test-knobs{label="abc}', 17, "unterminated quoted string"),
    ("dce{x=1}", 4, "pass 'dce' has no option 'x'"),
])
def test_syntax_errors_name_the_problem_and_position(text, position, message):
    with pytest.raises(PipelineSyntaxError) as info:
        parse_pipeline(text)
    assert message in info.value.reason
    assert info.value.position == position
    assert text in str(info.value) and "^" in str(info.value)
