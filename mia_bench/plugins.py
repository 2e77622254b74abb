"""The plugin manager: loads ``mia_bench`` entry points lazily, once.

Environment switches:
- ``MIA_BENCH_LOAD_PLUGINS``: comma-separated allow-list of plugin names (entry-point
  names) to load; empty string loads none. Unset loads all.
- ``MIA_BENCH_DISABLE_PLUGINS``: comma-separated plugin names to skip.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import KINDS, Registry

ENTRY_POINT_GROUP = "mia_bench"

pm = pluggy.PluginManager("mia_bench")
pm.add_hookspecs(hookspecs)

_loaded = False
_registries: dict[str, Registry] = {}


def _selected(name: str) -> bool:
    allow = os.environ.get("MIA_BENCH_LOAD_PLUGINS")
    deny = {n.strip() for n in os.environ.get("MIA_BENCH_DISABLE_PLUGINS", "").split(",") if n.strip()}
    if name in deny:
        return False
    if allow is None:
        return True
    return name in {n.strip() for n in allow.split(",") if n.strip()}


def load_plugins() -> pluggy.PluginManager:
    """Load every selected entry point in the ``mia_bench`` group (once) and check hook names."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if not _selected(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must say which one it is
            raise PluginError(f"Plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}") from exc
        register_plugin(plugin, ep.name)
    return pm


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object/module and fail loudly on unknown hook names."""
    name = pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(plugin)
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
        raise PluginError(f"Plugin {name!r} implements an unknown hook: {exc}. Known hooks: {known}.") from None
    _registries.clear()  # rebuilt on next use so the new plugin's components appear
    return name


def unregister_plugin(name: str) -> None:
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _registries.clear()


def registry(kind: str) -> Registry:
    """The registry of one component kind, filled from all plugins on first use."""
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; valid: {', '.join(KINDS)}")
    if kind not in _registries:
        load_plugins()
        reg: Registry = Registry(kind)
        hook = getattr(pm.hook, f"register_{kind}s")
        for impl in reversed(hook.get_hookimpls()):
            plugin_name = pm.get_name(impl.plugin) or "?"
            impl.function(register=lambda comp, _p=plugin_name: reg.register(comp, _p))
        _registries[kind] = reg
    return _registries[kind]


def plugin_info() -> list[dict]:
    """Loaded plugins with their hooks, version and (for packages) location."""
    load_plugins()
    dists = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda x: x[0]):
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        ep = dists.get(name)
        dist = getattr(ep, "dist", None)
        out.append(
            {
                "name": name,
                "hooks": hooks,
                "module": plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__name__,
                "distribution": dist.name if dist else None,
                "version": dist.version if dist else None,
            }
        )
    return out


def loaded_modules() -> list[str]:
    return sorted(m for m in sys.modules if m.startswith("mia_bench"))
