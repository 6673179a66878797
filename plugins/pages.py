"""The built-in pages: home, semantic search, similarity maps and the compare page."""
from __future__ import annotations

from vizkit import hookimpl
from vizkit.visualizers import Visualizer


def _home() -> None:
    from vizkit.app.home_page import render

    render()


def _search() -> None:
    from vizkit.app.search_page import render

    render()


def _similarity() -> None:
    from vizkit.app.similarity_page import render

    render()


def _compare() -> None:
    from vizkit.app.compare_page import render

    render()


@hookimpl
def register_visualizers(register):
    """Register the home, semantic search, similarity maps and compare pages."""
    register(Visualizer("home", "Home", _home, ":material/home:", order=0,
                        description="What is in the store and which plugins are loaded."))
    register(Visualizer("search", "Semantic search", _search, ":material/image_search:",
                        order=10, description="The 50 most similar images to a query.",
                        precompute="vizkit precompute --dataset D --model M --layers L "
                                   "--metrics cosine"))
    register(Visualizer("similarity", "Similarity maps", _similarity, ":material/blur_on:",
                        order=20, description="Which pixels of a query and each of its "
                        "20 nearest images made them similar: an exact split of the score.",
                        precompute="vizkit precompute --dataset D --model M --layers L"))
    register(Visualizer("compare", "Compare embeddings", _compare, ":material/compare:",
                        order=25, description="Two models, checkpoints or layers side by "
                        "side: rankings, overlap and similarity maps in four panels.",
                        precompute="vizkit precompute ... for both configurations"))
