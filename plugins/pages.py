"""The built-in pages: home, semantic search, similarity maps, compare, projections,
training evolution and misclassifications."""
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


def _projection() -> None:
    from vizkit.app.projection_page import render

    render()


def _evolution() -> None:
    from vizkit.app.evolution_page import render

    render()


def _confusion() -> None:
    from vizkit.app.confusion_page import render

    render()


@hookimpl
def register_visualizers(register):
    """Register the built-in pages."""
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
    register(Visualizer("projection", "Projections", _projection, ":material/scatter_plot:",
                        order=30, description="A dataset in 2-D under a layer (UMAP, PCA, "
                        "t-SNE), its clusters, and the images of any selection.",
                        precompute="vizkit project --dataset D --model M --layer L"))
    register(Visualizer("evolution", "Training evolution", _evolution, ":material/animation:",
                        order=40, description="A run's checkpoints on one aligned map, with "
                        "clusters and how images move between them.",
                        precompute="vizkit evolve --run RUN --dataset D --layer L"))
    register(Visualizer("confusion", "Misclassifications", _confusion, ":material/grid_on:",
                        order=45, description="The confusion matrix per checkpoint; each "
                        "mistake beside its nearest images of the predicted class.",
                        precompute="vizkit evolve ... or vizkit project ..."))
