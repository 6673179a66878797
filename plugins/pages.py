"""The built-in pages: home and semantic search."""
from __future__ import annotations

from vizkit import hookimpl
from vizkit.visualizers import Visualizer


def _home() -> None:
    from vizkit.app.home_page import render

    render()


def _search() -> None:
    from vizkit.app.search_page import render

    render()


@hookimpl
def register_visualizers(register):
    """Register the home page and the semantic search page."""
    register(Visualizer("home", "Home", _home, ":material/home:", order=0,
                        description="What is in the store and which plugins are loaded."))
    register(Visualizer("search", "Semantic search", _search, ":material/image_search:",
                        order=10, description="The 50 most similar images to a query.",
                        precompute="vizkit precompute --dataset D --model M --layers L "
                                   "--metrics cosine"))
