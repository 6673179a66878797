"""2-D layouts of a layer's features (UMAP, PCA, t-SNE) and their alignment over time.

Layouts are normalised (centred, unit RMS radius) so that distances between two layouts
mean something. Across training checkpoints each layout starts from the previous one (UMAP
and t-SNE take an initial layout) and is then aligned to it by orthogonal Procrustes
(rotation/reflection, scale, shift), so points move only when the features move.
"""
from __future__ import annotations

import functools
import sys

import numpy as np

METHODS = ("umap", "pca", "tsne")


@functools.cache
def umap_module():
    """umap-learn, with numba's on-disk cache turned on for its compiled functions (umap
    leaves it off): the first layout in a process otherwise spends ~8 s compiling them, in
    every process (each ``vizkit project``, ``evolve``, the demo). The cache lives beside
    the package (or in the user's cache folder where that is read-only) and is keyed by
    the source files, so a new umap-learn compiles afresh."""
    import umap
    import umap.umap_  # noqa: F401 (the modules whose functions are compiled)
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if name == "umap" or name.startswith("umap."):
            for value in vars(module).values():
                if isinstance(value, CPUDispatcher):
                    try:
                        value.enable_caching()
                    except Exception:  # noqa: BLE001 - uncacheable: compiled as before
                        pass
    return umap


def normalise(coords: np.ndarray) -> np.ndarray:
    """Centre a layout and scale it to unit RMS distance from the centre."""
    c = coords - coords.mean(0)
    return (c / max(float(np.sqrt((c ** 2).sum(1).mean())), 1e-12)).astype(np.float32)


def project(features: np.ndarray, method: str = "umap", seed: int = 0,
            init: np.ndarray | None = None, n_neighbors: int = 15, min_dist: float = 0.1,
            perplexity: float = 30.0, metric: str = "cosine") -> np.ndarray:
    """A normalised ``[n, 2]`` layout of ``features`` ``[n, d]``; ``init`` (a previous
    layout) seeds UMAP and t-SNE. Reproducible for a given ``seed``."""
    x = np.asarray(features, np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        return normalise(PCA(2, random_state=seed).fit_transform(x))
    if method == "umap":
        reducer = umap_module().UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x) - 1),
                            min_dist=min_dist, metric=metric, random_state=seed, n_jobs=1,
                            n_epochs=200,  # umap's own choice above 10k points; enough here
                            init=init.astype(np.float32) * 10 if init is not None else "spectral")
        return normalise(reducer.fit_transform(x))
    if method == "tsne":
        from sklearn.manifold import TSNE

        start = init.astype(np.float32) * 1e-2 if init is not None else "pca"
        tsne = TSNE(2, perplexity=min(perplexity, (len(x) - 1) / 3), metric=metric,
                    init=start, random_state=seed)
        return normalise(tsne.fit_transform(x))
    from vizkit.errors import UnknownNameError

    raise UnknownNameError("projection method", method, METHODS)


def procrustes(reference: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``coords`` rotated/reflected, scaled and shifted to best match ``reference`` (least
    squares over the same points)."""
    ref_c, c = reference - reference.mean(0), coords - coords.mean(0)
    u, s, vt = np.linalg.svd(c.T @ ref_c)
    rotation = u @ vt
    scale = s.sum() / max(float((c ** 2).sum()), 1e-12)
    return (scale * c @ rotation + reference.mean(0)).astype(np.float32)


def mean_displacement(a: np.ndarray, b: np.ndarray) -> float:
    """The mean distance a point moves between two layouts of the same points."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=1).mean())


def next_layout(previous: np.ndarray | None, features: np.ndarray, method: str = "umap",
                seed: int = 0, aligned: bool = True, **params) -> np.ndarray:
    """The layout of the next checkpoint's ``features``: started from ``previous`` and
    Procrustes-aligned to it when ``aligned`` (and there is one), else on its own."""
    if previous is None or not aligned:
        return project(features, method, seed, **params)
    return procrustes(previous, project(features, method, seed, init=previous, **params))

