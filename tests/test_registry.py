"""The pass registry: names, user passes, entry-point plugins."""
from __future__ import annotations

import pytest

import lepton_ir
from lepton_ir import LeptonError, TransformPass, register_pass
from lepton_ir import registry
from lepton_ir.pass_base import AnalysisPass, PassResult


def test_every_registry_key_equals_its_pass_name():
    passes = lepton_ir.all_passes()
    assert {"dce", "remove-identity", "cost"} <= set(passes)
    for key, cls in passes.items():
        assert cls.name == key
        assert issubclass(cls, (TransformPass, AnalysisPass))
        assert cls.summary, f"{key} has no summary"


def test_register_pass_makes_it_usable_in_pipelines():
    @register_pass
    class Mine(TransformPass):
        name = "test-mine"
        summary = "does nothing"

        def run(self, module, analyses, context):
            return PassResult(changed=False)

    try:
        assert lepton_ir.get_pass("test-mine") is Mine
        assert lepton_ir.parse_pipeline("test-mine").passes()[0].name == "test-mine"
    finally:
        registry.unregister_pass("test-mine")
    with pytest.raises(lepton_ir.PipelineSyntaxError):
        lepton_ir.get_pass("test-mine")


def test_bad_registrations_are_refused():
    with pytest.raises(LeptonError, match="kebab-case"):
        @register_pass
        class Bad(TransformPass):
            name = "Bad_Name"

    with pytest.raises(LeptonError, match="already registered"):
        @register_pass
        class Clash(TransformPass):
            name = "dce"

    with pytest.raises(LeptonError, match="subclass of AnalysisPass or TransformPass"):
        register_pass(int)


def test_entry_point_plugins_are_loaded(monkeypatch):
    class Plugin(TransformPass):
        name = "test-plugin"
        summary = "from an entry point"

    class FakeEntryPoint:
        name, value = "test-plugin", "fake:Plugin"

        def load(self):
            return Plugin

    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()] if group == registry.ENTRY_POINT_GROUP else [])
    try:
        assert "test-plugin" in registry.pass_names()
        assert registry.get_pass("test-plugin") is Plugin
    finally:
        registry.unregister_pass("test-plugin")


def test_broken_plugin_names_itself(monkeypatch):
    class Broken:
        name, value = "boom", "nowhere:Thing"

        def load(self):
            raise ImportError("no module named nowhere")

    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [Broken()])
    with pytest.raises(LeptonError, match="could not load pass plugin 'boom' \\(nowhere:Thing\\)"):
        registry.pass_names()
