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


def place_by_neighbours(sample_features: np.ndarray, sample_coords: np.ndarray,
                        features: np.ndarray, k: int = 10, dims: int = 64,
                        references: int = 20_000, seed: int = 0) -> np.ndarray:
    """Coordinates for ``features`` ``[m, d]`` from a layout of ``sample_features``: each
    point goes to the mean of its ``k`` most cosine-similar sampled points' coordinates,
    weighted by nearness (``1 / (1 - cos)``). Features are compared after a PCA to ``dims``
    dimensions fitted on the sample, against at most ``references`` sampled points, by
    faiss's exact inner-product search: a million points in seconds, not hours."""
    import faiss

    def unit(x):
        x = np.ascontiguousarray(x, np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    if len(sample_features) > references:
        keep = np.sort(np.random.default_rng(seed).choice(len(sample_features), references,
                                                          replace=False))
        sample_features, sample_coords = sample_features[keep], sample_coords[keep]
    ref = unit(sample_features)
    mean, basis = ref.mean(0), None
    if ref.shape[1] > dims:
        basis = np.linalg.svd(ref - mean, full_matrices=False)[2][:dims].T.astype(np.float32)
        ref = unit((ref - mean) @ basis)
    index = faiss.IndexFlatIP(ref.shape[1])
    index.add(ref)
    k = max(1, min(k, len(ref)))
    out = np.empty((len(features), 2), np.float32)
    for a in range(0, len(features), 65_536):
        part = unit(features[a:a + 65_536])
        if basis is not None:
            part = unit((part - mean) @ basis)
        near, top = index.search(part, k)
        w = 1.0 / np.maximum(1.0 - near, 1e-3)
        out[a:a + len(part)] = (w[:, :, None] * sample_coords[top]).sum(1) \
            / w.sum(1, keepdims=True)
    return out


def project_sampled(features: np.ndarray, method: str, seed: int, fit: int,
                    **params) -> np.ndarray:
    """A layout of all ``features`` fitted on a seeded sample of ``fit`` of them, the rest
    placed among their nearest sampled points (:func:`place_by_neighbours`); the full fit
    when there are no more than ``fit``."""
    n = len(features)
    if n <= fit:
        return project(features, method, seed, **params)
    sample = np.sort(np.random.default_rng(seed).choice(n, fit, replace=False))
    coords = np.empty((n, 2), np.float32)
    coords[sample] = project(features[sample], method, seed, **params)
    rest = np.setdiff1d(np.arange(n), sample)
    coords[rest] = place_by_neighbours(features[sample], coords[sample], features[rest])
    return coords


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

