"""What a visualizer plugin registers: one page of the app."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Visualizer:
    """An app page contributed by a plugin.

    ``page`` is called with no arguments on every Streamlit rerun of the page and draws it;
    ``precompute`` is the CLI command that produces what it shows (shown when missing).
    """

    name: str
    title: str
    page: Callable[[], None]
    icon: str = ":material/widgets:"
    order: int = 100
    description: str = ""
    precompute: str = ""
