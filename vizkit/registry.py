"""The registry: everything plugins registered, looked up by name.

Built from the plugin manager (:mod:`vizkit.plugins`) on first use, and again whenever the
manager is rebuilt. A plugin is in or out as a whole (see :func:`get_registry`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vizkit.api.commands import Command
from vizkit.api.datasets import Dataset, DatasetEntry, SplitDataset, SubsetDataset
from vizkit.api.explainers import Explainer
from vizkit.api.indexes import Index
from vizkit.api.losses import Loss
from vizkit.api.metrics import Metric
from vizkit.api.models import ModelProvider
from vizkit.api.visualizers import Visualizer
from vizkit.errors import BadArgumentError, DuplicateNameError, UnknownNameError

if TYPE_CHECKING:
    from vizkit.runtime.loaded import LoadedModel

KINDS = {
    "dataset": ("register_datasets", DatasetEntry),
    "model": ("register_models", ModelProvider),
    "metric": ("register_metrics", Metric),
    "loss": ("register_losses", Loss),
    "visualizer": ("register_visualizers", Visualizer),
    "command": ("register_commands", Command),
    "index": ("register_indexes", Index),
    "explainer": ("register_explainers", Explainer),
}


@dataclass
class Registry:
    """Name → object per kind, and which plugin registered each name."""

    items: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: {} for k in KINDS})
    owners: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    opened: dict[tuple[str, str | None], Dataset] = field(default_factory=dict)

    def add(self, kind: str, obj: Any, plugin: str) -> None:
        """Record ``obj`` of ``kind`` from ``plugin``; raise on a wrong type or taken name."""
        expected = KINDS[kind][1]
        if not isinstance(obj, expected):
            raise TypeError(f"register() for {kind}s takes a {expected.__name__}, "
                            f"got {type(obj).__name__}")
        if obj.name in self.items[kind]:
            raise DuplicateNameError(
                f"Duplicate {kind} name: {obj.name}, from plugins "
                f"{self.owners[kind][obj.name]} and {plugin}")
        self.items[kind][obj.name] = obj
        self.owners[kind][obj.name] = plugin

    # -- datasets -----------------------------------------------------------------
    def dataset_names(self) -> list[str]:
        """Dataset names as a user types them (``folder:<path>`` for those taking one)."""
        return [e.name + (f":<{e.argument}>" if e.argument else "")
                for e in self.items["dataset"].values()]

    def open_dataset(self, name: str) -> Dataset:
        """Open dataset ``name`` (``kind`` or ``kind:<argument>``)."""
        match = re.fullmatch(r"(.+)\[:(-?\d+)\]", name)
        if match:  # "name[:N]": the first N images
            if int(match.group(2)) < 1:
                raise BadArgumentError(f"{name}: [:N] keeps the first N images; N must be at "
                                       "least 1.")
            return SubsetDataset(self.open_dataset(match.group(1)), int(match.group(2)))
        match = re.fullmatch(r"(.+)\[([A-Za-z][\w-]*)\]", name)
        if match:  # "name[split]": the images of one split
            return SplitDataset(self.open_dataset(match.group(1)), match.group(2))
        kind, _, argument = name.partition(":")
        entry = self.items["dataset"].get(kind)
        if entry is None:
            raise UnknownNameError("dataset", kind, self.items["dataset"],
                                   "Forms: " + ", ".join(self.dataset_names()) + ".")
        if entry.argument and not argument:
            raise BadArgumentError(f"Dataset {kind} needs a {entry.argument}: "
                                   f"{kind}:<{entry.argument}>.")
        key = (entry.name, argument or None)
        if key not in self.opened:
            self.opened[key] = entry.open(argument or None)
        return self.opened[key]

    def dataset_paths(self, name: str) -> list[str]:
        """The file-system paths a dataset name points at (the arguments of datasets that
        take a path, such as ``folder:<path>``), without opening anything."""
        base = re.sub(r"(\[[^\[\]]*\])+$", "", name)
        kind, _, argument = base.partition(":")
        entry = self.items["dataset"].get(kind)
        return [argument] if entry is not None and entry.argument == "path" and argument \
            else []

    # -- models -------------------------------------------------------------------
    def model_provider(self, name: str) -> ModelProvider:
        """The first provider that accepts model ``name``."""
        for provider in self.items["model"].values():
            if provider.accepts(name):
                return provider
        known = [n for p in self.items["model"].values() for n in p.names()]
        raise UnknownNameError("model", name, known)

    def model_names(self) -> list[str]:
        """Every model name the providers know."""
        return [n for p in self.items["model"].values() for n in p.names()]

    def load_model(self, name: str, weights: str = "pretrained", *,
                   weights_file: str | None = None, checkpoint: str | None = None,
                   input_size: int | None = None, model_kwargs: dict | None = None,
                   state_dict: dict | None = None) -> LoadedModel:
        """Build model ``name`` with weights ``pretrained``/``random``/a file, wrapped.

        ``checkpoint`` labels (``run:epoch``) weights given as a ``state_dict``.
        """
        provider = self.model_provider(name)
        module = provider.build(name, pretrained=weights == "pretrained" and not weights_file
                                and state_dict is None, weights_file=weights_file,
                                **(model_kwargs or {}))
        if state_dict is not None:
            module.load_state_dict(state_dict, strict=True)
        from vizkit.runtime.loaded import LoadedModel

        label = "file" if weights_file else weights
        return LoadedModel(name, module, label, checkpoint, input_size)

    # -- metrics and visualizers --------------------------------------------------
    def metric(self, name: str) -> Metric:
        """The metric called ``name``."""
        try:
            return self.items["metric"][name]
        except KeyError:
            raise UnknownNameError("metric", name, self.items["metric"]) from None

    def metrics(self) -> list[Metric]:
        return list(self.items["metric"].values())

    def loss(self, name: str) -> Loss:
        """The training loss called ``name``."""
        try:
            return self.items["loss"][name]
        except KeyError:
            raise UnknownNameError("loss", name, self.items["loss"]) from None

    def visualizers(self) -> list[Visualizer]:
        """Visualizers in navigation order."""
        return sorted(self.items["visualizer"].values(), key=lambda v: (v.order, v.title))

    def index(self, name: str) -> Index:
        """The index kind called ``name``."""
        try:
            return self.items["index"][name]
        except KeyError:
            raise UnknownNameError("index", name, self.items["index"]) from None

    def indexes(self) -> list[Index]:
        return list(self.items["index"].values())

    def explainer(self, name: str) -> Explainer:
        """The similarity explainer called ``name``."""
        try:
            return self.items["explainer"][name]
        except KeyError:
            raise UnknownNameError("explainer", name, self.items["explainer"]) from None

    def explainers(self) -> list[Explainer]:
        """Every registered explainer, in registration order (built-ins first)."""
        return list(self.items["explainer"].values())

    def commands(self) -> list[Command]:
        """CLI commands in registration order (built-ins first)."""
        return list(self.items["command"].values())


_registry: Registry | None = None
_built_from = None  # the plugin manager _registry was built from


def get_registry() -> Registry:
    """The process-wide registry, built from the plugin manager on first use.

    A plugin is in or out as a whole: when one of its ``register_*`` hooks raises (or
    registers a name another plugin took first), it is reported and everything it
    registered is left out, and the registry is built again without it.
    """
    global _registry, _built_from
    from vizkit.plugins import get_plugin_manager, record_failure

    pm = get_plugin_manager()
    if _registry is None or _built_from is not pm:
        calls = [(kind, hook_name, impl.plugin_name, _only(pm, hook_name, impl.plugin))
                 for kind, (hook_name, _cls) in KINDS.items()
                 for impl in _in_registration_order(getattr(pm.hook, hook_name).get_hookimpls())]
        failed: set[str] = set()
        while True:
            reg, failure = Registry(), None
            for kind, hook_name, plugin, call in calls:
                if plugin in failed:
                    continue
                try:  # through pluggy's calling, one plugin at a time: a failure names it
                    call(register=lambda obj, k=kind, p=plugin: reg.add(k, obj, p))
                except Exception as e:  # reported; other plugins keep working
                    failure = (plugin, hook_name, e)
                    break
            if failure is None:
                break
            record_failure(*failure)
            failed.add(failure[0])
        _registry, _built_from = reg, pm
    return _registry


def _only(pm, hook_name: str, plugin):
    """The hook ``hook_name`` as pluggy calls it, with ``plugin``'s implementation alone."""
    return pm.subset_hook_caller(hook_name, remove_plugins=[
        p for p in pm.get_plugins() if p is not plugin])


def _in_registration_order(impls: list) -> list:
    """tryfirst, then the rest in the order plugins were registered (built-ins first, so
    a third-party duplicate is the one reported), then trylast."""
    return sorted(impls, key=lambda i: 0 if i.tryfirst else 2 if i.trylast else 1)


def reset() -> None:
    """Forget the plugins, the registry and the datasets it opened (tests)."""
    from vizkit import plugins

    plugins.reset()
