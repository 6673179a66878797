"""Similarity maps as the pages read them: a map service for a stored features result (its
model and its dataset's images, re-opened only from allowed folders), or the maps
`vizkit maps` precomputed where neither is at hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.compute.mapservice import MapService
from vizkit.compute.pairmaps import PairMaps
from vizkit.errors import DatasetMissingError, VizkitError
from vizkit.paths import data_roots, is_under
from vizkit.read.catalog import Reader
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
    from vizkit.read.models import model_for

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

