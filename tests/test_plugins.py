"""The plugin system: discovery through entry points, loud failures, documented hooks."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from mia_bench import hookspecs
from mia_bench.errors import PluginError, UnknownComponentError
from mia_bench.plugins import ENTRY_POINT_GROUP, plugin_info, register_plugin, registry
from mia_bench.testing import isolated_plugins

FAKE_PLUGIN = textwrap.dedent('''
    import numpy as np
    from mia_bench import hookimpl
    from mia_bench.attack import Attack, AttackOutput

    class ThirdPartyAttack(Attack):
        name = "third-party-length"
        description = "Scores a pair by its caption length (a fake third-party attack)."
        units = ("pair",)
        inputs = frozenset({"text"})
        requires = frozenset({"text"})

        def run(self, target, challenge, context):
            target.encode_text(challenge.samples.texts)
            return AttackOutput(scores=np.array([len(t) for t in challenge.samples.texts], float))

    @hookimpl
    def register_attacks(register):
        register(ThirdPartyAttack)
''')


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """A separately 'installed' distribution: a module plus dist-info with an entry point."""
    (tmp_path / "fake_mia_plugin.py").write_text(FAKE_PLUGIN)
    info = tmp_path / "fake_mia_plugin-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-mia-plugin\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nthirdparty = fake_mia_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("fake_mia_plugin", None)


def test_third_party_distribution_is_discovered_and_its_attack_runs(fake_distribution, tmp_path):
    from mia_bench.cache import Cache
    from mia_bench.attack import AttackContext
    from mia_bench.target import MeteredTarget
    from mia_bench.testing import ToyTarget, toy_split
    import numpy as np

    with isolated_plugins(load_entry_points=True):
        info = {p["name"]: p for p in plugin_info()}
        assert info["thirdparty"]["distribution"] == "fake-mia-plugin"
        assert info["thirdparty"]["hooks"] == ["register_attacks"]
        assert registry("attack").entry("third-party-length").plugin == "thirdparty"
        attack_cls = registry("attack").get("third-party-length")
        split = toy_split()
        target = MeteredTarget(ToyTarget(), "third-party-length", allow_media=False)
        ctx = AttackContext(split.auxiliary, np.random.default_rng(0), 0, Cache(tmp_path), "image")
        out = attack_cls().run(target, split.pairs, ctx)
        assert out.scores.shape == (len(split.pairs),)
        assert target.counts["text"] == len(split.pairs)


def test_first_party_plugins_register_through_the_entry_point_group():
    from importlib import metadata

    names = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {"openclip", "pii", "baselines", "defaults"} <= names
    info = {p["name"]: p for p in plugin_info()}
    assert info["baselines"]["distribution"] == "mia-bench"


def test_misspelled_hook_fails_loudly():
    class Typo:
        @staticmethod
        @hookspecs.hookimpl
        def register_attack(register):  # missing the final "s"
            pass

    with isolated_plugins():
        with pytest.raises(PluginError, match="register_attack.*Known hooks: register_attacks"):
            register_plugin(Typo(), "typo")


def test_unknown_component_gets_did_you_mean():
    with pytest.raises(UnknownComponentError) as err:
        registry("attack").get("cas")
    assert "Did you mean 'csa'" in str(err.value)
    assert "mia-bench ls attacks" in str(err.value)


def test_duplicate_component_names_are_an_error():
    from mia_bench.attack import Attack

    class A(Attack):
        name = "dup"

    class P1:
        @staticmethod
        @hookspecs.hookimpl
        def register_attacks(register):
            register(A)

    class B(Attack):
        name = "dup"

    class P2:
        @staticmethod
        @hookspecs.hookimpl
        def register_attacks(register):
            register(B)

    from mia_bench.errors import MiaBenchError

    with isolated_plugins(P1(), P2()):
        with pytest.raises(MiaBenchError, match="registered twice"):
            registry("attack")


def test_load_plugins_allow_list(monkeypatch):
    monkeypatch.setenv("MIA_BENCH_LOAD_PLUGINS", "baselines")
    with isolated_plugins(load_entry_points=True):
        assert [p["name"] for p in plugin_info()] == ["baselines"]
        assert "csa" in registry("attack")
        assert registry("target").names() == []


def test_every_hook_is_documented():
    """Each hookspec says what is passed, what to do and what is returned (docs meta-test)."""
    specs = [getattr(hookspecs, n) for n in dir(hookspecs) if n.startswith("register_")]
    assert len(specs) == 6
    for spec in specs:
        doc = spec.__doc__ or ""
        assert len(doc.split()) >= 15, f"{spec.__name__} needs a real docstring"
        assert "register" in doc or "cli" in doc


def test_every_hook_has_a_docs_heading_with_its_signature():
    """docs/hooks.md has a '## name(args)' heading per hookspec, matching the spec's signature."""
    import inspect
    from pathlib import Path

    docs = (Path(__file__).parent.parent / "docs" / "hooks.md").read_text()
    for name in (n for n in dir(hookspecs) if n.startswith("register_")):
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"## {name}({params})" in docs, f"docs/hooks.md lacks a heading for {name}({params})"
