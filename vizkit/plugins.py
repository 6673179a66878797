"""The plugin manager: built-in plugins plus entry points of the group ``vizkit``.

Built lazily (a Streamlit page reruns on every click, so nothing happens at import).
A plugin that fails to import or to register is recorded in :func:`failures` and left out;
every other plugin keeps working.
"""
from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from vizkit import hookspecs

# The built-in plugins, each imported when the manager is built (a plugin that fails to import
# is recorded and left out, like a third-party one). Written out import by import so that a
# reader and tests/test_boundaries.py see every arrow.
BUILTIN_PLUGINS: dict[str, Callable[[], ModuleType]] = {
    "vizkit_plugins.metrics": lambda: importlib.import_module("vizkit_plugins.metrics"),
    "vizkit_plugins.indexes": lambda: importlib.import_module("vizkit_plugins.indexes"),
    "vizkit_plugins.losses": lambda: importlib.import_module("vizkit_plugins.losses"),
    "vizkit_plugins.fashion_mnist": lambda: importlib.import_module("vizkit_plugins.fashion_mnist"),
    "vizkit_plugins.digits": lambda: importlib.import_module("vizkit_plugins.digits"),
    "vizkit_plugins.folder": lambda: importlib.import_module("vizkit_plugins.folder"),
    "vizkit_plugins.cifar10": lambda: importlib.import_module("vizkit_plugins.cifar10"),
    "vizkit_plugins.benchmarks": lambda: importlib.import_module("vizkit_plugins.benchmarks"),
    "vizkit_plugins.synthetic": lambda: importlib.import_module("vizkit_plugins.synthetic"),
    "vizkit_plugins.small_cnn": lambda: importlib.import_module("vizkit_plugins.small_cnn"),
    "vizkit_plugins.timm_models": lambda: importlib.import_module("vizkit_plugins.timm_models"),
    "vizkit_plugins.explainers": lambda: importlib.import_module("vizkit_plugins.explainers"),
    # the built-in pages (under vizkit.app: they are pages) and the built-in commands
    "vizkit.app.pages": lambda: importlib.import_module("vizkit.app.pages"),
    "vizkit.cli.builtin": lambda: importlib.import_module("vizkit.cli.builtin"),
}
ENTRY_POINT_GROUP = "vizkit"
ALLOW_ENV = "VIZKIT_PLUGINS"  # comma-separated entry-point names to load; unset = all


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or registered: its name, where, and why."""

    plugin: str
    stage: str  # "import" or "register_<kind>"
    error: str
    detail: str = ""


_pm: pluggy.PluginManager | None = None
_failures: list[PluginFailure] = []


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager("vizkit")
        pm.add_hookspecs(hookspecs)
        for name, load in BUILTIN_PLUGINS.items():
            _register_module(pm, name, load)
        allowed = {s.strip() for s in os.environ.get(ALLOW_ENV, "").split(",") if s.strip()}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if allowed and ep.name not in allowed:
                continue
            _register_module(pm, ep.name, ep.load, dist=ep.dist)
        _pm = pm
    return _pm


def _register_module(pm: pluggy.PluginManager, name: str, load, dist=None) -> None:
    """Import and register one plugin; on any failure (import error, a hook with wrong
    arguments or an unknown name) record it and leave the plugin out entirely."""
    stage = "import"
    try:
        plugin: ModuleType = load()
        stage = "validation"
        pm.register(plugin, name=name)
        try:
            _check_hook_names(pm, plugin)
        except Exception:
            pm.unregister(plugin)
            raise
        if dist is not None:
            _dists[name] = (dist.metadata["Name"], dist.version)
    except Exception as e:  # a broken plugin must not take vizkit down
        record_failure(name, stage, e)


def _check_hook_names(pm: pluggy.PluginManager, plugin) -> None:
    """What ``pm.check_pending()`` checks, for one plugin: every hook it implements exists
    (a misspelled ``register_metric`` is an error naming the right one)."""
    import difflib

    specs = [n for n in dir(hookspecs) if n.startswith("register_")]
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                close = difflib.get_close_matches(caller.name, specs, n=1)
                raise pluggy.PluginValidationError(
                    plugin, f"unknown hook {caller.name!r}"
                    + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" vizkit's hooks: {', '.join(specs)}.")


_dists: dict[str, tuple[str, str]] = {}


def record_failure(plugin: str, stage: str, error: BaseException) -> None:
    """Note that ``plugin`` failed at ``stage``; shown by ``vizkit plugins`` and the app."""
    _failures.append(PluginFailure(plugin, stage, f"{type(error).__name__}: {error}",
                                   "".join(traceback.format_exception(error))[-2000:]))


def failures() -> list[PluginFailure]:
    """Plugins that failed to import or register in this process."""
    get_plugin_manager()
    return list(_failures)


def get_plugins() -> list[dict]:
    """Loaded plugins: name, distribution and version (built-ins say ``cnn-vizkit``), hooks."""
    from vizkit import __version__

    pm = get_plugin_manager()
    out = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        dist, version = _dists.get(name, ("cnn-vizkit", __version__))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        out.append({"name": name, "distribution": dist, "version": version, "hooks": hooks})
    return sorted(out, key=lambda p: (p["distribution"] != "cnn-vizkit", p["name"]))


def reset() -> None:
    """Forget the manager and failures (tests; the next use rebuilds them, and the registry
    with them)."""
    global _pm
    _pm = None
    _failures.clear()
    _dists.clear()
