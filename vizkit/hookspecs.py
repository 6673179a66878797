"""The hooks a vizkit plugin can implement.

A plugin is a module (or object) with functions decorated by ``@vizkit.hookimpl``.
Built-in plugins (``vizkit_plugins.*``, ``vizkit.app.pages``, ``vizkit.cli.builtin``) and
third-party packages, found through the entry-point group ``vizkit``, use exactly these
hooks. Each ``register_*`` hook is called once per process, when the registry is first
built (the CLI's first command, the app's first page run), and receives a ``register``
callable; the hook calls it once per thing it contributes and returns nothing.

``register`` raises :class:`vizkit.errors.DuplicateNameError` when the name is taken
(naming both plugins) and ``TypeError`` for an object of the wrong type. A plugin whose
hook raises — or whose module fails to import, or that implements a hook not listed here
(a misspelling) — is reported (``vizkit plugins``, the app's home page) and left out as a
whole: nothing it registered is kept, and every other plugin keeps working.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from vizkit.api.commands import Command
    from vizkit.api.datasets import DatasetEntry
    from vizkit.api.explainers import Explainer
    from vizkit.api.indexes import Index
    from vizkit.api.losses import Loss
    from vizkit.api.metrics import Metric
    from vizkit.api.models import ModelProvider
    from vizkit.api.visualizers import Visualizer

hookspec = pluggy.HookspecMarker("vizkit")
hookimpl = pluggy.HookimplMarker("vizkit")


@hookspec
def register_datasets(register: Callable[[DatasetEntry], None]) -> None:
    """Called once, when the registry is built, to contribute datasets.

    :param register: call it with a :class:`vizkit.DatasetEntry` for each dataset kind: its
        name (``fashion-mnist``; with ``argument="path"`` the user writes ``name:<path>``),
        a description, and ``open(argument) -> Dataset``, which is called when a user picks
        it and raises :class:`vizkit.errors.DatasetMissingError` saying how to get the data
        when it is not on the machine.

    Returns nothing.
    """


@hookspec
def register_models(register: Callable[[ModelProvider], None]) -> None:
    """Called once, when the registry is built, to contribute model providers.

    :param register: call it with a :class:`vizkit.ModelProvider`: a name, a description,
        ``names()`` listing the model names it knows, ``accepts(name)`` and
        ``build(name, pretrained=..., weights_file=..., **kwargs) -> torch.nn.Module``.
        Providers are asked in registration order; implement the hook with
        ``@hookimpl(tryfirst=True)`` to answer before the built-in timm provider for names
        it also accepts.

    Returns nothing.
    """


@hookspec
def register_metrics(register: Callable[[Metric], None]) -> None:
    """Called once, when the registry is built, to contribute distance/similarity metrics.

    :param register: call it with a :class:`vizkit.Metric`: a name, whether a higher value
        means more similar, and ``pairwise(a, b) -> Tensor[n_a, n_b]`` vectorised over two
        batches of float32 vectors (optionally ``prepare``/``finalize`` for fast repeated
        queries).

    Returns nothing.
    """


@hookspec
def register_losses(register: Callable[[Loss], None]) -> None:
    """Called once, when the registry is built, to contribute training losses.

    :param register: call it with a :class:`vizkit.Loss`: a name, a description and
        ``build(num_classes, embedding_dim) -> torch.nn.Module``, called when a run starts
        or resumes; the module maps ``(embeddings or logits, labels)`` to a scalar loss.

    Returns nothing.
    """


@hookspec
def register_visualizers(register: Callable[[Visualizer], None]) -> None:
    """Called once, when the registry is built, to contribute app pages.

    :param register: call it with a :class:`vizkit.Visualizer`: a name (its URL path), a
        title, ``page()`` (draws the page with Streamlit on every rerun, so it only asks the
        read side and draws), an order in the navigation, and ``command``/``example``: the
        registered command that fills the page, shown when its results are missing.

    Returns nothing.
    """


@hookspec
def register_commands(register: Callable[[Command], None]) -> None:
    """Called once, when the registry is built, to contribute ``vizkit`` subcommands — the
    jobs that fill a plugin's pages.

    :param register: call it with a :class:`vizkit.Command`: a name (``vizkit NAME``), a
        one-line help, ``add_arguments(parser)`` and ``run(args) -> exit code``. Errors it
        raises as :class:`vizkit.errors.VizkitError` become one line on stderr.

    Returns nothing.
    """


@hookspec
def register_indexes(register: Callable[[Index], None]) -> None:
    """Called once, when the registry is built, to contribute nearest-neighbour indexes.

    :param register: call it with a :class:`vizkit.Index`: a name (``vizkit index --kind
        NAME``), whether it is exact, ``serves(metric)``, ``build(features, metric,
        folder, options) -> params`` (writes its files) and ``open(features, metric,
        folder, params) -> Searcher``. vizkit measures an approximate index's recall
        against exact search when it is built, re-ranks what it finds exactly, and searches
        exactly (with a note) for metrics it does not serve.

    Returns nothing.
    """


@hookspec
def register_explainers(register: Callable[[Explainer], None]) -> None:
    """Called once, when the registry is built, to contribute similarity explanations that
    ``vizkit faithfulness`` scores by deletion and insertion curves.

    :param register: call it with a :class:`vizkit.Explainer`: a name (``--methods
        NAME``), a description, ``explain(model, layer, metric, queries, results) ->
        relevance [B, H, W]`` over each query's input pixels (a batch of pairs), and
        ``applies(model, layer, metric) -> None or why not``.

    Returns nothing.
    """
