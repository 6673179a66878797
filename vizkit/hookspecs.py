"""The hooks a vizkit plugin can implement.

A plugin is a module (or object) with functions decorated by ``@vizkit.hookimpl``.
Built-in plugins (``vizkit_plugins.*``) and third-party packages, found through the
entry-point group ``vizkit``, use exactly these hooks. Each ``register_*`` hook is
called once, when the registry is first built in a process (the CLI's first command,
the app's first page run), and receives a ``register`` callable; the hook calls it once
per thing it contributes and returns nothing. ``register`` raises
:class:`vizkit.errors.DuplicateNameError` when the name is taken, naming both plugins;
that plugin is then reported as failed and every other plugin keeps working.
"""
from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("vizkit")
hookimpl = pluggy.HookimplMarker("vizkit")


@hookspec
def register_datasets(register: Callable) -> None:
    """Called once when the registry is built, to contribute datasets.

    Call ``register(entry)`` with a :class:`vizkit.datasets.DatasetEntry` for each
    dataset kind: its name (``fashion-mnist``; with ``argument="path"`` the user writes
    ``name:<path>``), a description, and ``open(argument) -> Dataset``, which is called
    when a user picks it and raises :class:`vizkit.errors.DatasetMissingError` saying how
    to get the data when it is not on the machine. Returns nothing.
    """


@hookspec
def register_models(register: Callable) -> None:
    """Called once when the registry is built, to contribute model providers.

    Call ``register(provider)`` with a :class:`vizkit.models.ModelProvider`: a name, a
    description, ``names()`` listing the model names it knows, ``accepts(name)`` and
    ``build(name, weights=..., pretrained=...) -> torch.nn.Module``. Providers are asked in
    registration order; register with ``@hookimpl(tryfirst=True)`` to answer before the
    built-in timm provider for names it also accepts. Returns nothing.
    """


@hookspec
def register_metrics(register: Callable) -> None:
    """Called once when the registry is built, to contribute distance/similarity metrics.

    Call ``register(metric)`` with a :class:`vizkit.metrics.Metric`: a name, whether a
    higher value means more similar, and ``pairwise(a, b) -> Tensor[n_a, n_b]`` that is
    vectorised over two batches of float32 vectors. Returns nothing.
    """


@hookspec
def register_losses(register: Callable) -> None:
    """Called once when the registry is built, to contribute training losses.

    Call ``register(loss)`` with a :class:`vizkit.losses.Loss`: a name, a description and
    ``build(num_classes, embedding_dim) -> torch.nn.Module``, called when a run starts or
    resumes; the module maps ``(embeddings or logits, labels)`` to a scalar loss. Returns
    nothing.
    """


@hookspec
def register_visualizers(register: Callable) -> None:
    """Called once when the registry is built, to contribute app pages.

    Call ``register(visualizer)`` with a :class:`vizkit.visualizers.Visualizer`: a name,
    a title, ``page()`` (a function that draws the page with Streamlit; it runs on every
    rerun, so it must only query the store and draw), an order in the navigation and the
    CLI command that precomputes what it shows. Returns nothing.
    """
