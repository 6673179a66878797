"""The built-in pages, registered through the public ``register_visualizers`` hook like any
plugin's: home, semantic search, models x layers, similarity maps, compare, model
explorer, projections, training evolution, misclassifications, training, triplet scatter and
embedding spectrum.
Each page module is imported when its page is first drawn, so listing plugins (the CLI)
imports no Streamlit page."""
from __future__ import annotations

import importlib

from vizkit import hookimpl
from vizkit.api.visualizers import Visualizer


def _page(module: str):
    """A page function that imports ``vizkit.app.<module>`` when first drawn (so listing
    plugins does not import Streamlit pages) and calls its ``render()``."""
    def page() -> None:
        importlib.import_module(f"vizkit.app.{module}").render()
    page.__name__ = module
    return page


# name, title, module in vizkit.app, icon, order, description, command, its example args
PAGES = (
    ("home", "Home", "home_page", ":material/home:", 0,
     "What is in the store and which plugins are loaded.", "", ""),
    ("search", "Semantic search", "search_page", ":material/image_search:", 10,
     "The 50 most similar images to a query.", "precompute",
     "--dataset D --model M --layers L --metrics cosine"),
    ("grid", "Models × layers", "grid_page", ":material/table_chart:", 15,
     "Which model and layer retrieve best: Recall@1 or nDCG@50 per model and layer under a "
     "metric, at a glance; click a cell to search in it.", "precompute",
     "--dataset D --models a,b --layers auto"),
    ("similarity", "Similarity maps", "similarity_page", ":material/blur_on:", 20,
     "Which pixels of a query and each of its 20 nearest images made them similar: an "
     "exact split of the score.", "precompute", "--dataset D --model M --layers L"),
    ("compare", "Compare embeddings", "compare_page", ":material/compare:", 25,
     "Two models, checkpoints or layers side by side: rankings, overlap and similarity "
     "maps in four panels.", "precompute", "... for both configurations"),
    ("explorer", "Model explorer", "explorer_page", ":material/layers:", 28,
     "A model's layers; what each channel responds to: its optimised image (torch-lucent), "
     "the dataset images that excite it most, and the feature maps of any image.",
     "precompute", "--dataset D --checkpoint RUN --channel-vis --layers L"),
    ("projection", "Projections", "projection_page", ":material/scatter_plot:", 30,
     "A dataset in 2-D under a layer (UMAP, PCA, t-SNE), its clusters, and the images of "
     "any selection.", "project", "--dataset D --model M --layer L"),
    ("evolution", "Training evolution", "evolution_page", ":material/animation:", 40,
     "A run's checkpoints on one aligned map, with clusters and how images move between "
     "them.", "evolve", "--run RUN --dataset D --layer L"),
    ("confusion", "Misclassifications", "confusion_page", ":material/grid_on:", 45,
     "The confusion matrix per checkpoint; each mistake beside its nearest images of the "
     "predicted class.", "evolve", "--run RUN --dataset D --layer L (or vizkit project)"),
    ("training", "Training", "training_page", ":material/monitoring:", 50,
     "Runs and their configurations; Recall@K, MAP@R, NMI and loss per epoch, several runs "
     "on one chart.", "train", "--dataset D --loss L --run RUN (or vizkit sweep)"),
    ("triplets", "Triplet scatter", "triplets_page", ":material/scatter_plot:", 55,
     "Each anchor's closest positive vs closest negative similarity, epoch by epoch, train "
     "and test, two runs side by side; trace an anchor.", "train",
     "--dataset D --loss L --run RUN"),
    ("spectrum", "Embedding spectrum", "spectrum_page", ":material/equalizer:", 60,
     "PCA of an embedding: explained variance, the largest and smallest directions, "
     "Recall@1 as directions are dropped.", "train", "--dataset D --loss L --run RUN"),
)


@hookimpl
def register_visualizers(register):
    """Register the built-in pages."""
    for name, title, module, icon, order, description, command, example in PAGES:
        register(Visualizer(name, title, _page(module), icon, order=order,
                            description=description, command=command, example=example))
