"""Similarity maps for a stored features result, served to the pages and the maps job.

A :class:`MapService` pairs a :class:`~vizkit.compute.similarity.Decomposer` with the dataset the
features were made from: the spatial features of each dataset image are computed once (a
forward pass, batched over the images not seen yet) and kept in a bounded cache, so the
compare page's four panels reuse what the first one computed.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.compute.pairmaps import EXACT_METRICS, PairMaps, SpatialFeatures, query_maps

if TYPE_CHECKING:
    from vizkit.compute.similarity import Decomposer

UPLOADS_KEPT = 8


def map_metric(metric: str) -> str:
    """The metric the maps decompose: ``metric`` itself when exact, else cosine."""
    return metric if metric in EXACT_METRICS else "cosine"


class MapService:
    """Spatial features of dataset images (cached) and maps of queries against them."""

    def __init__(self, decomposer: Decomposer, dataset: Dataset, cache_size: int = 2048,
                 batch_size: int = 64):
        self.decomposer, self.dataset = decomposer, dataset
        self.cache_size, self.batch_size = cache_size, batch_size
        self._cache: OrderedDict[int, SpatialFeatures] = OrderedDict()
        self._uploads: OrderedDict[tuple, SpatialFeatures] = OrderedDict()
        self._lock = threading.Lock()  # the app shares one service between sessions

    def dataset_features(self, idxs) -> list[SpatialFeatures]:
        """Spatial features of dataset images ``idxs`` (one forward pass per new image)."""
        idxs = [int(i) for i in idxs]
        with self._lock:
            return self._dataset_features(idxs)

    def _dataset_features(self, idxs: list[int]) -> list[SpatialFeatures]:
        missing = list(dict.fromkeys(i for i in idxs if i not in self._cache))
        for lo in range(0, len(missing), self.batch_size):
            chunk = missing[lo: lo + self.batch_size]
            images = self.dataset.batch_images(np.asarray(chunk))
            images = list(images) if isinstance(images, np.ndarray) else images
            for i, sf in zip(chunk, self.decomposer.images(images)):
                self._cache[i] = sf
        out = []
        for i in idxs:
            self._cache.move_to_end(i)
            out.append(self._cache[i])
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def image_features(self, image: np.ndarray, crop: bool = True) -> SpatialFeatures:
        """Spatial features of an image from outside the dataset (an upload); the last few
        are kept, so a page that ranks, rescores and draws with them runs one forward."""
        key = (hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest(),
               image.shape, crop)
        with self._lock:
            if key not in self._uploads:
                self._uploads[key] = self.decomposer.images([image], crop=crop)[0]
                while len(self._uploads) > UPLOADS_KEPT:
                    self._uploads.popitem(last=False)
            self._uploads.move_to_end(key)
            return self._uploads[key]

    def maps(self, query: SpatialFeatures, idxs, metric: str) -> tuple[list[SpatialFeatures],
                                                                        list[PairMaps]]:
        """The results' spatial features and the maps of ``query`` against each of them
        under ``map_metric(metric)``."""
        results = self.dataset_features(idxs)
        return results, query_maps(query, results, map_metric(metric))
