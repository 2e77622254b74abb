"""Plugins: a pluggy manager and the component registries filled from it, as one object.

A :class:`Plugins` is created once per process for the installed entry points
(:func:`default_plugins`) and is held by every plan built from it; a test or a worker
process builds its own (``Plugins.of(plugin, ...)``, ``Plugins.from_refs(...)``) and
hands it to ``build_plan(..., plugins=...)`` or installs it for a block with
:func:`use_plugins`. Nothing patches module state.

Environment switches (read when entry points load):
- ``MIA_BENCH_LOAD_PLUGINS``: comma-separated allow-list of plugin names (entry-point
  names) to load; empty string loads none. Unset loads all.
- ``MIA_BENCH_DISABLE_PLUGINS``: comma-separated plugin names to skip.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from importlib import metadata
from types import ModuleType
from typing import Any, Iterator

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import KINDS, Registry

ENTRY_POINT_GROUP = "mia_bench"


def _selected(name: str) -> bool:
    allow = os.environ.get("MIA_BENCH_LOAD_PLUGINS")
    deny = {n.strip() for n in os.environ.get("MIA_BENCH_DISABLE_PLUGINS", "").split(",") if n.strip()}
    if name in deny:
        return False
    if allow is None:
        return True
    return name in {n.strip() for n in allow.split(",") if n.strip()}


def _import_ref(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


class Plugins:
    """One plugin manager, its registered plugins and the registries built from them."""

    def __init__(self, entry_points: bool = True):
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)
        self._entry_points_pending = entry_points
        self._registries: dict[str, Registry] = {}

    @classmethod
    def of(cls, *plugins: object, entry_points: bool = False) -> Plugins:
        """Exactly these plugins (objects/modules, or ``(name, plugin)`` pairs), plus the
        installed entry points if asked."""
        out = cls(entry_points=entry_points)
        for plugin in plugins:
            name, obj = plugin if isinstance(plugin, tuple) else (None, plugin)
            out.register(obj, name)
        return out

    @classmethod
    def from_refs(cls, refs: list[tuple[str, str]]) -> Plugins:
        """Rebuild a driver's plugins in a worker from :meth:`refs`."""
        return cls.of(*[(name, _import_ref(ref)) for name, ref in refs])

    # --- loading and registering -----------------------------------------------------
    def load(self) -> pluggy.PluginManager:
        """Load every selected entry point in the ``mia_bench`` group (once); return the manager."""
        if not self._entry_points_pending:
            return self.manager
        self._entry_points_pending = False
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if not _selected(ep.name) or self.manager.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must say which one it is
                raise PluginError(f"Plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}") from exc
            self.register(plugin, ep.name)
        return self.manager

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object/module and fail loudly on unknown hook names."""
        registered = self.manager.register(plugin, name=name)
        assert registered is not None  # pluggy returns None only for blocked names; mia-bench blocks none
        name = registered
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            self.manager.unregister(plugin)
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
            raise PluginError(f"Plugin {name!r} implements an unknown hook: {exc}. Known hooks: {known}.") from None
        self._registries.clear()  # rebuilt on next use so the new plugin's components appear
        return name

    def unregister(self, name: str) -> None:
        plugin = self.manager.get_plugin(name)
        if plugin is not None:
            self.manager.unregister(plugin)
        self._registries.clear()

    # --- what the rest of mia-bench asks --------------------------------------------
    @property
    def hook(self) -> Any:
        return self.load().hook

    def registry(self, kind: str) -> Registry:
        """The registry of one component kind, filled from all plugins on first use."""
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; valid: {', '.join(KINDS)}")
        if kind not in self._registries:
            pm = self.load()
            reg: Registry = Registry(kind)
            if kind == "defense":  # every plan has a defense axis: its default is part of the core
                from .defense import NoDefense

                reg.register(NoDefense, "mia_bench")
            if kind == "report":
                from .report import PrivacyUtilityReport

                reg.register(PrivacyUtilityReport, "mia_bench")
            for impl in reversed(getattr(pm.hook, f"register_{kind}s").get_hookimpls()):
                plugin_name = pm.get_name(impl.plugin) or "?"
                impl.function(register=lambda comp, _p=plugin_name: reg.register(comp, _p))
            self._registries[kind] = reg
        return self._registries[kind]

    def names(self) -> list[str]:
        return [name for name, _ in self.load().list_name_plugin()]

    def info(self) -> list[dict]:
        """Loaded plugins with their hooks, distribution and version."""
        pm = self.load()
        dists = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        out = []
        for name, plugin in sorted(pm.list_name_plugin(), key=lambda x: x[0]):
            hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
            dist = getattr(dists.get(name), "dist", None)
            out.append({
                "name": name,
                "hooks": hooks,
                "module": plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__name__,
                "distribution": dist.name if dist else None,
                "version": dist.version if dist else None,
            })
        return out

    def refs(self) -> list[tuple[str, str]]:
        """The registered plugins as importable ``module[:attribute]`` references, so that a
        worker registers exactly these plugins (entry points, or ones a test added)."""
        refs = []
        for name, plugin in self.load().list_name_plugin():
            if isinstance(plugin, ModuleType):
                refs.append((name, plugin.__name__))
                continue
            module = sys.modules.get(getattr(plugin, "__module__", None) or "")
            attr = next((k for k, v in vars(module).items() if v is plugin), None) if module else None
            if module is None or attr is None:  # attr is None whenever module is
                raise PluginError(f"Plugin {name!r} ({plugin!r}) cannot be loaded in a worker process: register a "
                                  "module or a module-level object, or run with the serial executor.")
            refs.append((name, f"{module.__name__}:{attr}"))
        return refs


_current: list[Plugins] = []  # the process default, then any installed by use_plugins (innermost last)


def default_plugins() -> Plugins:
    """The plugins of this process: the innermost :func:`use_plugins` block's, else the
    installed entry points (created on first use)."""
    if not _current:
        _current.append(Plugins())
    return _current[-1]


@contextlib.contextmanager
def use_plugins(plugins: Plugins) -> Iterator[Plugins]:
    """Make ``plugins`` the default for a block (tests, worker tasks)."""
    default_plugins()
    _current.append(plugins)
    try:
        yield plugins
    finally:
        _current.remove(plugins)


# --- shortcuts on the default plugins ---------------------------------------------------
def load_plugins() -> pluggy.PluginManager:
    return default_plugins().load()


def register_plugin(plugin: Any, name: str | None = None) -> str:
    return default_plugins().register(plugin, name)


def unregister_plugin(name: str) -> None:
    default_plugins().unregister(name)


def registry(kind: str) -> Registry:
    return default_plugins().registry(kind)


def plugin_info() -> list[dict]:
    return default_plugins().info()


def loaded_modules() -> list[str]:
    return sorted(m for m in sys.modules if m.startswith("mia_bench"))
