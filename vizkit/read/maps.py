"""Similarity maps as the pages read them: a map service for a stored features result (its
model and its dataset's images, re-opened only from allowed folders), or the maps
`vizkit maps` precomputed where neither is at hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.compute.channelsplit import ChannelSplit, channel_maps, channel_split
from vizkit.compute.mapservice import MapService
from vizkit.compute.mapservice import map_metric as map_metric  # the metric a map shows
from vizkit.compute.pairmaps import PairMaps, SpatialFeatures, query_maps
from vizkit.errors import DatasetMissingError, VizkitError
from vizkit.paths import data_roots, is_under
from vizkit.read.catalog import Reader
from vizkit.read.query import Query
from vizkit.read.rows import DatasetRef, FeaturesRow, MapsRow


def open_stored_dataset(dataset: DatasetRef, roots: list[Path]) -> Dataset:
    """Re-open the dataset a stored result was made from, and check it is the same data.

    A store is data from elsewhere: the paths it names are opened only when they lie under
    ``roots`` (see :func:`vizkit.paths.data_roots`)."""
    from vizkit.registry import get_registry

    for path in get_registry().dataset_paths(dataset.name):
        if not is_under(path, roots):
            raise DatasetMissingError(
                f"The images of {dataset.name} are in {path}, outside the folders this app may "
                f"open ({', '.join(map(str, roots))}). To allow it, add the folder to "
                "VIZKIT_DATA_ROOTS; meanwhile pages use the store's thumbnails and "
                "precomputed maps (`vizkit maps ...`).")
    try:
        opened = get_registry().open_dataset(dataset.name)
    except VizkitError as e:
        raise DatasetMissingError(
            f"The images of {dataset.name} are not available here ({e}) — maps need the full "
            "images. Precompute them where the data is: `vizkit maps ...`.") from e
    if opened.fingerprint != dataset.fingerprint:
        raise DatasetMissingError(
            f"The dataset {dataset.name} changed since its features were computed "
            f"(fingerprint {opened.fingerprint}, stored {dataset.fingerprint}). Re-run the "
            "precompute job.")
    return opened


def dataset_of(reader: Reader, dataset: DatasetRef) -> Dataset:
    """The stored dataset's full images, opened once per reader from an allowed folder."""
    return reader.memo("dataset", dataset.key,
                       lambda: open_stored_dataset(dataset, data_roots(reader.path)), keep=4)


def map_service(reader: Reader, frow: FeaturesRow) -> MapService:
    """Maps for ``frow``: its model and layer over its dataset's images, kept per reader.
    Raises NotDecomposableError or DatasetMissingError saying what to do."""
    from vizkit.runtime.models import model_for

    def make() -> MapService:
        from vizkit.compute.similarity import Decomposer

        decomposer = Decomposer(model_for(reader, frow), frow.layer)
        return MapService(decomposer, dataset_of(reader, frow.dataset))
    return reader.memo("map service", frow.result_key, make, keep=4)


def stored_maps_row(reader: Reader, frow: FeaturesRow, metric: str) -> MapsRow | None:
    """Maps `vizkit maps` precomputed for ``frow`` ranked by ``metric``, or None."""
    rows = [m for m in reader.catalog().maps
            if m.source_key == frow.result_key and m.metric == metric]
    return rows[-1] if rows else None


def map_queries(reader: Reader, mrow: MapsRow) -> list[int]:
    """The query images with precomputed maps under ``mrow``."""
    return reader.memo("map queries", mrow.result_key,
                       lambda: reader.store.map_queries(mrow.result_key))


def stored_maps(reader: Reader, mrow: MapsRow, idx: int) -> tuple[np.ndarray, np.ndarray,
                                                                 list[PairMaps]]:
    """Precomputed maps of query ``idx``: neighbour indices, ranking scores, maps."""
    rows = reader.store.maps(mrow.result_key, idx)
    maps = [PairMaps(np.asarray(r.qmap, np.float64).reshape(r.qh, r.qw),
                     np.asarray(r.rmap, np.float64).reshape(r.rh, r.rw), float(r.map_score))
            for r in rows.itertuples()]
    return rows["nbr"].to_numpy(np.int64), rows["score"].to_numpy(np.float64), maps


def query_features(query: Query, service: MapService) -> SpatialFeatures:
    """The query's spatial features under ``service``'s model and layer (a dataset image's
    are cached; an upload's whole frame when ``query.crop`` is False)."""
    if query.idx is not None:
        return service.dataset_features([query.idx])[0]
    return service.image_features(query.image, crop=query.crop)


def query_vector(query: Query, service: MapService) -> np.ndarray | None:
    """The vector an upload is ranked by: the mean of the spatial features the maps split
    (None for a dataset image, which is ranked by its stored row)."""
    if query.idx is not None:
        return None
    return query_features(query, service).pooled.astype(np.float32)


def pair_maps(query: SpatialFeatures, results: list[SpatialFeatures],
              metric: str) -> list[PairMaps]:
    """The maps of ``query`` against each of ``results`` under ``metric``."""
    return query_maps(query, results, metric)


def split_by_channel(query: SpatialFeatures, result: SpatialFeatures,
                     metric: str) -> ChannelSplit:
    """The pair's ``metric`` score split exactly over the layer's channels."""
    return channel_split(query, result, metric)


def channel_pair_maps(query: SpatialFeatures, result: SpatialFeatures, metric: str,
                      channel: int) -> tuple[np.ndarray, np.ndarray]:
    """Where ``channel``'s share of the pair's score lies on the query and on the result."""
    return channel_maps(query, result, metric, channel)
