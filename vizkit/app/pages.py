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


# each built-in page: its url name, title, module under vizkit.app, icon, order in the
# navigation, description, and the command (with example arguments) that fills it
PAGES = (
    Visualizer(name="home", title="Home", page=_page("home_page"),
               icon=":material/home:", order=0,
               description="What is in the store and which plugins are loaded."),
    Visualizer(name="search", title="Semantic search", page=_page("search_page"),
               icon=":material/image_search:", order=10,
               description="The 50 most similar images to a query.",
               command="precompute",
               example="--dataset D --model M --layers L --metrics cosine"),
    Visualizer(name="grid", title="Models × layers", page=_page("grid_page"),
               icon=":material/table_chart:", order=15,
               description=("Which model and layer retrieve best: Recall@1 or nDCG@50 per "
                            "model and layer under a metric, at a glance; click a cell to "
                            "search in it."),
               command="precompute",
               example="--dataset D --models a,b --layers auto"),
    Visualizer(name="similarity", title="Similarity maps", page=_page("similarity_page"),
               icon=":material/blur_on:", order=20,
               description=("Which pixels of a query and each of its 20 nearest images made"
                            " them similar: an exact split of the score."),
               command="precompute",
               example="--dataset D --model M --layers L"),
    Visualizer(name="compare", title="Compare embeddings", page=_page("compare_page"),
               icon=":material/compare:", order=25,
               description=("Two models, checkpoints or layers side by side: rankings, "
                            "overlap and similarity maps in four panels."),
               command="precompute",
               example="... for both configurations"),
    Visualizer(name="explorer", title="Model explorer", page=_page("explorer_page"),
               icon=":material/layers:", order=28,
               description=("A model's layers; what each channel responds to: its optimised"
                            " image (torch-lucent), the dataset images that excite it most,"
                            " and the feature maps of any image."),
               command="precompute",
               example="--dataset D --checkpoint RUN --channel-vis --layers L"),
    Visualizer(name="findings", title="Findings", page=_page("findings_page"),
               icon=":material/insights:", order=29,
               description=("What similarity attends to over a whole dataset: the share of "
                            "the maps on the object vs chance, A against B with intervals."),
               command="findings",
               example="object --dataset D --checkpoint A --layer L --compare "
                       "--b-checkpoint B"),
    Visualizer(name="projection", title="Projections", page=_page("projection_page"),
               icon=":material/scatter_plot:", order=30,
               description=("A dataset in 2-D under a layer (UMAP, PCA, t-SNE), its "
                            "clusters, and the images of any selection."),
               command="project",
               example="--dataset D --model M --layer L"),
    Visualizer(name="evolution", title="Training evolution", page=_page("evolution_page"),
               icon=":material/animation:", order=40,
               description=("A run's checkpoints on one aligned map, with clusters and how "
                            "images move between them."),
               command="evolve",
               example="--run RUN --dataset D --layer L"),
    Visualizer(name="confusion", title="Misclassifications", page=_page("confusion_page"),
               icon=":material/grid_on:", order=45,
               description=("The confusion matrix per checkpoint; each mistake beside its "
                            "nearest images of the predicted class."),
               command="evolve",
               example="--run RUN --dataset D --layer L (or vizkit project)"),
    Visualizer(name="training", title="Training", page=_page("training_page"),
               icon=":material/monitoring:", order=50,
               description=("Runs and their configurations; Recall@K, MAP@R, NMI and loss "
                            "per epoch, several runs on one chart."),
               command="train",
               example="--dataset D --loss L --run RUN (or vizkit sweep)"),
    Visualizer(name="triplets", title="Triplet scatter", page=_page("triplets_page"),
               icon=":material/scatter_plot:", order=55,
               description=("Each anchor's closest positive vs closest negative similarity,"
                            " epoch by epoch, train and test, two runs side by side; trace "
                            "an anchor."),
               command="train",
               example="--dataset D --loss L --run RUN"),
    Visualizer(name="spectrum", title="Embedding spectrum", page=_page("spectrum_page"),
               icon=":material/equalizer:", order=60,
               description=("PCA of an embedding: explained variance, the largest and "
                            "smallest directions, Recall@1 as directions are dropped."),
               command="train",
               example="--dataset D --loss L --run RUN"),
)


@hookimpl
def register_visualizers(register):
    """Register the built-in pages."""
    for page in PAGES:
        register(page)
